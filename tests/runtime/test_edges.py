"""Edges through the real binary: routing by filter to log, Redis and Kafka edges (Kafka is
librdkafka's mock cluster), unrouted accept/reject, and Redis and Kafka outages answered 503 with
Retry-After, then recovery."""
import json
import shutil
import time

import pytest

from edge_servers import MockKafka, RedisServer
from inlet_harness import InletNode, payload_bodies

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


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
