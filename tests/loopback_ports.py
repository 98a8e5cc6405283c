"""Free loopback ports for the suites and the benchmark: one definition, imported by
inlet_harness, nats_cluster and bench/servers."""
import socket

_handed_out = set()


def free_port():
    """A loopback TCP port that nothing listens on now and that this process has not handed out
    before. The kernel may give the same ephemeral port to two probes in a row once the first is
    closed, so a server's `listen` and `admin_listen` could otherwise collide (CI saw it)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
