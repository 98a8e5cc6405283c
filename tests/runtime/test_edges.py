"""Edges through the real binary: routing by filter to log, Redis and Kafka edges (Kafka is
librdkafka's mock cluster), unrouted accept/reject, and Redis and Kafka outages answered 503 with
Retry-After, then recovery."""
import ctypes
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from inlet_harness import InletNode, free_port, payload_bodies

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


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


@pytest.fixture
def redis(tmp_path):
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    yield server
    server.kill()


def action_of(body):
    return json.loads(body).get("action")


def test_routes_each_message_to_every_edge_whose_filter_matches(tmp_path, redis):
    edges = [
        {"name": "everything", "queue": {"type": "log", "dir": str(tmp_path / "all"), "ack": "write"}},
        {"name": "opened", "filter": {"json_key_equals": {"key": "action", "value": "opened"}},
         "queue": {"type": "redis", "url": redis.url, "stream": "opened", "maxlen": 100000}},
        {"name": "pushes", "filter": {"all": [{"json_key_exists": "ref"}, {"not": {"json_key_exists": "action"}}]},
         "queue": {"type": "kafka", "brokers": "unused:9092", "topic": "pushes", "key": "repository.id",
                   "properties": {"test.mock.num.brokers": "1"}}},
    ]
    bodies = payload_bodies()
    with InletNode(tmp_path, {"node": {"name": "test-node", "tenant": "acme"}, "edges": edges}) as node:
        for body in bodies:
            status, _, answer = node.post(body)
            assert status == 200, (status, answer)
        logged = node.read_queue(str(tmp_path / "all"))
    assert {m["tenant"] for m in logged} == {"acme"}
    assert [json.dumps(m["body"], sort_keys=True) for m in logged] == \
        [json.dumps(json.loads(b), sort_keys=True) for b in bodies]
    opened = [b for b in bodies if action_of(b) == "opened"]
    entries = redis.entries("opened")
    assert len(opened) > 3
    assert [e["body"] for e in entries] == opened  # byte for byte, in order
    for entry, message in zip(entries, [m for m in logged if m["body"].get("action") == "opened"]):
        assert entry["tracking_id"].decode() == message["tracking_id"]
        assert entry["node"] == b"test-node"
        assert entry["tenant"] == b"acme"
        assert entry["message_type"] == b"echo.json"
        assert entry["content_type"] == b"application/json"


def test_step_id_routes_chat_bot_step_events(tmp_path):
    edges = [
        {"name": "onboarding", "filter": {"step_id": ["welcome", "pick-plan"]},
         "queue": {"type": "log", "dir": str(tmp_path / "onboarding"), "ack": "write"}},
        {"name": "step-7", "filter": {"step_id": 7},
         "queue": {"type": "log", "dir": str(tmp_path / "seven"), "ack": "write"}},
    ]
    events = [{"type": "step.reached", "data": {"step": {"id": "welcome"}, "user": "u1"}},
              {"type": "step.reached", "data": {"step": {"id": 7}}},
              {"type": "step.reached", "data": {"step": {"id": "checkout"}}},
              {"type": "step.reached", "data": {"step": {"id": "pick-plan"}}},
              {"type": "message", "data": {"text": "hi"}}]
    with InletNode(tmp_path, {"edges": edges, "unrouted": "reject"}) as node:
        statuses = [node.post(json.dumps(e).encode())[0] for e in events]
        onboarding = [m["body"] for m in node.read_queue(str(tmp_path / "onboarding"))]
        seven = [m["body"] for m in node.read_queue(str(tmp_path / "seven"))]
    assert statuses == [200, 200, 422, 200, 422]
    assert onboarding == [events[0], events[3]]
    assert seven == [events[1]]


def test_unrouted_messages_are_accepted_or_rejected_with_422(tmp_path, redis):
    edges = [{"name": "only-stars", "filter": {"json_key_in": {"key": "action", "values": ["started", "starred"]}},
              "queue": {"type": "redis", "url": redis.url, "stream": "stars"}}]
    (tmp_path / "accept").mkdir()
    with InletNode(tmp_path / "accept", {"edges": edges}) as node:
        status, _, body = node.post(b'{"action": "deleted"}')
        assert status == 200 and len(json.loads(body)["tracking_id"]) == 32
        status, _, _ = node.post(b'{"action": "started"}')
        assert status == 200
    (tmp_path / "reject").mkdir()
    with InletNode(tmp_path / "reject", {"edges": edges, "unrouted": "reject"}) as node:
        status, _, body = node.post(b'{"action": "deleted"}')
        assert status == 422, body
        assert "detail" in json.loads(body)
        status, _, _ = node.post(b'{"action": "starred"}')
        assert status == 200
    assert [e["body"] for e in redis.entries("stars")] == [b'{"action": "started"}', b'{"action": "starred"}']


def test_redis_outage_answers_503_with_retry_after_then_recovers(tmp_path, redis):
    edges = [{"name": "events", "queue": {"type": "redis", "url": redis.url, "stream": "events",
                                          "retry_budget_ms": 300}}]
    with InletNode(tmp_path, {"edges": edges}) as node:
        status, _, _ = node.post(b'{"n": 1}')
        assert status == 200
        redis.kill()
        status, headers, body = node.post(b'{"n": 2}')
        assert status == 503, body
        assert int(headers["retry-after"]) >= 1
        status, headers, _ = node.post(b'{"n": 3}')  # down past the budget: answered at once
        assert status == 503 and "retry-after" in headers
        redis.start()
        deadline = time.monotonic() + 10
        while True:
            status, _, _ = node.post(b'{"n": 4}')
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
    bodies = [e["body"] for e in redis.entries("events")]
    assert bodies[0] == b'{"n": 1}' and bodies[-1] == b'{"n": 4}'
    assert b'{"n": 3}' not in bodies


def test_kafka_edge_with_a_mock_cluster_acknowledges_every_message(tmp_path):
    edges = [{"name": "k", "queue": {"type": "kafka", "brokers": "unused:9092", "topic": "webhooks",
                                     "max_in_flight": 100, "properties": {"test.mock.num.brokers": "3"}}}]
    with InletNode(tmp_path, {"edges": edges}) as node:
        for body in payload_bodies()[:50]:
            status, _, answer = node.post(body)
            assert status == 200, answer


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


def test_kafka_edge_records_carry_the_body_byte_for_byte_and_attribute_headers(tmp_path):
    kafka = MockKafka("webhooks")
    edges = [{"name": "k", "queue": {"type": "kafka", "brokers": kafka.bootstraps, "topic": "webhooks",
                                     "key": "repository.full_name"}}]
    bodies = payload_bodies()[:40]
    answers = []
    with InletNode(tmp_path, {"edges": edges, "node": {"name": "kafka-node", "send_message_type": "gh.json"}}) as node:
        for body in bodies:
            status, _, answer = node.post(body, headers={"Content-Type": "application/vnd.github+json"})
            assert status == 200, answer
            answers.append(json.loads(answer)["tracking_id"])
    records = kafka.consume(len(bodies), ["tracking_id", "node", "message_type", "content_type", "received_at"])
    assert [r[1] for r in records] == bodies
    for (key, body, headers), tracking_id in zip(records, answers):
        repo = (json.loads(body).get("repository") or {}).get("full_name")
        assert key == (repo.encode() if repo else tracking_id.encode())
        assert headers["tracking_id"] == tracking_id.encode()
        assert headers["node"] == b"kafka-node"
        assert headers["message_type"] == b"gh.json"
        assert headers["content_type"] == b"application/vnd.github+json"
        assert headers["received_at"].endswith(b"Z")


def test_kafka_outage_answers_503_after_the_delivery_timeout_then_recovers(tmp_path):
    kafka = MockKafka("webhooks")
    edges = [{"name": "k", "queue": {"type": "kafka", "brokers": kafka.bootstraps, "topic": "webhooks",
                                     "delivery_timeout_ms": 1000,
                                     "properties": {"reconnect.backoff.max.ms": "200"}}}]
    with InletNode(tmp_path, {"edges": edges}) as node:
        assert node.post(b'{"n": 1}')[0] == 200
        kafka.set_brokers(False)
        started = time.monotonic()
        status, headers, body = node.post(b'{"n": 2}')
        assert status == 503, body
        assert "retry-after" in headers
        assert time.monotonic() - started >= 0.8
        kafka.set_brokers(True)
        deadline = time.monotonic() + 15
        while True:
            status, _, _ = node.post(b'{"n": 3}')
            if status == 200 or time.monotonic() > deadline:
                break
        assert status == 200
    bodies = [r[1] for r in kafka.consume(3, [], timeout=5)]
    assert bodies[0] == b'{"n": 1}' and bodies[-1] == b'{"n": 3}'
