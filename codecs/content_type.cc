// Placeholder: the codecs work replaces this file.
