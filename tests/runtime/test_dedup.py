"""Deduplication at the door (CONTRACT.md section 7) through the real binary: replays answered with
the first copy's tracking id, the concurrent same-key race, keys kept across SIGTERM and kill -9,
the window, max_keys eviction, header/json/auto keys, `require`, a failed first copy, and config
errors."""
import hashlib
import hmac
import json
import shutil
import threading
import time

import pytest
import yaml

from edge_servers import RedisServer
from inlet_harness import InletNode, run_inlet

SECRET = "dedup-secret"


def github_headers(body, delivery):
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature}


def config(tmp_path, **dedup):
    return {"verifiers": [{"type": "github", "secret": SECRET}],
            "dedup": {"key": "auto", "dir": str(tmp_path / "dedup"), **dedup}}


def post(node, body, delivery):
    status, _, answer = node.post(body, headers=github_headers(body, delivery))
    return status, json.loads(answer)


def test_a_replayed_delivery_gets_the_first_copys_tracking_id_and_is_stored_once(tmp_path):
    with InletNode(tmp_path, config(tmp_path)) as node:
        body = b'{"ref": "refs/heads/main"}'
        first = post(node, body, "72d3162e-0001")
        assert first[0] == 200
        for _ in range(3):
            assert post(node, body, "72d3162e-0001") == first
        other = post(node, body, "72d3162e-0002")
        assert other[0] == 200 and other[1]["tracking_id"] != first[1]["tracking_id"]
        stored = node.read_queue()
        assert [r["tracking_id"] for r in stored] == [first[1]["tracking_id"], other[1]["tracking_id"]]
        assert node.metric("inlet_dedup_hits_total") == 3
        assert node.metric("inlet_dedup_keys") == 2


def test_concurrent_requests_with_one_key_store_one_message_and_share_its_tracking_id(tmp_path):
    # ack: fsync keeps the first copy in flight long enough for the others to meet it.
    overrides = config(tmp_path)
    overrides["edges"] = [{"name": "main", "queue": {"type": "log", "dir": str(tmp_path / "queue"), "ack": "fsync"}}]
    with InletNode(tmp_path, overrides) as node:
        for round_ in range(5):
            body = json.dumps({"round": round_}).encode()
            answers, start = [], threading.Barrier(16)

            def one():
                start.wait()
                answers.append(post(node, body, f"race-{round_}"))
            threads = [threading.Thread(target=one) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert {status for status, _ in answers} == {200}
            assert len({a["tracking_id"] for _, a in answers}) == 1
        stored = node.read_queue()
        assert len(stored) == 5
        assert node.metric("inlet_dedup_hits_total") == 5 * 15


@pytest.mark.parametrize("stop", ["sigterm", "kill"])
def test_keys_survive_a_restart_and_a_kill_9(tmp_path, stop):
    with InletNode(tmp_path, config(tmp_path)) as node:
        body = b'{"n": 1}'
        first = {d: post(node, body, d)[1]["tracking_id"] for d in ("k1", "k2", "k3")}
        if stop == "kill":
            node.kill()
        else:
            assert node.stop() == 0
        node.start()
        assert any(e.get("event") == "dedup_loaded" and e.get("keys") == 3 for e in node.log_events())
        for delivery, tracking_id in first.items():
            assert post(node, body, delivery) == (200, {"tracking_id": tracking_id})
        assert len(node.read_queue()) == 3


def test_a_key_past_the_window_is_stored_again(tmp_path):
    with InletNode(tmp_path, config(tmp_path, window="1s")) as node:
        body = b'{"n": 1}'
        first = post(node, body, "w1")[1]["tracking_id"]
        assert post(node, body, "w1")[1]["tracking_id"] == first
        time.sleep(1.2)
        again = post(node, body, "w1")[1]["tracking_id"]
        assert again != first
        assert post(node, body, "w1")[1]["tracking_id"] == again
        assert len(node.read_queue()) == 2


def test_max_keys_drops_the_oldest_first_and_counts_them(tmp_path):
    with InletNode(tmp_path, config(tmp_path, max_keys=3)) as node:
        body = b'{"n": 1}'
        ids = {d: post(node, body, d)[1]["tracking_id"] for d in ("m1", "m2", "m3", "m4", "m5")}
        assert node.metric("inlet_dedup_evictions_total") == 2
        assert node.metric("inlet_dedup_keys") == 3
        for kept in ("m3", "m4", "m5"):
            assert post(node, body, kept)[1]["tracking_id"] == ids[kept]
        assert post(node, body, "m1")[1]["tracking_id"] != ids["m1"]  # dropped: stored anew


def test_header_and_json_keys_and_require(tmp_path):
    overrides = {"dedup": {"key": "json:event.id", "dir": str(tmp_path / "dedup"), "require": True}}
    with InletNode(tmp_path, overrides) as node:
        first = node.post(b'{"event": {"id": "evt_1"}, "n": 1}')
        again = node.post(b'{"event": {"id": "evt_1"}, "n": 2}')
        assert first[0] == again[0] == 200 and json.loads(first[2]) == json.loads(again[2])
        status, _, answer = node.post(b'{"event": {}}')
        assert status == 400 and b"no deduplication key (json:event.id" in answer
        assert node.metric("inlet_rejects_total", reason="dedup_key_missing") == 1
        assert len(node.read_queue()) == 1
    (tmp_path / "h").mkdir()
    overrides = {"dedup": {"key": "header:Idempotency-Key", "dir": str(tmp_path / "h" / "dedup")}}
    with InletNode(tmp_path / "h", overrides) as node:
        headers = {"Content-Type": "application/json", "idempotency-key": "abc"}
        a = node.post(b'{"n": 1}', headers=headers)
        b = node.post(b'{"n": 2}', headers=headers)
        assert json.loads(a[2]) == json.loads(b[2])
        assert node.post(b'{"n": 3}')[0] == 200  # no key, no require: stored as usual
        assert len(node.read_queue()) == 2


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_when_the_first_copy_fails_the_next_one_is_stored(tmp_path):
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    try:
        overrides = config(tmp_path)
        overrides["edges"] = [{"name": "main", "queue": {"type": "redis", "url": redis.url, "stream": "hooks",
                                                         "retry_budget_ms": 300}}]
        with InletNode(tmp_path, overrides) as node:
            body = b'{"n": 1}'
            redis.kill()
            assert post(node, body, "f1")[0] == 503
            redis.start()
            time.sleep(1.5)  # the queue reconnects
            status, answer = post(node, body, "f1")
            assert status == 200
            assert post(node, body, "f1") == (200, answer)
            entries = redis.entries("hooks")
            assert [e["tracking_id"].decode() for e in entries] == [answer["tracking_id"]]
    finally:
        redis.kill()


def test_config_errors_name_the_key(tmp_path):
    cases = [
        ({"key": "auto"}, "dedup.key: auto takes the key from a github, standard_webhooks, stripe or slack verifier"),
        ({"key": "cookie:x"}, "dedup.key: must be auto, header:NAME or json:PATH"),
        ({"key": "header:"}, "dedup.key: header: is followed by a header name"),
        ({"key": "json:a..b"}, "dedup.key: json: is followed by a dotted path"),
        ({"key": "header:x", "window": "forever"}, "dedup.window: must be a positive duration"),
        ({"key": "header:x", "max_keys": 0}, "dedup.max_keys:"),
        ({"key": "header:x", "ack": "never"}, "dedup.ack:"),
        ({"key": "header:x", "ttl": 5}, "dedup.ttl"),
    ]
    for dedup, expected in cases:
        path = tmp_path / "node.yaml"
        path.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "dedup": dedup,
                                        "edges": [{"name": "main", "queue": {"type": "log", "dir": "q"}}]}))
        result = run_inlet("check", "--config", str(path))
        assert result.returncode == 1 and expected in result.stderr.decode(), (expected, result.stderr)
