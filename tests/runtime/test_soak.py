"""Soak (ctest label `soak`): mixed valid and invalid traffic through a Python authenticator and a
durable log edge, with a config reload every 10 s. The node's RSS and open file descriptors must
stay flat, and every request answered 200 must be in the queue, and nothing else.

It runs INLET_SOAK_SECONDS (default 60, what CI runs); the long run is

    INLET_SOAK_SECONDS=600 ctest --test-dir build -L soak --output-on-failure
"""
import gzip
import json
import os
import random
import signal
import threading
import time

from inlet_harness import InletNode, RawConnection, payload_bodies, post_request

SECONDS = float(os.environ.get("INLET_SOAK_SECONDS", "60"))
RELOAD_EVERY = 10.0
CLIENTS = 4
# Requests per second across the clients: a soak is about staying flat, and a paced load keeps a
# 10-minute run's log to about a gigabyte.
RATE = float(os.environ.get("INLET_SOAK_RATE", "1000"))
TOKEN = "soak-token"

AUTHENTICATOR = '''
def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    from starlette.authentication import AuthCredentials, SimpleUser
    if request.headers.get("x-token") != context.config["token"]:
        raise HTTPException(401, "bad token")
    context.calls = getattr(context, "calls", 0) + 1
    return AuthCredentials(["soak"]), SimpleUser(context.config["user"])
'''


def node_config(tmp_path, generation):
    return {
        "limits": {"max_body_bytes": 96 * 1024, "max_decoded_bytes": 256 * 1024},
        "authenticator": {"inline": AUTHENTICATOR, "config": {"token": TOKEN, "user": f"soak-{generation}"},
                          "timeout_ms": 2000},
        "edges": [{"name": "main", "queue": {"type": "log", "dir": str(tmp_path / "queue"), "ack": "fsync"}}],
    }


def process_sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss_kib, len(os.listdir(f"/proc/{pid}/fd"))


class Client(threading.Thread):
    """One keep-alive connection (reopened when the node closes it), sending a seeded mix."""

    def __init__(self, port, seed, bodies, deadline):
        super().__init__(daemon=True)
        self.port, self.random, self.bodies, self.deadline = port, random.Random(seed), bodies, deadline
        self.accepted, self.statuses, self.errors = [], {}, []

    def request(self):
        body = self.random.choice(self.bodies)
        token = [f"X-Token: {TOKEN}"]
        kind = self.random.random()
        if kind < 0.55:
            return "ok", post_request(body, extra_headers=token)
        if kind < 0.65:
            return "ok", post_request(gzip.compress(body, mtime=0), extra_headers=token + ["Content-Encoding: gzip"])
        if kind < 0.75:
            return 401, post_request(body, extra_headers=["X-Token: wrong"])
        if kind < 0.83:
            return 400, post_request(body[: len(body) // 2] + b"\x00", extra_headers=token)
        if kind < 0.88:
            return 404, post_request(body, path="/other", extra_headers=token)
        if kind < 0.93:
            return 415, post_request(body, content_type="text/plain", extra_headers=token)
        if kind < 0.97:
            return 413, post_request(b'{"pad": "' + b"x" * 100_000 + b'"}', extra_headers=token)
        return 400, post_request(body, extra_headers=token + ["Transfer-Encoding: chunked"])

    def run(self):
        conn = None
        interval = CLIENTS / RATE
        next_at = time.monotonic()
        while time.monotonic() < self.deadline:
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                if conn is None:
                    conn = RawConnection(self.port, timeout=10)
                expected, data = self.request()
                conn.send(data)
                response = conn.read_response()
            except (ConnectionError, OSError) as error:
                # The node closes after an answer that must close (413, bad framing); a request
                # whose answer never came is not counted either way.
                if conn is not None:
                    conn.close()
                conn = None
                if not isinstance(error, ConnectionError) and time.monotonic() < self.deadline:
                    self.errors.append(repr(error))
                continue
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            if response.status == 200:
                self.accepted.append(json.loads(response.body)["tracking_id"])
            wanted = 200 if expected == "ok" else expected
            if response.status != wanted:
                self.errors.append(f"expected {wanted}, got {response.status}: {response.body[:200]!r}")
            if response.header("connection") == "close":
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


def test_soak_mixed_traffic_with_reloads_keeps_memory_and_fds_flat_and_loses_nothing(tmp_path):
    bodies = [b for b in payload_bodies() if len(b) <= 16 * 1024]
    with InletNode(tmp_path, node_config(tmp_path, 0)) as node:
        pid = node.proc.pid
        started = time.monotonic()
        deadline = started + SECONDS
        clients = [Client(node.port, seed, bodies, deadline) for seed in range(CLIENTS)]
        for client in clients:
            client.start()
        samples, reloads, next_reload = [], 0, started + RELOAD_EVERY
        while time.monotonic() < deadline:
            time.sleep(1.0)
            samples.append((time.monotonic() - started, *process_sample(pid)))
            if next_reload <= time.monotonic() < deadline - 2:
                reloads += 1
                node.write_config(merge_config(node, reloads))
                node.signal(signal.SIGHUP)
                next_reload += RELOAD_EVERY
        for client in clients:
            client.join(30)
        assert node.proc.poll() is None, node.logs()
        wait_until = time.monotonic() + 10
        while True:
            after_reloads = sum(1 for e in node.log_events() if e.get("event") == "reloaded")
            if after_reloads >= reloads or time.monotonic() > wait_until:
                break
            time.sleep(0.1)
        final_rss, final_fds = process_sample(pid)

    accepted = [t for c in clients for t in c.accepted]
    statuses = {}
    for c in clients:
        for status, n in c.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    errors = [e for c in clients for e in c.errors]
    print(f"soak: {SECONDS:g} s, {sum(statuses.values())} answers {dict(sorted(statuses.items()))}, "
          f"{reloads} reloads, RSS {samples[0][1]} -> {final_rss} KiB, fds {samples[0][2]} -> {final_fds}")
    assert not errors, errors[:10]
    assert reloads >= max(1, int(SECONDS // RELOAD_EVERY) - 1), reloads
    assert after_reloads == reloads, node.logs()[-2000:]
    for status in (200, 400, 401, 404, 413, 415):
        assert statuses.get(status, 0) > 0, statuses

    # Flat: after a warm-up of a fifth of the run, RSS grows by less than 8 MiB and 10%, and the
    # descriptors move only with the clients' connections.
    steady = [s for s in samples if s[0] >= SECONDS / 5] or samples
    first, last = steady[: max(1, len(steady) // 3)], steady[-max(1, len(steady) // 3):]
    rss_first = sum(s[1] for s in first) / len(first)
    rss_last = sum(s[1] for s in last) / len(last)
    assert rss_last - rss_first < min(8 * 1024, 0.10 * rss_first + 2048), (rss_first, rss_last, samples)
    fds = [s[2] for s in steady]
    assert max(fds) - min(fds) <= CLIENTS + 4, fds

    # Every 200 is in the queue, exactly once, and nothing that was refused.
    stored = [line["tracking_id"] for line in node.read_queue()]
    assert len(stored) == len(set(stored))
    assert set(stored) == set(accepted), (len(stored), len(accepted))


def merge_config(node, generation):
    config = json.loads(json.dumps(node.config))
    config["authenticator"]["config"]["user"] = f"soak-{generation}"
    return config
