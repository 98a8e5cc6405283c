"""Operations through the real binary: the admin listener (/healthz, /readyz, /metrics), metrics
that move by exactly what was sent, the sampled access log, the graceful drain on SIGTERM under
load, live reload (SIGHUP and a rewritten config file) without dropping connections, and the
threads' names."""
import http.client
import json
import signal
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inlet_harness import InletNode

BODY = b'{"action":"opened","number":42}'
JSON = {"Content-Type": "application/json"}


def scrape(node):
    status, body = node.admin_get("/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for_event(node, event, timeout=10, after=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in node.log_events() if e.get("event") == event]
        if len(found) > after:
            return found[after]
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} event within {timeout}s:\n{node.logs()}")


def post_on(conn, body=BODY, headers=JSON):
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read(), response.getheader("Connection")


def test_admin_endpoints(tmp_path):
    with InletNode(tmp_path) as node:
        assert node.admin_get("/healthz") == (200, b'{"status":"ok"}')
        assert node.admin_get("/readyz") == (200, b'{"status":"ok"}')
        assert node.admin_get("/nope")[0] == 404
        conn = http.client.HTTPConnection("127.0.0.1", node.admin_port, timeout=5)
        conn.request("POST", "/metrics", body=b"")
        assert conn.getresponse().status == 405
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", node.admin_port, timeout=5)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/plain; version=0.0.4")
        response.read()
        # Keep-alive: a second request on the same admin connection.
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()


def test_every_thread_is_named_for_top_and_perf(tmp_path):
    # top -H, perf and gdb show /proc/PID/task/*/comm: each kind of thread says what it is, and a
    # node's threads say which node (cut to Linux's 15 bytes).
    nodes = [{"name": "split-commits", "kind": "processor", "input": "main",
              "processor": {"inline": "def processor(*, context, message, source, **kwargs):\n"
                                      "    return message\n"},
              "edges": [{"name": "out", "queue": {"type": "log", "dir": str(tmp_path / "out")}}]}]
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        assert node.post(BODY, JSON)[0] == 200
        tasks = Path(f"/proc/{node.proc.pid}/task")
        names = sorted((task / "comm").read_text().strip() for task in tasks.iterdir())
        for expected in ("inlet-io", "inlet-log", "inlet-python", "inlet-py-watch", "inlet-py-intr",
                         "node:split-comm", "rd:split-commit"):
            assert expected in names, names


def test_metrics_move_by_exactly_what_was_sent(tmp_path):
    with InletNode(tmp_path, {"access_log": {"sample": 1.0}}) as node:
        node.post(BODY)  # warm up, so every family has been seen once
        before = scrape(node)
        conn = node.connection()
        for _ in range(7):
            assert post_on(conn)[0] == 200
        for _ in range(3):
            assert post_on(conn, b'{"a":', JSON)[0] == 400
        conn.close()
        for _ in range(2):
            assert node.post(BODY, {"Content-Type": "text/plain"})[0] == 415
        assert node.post(BODY, path="/elsewhere")[0] == 404
        time.sleep(0.1)
        after = scrape(node)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta("inlet_requests_total", status="200") == 7
        assert delta("inlet_requests_total", status="400") == 3
        assert delta("inlet_requests_total", status="415") == 2
        assert delta("inlet_requests_total", status="404") == 1
        assert delta("inlet_rejects_total", reason="invalid_json") == 3
        assert delta("inlet_rejects_total", reason="unsupported_media_type") == 2
        assert delta("inlet_rejects_total", reason="not_found") == 1
        assert delta("inlet_rejects_total", reason="queue_full") == 0
        assert delta("inlet_authenticator_results_total", result="accept") == 7
        assert delta("inlet_edge_stored_total", edge="main") == 7
        assert delta("inlet_edge_failed_total", edge="main", reason="full") == 0
        assert value(after, "inlet_edge_in_flight", edge="main") == 0
        assert delta("inlet_log_queue_records_total", edge="main") == 7
        assert delta("inlet_log_queue_batches_total", edge="main") >= 1
        assert delta("inlet_body_bytes_total") == 7 * len(BODY) + 3 * len(b'{"a":')
        assert delta("inlet_decoded_bytes_total") == 7 * len(BODY) + 3 * len(b'{"a":')
        assert delta("inlet_received_bytes_total") > delta("inlet_body_bytes_total")
        assert delta("inlet_connections_accepted_total") == 4
        assert delta("inlet_unrouted_total") == 0
        # Histograms: every request that reached a stage was timed once.
        assert delta("inlet_stage_duration_seconds_count", stage="read") == 10
        assert delta("inlet_stage_duration_seconds_count", stage="decode") == 10
        assert delta("inlet_stage_duration_seconds_count", stage="authenticate") == 7
        assert delta("inlet_stage_duration_seconds_count", stage="enqueue") == 7
        assert delta("inlet_request_duration_seconds_count") == 13
        assert delta("inlet_request_duration_seconds_bucket", le="+Inf") == 13
        assert delta("inlet_request_duration_seconds_sum") > 0
        assert delta("inlet_edge_store_duration_seconds_count", edge="main") == 7
        assert value(after, "inlet_ready") == 1
        assert value(after, "inlet_edge_ready", edge="main", type="log") == 1

        # The sampled access log (sample: 1.0 logs every request): no body, the reason when refused.
        access = [e for e in node.log_events() if e.get("event") == "access"]
        assert len(access) == 14
        ok = [e for e in access if e["status"] == 200]
        assert len(ok) == 8 and all(len(e["tracking_id"]) == 32 and e["bytes"] == len(BODY) for e in ok)
        assert sorted(e["reason"] for e in access if e["status"] == 400) == ["invalid_json"] * 3
        assert all("opened" not in json.dumps(e) for e in access)
        assert delta("inlet_access_log_lines_total") == 13
        tracking_ids = {e["tracking_id"] for e in ok}
        assert tracking_ids == {m["tracking_id"] for m in node.read_queue()}


def drain_client(node, stop, results, index):
    """Posts on a keep-alive connection until told to stop; reconnects when the server says
    Connection: close. Records (time, outcome, detail) per request."""
    conn = None
    while not stop.is_set():
        fresh = conn is None
        if conn is None:
            conn = node.connection(timeout=10)  # HTTPS in the harness's TLS mode
        body = json.dumps({"client": index, "n": len(results)}).encode()
        try:
            conn.request("POST", "/", body=body, headers=JSON)
            response = conn.getresponse()
            data = response.read()
            results.append((time.monotonic(), "answer", response.status, data, fresh))
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except ConnectionRefusedError:
            results.append((time.monotonic(), "refused", None, None, fresh))
            conn = None
            time.sleep(0.01)
        except (ConnectionError, http.client.HTTPException, socket.timeout, ssl.SSLError) as e:
            results.append((time.monotonic(), "broken", repr(e), None, fresh))
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def test_sigterm_drains_under_load(tmp_path):
    delay = 1.5
    with InletNode(tmp_path, {"drain_delay_ms": int(delay * 1000), "threads": 2}) as node:
        stop = threading.Event()
        results = [[] for _ in range(4)]
        threads = [threading.Thread(target=drain_client, args=(node, stop, results[i], i))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        sent_at = time.monotonic()
        node.signal(signal.SIGTERM)
        time.sleep(0.2)
        ready_status, ready_body = node.admin_get("/readyz")
        time.sleep(delay + 0.5)
        stop.set()
        for t in threads:
            t.join(10)
        ok_during_delay = sum(1 for r in results for (t, kind, status, _, _) in r
                              if kind == "answer" and status == 200 and sent_at + 0.3 < t < sent_at + delay - 0.2)
        exit_code = node.proc.wait(30)
        events = [e["event"] for e in node.log_events()]
        assert events.index("draining") < events.index("listeners_closed") < events.index("drained")
        assert events[-1] == "stopped"

        assert exit_code == 0, node.logs()
        assert ready_status == 503 and json.loads(ready_body)["reason"] == "draining"
        assert ok_during_delay > 0, "requests kept getting 200 during the drain delay"
        flat = [r for rs in results for r in rs]
        answers = [r for r in flat if r[1] == "answer"]
        assert answers and all(status == 200 for _, _, status, _, _ in answers), answers[:5]
        # Nothing broke while the node was listening: failures only after the listener closed, and
        # only before any answer byte on a fresh connection (the kernel refused or reset a
        # connection the node never accepted).
        close_after = sent_at + delay - 0.05
        for t, kind, detail, _, fresh in flat:
            if kind == "refused":
                assert t >= close_after
            if kind == "broken":
                assert t >= close_after and fresh, (detail, t - sent_at)
        # Each of the node's 2 acceptors (one per thread, SO_REUSEPORT) takes the connections the
        # kernel had half-open when it closed down with it: at most one per client per acceptor.
        broken = [(r[2], r[0] - sent_at) for r in flat if r[1] == "broken"]
        assert len(broken) <= len(threads) * 2, broken
        stored = {m["tracking_id"] for m in node.read_queue()}
        answered = {json.loads(data)["tracking_id"] for _, _, _, data, _ in answers}
        assert answered <= stored
        assert len(answered) == len(answers)


def test_sighup_with_a_broken_config_keeps_serving(tmp_path):
    with InletNode(tmp_path) as node:
        conn = node.connection()
        assert post_on(conn)[0] == 200
        node.config_path.write_text("node: {name: x}\nlimits: {max_body_bytes: -5}\n")
        node.signal(signal.SIGHUP)
        failed = wait_for_event(node, "reload_failed")
        assert "max_body_bytes" in failed["error"]
        assert post_on(conn)[0] == 200
        assert node.admin_get("/readyz")[0] == 200
        conn.close()


def test_sighup_applies_a_new_config_on_the_same_connection(tmp_path):
    with InletNode(tmp_path) as node:
        conn = node.connection()
        status, _, connection = post_on(conn, b'{"big":"' + b"x" * 2000 + b'"}')
        assert status == 200 and connection is None
        config = dict(node.config)
        config["verifiers"] = [{"type": "bearer", "tokens": ["s3cret-token"]}]
        config["log_level"] = "warn"
        node.write_config(config)
        node.signal(signal.SIGHUP)
        wait_for_event(node, "reloaded")
        time.sleep(0.2)
        # Same keep-alive connection: the new verifier refuses, then accepts with the token.
        assert post_on(conn)[0] == 401
        headers = dict(JSON, Authorization="Bearer s3cret-token")
        assert post_on(conn, BODY, headers)[0] == 200
        conn.close()
        assert "s3cret-token" not in node.logs()


def test_rewritten_config_file_is_picked_up_without_a_signal(tmp_path):
    with InletNode(tmp_path) as node:
        conn = node.connection()
        assert post_on(conn, b'{"big":"' + b"x" * 2000 + b'"}')[0] == 200
        config = dict(node.config, limits={"max_body_bytes": 1000})
        node.write_config(config)
        wait_for_event(node, "reloaded", timeout=5)
        time.sleep(0.2)
        assert post_on(conn, b'{"big":"' + b"x" * 2000 + b'"}')[0] == 413
        assert node.post(BODY)[0] == 200


def test_reload_refuses_a_changed_queue_and_keeps_the_old_one(tmp_path):
    with InletNode(tmp_path) as node:
        config = json.loads(json.dumps(node.config))
        config["edges"][0]["queue"]["dir"] = str(tmp_path / "other")
        config["edges"].append({"name": "extra", "queue": {"type": "log", "dir": str(tmp_path / "extra"),
                                                          "ack": "write"}})
        node.write_config(config)
        node.signal(signal.SIGHUP)
        failed = wait_for_event(node, "reload_failed")
        assert "edge 'main'" in failed["error"] and "restart" in failed["error"]
        assert node.post(BODY)[0] == 200
        assert len(node.read_queue()) == 1
        # A new edge alone is fine: it opens, and both edges get the message.
        config["edges"][0]["queue"]["dir"] = node.queue_dir
        node.write_config(config)
        node.signal(signal.SIGHUP)
        wait_for_event(node, "reloaded")
        time.sleep(0.2)
        assert node.post(BODY)[0] == 200
        assert len(node.read_queue()) == 2
        assert len(node.read_queue(str(tmp_path / "extra"))) == 1


@pytest.mark.parametrize("sample", [0.0])
def test_no_access_log_by_default(tmp_path, sample):
    with InletNode(tmp_path) as node:
        for _ in range(5):
            assert node.post(BODY)[0] == 200
        assert not [e for e in node.log_events() if e.get("event") == "access"]


def test_sighup_swaps_the_python_authenticator(tmp_path):
    source = ("def authenticator(*, context, request, **kwargs):\n"
              "    from starlette.authentication import AuthCredentials, SimpleUser\n"
              "    context.logger.info('generation %s', context.config['generation'])\n"
              "    return AuthCredentials(['read']), SimpleUser(context.config['user'])\n")
    config = {"authenticator": {"inline": source, "config": {"user": "first", "generation": 1}}}
    with InletNode(tmp_path, config) as node:
        conn = node.connection()
        assert post_on(conn)[0] == 200
        node.config["authenticator"]["config"] = {"user": "second", "generation": 2}
        node.write_config()
        node.signal(signal.SIGHUP)
        wait_for_event(node, "reloaded")
        time.sleep(0.2)
        assert post_on(conn)[0] == 200
        conn.close()
        assert [m["user"] for m in node.read_queue()] == ["first", "second"]
        logged = [e for e in node.log_events() if e.get("event") == "authenticator_log"]
        assert any("generation 2" in json.dumps(e) for e in logged), node.logs()
