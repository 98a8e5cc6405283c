"""Consumer nodes through the real binary (CONTRACT.md section 5): the example pipeline end to end,
what a processor may return, failures with retries and dead letters, a full output edge, replay by
time, `inlet test --node`, and readiness while the input is out of reach."""
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from inlet_harness import InletNode, wait_for, payload_files, run_inlet

SOURCE = Path(os.environ.get("INLET_SOURCE_DIR", Path(__file__).resolve().parents[2]))
EXAMPLE = SOURCE / "deploy" / "examples" / "pipeline.yaml"


def log_edge(tmp_path, name, **queue):
    return {"name": name, "queue": {"type": "log", "dir": str(tmp_path / name), "ack": "write", **queue}}


def processor_node(tmp_path, source, name="proc", **extra):
    node = {"name": name, "kind": "processor", "input": "main",
            "processor": {"inline": source, "timeout_ms": extra.pop("timeout_ms", 2000)},
            "edges": [log_edge(tmp_path, "out")]}
    node.update(extra)
    return node


def read(node, tmp_path, edge):
    return node.read_queue(str(tmp_path / edge))


def push(commits, repository="acme/site"):
    """A GitHub push event with these commits: (id, [paths])."""
    return json.dumps({
        "ref": "refs/heads/main",
        "repository": {"full_name": repository},
        "commits": [{"id": cid, "message": f"commit {cid}", "added": [], "removed": [], "modified": paths}
                    for cid, paths in commits],
    }).encode()


def corpus_pushes():
    """The pushes among the payloads (the generated ones, and the GitHub corpus where present)."""
    pushes = []
    for path in map(Path, payload_files()):
        try:
            body = json.loads(path.read_bytes())
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("commits"), list):
            pushes.append(path.read_bytes())
    return pushes


def test_the_example_pipeline_splits_pushes_and_routes_commits_touching_docs(tmp_path):
    config = yaml.safe_load(EXAMPLE.read_text())
    for edge in [*config["edges"], *(e for n in config["nodes"] for e in [*n["edges"], n["dead_letter"]])]:
        edge["queue"]["dir"] = str(tmp_path / edge["name"])
    bodies = [push([("a1", ["docs/intro.md"]), ("a2", ["src/main.cc"])]),
              push([("b1", ["src/x.cc", "docs/api.md"])]),
              push([]),
              json.dumps({"action": "opened"}).encode()]  # not a push: the webhook node's filter drops it
    bodies += corpus_pushes()
    expected_docs, expected_code = [], []
    for body in bodies:
        for commit in json.loads(body).get("commits") or []:
            paths = (commit.get("added") or []) + (commit.get("modified") or []) + (commit.get("removed") or [])
            (expected_docs if any(p.startswith("docs/") for p in paths) else expected_code).append(commit["id"])
    with InletNode(tmp_path, {**config, "listen": None}, start=False) as node:
        node.config["listen"] = f"127.0.0.1:{node.port}"
        node.config["admin_listen"] = f"127.0.0.1:{node.admin_port}"
        node.write_config()
        node.start()
        for body in bodies:
            status, _, answer = node.post(body)
            assert status == 200, answer
        total = len(expected_docs) + len(expected_code)
        wait_for(lambda: len(read(node, tmp_path, "docs")) + len(read(node, tmp_path, "code")) == total,
                 what=f"{total} commits at the end of the pipeline")
        docs, code = read(node, tmp_path, "docs"), read(node, tmp_path, "code")
        assert sorted(r["body"]["commit"]["id"] for r in docs) == sorted(expected_docs)
        assert sorted(r["body"]["commit"]["id"] for r in code) == sorted(expected_code)
        raw = {r["tracking_id"] for r in read(node, tmp_path, "raw")}
        commits = {r["tracking_id"]: r for r in read(node, tmp_path, "commits")}
        for record in docs + code:
            # Each output names where it came from: the push, then the commit message.
            first, second = record["prev_tracking_ids"]
            assert first in raw and second in commits
            assert record["node"] == "route-docs" and record["message_type"] == "github.commit"
        assert all(r["node"] == "split-commits" for r in commits.values())
        assert read(node, tmp_path, "split-commits-dead") == [] and read(node, tmp_path, "route-docs-dead") == []
        wait_for(lambda: node.metric("inlet_consumer_lag", edge="commits", consumer="route-docs") == 0,
                 what="route-docs' lag to reach 0")
        assert node.metric("inlet_node_messages_total", node="route-docs", result="emitted") == total
        listed = run_inlet("queue", "consumers", "--dir", str(tmp_path / "raw"))
        assert json.loads(listed.stdout)["consumer"] == "split-commits"


@pytest.mark.parametrize("body, outputs", [
    ("return None", []),
    ("return message", ['{"n": 3}']),
    ("return [message, json.dumps({'source': source})]", ['{"n": 3}', '{"source": "main"}']),
    ("for i in range(json.loads(message)['n']):\n        yield json.dumps({'i': i})", ['{"i": 0}', '{"i": 1}', '{"i": 2}']),
])
def test_a_processor_may_return_none_a_str_a_list_or_a_generator(tmp_path, body, outputs):
    source = f"def processor(*, context, message, source, **kwargs):\n    import json\n    {body}\n"
    with InletNode(tmp_path, {"nodes": [processor_node(tmp_path, source)]}) as node:
        assert node.post(b'{"n": 3}')[0] == 200
        result = "emitted" if outputs else "filtered"
        wait_for(lambda: node.metric("inlet_node_messages_total", node="proc", result=result) == 1,
                 what=f"the message {result}")
        assert [json.dumps(r["body"]) for r in read(node, tmp_path, "out")] == \
            [json.dumps(json.loads(o)) for o in outputs]


@pytest.mark.parametrize("body, error", [
    ("raise ValueError('no commits here')", "ValueError: no commits here"),
    ("while True:\n        pass", "processor timed out after 200 ms"),
    ("return ['{\"ok\": 1}', 'not json']", "processor emitted invalid JSON: output 1 of 2: invalid JSON"),
])
def test_a_failing_message_is_retried_then_dead_lettered_with_the_reason(tmp_path, body, error):
    source = f"def processor(*, context, message, source, **kwargs):\n    {body}\n"
    nodes = [processor_node(tmp_path, source, timeout_ms=200, max_attempts=3, retry_backoff_ms=20,
                            dead_letter=log_edge(tmp_path, "dead"))]
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        status, _, answer = node.post(b'{"id": 1}')
        tracking_id = json.loads(answer)["tracking_id"]
        wait_for(lambda: read(node, tmp_path, "dead"), what="the dead letter")
        [dead] = read(node, tmp_path, "dead")
        assert dead["body"] == {"id": 1} and dead["tracking_id"] == tracking_id
        assert dead["node"] == "proc" and dead["attempts"] == "3"
        assert error in dead["error"], dead["error"]
        assert read(node, tmp_path, "out") == []  # nothing of a failed call is stored
        assert node.metric("inlet_node_messages_total", node="proc", result="failed") == 3
        assert node.metric("inlet_node_messages_total", node="proc", result="dead_lettered") == 1
        # The next message flows: the consumer moved past the dead letter, not before it.
        events = [e for e in node.log_events() if e.get("event") == "node_message_dead_lettered"]
        assert events and events[0]["attempts"] == 3


def test_without_a_dead_letter_edge_a_failing_message_is_retried_forever_and_never_passed(tmp_path):
    source = ("def processor(*, context, message, source, **kwargs):\n"
              "    import json\n"
              "    if json.loads(message).get('bad') and not context.config.get('fixed'):\n"
              "        raise RuntimeError('downstream bug')\n"
              "    return message\n")
    nodes = [processor_node(tmp_path, source, retry_backoff_ms=10, retry_backoff_max_ms=50)]
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        assert node.post(b'{"bad": true}')[0] == 200
        assert node.post(b'{"good": 1}')[0] == 200
        wait_for(lambda: (node.metric("inlet_node_messages_total", node="proc", result="failed") or 0) >= 10,
                 what="ten failed attempts")
        # The good message after it was processed (concurrency 1 holds one in flight; a later one
        # may not pass it), and the position stays before the bad one.
        assert read(node, tmp_path, "out") == []
        consumers = json.loads(run_inlet("queue", "consumers", "--dir", node.queue_dir).stdout)
        assert consumers["next_offset"] == 0
    # The fix is deployed: the message is processed, then the one behind it, in order.
    nodes[0]["processor"]["config"] = {"fixed": True}
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        wait_for(lambda: len(read(node, tmp_path, "out")) == 2, what="both messages processed")
        assert [r["body"] for r in read(node, tmp_path, "out")] == [{"bad": True}, {"good": 1}]


def test_concurrency_keeps_messages_in_flight_and_commits_in_input_order(tmp_path):
    # Slow early messages, fast later ones: outputs land out of order, the position never passes
    # a message that is not done.
    source = ("async def processor(*, context, message, source, **kwargs):\n"
              "    import asyncio, json\n"
              "    n = json.loads(message)['n']\n"
              "    await asyncio.sleep(0.3 if n < 4 else 0)\n"
              "    return message\n")
    nodes = [processor_node(tmp_path, source, concurrency=8)]
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        for n in range(16):
            assert node.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: len(read(node, tmp_path, "out")) == 16, what="16 outputs")
        order = [r["body"]["n"] for r in read(node, tmp_path, "out")]
        assert sorted(order) == list(range(16)) and order != list(range(16)), order
        wait_for(lambda: json.loads(run_inlet("queue", "consumers", "--dir", node.queue_dir).stdout)
                 ["next_offset"] == 16, what="the position at 16")


def test_a_full_output_edge_slows_the_node_and_loses_nothing(tmp_path):
    source = ("def processor(*, context, message, source, **kwargs):\n"
              "    return [message] * 10\n")
    # Two in-flight slots and an fsync per write: most of 40 concurrent stores are refused as full.
    out = log_edge(tmp_path, "out", max_in_flight=2, ack="fsync")
    nodes = [processor_node(tmp_path, source, concurrency=4, edges=[out])]
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        for n in range(8):
            assert node.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: len(read(node, tmp_path, "out")) == 80, timeout=60, what="80 outputs")
        counts = {}
        for record in read(node, tmp_path, "out"):
            counts[record["body"]["n"]] = counts.get(record["body"]["n"], 0) + 1
        assert counts == {n: 10 for n in range(8)}
        assert node.metric("inlet_node_backpressure_total", node="proc") > 0
        assert node.metric("inlet_node_messages_total", node="proc", result="failed") == 0


def test_seek_back_by_time_processes_the_range_again(tmp_path):
    source = "def processor(*, context, message, source, **kwargs):\n    return message\n"
    nodes = [processor_node(tmp_path, source)]
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        for n in range(3):
            assert node.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: len(read(node, tmp_path, "out")) == 3, what="the first batch")
        time.sleep(0.05)
        middle = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%06dZ" % (time.time() % 1 * 1e6)
        for n in range(3, 6):
            assert node.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: len(read(node, tmp_path, "out")) == 6, what="the second batch")
        refused = run_inlet("queue", "seek", "--dir", node.queue_dir, "--consumer", "proc", "--time", middle)
        assert refused.returncode != 0  # the node holds the log
    seek = run_inlet("queue", "seek", "--dir", node.queue_dir, "--consumer", "proc", "--time", middle)
    assert seek.returncode == 0, seek.stderr
    with InletNode(tmp_path, {"nodes": nodes}) as node:
        wait_for(lambda: len(read(node, tmp_path, "out")) == 9, what="the range again")
        assert [r["body"]["n"] for r in read(node, tmp_path, "out")] == [0, 1, 2, 3, 4, 5, 3, 4, 5]


def test_inlet_test_runs_one_message_through_a_node_and_writes_nothing(tmp_path):
    config = yaml.safe_load(EXAMPLE.read_text())
    for edge in [*config["edges"], *(e for n in config["nodes"] for e in [*n["edges"], n["dead_letter"]])]:
        edge["queue"]["dir"] = str(tmp_path / edge["name"])
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    message = tmp_path / "push.json"
    message.write_bytes(push([("c1", ["docs/a.md"]), ("c2", ["lib.py"])]))
    result = run_inlet("test", "--config", str(path), "--node", "split-commits", "--message", str(message))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["result"] == "emitted" and answer["error"] is None
    assert [(o["edge"], o["body"]["commit"]["id"]) for o in answer["outputs"]] == [("commits", "c1"), ("commits", "c2")]
    commit = tmp_path / "commit.json"
    commit.write_text(json.dumps(answer["outputs"][0]["body"]))
    routed = json.loads(run_inlet("test", "--config", str(path), "--node", "route-docs", "--message", str(commit)).stdout)
    assert routed["bitmap"] == 1 and [o["edge"] for o in routed["outputs"]] == ["docs"]
    message.write_text("{}")
    bad = run_inlet("test", "--config", str(path), "--node", "route-docs", "--message", str(message))
    assert bad.returncode == 1 and json.loads(bad.stdout)["result"] == "failed"
    assert "KeyError: 'commit'" in json.loads(bad.stdout)["error"]
    missing = run_inlet("test", "--config", str(path), "--node", "nope", "--message", str(message))
    assert missing.returncode == 1 and b"no node 'nope'" in missing.stderr and b"split-commits" in missing.stderr
    assert not any((tmp_path / name).exists() for name in ("raw", "commits", "docs", "code"))


def test_config_errors_name_the_file_line_and_key(tmp_path):
    cases = [
        ({"name": "n", "kind": "processor", "input": "nowhere", "processor": {"inline": "x"},
          "edges": [{"name": "o", "queue": {"type": "log", "dir": "o"}}]},
         "nodes[0].input: no edge named 'nowhere'"),
        ({"name": "n", "kind": "router", "input": "main",
          "router": {"inline": "def bitmapper(*, context, message, source):\n    return 1\n"},
          "edges": [{"name": "o", "queue": {"type": "log", "dir": "o"}}]},
         "nodes[0].edges[0].route: is required"),
        ({"name": "n", "kind": "processor", "input": "main",
          "processor": {"inline": "def processor(*, context, message):\n    return None\n"},
          "edges": [{"name": "main", "queue": {"type": "log", "dir": "o"}}]},
         "nodes[0].edges[0].name: duplicate edge name 'main'"),
        ({"name": "n", "kind": "processor", "input": "main",
          "processor": {"inline": "def processor(*, context, message):\n    return None\n"},
          "edges": [{"name": "o", "queue": {"type": "log", "dir": "o"}}]},
         "the function must accept the keyword argument 'source'"),
        ({"name": "n", "kind": "delivery", "input": "main"},
         "nodes[0].endpoints: must list at least one endpoint: {name, url}"),
    ]
    for node, expected in cases:
        path = tmp_path / "node.yaml"
        path.write_text(yaml.safe_dump({"listen": "127.0.0.1:0",
                                        "edges": [{"name": "main", "queue": {"type": "log", "dir": "q"}}],
                                        "nodes": [node]}))
        result = run_inlet("check", "--config", str(path))
        assert result.returncode == 1 and expected in result.stderr.decode(), (expected, result.stderr)
        assert str(path) in result.stderr.decode()


def test_a_consumers_only_process_is_not_ready_while_its_input_is_out_of_reach(tmp_path):
    source = "def processor(*, context, message, source, **kwargs):\n    return message\n"
    input_dir = tmp_path / "elsewhere"
    nodes = [processor_node(tmp_path, source, input={"name": "theirs", "queue": {"type": "log", "dir": str(input_dir)}})]
    node = InletNode(tmp_path, {"nodes": nodes}, start=False)
    del node.config["listen"], node.config["edges"]
    node.write_config()
    with node.start():
        status, body = node.admin_get("/readyz")
        assert status == 503 and b"cannot reach input 'theirs'" in body, body
        # Another process's webhook node starts writing the edge: the consumer opens it.
        (tmp_path / "writer").mkdir()
        with InletNode(tmp_path / "writer", {"edges": [log_edge(tmp_path, "elsewhere")]}) as writer:
            assert writer.post(b'{"from": "writer"}')[0] == 200
            wait_for(lambda: node.admin_get("/readyz")[0] == 200, what="/readyz 200")
            wait_for(lambda: read(node, tmp_path, "out"), what="the output")
            assert read(node, tmp_path, "out")[0]["body"] == {"from": "writer"}


def consumers_only(tmp_path, input_queue, name="workers"):
    """A process with one processor node reading `input_queue` (written by another process) and no
    webhook node."""
    directory = tmp_path / name
    directory.mkdir()
    source = ("def processor(*, context, message, source, **kwargs):\n"
              "    import json\n"
              "    return json.dumps({'seen': json.loads(message), 'from': source})\n")
    nodes = [{"name": "copy", "kind": "processor", "concurrency": 4,
              "input": {"name": "theirs", "queue": input_queue},
              "processor": {"inline": source}, "edges": [log_edge(directory, "out")]}]
    node = InletNode(directory, {"nodes": nodes}, start=False)
    del node.config["listen"], node.config["edges"]
    node.write_config()
    return node, str(directory / "out")


def outputs(node, out_dir):
    return sorted(r["body"]["seen"]["n"] for r in node.read_queue(out_dir))


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_a_consumers_only_process_reads_redis_through_an_outage(tmp_path):
    from edge_servers import RedisServer
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    queue = {"type": "redis", "url": redis.url, "stream": "hooks"}
    writer = InletNode(tmp_path, {"edges": [{"name": "theirs", "queue": queue}]})
    reader, out_dir = consumers_only(tmp_path, queue)
    try:
        with writer, reader.start():
            for n in range(10):
                assert writer.post(json.dumps({"n": n}).encode())[0] == 200
            wait_for(lambda: outputs(reader, out_dir) == list(range(10)), what="the first ten")
            redis.kill()
            wait_for(lambda: reader.admin_get("/readyz")[0] == 503, what="/readyz 503 while Redis is down")
            assert b"input 'theirs'" in reader.admin_get("/readyz")[1]
            redis.start()  # same port, same AOF
            wait_for(lambda: reader.admin_get("/readyz")[0] == 200, what="/readyz 200 again")
            for n in range(10, 20):
                assert writer.post(json.dumps({"n": n}).encode())[0] == 200
            wait_for(lambda: outputs(reader, out_dir) == list(range(20)), what="all twenty")
            wait_for(lambda: reader.metric("inlet_consumer_lag", edge="theirs", consumer="copy") == 0,
                     what="the group's lag (XINFO GROUPS) at 0")
            records = reader.read_queue(out_dir)
            assert all(r["body"]["from"] == "theirs" for r in records)
            # Every entry is acknowledged in the node's group: nothing pending for a restart.
            groups = redis.command("XINFO", "GROUPS", "hooks")
            fields = {groups[0][i].decode(): groups[0][i + 1] for i in range(0, len(groups[0]), 2)}
            assert fields["name"] == b"copy"
            wait_for(lambda: {groups[0][i].decode(): groups[0][i + 1] for groups in [redis.command(
                "XINFO", "GROUPS", "hooks")] for i in range(0, len(groups[0]), 2)}["pending"] == 0,
                     what="no entry pending")
    finally:
        redis.kill()


def test_a_consumers_only_process_reads_kafka_through_an_outage(tmp_path):
    from edge_servers import MockKafka
    kafka = MockKafka("hooks")
    queue = {"type": "kafka", "brokers": kafka.bootstraps, "topic": "hooks",
             "properties": {"reconnect.backoff.max.ms": "200"}}
    writer = InletNode(tmp_path, {"edges": [{"name": "theirs", "queue": queue}]})
    reader, out_dir = consumers_only(tmp_path, queue)
    with writer, reader.start():
        for n in range(10):
            assert writer.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: outputs(reader, out_dir) == list(range(10)), timeout=30, what="the first ten")
        kafka.set_brokers(False)
        wait_for(lambda: reader.admin_get("/readyz")[0] == 503, what="/readyz 503 while Kafka is down")
        kafka.set_brokers(True)
        wait_for(lambda: reader.admin_get("/readyz")[0] == 200, what="/readyz 200 again")
        for n in range(10, 20):
            assert writer.post(json.dumps({"n": n}).encode())[0] == 200
        wait_for(lambda: outputs(reader, out_dir) == list(range(20)), timeout=30, what="all twenty")
        wait_for(lambda: reader.metric("inlet_consumer_lag", edge="theirs", consumer="copy") == 0,
                 what="the group's lag (watermark less committed) at 0")
    # A restart resumes after the committed offsets: nothing is processed again.
    with reader.start():
        time.sleep(2)
        assert outputs(reader, out_dir) == list(range(20))
