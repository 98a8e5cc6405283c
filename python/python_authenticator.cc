// Placeholder: the python authenticator work replaces this file.
