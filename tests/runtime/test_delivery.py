"""Delivery nodes through the real binary (CONTRACT.md section 6), against a real receiver
(tests/webhook_receiver.py) that checks every signature with Python's `hmac`: the schemes and the
request's headers, retries with backoff and Retry-After, max_time, the circuit breaker, 410,
dead letters, timeouts, resets and endless bodies, TLS, order and concurrency, the rate limit,
kill -9 mid-delivery, the CLI, and the relay example end to end."""
import hashlib
import hmac
import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from inlet_harness import InletNode, wait_for, run_inlet
from tls_certs import TestCA
from webhook_receiver import STANDARD_WEBHOOKS_VECTOR, Receiver, check_signature, standard_webhooks_signature

SOURCE = Path(os.environ.get("INLET_SOURCE_DIR", Path(__file__).resolve().parents[2]))
RELAY = SOURCE / "deploy" / "examples" / "relay.yaml"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def endpoint(receiver, name="hook", **extra):
    config = {"name": name, "url": receiver.url,
              "signature": {"scheme": "standard_webhooks", "secret": SW_SECRET},
              "timeout_ms": 2000, "backoff": {"max_tries": 3, "max_time": "30s", "initial_interval_ms": 50}}
    config.update(extra)
    return config


def delivery_config(tmp_path, *endpoints, name="notify"):
    return {"nodes": [{"name": name, "kind": "delivery", "input": "main", "endpoints": list(endpoints),
                       "dead_letter": {"name": "undeliverable",
                                       "queue": {"type": "log", "dir": str(tmp_path / "undeliverable")}}}]}


def dead_letters(node, tmp_path):
    return node.read_queue(str(tmp_path / "undeliverable"))


def committed(node, count, name="notify"):
    """Waits until `name` has finished `count` messages (delivered, which counts as `emitted`,
    dead-lettered or filtered) and committed its input position past them."""
    def done():
        finished = sum(node.metric("inlet_node_messages_total", node=name, result=r) or 0
                       for r in ("emitted", "dead_lettered", "filtered"))
        return finished >= count and node.metric("inlet_consumer_lag", edge="main", consumer=name) == 0
    wait_for(done, what=f"{count} messages committed by {name}")


def tracking_ids(node):
    return [r["tracking_id"] for r in node.read_queue()]


@pytest.mark.parametrize("signature, verify", [
    ({"scheme": "servo", "secret": "s3cret"}, ("servo", "s3cret")),
    ({"scheme": "github", "secret": "s3cret"}, ("github", "s3cret")),
    ({"scheme": "standard_webhooks", "secret": SW_SECRET}, ("standard_webhooks", SW_SECRET)),
    ({"scheme": "hmac", "secret": "s3cret", "header": "x-acme-signature", "prefix": "v0="},
     (("hmac", "x-acme-signature", "v0="), "s3cret")),
])
def test_each_scheme_signs_the_body_as_is_and_an_independent_hmac_verifies_it(tmp_path, signature, verify):
    with Receiver(verify=verify) as receiver:
        hook = endpoint(receiver, signature=signature, headers=[{"name": "x-some-header", "value": "some value"}])
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            bodies = [b'{"a": 1,  "b": [1, 2]}', b'{"event": "push", "n": 2}']
            for body in bodies:
                assert node.post(body)[0] == 200
            requests = receiver.wait_for(2)
            committed(node, 2)
            ids = tracking_ids(node)
        assert sorted(r.body for r in requests) == sorted(bodies)  # byte for byte, not re-serialized
        for request in requests:
            assert request.signature_ok, request.headers
            assert request.method == "POST" and request.target == "/hooks"
            assert request.headers["content-type"] == "application/json"
            assert request.headers["x-some-header"] == "some value"
        assert sorted(r.tracking_id for r in requests) == sorted(ids)
        if verify[0] == "standard_webhooks":
            assert all(r.headers["webhook-id"] == r.tracking_id for r in requests)
        assert len({r.connection for r in requests}) == 1  # the second reused the kept-alive connection


def test_the_receivers_check_agrees_with_the_published_standard_webhooks_vector():
    v = STANDARD_WEBHOOKS_VECTOR
    assert standard_webhooks_signature(v["secret"], v["id"], v["timestamp"], v["payload"]) == v["signature"]
    ok, _ = check_signature("standard_webhooks", v["secret"],
                            {"webhook-id": v["id"], "webhook-timestamp": v["timestamp"],
                             "webhook-signature": v["signature"]}, v["payload"])
    assert ok


def test_delivery_sign_prints_the_exact_request_and_matches_the_published_vector(tmp_path):
    v = STANDARD_WEBHOOKS_VECTOR
    with Receiver() as receiver:
        config_path = tmp_path / "node.yaml"
        config = {"listen": "127.0.0.1:0",
                  "edges": [{"name": "main", "queue": {"type": "log", "dir": str(tmp_path / "q")}}],
                  **delivery_config(tmp_path, endpoint(receiver, signature={"scheme": "standard_webhooks",
                                                                            "secret": v["secret"]}))}
        config_path.write_text(yaml.safe_dump(config))
        body = tmp_path / "body.json"
        body.write_bytes(v["payload"])
        result = run_inlet("delivery", "sign", "--config", str(config_path), "--endpoint", "hook",
                           "--body", str(body), "--id", v["id"], "--timestamp", v["timestamp"])
        assert result.returncode == 0, result.stderr
        text = result.stdout.decode()
        assert text.startswith(f"POST /hooks HTTP/1.1\r\n") or text.startswith("POST /hooks HTTP/1.1\n")
        assert f"webhook-signature: {v['signature']}" in text
        assert f"webhook-id: {v['id']}" in text and f"webhook-timestamp: {v['timestamp']}" in text
        assert text.rstrip().endswith(v["payload"].decode())
        assert receiver.requests == []  # sign makes no request

        listed = run_inlet("delivery", "list", "--config", str(config_path))
        assert listed.returncode == 0, listed.stderr
        assert b"hook" in listed.stdout and b"standard_webhooks" in listed.stdout
        assert v["secret"].encode() not in listed.stdout and b"MfKQ9r8G" not in listed.stdout

        receiver.script("202")
        triggered = run_inlet("delivery", "trigger", "--config", str(config_path), "--endpoint", "notify/hook",
                              "--body", str(body))
        assert triggered.returncode == 0, triggered.stderr
        assert b"202" in triggered.stdout
        assert receiver.wait_for(1)[0].body == v["payload"]

        receiver.script("400")
        rejected = run_inlet("delivery", "trigger", "--config", str(config_path), "--endpoint", "hook",
                             "--body", str(body))
        assert rejected.returncode != 0 and b"400" in rejected.stdout + rejected.stderr

        unknown = run_inlet("delivery", "sign", "--config", str(config_path), "--endpoint", "nope",
                            "--body", str(body))
        assert unknown.returncode != 0 and b"nope" in unknown.stderr


def test_retryable_answers_are_retried_with_capped_jittered_backoff_and_retry_after(tmp_path):
    with Receiver(verify=("standard_webhooks", SW_SECRET)) as receiver:
        receiver.script("500", "503", "408", "429 retry-after=1", "200")
        hook = endpoint(receiver, backoff={"max_tries": 6, "max_time": "1m", "initial_interval_ms": 100,
                                           "max_interval_ms": 150})
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            requests = receiver.wait_for(5)
            committed(node, 1)
            assert node.metric("inlet_delivery_attempts_total", node="notify", endpoint="hook", result="retryable") == 4
            assert node.metric("inlet_delivery_attempts_total", node="notify", endpoint="hook", result="delivered") == 1
            assert dead_letters(node, tmp_path) == []
        assert len({r.tracking_id for r in requests}) == 1  # one id on every try
        assert len({r.headers["webhook-id"] for r in requests}) == 1
        assert all(r.signature_ok for r in requests)
        gaps = [b.at - a.at for a, b in zip(requests, requests[1:])]
        # Full jitter: each wait is in [0, min(150 ms, 100 ms * 2^(n-1))]; the slack covers the
        # request itself. After the 429, Retry-After's second is the floor.
        for gap in gaps[:3]:
            assert gap < 0.15 + 0.25, gaps
        assert 1.0 <= gaps[3] < 1.0 + 0.5, gaps


def test_running_out_of_tries_sends_a_dead_letter_with_endpoint_status_attempts_and_error(tmp_path):
    with Receiver(default="503") as receiver:
        hook = endpoint(receiver, backoff={"max_tries": 3, "max_time": "1m", "initial_interval_ms": 20})
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            receiver.wait_for(3)
            committed(node, 1)
            [dead] = dead_letters(node, tmp_path)
            source = node.read_queue()[0]
            assert node.metric("inlet_delivery_dead_letters_total", node="notify", endpoint="hook") == 1
            assert node.metric("inlet_node_messages_total", node="notify", result="dead_lettered") == 1
        time.sleep(0.3)
        assert len(receiver.requests) == 3
        assert dead["endpoint"] == "hook" and dead["status"] == "503" and dead["attempts"] == "3"
        assert dead["node"] == "notify"
        assert dead["error"].startswith("gave up after 3 tries: HTTP 503"), dead["error"]
        assert dead["body"] == {"n": 1} and dead["tracking_id"] == source["tracking_id"]


def test_backoff_false_is_a_single_try(tmp_path):
    with Receiver(default="500") as receiver:
        with InletNode(tmp_path, delivery_config(tmp_path, endpoint(receiver, backoff=False))) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            committed(node, 1)
            [dead] = dead_letters(node, tmp_path)
        assert len(receiver.requests) == 1 and dead["attempts"] == "1"


def test_max_time_ends_the_retries_before_max_tries(tmp_path):
    with Receiver(default="500") as receiver:
        hook = endpoint(receiver, backoff={"max_tries": 1000, "max_time": "1s", "initial_interval_ms": 100,
                                           "max_interval_ms": 200})
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            started = time.monotonic()
            assert node.post(b'{"n": 1}')[0] == 200
            committed(node, 1)
            elapsed = time.monotonic() - started
            [dead] = dead_letters(node, tmp_path)
        tries = int(dead["attempts"])
        assert 2 <= tries < 1000 and len(receiver.requests) == tries
        assert "past max_time (1s)" in dead["error"], dead["error"]
        assert receiver.requests[-1].at - receiver.requests[0].at <= 1.0
        assert elapsed < 5, elapsed


@pytest.mark.parametrize("status", ["400", "401", "404", "422"])
def test_another_4xx_is_dead_lettered_at_once(tmp_path, status):
    with Receiver(default=status) as receiver:
        with InletNode(tmp_path, delivery_config(tmp_path, endpoint(receiver))) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            committed(node, 1)
            [dead] = dead_letters(node, tmp_path)
            assert node.metric("inlet_delivery_attempts_total", node="notify", endpoint="hook", result="rejected") == 1
        assert len(receiver.requests) == 1
        assert dead["status"] == status and dead["attempts"] == "1"
        assert dead["error"] == f'HTTP {status}: {{"error": "scripted"}}'


def test_410_disables_the_endpoint_until_the_next_reload(tmp_path):
    with Receiver(default="410") as receiver:
        with Receiver() as other:
            config = delivery_config(tmp_path, endpoint(receiver, name="gone"), endpoint(other, name="fine"))
            with InletNode(tmp_path, config) as node:
                assert node.post(b'{"n": 1}')[0] == 200
                committed(node, 1)
                assert node.metric("inlet_endpoint_state", node="notify", endpoint="gone", state="disabled") == 1
                assert node.metric("inlet_endpoint_state", node="notify", endpoint="fine", state="closed") == 1
                for n in range(2, 5):
                    assert node.post(json.dumps({"n": n}).encode())[0] == 200
                committed(node, 4)
                other.wait_for(4)
                assert len(receiver.requests) == 1  # disabled: no more tries
                dead = dead_letters(node, tmp_path)
                assert [d["endpoint"] for d in dead] == ["gone"] * 4 and {d["status"] for d in dead} == {"410"}
                assert "disabled" in dead[-1]["error"]
                assert any(e.get("event") == "endpoint_disabled" and e.get("endpoint") == "gone"
                           for e in node.log_events())
                assert node.metric("inlet_delivery_attempts_total", node="notify", endpoint="gone", result="gone") == 1

                receiver.default = "200"
                node.signal(signal.SIGHUP)
                wait_for(lambda: node.metric("inlet_endpoint_state", node="notify", endpoint="gone",
                                             state="closed") == 1, what="the reload to enable the endpoint")
                assert node.post(b'{"n": 5}')[0] == 200
                receiver.wait_for(2)
                committed(node, 5)
                assert len(dead_letters(node, tmp_path)) == 4


def test_the_circuit_opens_after_consecutive_failures_pauses_then_probes_and_closes(tmp_path):
    with Receiver(default="500") as receiver:
        hook = endpoint(receiver, concurrency=4, circuit_breaker={"failures": 3, "pause_ms": 1000},
                        backoff={"max_tries": 50, "max_time": "1m", "initial_interval_ms": 10, "max_interval_ms": 20})
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            for n in range(4):
                assert node.post(json.dumps({"n": n}).encode())[0] == 200
            receiver.wait_for(3)
            wait_for(lambda: node.metric("inlet_endpoint_state", node="notify", endpoint="hook", state="open") == 1,
                     what="the circuit to open")
            opened = time.monotonic()
            time.sleep(0.5)
            during_pause = len(receiver.requests)
            receiver.default = "200"
            committed(node, 4, name="notify")
            assert any(e.get("event") == "endpoint_circuit_open" for e in node.log_events())
            assert any(e.get("event") == "endpoint_circuit_closed" for e in node.log_events())
            assert node.metric("inlet_endpoint_state", node="notify", endpoint="hook", state="closed") == 1
            assert dead_letters(node, tmp_path) == []
        # Up to concurrency tries were already on the wire when the third failure opened it; then
        # nothing until the pause ended, and one probe before the rest.
        assert during_pause <= 3 + 4
        after = [r for r in receiver.requests if r.at >= opened + 0.5]
        assert after and after[0].at - opened >= 0.9
        assert len(after) >= 4 and len({r.tracking_id for r in receiver.requests}) == 4


def test_a_stall_past_the_timeout_a_reset_and_an_endless_body_are_survived(tmp_path):
    with Receiver() as receiver:
        receiver.script("stall 3", "reset", "endless")
        hook = endpoint(receiver, timeout_ms=300, max_response_bytes=65536,
                        backoff={"max_tries": 5, "max_time": "1m", "initial_interval_ms": 10})
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            assert node.post(b'{"n": 2}')[0] == 200
            committed(node, 2)
            metric = lambda result: node.metric("inlet_delivery_attempts_total", node="notify", endpoint="hook",
                                                result=result)
            assert metric("timeout") == 1 and metric("connection_error") == 1
            # The endless body's 200 stands: read up to max_response_bytes, then the connection is dropped.
            assert metric("delivered") == 2
            assert dead_letters(node, tmp_path) == []
            # The node kept serving while the endpoint misbehaved.
            assert node.admin_get("/healthz")[0] == 200
        assert [r.action for r in receiver.requests][:3] == ["stall 3", "reset", "endless"]


def test_a_response_head_that_never_ends_is_bounded(tmp_path):
    with Receiver() as receiver:
        receiver.script(lambda request: "stall 0")  # closes at once, before any head
        with InletNode(tmp_path, delivery_config(tmp_path, endpoint(receiver))) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            committed(node, 1)
            assert node.metric("inlet_delivery_attempts_total", node="notify", endpoint="hook",
                               result="connection_error") == 1
        assert len(receiver.requests) == 2


def test_https_verifies_the_endpoints_certificate_against_the_ca_file(tmp_path):
    ca = TestCA(tmp_path / "pki")
    cert, key = ca.server("receiver", serial=0x7001)
    stranger = TestCA(tmp_path / "other-pki", name="stranger-ca")
    with Receiver(verify=("standard_webhooks", SW_SECRET), tls=(cert, key)) as receiver:
        good = endpoint(receiver, name="trusted", tls={"ca_file": ca.cert})
        bad = endpoint(receiver, name="untrusted", tls={"ca_file": stranger.cert}, backoff=False)
        with InletNode(tmp_path, delivery_config(tmp_path, good, bad)) as node:
            assert node.post(b'{"n": 1}')[0] == 200
            committed(node, 1)
            [dead] = dead_letters(node, tmp_path)
        [request] = receiver.requests
        assert request.signature_ok and request.body == b'{"n": 1}'
        assert dead["endpoint"] == "untrusted" and dead["status"] == "0"
        assert "tls handshake" in dead["error"] and "certificate verify failed" in dead["error"], dead["error"]


def test_concurrency_1_delivers_in_input_order_even_through_retries(tmp_path):
    with Receiver() as receiver:
        receiver.script("500", "200", "503", "200")
        hook = endpoint(receiver, concurrency=1, backoff={"max_tries": 5, "max_time": "1m", "initial_interval_ms": 30})
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            for n in range(20):
                assert node.post(json.dumps({"n": n}).encode())[0] == 200
            committed(node, 20)
        delivered = [json.loads(r.body)["n"] for r in receiver.requests if r.action == "200"]
        assert delivered == list(range(20))
        assert [json.loads(r.body)["n"] for r in receiver.requests[:4]] == [0, 0, 1, 1]


def test_with_concurrency_a_message_waiting_for_its_retry_does_not_hold_the_others(tmp_path):
    def slow_first(request):  # the first try of message 0 asks for a retry in 2 s
        first_try = not any(r.body == request.body for r in receiver.requests)
        return "503 retry-after=2" if json.loads(request.body)["n"] == 0 and first_try else "200"
    with Receiver() as receiver:
        receiver.default = slow_first
        hook = endpoint(receiver, concurrency=4)
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            for n in range(10):
                assert node.post(json.dumps({"n": n}).encode())[0] == 200
            others = receiver.wait_for(9, timeout=10, predicate=lambda r: r.action == "200")
            first_try = next(r for r in receiver.requests if json.loads(r.body)["n"] == 0)
            assert max(r.at for r in others) - first_try.at < 1.5  # all of them inside the 2 s wait
            committed(node, 10)
            assert node.metric("inlet_consumer_lag", edge="main", consumer="notify") == 0
        assert sorted(json.loads(r.body)["n"] for r in receiver.requests if r.action == "200") == list(range(10))


def test_the_rate_limit_spaces_requests(tmp_path):
    with Receiver() as receiver:
        hook = endpoint(receiver, concurrency=8, rate_limit="10/s")
        with InletNode(tmp_path, delivery_config(tmp_path, hook)) as node:
            for n in range(25):
                assert node.post(json.dumps({"n": n}).encode())[0] == 200
            requests = receiver.wait_for(25, timeout=30)
            committed(node, 25)
        # A burst of one second's worth (10), then one every 100 ms: the last 15 take >= 1.4 s.
        span = requests[-1].at - requests[0].at
        assert span >= 1.3, span


def test_endpoint_filters_choose_who_gets_a_message_and_unmatched_messages_are_committed(tmp_path):
    with Receiver() as pushes, Receiver() as everything:
        config = delivery_config(tmp_path, endpoint(pushes, name="pushes", filter={"json_key_exists": "commits"}),
                                 endpoint(everything, name="all"))
        config["nodes"][0]["endpoints"].append(endpoint(pushes, name="never", filter={"json_key_exists": "zzz"}))
        with InletNode(tmp_path, config) as node:
            assert node.post(b'{"commits": []}')[0] == 200
            assert node.post(b'{"action": "opened"}')[0] == 200
            committed(node, 2)
        assert [r.body for r in pushes.requests] == [b'{"commits": []}']
        assert sorted(r.body for r in everything.requests) == [b'{"action": "opened"}', b'{"commits": []}']


def test_kill_9_mid_delivery_redelivers_every_message_with_the_same_ids(tmp_path, capsys):
    total = 300
    with Receiver(verify=("standard_webhooks", SW_SECRET), delay=0.005) as receiver:
        hook = endpoint(receiver, concurrency=4)
        config = delivery_config(tmp_path, hook)
        with InletNode(tmp_path, config) as node:
            for n in range(total):
                assert node.post(json.dumps({"n": n}).encode())[0] == 200
            receiver.wait_for(total // 3, timeout=30)
            node.kill()  # SIGKILL: no drain, no final commit
            before = len(receiver.requests)
            node.start()
            wait_for(lambda: node.metric("inlet_consumer_lag", edge="main", consumer="notify") == 0, timeout=60,
                     what="the restarted node to commit everything")
            ids = tracking_ids(node)
        requests = list(receiver.requests)
        seen = {}
        for r in requests:
            assert r.signature_ok
            seen.setdefault(r.tracking_id, []).append(r)
        assert set(seen) == set(ids) and len(ids) == total  # every message at least once
        duplicates = len(requests) - total
        for rs in seen.values():
            assert len({r.headers["webhook-id"] for r in rs}) == 1 and len({r.body for r in rs}) == 1
        with capsys.disabled():
            print(f"\nkill -9 after {before} of {total} requests: {len(requests)} requests, "
                  f"{duplicates} duplicates (each with its first try's tracking id and webhook-id)")
        assert duplicates <= before  # only what was delivered but not yet committed comes again


def github_signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_relay_example_takes_a_signed_github_webhook_and_delivers_it_signed_over_https(tmp_path):
    config = yaml.safe_load(RELAY.read_text())
    ca = TestCA(tmp_path / "pki")
    cert, key = ca.server("indexer", serial=0x7002)
    github_secret = "github-relay-secret"
    with Receiver(verify=("standard_webhooks", SW_SECRET), tls=(cert, key)) as receiver:
        for edge in [*config["edges"], *(n["dead_letter"] for n in config["nodes"])]:
            edge["queue"]["dir"] = str(tmp_path / edge["name"])
        [relay] = config["nodes"]
        [target] = relay["endpoints"]
        assert target["url"].startswith("https://") and target["signature"]["scheme"] == "standard_webhooks"
        target["url"] = receiver.url
        target["tls"]["ca_file"] = ca.cert
        env = {"GITHUB_WEBHOOK_SECRET": github_secret, "INDEXER_SIGNING_SECRET": SW_SECRET}
        with InletNode(tmp_path, config, start=False) as node:
            node.config["listen"] = f"127.0.0.1:{node.port}"
            node.config["admin_listen"] = f"127.0.0.1:{node.admin_port}"
            node.write_config()
            os.environ.update(env)
            try:
                node.start()
            finally:
                for k in env:
                    os.environ.pop(k)
            body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/site"}}).encode()
            headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
                       "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
            assert node.post(body, headers={**headers, "X-Hub-Signature-256": github_signature("wrong", body)})[0] == 403
            status, _, answer = node.post(body, headers={**headers, "X-Hub-Signature-256": github_signature(github_secret, body)})
            assert status == 200, answer
            [request] = receiver.wait_for(1)
            stored = node.read_queue(str(tmp_path / config["edges"][0]["name"]))
        assert request.signature_ok and request.body == body
        assert request.headers["webhook-id"] == stored[0]["tracking_id"]
