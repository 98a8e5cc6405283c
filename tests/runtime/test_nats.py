"""NATS JetStream edges (CONTRACT.md section 8) through the real binary, on a real cluster of three
nats-server processes with the stream at R3: what a message carries, Nats-Msg-Id from the tracking
id or the dedup key, kill -9 of servers under load (503 only while there is no leader, then back by
itself; every 200 in the stream exactly once), kill -9 of inlet with the client's retries stored
once, no quorum answered 503 + Retry-After, a missing stream, and a consumers-only process reading
through a server's failover. The stream is read back with tests/nats_cluster.py's own client."""
import collections
import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from inlet_harness import InletNode, run_inlet, wait_for
from nats_cluster import AVAILABLE, NatsCluster, stream_messages
from tls_certs import TestCA

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="nats-server not installed")

EXAMPLE = Path(os.environ.get("INLET_SOURCE_DIR", Path(__file__).resolve().parents[2])) / "deploy/examples/nats.yaml"
STREAM = "HOOKS"
SUBJECT = "hooks.github"


@pytest.fixture
def cluster(tmp_path):
    with NatsCluster(tmp_path / "nats", size=3) as servers:
        yield servers


def nats_queue(cluster, **extra):
    return {"type": "nats", "servers": cluster.urls, "stream": STREAM, "subject": SUBJECT, "replicas": 3, **extra}


def nats_node(tmp_path, cluster, overrides=None, **queue):
    directory = tmp_path / "inlet"
    directory.mkdir(exist_ok=True)
    config = {"threads": 2, "edges": [{"name": "main", "queue": nats_queue(cluster, **queue)}]}
    config.update(overrides or {})
    return InletNode(directory, config, start=False)


def wait_ready(node):
    def ready():
        try:
            return node.admin_get("/readyz")[0] == 200
        except OSError:  # the admin port opens after the interpreter has started
            return False
    wait_for(ready, timeout=30, what="/readyz 200 (the stream is there)")


def test_each_message_is_in_the_stream_once_with_its_attributes_as_headers(tmp_path, cluster):
    node = nats_node(tmp_path, cluster)
    with node.start():
        wait_ready(node)
        sent = {}
        for n in range(20):
            body = json.dumps({"n": n, "text": "é\u2603"}, ensure_ascii=False).encode()
            status, _, answer = node.post(body, headers={"Content-Type": "application/vnd.github+json"})
            assert status == 200, answer
            sent[json.loads(answer)["tracking_id"]] = body
        assert node.metric("inlet_nats_publishes_total", edge="main") >= 20
    messages = stream_messages(cluster, STREAM)
    assert {m["headers"]["tracking_id"]: m["data"] for m in messages} == sent
    for m in messages:
        headers = m["headers"]
        assert m["subject"] == SUBJECT
        assert headers["Nats-Msg-Id"] == headers["tracking_id"]
        assert headers["content_type"] == "application/vnd.github+json"
        assert headers["node"] == "test-node" and headers["received_at"].endswith("Z")
    with cluster.client() as client:
        config = client.stream_info(STREAM)["config"]
    assert config["num_replicas"] == 3 and config["storage"] == "file" and config["subjects"] == [SUBJECT]
    assert config["duplicate_window"] == 120 * 10**9


def test_the_dedup_key_is_the_msg_id(tmp_path, cluster):
    overrides = {"dedup": {"key": "header:X-Delivery", "dir": str(tmp_path / "dedup")}}
    node = nats_node(tmp_path, cluster, overrides)
    with node.start():
        wait_ready(node)
        answers = [node.post(b'{"a": 1}', headers={"Content-Type": "application/json", "X-Delivery": "d-1"})
                   for _ in range(3)]
        assert all(a[0] == 200 for a in answers)
        assert len({json.loads(a[2])["tracking_id"] for a in answers}) == 1
        # A copy already in the stream under the key (stored before a crash, never answered): the
        # PubAck says duplicate, and the stream keeps the one it has.
        with cluster.client() as client:
            ack = client.publish(SUBJECT, b'{"a": 2}', {"Nats-Msg-Id": "d-2"})
        assert ack["stream"] == STREAM and not ack.get("duplicate")
        status, _, answer = node.post(b'{"a": 2}', headers={"Content-Type": "application/json", "X-Delivery": "d-2"})
        assert status == 200, answer
        assert node.metric("inlet_nats_duplicates_total", edge="main") == 1
    messages = stream_messages(cluster, STREAM)
    assert [m["headers"]["Nats-Msg-Id"] for m in messages] == ["d-1", "d-2"]
    assert "tracking_id" not in messages[1]["headers"]  # the copy that was there first


class Load:
    """`clients` threads posting on keep-alive connections until stopped; each request carries a
    unique X-Delivery. Records (time answered, status, key, tracking id or None, Retry-After,
    seconds the request took); status 0 when no answer came."""

    def __init__(self, node, clients=6, retry_unanswered=False):
        self.node = node
        self.stop = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.retry_unanswered = retry_unanswered
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    def __enter__(self):
        self.started = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def client(self, index):
        conn, n = None, 0
        key = None
        while not self.stop.is_set():
            if key is None:
                n += 1
                key = f"c{index}-{n}"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=30)
                body = json.dumps({"key": key}).encode()
                sent = time.monotonic()
                conn.request("POST", "/", body=body, headers={"Content-Type": "application/json", "X-Delivery": key})
                response = conn.getresponse()
                data = response.read()
                tracking_id = json.loads(data)["tracking_id"] if response.status == 200 else None
                self.record(response.status, key, tracking_id, response.getheader("Retry-After"),
                            time.monotonic() - sent)
                if response.status == 200 or not self.retry_unanswered:
                    key = None
                if response.status != 200:
                    time.sleep(0.05)
            except (OSError, http.client.HTTPException):
                # No answer (the node was killed): the sender tries the same delivery again.
                self.record(0, key, None, None, 0.0)
                if conn is not None:
                    conn.close()
                conn = None
                if not self.retry_unanswered:
                    key = None
                time.sleep(0.05)

    def record(self, status, key, tracking_id, retry_after, took):
        with self.lock:
            self.results.append((time.monotonic() - self.started, status, key, tracking_id, retry_after, took))

    def ok(self):
        return [r for r in self.results if r[1] == 200]


def assert_every_200_in_the_stream_once(cluster, load):
    messages = stream_messages(cluster, STREAM)
    counts = collections.Counter(m["headers"]["tracking_id"] for m in messages)
    answered = {r[3] for r in load.ok()}
    assert len(answered) == len(load.ok()), "one tracking id per 200"
    missing = answered - counts.keys()
    assert not missing, f"{len(missing)} answered 200 and not in the stream"
    doubled = [t for t, c in counts.items() if c > 1]
    assert not doubled, f"{len(doubled)} tracking ids stored more than once"
    return messages


def outage_summary(results, killed_at, back_at):
    """From the kill to the next: the 503s (and other failures), the longest a request waited,
    and when the last answer that was not a quick 200 came (the recovery time)."""
    after = [r for r in results if r[0] >= killed_at and (back_at is None or r[0] < back_at)]
    refused = [r for r in after if r[1] != 200]
    slow = [r for r in after if r[1] != 200 or r[5] > 0.25]
    last_slow = max((r[0] for r in slow), default=killed_at)
    return {"503": sum(1 for r in refused if r[1] == 503), "other": sum(1 for r in refused if r[1] != 503),
            "longest_wait_s": round(max((r[5] for r in after), default=0), 2),
            "recovered_after_s": round(max(last_slow - killed_at, 0), 2)}


def stream_leader(cluster):
    """The index of the server that leads the stream now."""
    for _ in range(40):
        try:
            with cluster.client() as client:
                leader = client.stream_info(STREAM).get("cluster", {}).get("leader")
            if leader:
                return int(leader[1:])
        except (RuntimeError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError("the stream has no leader")


def test_kill_9_of_servers_under_load_keeps_every_200_and_recovers_by_itself(tmp_path, cluster):
    node = nats_node(tmp_path, cluster)  # the defaults: retry_budget_ms 8000, ack_timeout_ms 1000
    with node.start():
        wait_ready(node)
        with Load(node) as load:
            time.sleep(2)
            kills = []
            for _ in range(2):
                # Each time the stream's leader: the worst server to lose.
                victim = stream_leader(cluster)
                kills.append(time.monotonic() - load.started)
                cluster.kill(victim)
                time.sleep(4)
                cluster.start(victim)
                time.sleep(3)
            first_kill, second_kill = kills
            settled = time.monotonic() - load.started
            time.sleep(2)
        results = list(load.results)
        before = [r for r in results if r[0] < first_kill]
        assert before and all(r[1] == 200 for r in before)
        # Two live servers of three are a quorum: the stream keeps a leader (a new one within a few
        # seconds of the leader's death); a request that waits past the 8 s budget gets 503.
        assert all(r[1] in (200, 503) for r in results), collections.Counter(r[1] for r in results)
        refused = [r for r in results if r[1] == 503]
        assert all(r[4] is not None for r in refused), "every 503 has Retry-After"
        # Back by itself: everything sent once the cluster had settled again got 200.
        tail = [r for r in results if r[0] - r[5] >= settled]
        assert tail and all(r[1] == 200 for r in tail), collections.Counter(r[1] for r in tail)
        summary = {"requests": len(results), "ok": len(load.ok()),
                   "first_kill": outage_summary(results, first_kill, second_kill),
                   "second_kill": outage_summary(results, second_kill, None),
                   "retries": node.metric("inlet_nats_retries_total", edge="main"),
                   "duplicates": node.metric("inlet_nats_duplicates_total", edge="main")}
        print("\nNATS server kills under load:", json.dumps(summary))
    assert_every_200_in_the_stream_once(cluster, load)


def test_no_quorum_answers_503_with_retry_after_and_recovers_when_it_returns(tmp_path, cluster):
    node = nats_node(tmp_path, cluster, retry_budget_ms=1500, ack_timeout_ms=500)
    with node.start():
        wait_ready(node)
        assert node.post(b'{"before": 1}')[0] == 200
        cluster.kill(1)
        cluster.kill(2)
        started = time.monotonic()
        status, headers, answer = node.post(b'{"during": 1}')
        waited = time.monotonic() - started
        assert status == 503 and headers.get("retry-after"), (status, headers, answer)
        # Tried again with backoff; answered once the next try could not start within the budget.
        assert 0.3 <= waited < 3, waited
        assert node.metric("inlet_nats_unavailable_total", edge="main") >= 1
        cluster.start(1)
        cluster.start(2)

        def accepted():
            return node.post(b'{"after": 1}')[0] == 200
        wait_for(accepted, timeout=30, what="a 200 once the quorum is back")
    bodies = [m["data"] for m in stream_messages(cluster, STREAM)]
    assert bodies[0] == b'{"before": 1}' and b'{"after": 1}' in bodies


def test_kill_9_of_inlet_mid_load_loses_no_200_and_retries_are_stored_once(tmp_path, cluster):
    # The client retries every delivery it got no answer for; both inlet's dedup journal and the
    # stream's Nats-Msg-Id window see the same key.
    overrides = {"dedup": {"key": "header:X-Delivery", "dir": str(tmp_path / "dedup")}}
    node = nats_node(tmp_path, cluster, overrides)
    with node.start():
        wait_ready(node)
        with Load(node, retry_unanswered=True) as load:
            time.sleep(2)
            node.kill()
            time.sleep(0.5)
            node.start()
            time.sleep(3)
        unanswered_keys = {r[2] for r in load.results if r[1] != 200}
        answered_keys = {r[2] for r in load.ok()}
        # Every key a client stopped on was answered (the last request of each is a 200 or in flight
        # at stop; those in flight may or may not be stored).
        assert unanswered_keys - answered_keys <= {r[2] for r in load.results[-12:]}
        assert any(r[1] == 0 for r in load.results), "the kill cut requests"
    messages = stream_messages(cluster, STREAM)
    ids = collections.Counter(m["headers"]["Nats-Msg-Id"] for m in messages)
    assert not [k for k, c in ids.items() if c > 1], "a delivery stored twice"
    assert answered_keys <= ids.keys(), "a 200 missing from the stream"
    stored_tracking = {m["headers"]["tracking_id"] for m in messages}
    # A 200 answered after the restart for a key stored before the kill carries a new tracking id
    # (the PubAck says duplicate, not which message): the key, not the id, is what was stored once.
    first_answers = {}
    for r in load.ok():
        first_answers.setdefault(r[2], r[3])
    assert sum(1 for t in first_answers.values() if t in stored_tracking) >= len(first_answers) - 12


def test_a_missing_stream_with_create_false_keeps_the_edge_not_ready(tmp_path, cluster):
    node = nats_node(tmp_path, cluster, create=False, retry_budget_ms=300)
    with node.start():
        status, body = node.admin_get("/readyz")
        assert status == 503, body
        status, headers, _ = node.post(b'{"a": 1}')
        assert status == 503 and headers.get("retry-after")
        wait_for(lambda: any(e.get("event") == "nats_stream_unavailable" and "create is false" in e.get("reason", "")
                             for e in node.log_events()), what="the log naming the missing stream")


def test_config_errors_name_the_key(tmp_path):
    def check(queue):
        path = tmp_path / "node.yaml"
        path.write_text(json.dumps({"listen": "127.0.0.1:0", "edges": [{"name": "main", "queue": queue}]}))
        result = run_inlet("check", "--config", str(path))
        assert result.returncode != 0
        return result.stderr.decode() + result.stdout.decode()

    base = {"type": "nats", "servers": ["nats://127.0.0.1:4222"], "stream": "S", "subject": "s.x"}
    assert "stream" in check({k: v for k, v in base.items() if k != "stream"})
    assert "must be nats://host:port" in check({**base, "servers": ["http://x"]})
    assert "not a NATS stream name" in check({**base, "stream": "a.b"})
    assert "without wildcards" in check({**base, "subject": "s.*"})
    assert "cannot read" in check({**base, "credentials_file": str(tmp_path / "none.creds")})
    assert "replicas" in check({**base, "replicas": 7})
    assert "give one of" in check({**base, "user": "u", "token": "t"})


def consumers_only(tmp_path, cluster):
    directory = tmp_path / "workers"
    directory.mkdir()
    source = "def processor(*, context, message, source, **kwargs):\n    return message\n"
    nodes = [{"name": "copy", "kind": "processor", "concurrency": 4,
              "input": {"name": "hooks", "queue": nats_queue(cluster, ack_wait="3s")},
              "processor": {"inline": source},
              "edges": [{"name": "out", "queue": {"type": "log", "dir": str(directory / "out"), "ack": "write"}}]}]
    node = InletNode(directory, {"nodes": nodes}, start=False)
    del node.config["listen"], node.config["edges"]
    node.write_config()
    return node, str(directory / "out")


def test_a_consumers_only_process_reads_the_stream_through_a_server_failover(tmp_path, cluster):
    writer = nats_node(tmp_path, cluster)
    reader, out_dir = consumers_only(tmp_path, cluster)

    def seen():
        return {json.loads(r["body"])["n"] if isinstance(r["body"], str) else r["body"]["n"]
                for r in reader.read_queue(out_dir)}
    with writer.start(), reader.start():
        wait_ready(writer)
        for n in range(50):
            assert writer.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: seen() == set(range(50)), timeout=30, what="the first fifty")
        # The stream's and the consumer's leaders move when a server dies; the durable consumer's
        # position survives, and what was in flight is delivered again after ack_wait.
        for victim in (0, 1):
            cluster.kill(victim)
            base = len(seen())
            for n in range(base, base + 50):
                status = writer.post(json.dumps({"n": n}).encode())[0]
                assert status in (200, 503)
                if status != 200:
                    wait_for(lambda: writer.post(json.dumps({"n": n}).encode())[0] == 200, timeout=30,
                             what=f"message {n} stored")
            cluster.start(victim)
            wait_for(lambda: seen() >= set(range(base + 50)), timeout=60, what=f"all {base + 50} read")
        assert seen() == set(range(150))
        wait_for(lambda: reader.metric("inlet_consumer_lag", edge="hooks", consumer="copy") == 0, timeout=30,
                 what="the consumer's lag at 0")
        assert reader.metric("inlet_consumer_redelivered_total", edge="hooks", consumer="copy") is not None
    with cluster.client() as client:
        info = client.api(f"CONSUMER.INFO.{STREAM}.copy")
    assert info["config"]["durable_name"] == "copy" and info["config"]["ack_policy"] == "explicit"
    assert info["num_ack_pending"] == 0 and info["num_pending"] == 0


def test_tls_and_a_user_and_password_reach_a_server_that_requires_both(tmp_path):
    ca = TestCA(tmp_path / "ca")
    cert, key = ca.server("nats", 1)
    args = ["--tls", "--tlscert", cert, "--tlskey", key, "--user", "inlet", "--pass", "s3cret"]
    with NatsCluster(tmp_path / "nats", size=1, extra_args=args) as server:
        good = nats_node(tmp_path, server, replicas=1, user="inlet", password="s3cret",
                         tls={"ca_file": ca.cert})
        with good.start():
            wait_ready(good)
            for n in range(5):
                assert good.post(json.dumps({"n": n}).encode())[0] == 200
        assert server.jetstream_messages() == 5
        (tmp_path / "wrong").mkdir()
        wrong = nats_node(tmp_path / "wrong", server, replicas=1, user="inlet", password="nope",
                          tls={"ca_file": ca.cert}, retry_budget_ms=300)
        with wrong.start():
            status, headers, _ = wrong.post(b'{"a": 1}')
            assert status == 503 and headers.get("retry-after")
            assert wrong.admin_get("/readyz")[0] == 503
        (tmp_path / "untrusted").mkdir()
        other_ca = TestCA(tmp_path / "other-ca", name="other-ca")
        untrusted = nats_node(tmp_path / "untrusted", server, replicas=1, user="inlet", password="s3cret",
                              tls={"ca_file": other_ca.cert}, retry_budget_ms=300)
        with untrusted.start():
            assert untrusted.post(b'{"a": 1}')[0] == 503
        assert server.jetstream_messages() == 5


def test_a_full_in_flight_budget_answers_503_at_once(tmp_path, cluster):
    node = nats_node(tmp_path, cluster, max_in_flight=1, retry_budget_ms=3000, ack_timeout_ms=500)
    with node.start():
        wait_ready(node)
        cluster.kill(1)
        cluster.kill(2)  # no quorum: the first message waits out its budget, holding the one slot
        answers = []
        first = threading.Thread(target=lambda: answers.append(node.post(b'{"first": 1}')))
        first.start()
        time.sleep(0.5)
        started = time.monotonic()
        status, headers, body = node.post(b'{"second": 1}')
        assert status == 503 and headers.get("retry-after") and time.monotonic() - started < 0.5, body
        first.join(10)
        assert answers[0][0] == 503
        assert node.metric("inlet_edge_failed_total", edge="main", reason="full") >= 1


def test_a_message_not_acknowledged_within_ack_wait_is_delivered_again_and_counted(tmp_path, cluster):
    writer = nats_node(tmp_path, cluster)
    directory = tmp_path / "slow"
    directory.mkdir()
    # The first call of each message outlasts the 1 s ack_wait: the server delivers it again.
    marker = directory / "first-call"
    source = ("def processor(*, context, message, source, **kwargs):\n"
              "    import os, time\n"
              f"    if not os.path.exists({str(marker)!r}):\n"
              f"        open({str(marker)!r}, 'w').close()\n"
              "        time.sleep(2.5)\n"
              "    return message\n")
    nodes = [{"name": "slow", "kind": "processor", "concurrency": 1,
              "input": {"name": "hooks", "queue": nats_queue(cluster, ack_wait="1s")},
              "processor": {"inline": source, "timeout_ms": 10000},
              "edges": [{"name": "out", "queue": {"type": "log", "dir": str(directory / "out"), "ack": "write"}}]}]
    reader = InletNode(directory, {"nodes": nodes}, start=False)
    del reader.config["listen"], reader.config["edges"]
    reader.write_config()
    with writer.start(), reader.start():
        wait_ready(writer)
        assert writer.post(b'{"slow": 1}')[0] == 200
        wait_for(lambda: (reader.metric("inlet_consumer_redelivered_total", edge="hooks", consumer="slow") or 0) >= 1,
                 timeout=30, what="a redelivery counted")
        wait_for(lambda: len(reader.read_queue(str(directory / "out"))) >= 1, timeout=30, what="the output")
        # At least once: the redelivered copy may be processed too, never none.
        assert {r["body"]["slow"] for r in reader.read_queue(str(directory / "out"))} == {1}


def test_the_example_runs_against_a_local_server(tmp_path):
    example = yaml.safe_load(EXAMPLE.read_text())
    with NatsCluster(tmp_path / "nats", size=1) as server:
        example["edges"][0]["queue"]["servers"] = server.urls
        (tmp_path / "inlet").mkdir()
        node = InletNode(tmp_path / "inlet", example, start=False)
        node.config = {**example, "listen": f"127.0.0.1:{node.port}", "admin_listen": f"127.0.0.1:{node.admin_port}"}
        node.write_config()
        assert run_inlet("check", "--config", str(node.config_path)).returncode == 0
        with node.start():
            wait_ready(node)
            headers = {"Content-Type": "application/json", "X-Delivery": "d-1"}
            first = node.post(b'{"a": 1}', headers=headers)
            assert first[0] == 200 and node.post(b'{"a": 1}', headers=headers)[2] == first[2]
            out = str(tmp_path / "inlet" / "data" / "nats-out")
            wait_for(lambda: node.read_queue(out), what="the processor's output")
            (record,) = node.read_queue(out)
            assert record["body"] == {"a": 1, "seen_by": "annotate"}
            assert record["prev_tracking_ids"] == [json.loads(first[2])["tracking_id"]]
