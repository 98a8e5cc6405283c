"""Real edge servers for the suites against the binary: a redis-server child on a free port, and
librdkafka's mock cluster in this process (through ctypes), with a reader for each."""
import ctypes
import socket
import subprocess
import time

from inlet_harness import free_port


class RedisServer:
    """A real redis-server child on a free port, its data (and AOF) under `directory`."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory),
             "--logfile", str(self.directory / "redis.log")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def command(self, *args):
        """One command over RESP on a fresh connection; bulk strings come back as bytes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            out = b"*%d\r\n" % len(args)
            for arg in args:
                data = arg if isinstance(arg, bytes) else str(arg).encode()
                out += b"$%d\r\n%s\r\n" % (len(data), data)
            sock.sendall(out)
            return _read_reply(sock.makefile("rb"))

    def entries(self, stream):
        """XRANGE as a list of dicts, field name (str) -> value (bytes)."""
        result = []
        for _id, fields in self.command("XRANGE", stream, "-", "+"):
            result.append({fields[i].decode(): fields[i + 1] for i in range(0, len(fields), 2)})
        return result


def _read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected reply {line!r}")


class _TopicPartition(ctypes.Structure):
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32), ("offset", ctypes.c_int64),
                ("metadata", ctypes.c_void_p), ("metadata_size", ctypes.c_size_t), ("opaque", ctypes.c_void_p),
                ("err", ctypes.c_int), ("_private", ctypes.c_void_p)]


class _KafkaMessage(ctypes.Structure):
    _fields_ = [("err", ctypes.c_int), ("rkt", ctypes.c_void_p), ("partition", ctypes.c_int32),
                ("payload", ctypes.c_void_p), ("len", ctypes.c_size_t), ("key", ctypes.c_void_p),
                ("key_len", ctypes.c_size_t), ("offset", ctypes.c_int64), ("_private", ctypes.c_void_p)]


class MockKafka:
    """librdkafka's mock cluster in this process (through ctypes), and a consumer to read it back."""

    def __init__(self, topic, brokers=1):
        self.ct = ctypes
        lib = self.lib = ctypes.CDLL("librdkafka.so.1")
        lib.rd_kafka_conf_new.restype = ctypes.c_void_p
        lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.c_size_t]
        lib.rd_kafka_new.restype = ctypes.c_void_p
        lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
        lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
        lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.rd_kafka_topic_partition_list_new.restype = ctypes.c_void_p
        lib.rd_kafka_topic_partition_list_add.restype = ctypes.POINTER(_TopicPartition)
        lib.rd_kafka_topic_partition_list_add.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32]
        lib.rd_kafka_assign.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.rd_kafka_consumer_poll.restype = ctypes.POINTER(_KafkaMessage)
        lib.rd_kafka_consumer_poll.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.rd_kafka_message_headers.argtypes = [ctypes.POINTER(_KafkaMessage), ctypes.POINTER(ctypes.c_void_p)]
        lib.rd_kafka_header_get_last.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                                 ctypes.POINTER(ctypes.c_size_t)]
        lib.rd_kafka_message_destroy.argtypes = [ctypes.POINTER(_KafkaMessage)]
        lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
        self.topic = topic
        self.handle = lib.rd_kafka_new(0, self._conf({"log_level": "0"}), None, 0)
        self.cluster = lib.rd_kafka_mock_cluster_new(self.handle, brokers)
        lib.rd_kafka_mock_topic_create(self.cluster, topic.encode(), 1, brokers)
        self.bootstraps = lib.rd_kafka_mock_cluster_bootstraps(self.cluster).decode()
        lib.rd_kafka_mock_broker_set_down.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.rd_kafka_mock_broker_set_up.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        self.brokers = brokers

    def set_brokers(self, up):
        for broker in range(1, self.brokers + 1):
            (self.lib.rd_kafka_mock_broker_set_up if up else self.lib.rd_kafka_mock_broker_set_down)(
                self.cluster, broker)

    def _conf(self, settings):
        conf = self.lib.rd_kafka_conf_new()
        for name, value in settings.items():
            assert self.lib.rd_kafka_conf_set(conf, name.encode(), value.encode(), None, 0) == 0, name
        return conf

    def consume(self, expected, headers, timeout=20):
        """[(key, body, {header: value})] from the start of partition 0."""
        ct, lib = self.ct, self.lib
        consumer = lib.rd_kafka_new(1, self._conf({"bootstrap.servers": self.bootstraps, "group.id": "pytest",
                                                   "enable.auto.commit": "false", "log_level": "0"}), None, 0)
        partitions = lib.rd_kafka_topic_partition_list_new(1)
        lib.rd_kafka_topic_partition_list_add(partitions, self.topic.encode(), 0).contents.offset = -2  # beginning
        lib.rd_kafka_assign(consumer, partitions)
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            message = lib.rd_kafka_consumer_poll(consumer, 200)
            if not message:
                continue
            m = message.contents
            if m.err == 0:
                found = {}
                hdrs = ct.c_void_p()
                if lib.rd_kafka_message_headers(message, ct.byref(hdrs)) == 0:
                    for name in headers:
                        value, size = ct.c_void_p(), ct.c_size_t()
                        if lib.rd_kafka_header_get_last(hdrs, name.encode(), ct.byref(value), ct.byref(size)) == 0:
                            found[name] = ct.string_at(value, size.value)
                records.append((ct.string_at(m.key, m.key_len), ct.string_at(m.payload, m.len), found))
            lib.rd_kafka_message_destroy(message)
        lib.rd_kafka_destroy(consumer)
        return records
