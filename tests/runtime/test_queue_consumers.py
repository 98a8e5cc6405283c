"""`inlet queue consumers` and `inlet queue seek` on a log a real node wrote: positions, lag,
replay by offset and by time, and the refusals (a running node, bad arguments)."""
import datetime
import json
import time

from inlet_harness import InletNode, run_inlet


def consumers(queue_dir):
    result = run_inlet("queue", "consumers", "--dir", queue_dir)
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()], result.stderr.decode()


def seek(queue_dir, *args):
    return run_inlet("queue", "seek", "--dir", queue_dir, *args)


def test_positions_lag_and_replay(tmp_path):
    node = InletNode(tmp_path)
    with node:
        for i in range(5):
            assert node.post(json.dumps({"early": i}).encode())[0] == 200
        time.sleep(1.1)
        cut = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for i in range(7):
            assert node.post(json.dumps({"late": i}).encode())[0] == 200
        listed, summary = consumers(node.queue_dir)
        assert listed == [] and "0 consumers; the log holds offsets 0 to 12" in summary
        running = seek(node.queue_dir, "--consumer", "split", "--earliest")
        assert running.returncode == 1 and b"open by a running node: stop it first" in running.stderr

    created = seek(node.queue_dir, "--consumer", "split", "--earliest")
    assert created.returncode == 0, created.stderr
    assert b"consumer split (new): next offset 0 -> 0 (12 to read)" in created.stderr
    assert consumers(node.queue_dir)[0] == [{"consumer": "split", "next_offset": 0, "lag": 12}]

    assert seek(node.queue_dir, "--consumer", "split", "--time", cut).returncode == 0
    assert consumers(node.queue_dir)[0] == [{"consumer": "split", "next_offset": 5, "lag": 7}]
    assert node.read_queue(start=5)[0]["body"] == {"late": 0}

    assert seek(node.queue_dir, "--consumer", "split", "--offset", "11").returncode == 0
    assert seek(node.queue_dir, "--consumer", "audit", "--latest").returncode == 0
    assert consumers(node.queue_dir)[0] == [{"consumer": "audit", "next_offset": 12, "lag": 0},
                                           {"consumer": "split", "next_offset": 11, "lag": 1}]

    # The node starts again with consumers beside its log: they do not disturb it.
    with node:
        node.start()
        assert node.post(b'{"after": 1}')[0] == 200
    assert consumers(node.queue_dir)[0][1] == {"consumer": "split", "next_offset": 11, "lag": 2}


def test_seek_refuses_bad_arguments(tmp_path):
    with InletNode(tmp_path) as node:
        assert node.post(b'{"a": 1}')[0] == 200
    queue_dir = node.queue_dir
    cases = [
        ((), 2, "queue seek needs --consumer NAME"),
        (("--consumer", "x"), 2, "needs one of --offset N, --time RFC3339, --earliest, --latest"),
        (("--consumer", "x", "--earliest", "--latest"), 2, "needs one of"),
        (("--consumer", "x", "--offset", "-1"), 2, "--offset needs a non-negative integer"),
        (("--consumer", "x", "--time", "yesterday"), 2, "--time needs an RFC 3339 time"),
        (("--consumer", "../x", "--earliest"), 1, "use letters, digits"),
        (("--consumer", "x", "--offset", "5"), 1, "past the end of the log (1)"),
    ]
    for args, code, message in cases:
        result = seek(queue_dir, *args)
        assert result.returncode == code, (args, result)
        assert message in result.stderr.decode(), (args, result.stderr.decode())
    missing = run_inlet("queue", "consumers", "--dir", str(tmp_path / "nope"))
    assert missing.returncode == 1 and b"no such directory" in missing.stderr
