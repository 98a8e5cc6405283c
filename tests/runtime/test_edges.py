"""Edges through the real binary: routing by filter to log, Redis and Kafka (librdkafka's in-process
mock cluster) edges, unrouted accept/reject, and a Redis outage answered 503 + Retry-After."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from inlet_harness import InletNode, corpus_files, free_port

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


def corpus_bodies():
    bodies = []
    for path in corpus_files():
        with open(path, "rb") as f:
            bodies.append(f.read())
    return bodies


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
    bodies = corpus_bodies()
    with InletNode(tmp_path, {"edges": edges}) as node:
        for body in bodies:
            status, _, answer = node.post(body)
            assert status == 200, (status, answer)
        logged = node.read_queue(str(tmp_path / "all"))
    assert [json.dumps(m["body"], sort_keys=True) for m in logged] == \
        [json.dumps(json.loads(b), sort_keys=True) for b in bodies]
    opened = [b for b in bodies if action_of(b) == "opened"]
    entries = redis.entries("opened")
    assert len(opened) > 3
    assert [e["body"] for e in entries] == opened  # byte for byte, in order
    for entry, message in zip(entries, [m for m in logged if m["body"].get("action") == "opened"]):
        assert entry["tracking_id"].decode() == message["tracking_id"]
        assert entry["node"] == b"test-node"
        assert entry["message_type"] == b"echo.json"
        assert entry["content_type"] == b"application/json"


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
        for body in corpus_bodies()[:50]:
            status, _, answer = node.post(body)
            assert status == 200, answer
