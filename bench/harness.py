"""bench/run's logic: the scenario matrix, the load runs, and the exit status.

For each workload (payload, encoding, authenticator, ack, threads, edge) the servers that can run
it are measured back to back under the same load: nginx (the HTTP ceiling), inlet, and the FastAPI
peer (the platform's own stack). Each server runs pinned to core 0; wrk and bench/loadgen.cc run
pinned to core 1.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import delivery
import payloads
import report
import servers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import nats_cluster  # noqa: E402  (the tests' NATS servers: one way to start them)

BENCH_DIR = Path(__file__).resolve().parent
SOURCE_DIR = BENCH_DIR.parent
SERVER_ORDER = ("nginx", "inlet", "fastapi")

AUTH_SOURCES = {
    "py-sync": (
        "def authenticator(*, context, request, **kwargs):\n"
        "    if request.headers.get(\"user-agent\", \"\").startswith(\"GitHub-Hookshot/\"):\n"
        "        return None\n"
        "    from fastapi import HTTPException\n"
        "    raise HTTPException(status_code=403, detail=\"not from GitHub\")\n"),
    "py-async": (
        "async def authenticator(*, context, request, **kwargs):\n"
        "    if request.headers.get(\"user-agent\", \"\").startswith(\"GitHub-Hookshot/\"):\n"
        "        return None\n"
        "    from fastapi import HTTPException\n"
        "    raise HTTPException(status_code=403, detail=\"not from GitHub\")\n"),
}


@dataclass(frozen=True)
class Scenario:
    server: str
    payload: str
    encoding: str = "identity"
    auth: str = "none"
    ack: str = "write"
    threads: int = 1
    edge: str = "log"
    # "off", "keepalive" (TLS on kept-alive connections) or "handshake" (Connection: close on every
    # request: each one is a new connection, so req/s is handshakes/s).
    tls: str = "off"
    # "processor": a consumer node behind the webhook node (CONTRACT.md section 5) reads the log
    # edge and stores each message on a second log edge through a trivial Python processor.
    pipeline: str = "none"
    # `dedup:` on the node, keyed by a header wrk makes unique per request: every request claims a
    # new key and writes the journal (the cost of deduplication when nothing is a duplicate).
    dedup: bool = False
    optional: bool = False  # skipped with a note, not failed, when `inlet check` rejects its config

    @property
    def max_body_bytes(self):
        return 2 * 1048576 if self.payload == "large" else 1048576

    @property
    def workload(self):
        """What the servers are compared on: nginx matches on payload+encoding, FastAPI on the rest."""
        return f"{self.payload} {self.encoding}" + "".join(
            f" {name}={value}" for name, value, default in (
                ("auth", self.auth, "none"), ("ack", self.ack, "write"),
                ("threads", self.threads, 1), ("edge", self.edge, "log"), ("tls", self.tls, "off"),
                ("pipeline", self.pipeline, "none"), ("dedup", self.dedup, False))
            if value != default)

    @property
    def label(self):
        return f"{self.server} {self.workload}"


@dataclass
class Settings:
    quick: bool
    duration: float
    latency_duration: float
    conns: list
    idle_connections: int = 1000
    server_cpus: str = None
    load_cpus: str = None
    servers: tuple = SERVER_ORDER
    certificate_dir: str = None  # the TLS scenarios' certificate, one for every server
    keep_tmp: bool = False  # else each scenario's folder goes once it ends: a full run writes more than a disk holds


def build_matrix(quick, servers_wanted, have_brotli):
    workloads = []  # (payload, encoding, auth, ack, threads, edge, servers, optional)
    all3, no_nginx = ("nginx", "inlet", "fastapi"), ("inlet", "fastapi")
    if quick:
        workloads += [("tiny", "identity", "none", "write", 1, "log", all3, False),
                      ("real", "identity", "none", "write", 1, "log", all3, False),
                      ("real", "gzip", "none", "write", 1, "log", all3, False),
                      ("real", "identity", "py-sync", "write", 1, "log", no_nginx, False)]
    else:
        for payload in ("tiny", "real", "large"):
            workloads.append((payload, "identity", "none", "write", 1, "log", all3, False))
        for encoding in ("gzip", "br") if have_brotli else ("gzip",):
            workloads.append(("real", encoding, "none", "write", 1, "log", all3, False))
        for auth in ("py-sync", "py-async"):
            workloads.append(("real", "identity", auth, "write", 1, "log", no_nginx, False))
        # Where the call itself weighs most: beside "tiny identity" (issue 15's first table).
        workloads.append(("tiny", "identity", "py-sync", "write", 1, "log", no_nginx, False))
        workloads.append(("real", "identity", "github", "write", 1, "log", no_nginx, True))
        workloads.append(("real", "identity", "none", "fsync", 1, "log", no_nginx, False))
        workloads.append(("tiny", "identity", "none", "fsync", 1, "log", no_nginx, False))
        workloads.append(("real", "identity", "none", "write", 2, "log", ("inlet",), False))
        workloads.append(("real", "identity", "none", "write", 1, "redis", ("inlet",), True))
        workloads.append(("real", "identity", "none", "write", 1, "kafka", ("inlet",), True))
        workloads.append(("real", "identity", "none", "write", 1, "nats-r1", ("inlet",), True))
    # NATS JetStream on loopback servers this script starts: R3 is a 3-server cluster.
    workloads.append(("real", "identity", "none", "write", 1, "nats-r3", ("inlet",), True))
    matrix = []
    for payload, encoding, auth, ack, threads, edge, names, optional in workloads:
        for name in SERVER_ORDER:
            if name in names and name in servers_wanted:
                matrix.append(Scenario(name, payload, encoding, auth, ack, threads, edge,
                                       optional=optional and name == "inlet"))
    # webhook -> log -> processor -> log, beside "inlet real identity" (the same body, no node).
    if "inlet" in servers_wanted:
        matrix.append(Scenario("inlet", "real", pipeline="processor"))
        matrix.append(Scenario("inlet", "real", dedup=True))
    # TLS beside nginx with the same certificate and a session cache (FastAPI's peer has no TLS).
    for mode in ("keepalive", "handshake"):
        for name in ("nginx", "inlet"):
            if name in servers_wanted:
                matrix.append(Scenario(name, "tiny", tls=mode))
    return matrix


class Progress:
    def __init__(self, total):
        self.total = total
        self.done = 0

    def line(self, text):
        self.done += 1
        print(f"[{self.done}/{self.total}] {text}", flush=True)


def run_wrk(port, manifest, conns, duration, load_cpus, tls="off", unique_key=False):
    scheme = "http" if tls == "off" else "https"
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration:g}s", "--timeout", "10s",
            "-s", str(BENCH_DIR / "lua" / "post.lua"), f"{scheme}://127.0.0.1:{port}/", "--", manifest]
    if tls == "handshake":
        argv.append("close")
    if unique_key:
        argv.append("unique-key")
    if load_cpus:
        argv = ["taskset", "-c", load_cpus] + argv
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError(f"wrk gave no summary (exit {result.returncode}): "
                       f"{(result.stderr or result.stdout).strip()[:300]}")


def run_loadgen(loadgen, port, manifest, rate, duration, load_cpus, connections=32):
    argv = [str(loadgen), "--port", str(port), "--requests", manifest, "--rate", f"{rate:.0f}",
            "--duration", f"{duration:g}", "--connections", str(connections), "--warmup", "0.5"]
    if load_cpus:
        argv = ["taskset", "-c", load_cpus] + argv
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed: {result.stderr.strip()[:300]}")
    return json.loads(result.stdout)


def measure_idle(loadgen, server, manifest, count, load_cpus):
    """Resident memory of the server tree before and while `count` keep-alive clients sit idle."""
    before = servers.memory_kib(server.pid, "VmRSS")
    argv = [str(loadgen), "--port", str(server.port), "--requests", manifest, "--idle", str(count)]
    if load_cpus:
        argv = ["taskset", "-c", load_cpus] + argv
    holder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    servers.PROCESSES.append(holder)
    try:
        line = holder.stdout.readline().strip()
        if not line.startswith("ready"):
            raise RuntimeError(f"idle clients failed: {holder.stderr.read().strip()[:300]}")
        time.sleep(0.5)
        during = servers.memory_kib(server.pid, "VmRSS")
    finally:
        holder.stdin.close()
        servers.stop(holder, timeout=10)
    return {"connections": count, "rss_before_kib": before, "rss_idle_kib": during,
            "kib_per_connection": round((during - before) / count, 2), "answers": line.split()[2:]}


def make_server(scenario, workdir, settings, inlet_binary, edge_server):
    server = new_server(scenario, workdir, settings, inlet_binary, edge_server)
    if scenario.tls != "off":
        server.use_tls(servers.make_certificate(Path(settings.certificate_dir)))
    return server


def new_server(scenario, workdir, settings, inlet_binary, edge_server):
    cpus = settings.server_cpus
    if scenario.threads > 1 and settings.server_cpus:
        cpus = f"{settings.server_cpus},{settings.load_cpus}"
    auth_source = AUTH_SOURCES.get(scenario.auth)
    if scenario.server == "nginx":
        return servers.NginxServer(workdir, scenario, cpus)
    if scenario.server == "fastapi":
        return servers.FastApiServer(workdir, scenario, cpus, BENCH_DIR / "peers" / "fastapi_node.py",
                                     auth_source)
    # inlet, or the revision --compare built ("baseline"): the same config, another binary.
    return servers.InletServer(workdir, scenario, cpus, inlet_binary, auth_source, edge_server)


def stored_something(server):
    if isinstance(server, servers.FastApiServer):
        path = server.workdir / "queue.log"
        return path.exists() and path.stat().st_size > 0
    if isinstance(server, servers.InletServer) and server.scenario.edge == "log":
        queue = server.workdir / "queue"
        return queue.exists() and any(p.is_file() and p.stat().st_size > 0 for p in queue.rglob("*"))
    return True


def conns_for(scenario, settings):
    """256 clients each uploading 1 MB only measure timeouts on the slower servers: large stops at 32."""
    return [c for c in settings.conns if scenario.payload != "large" or c <= 32]


def label_matches(label, text):
    """--filter: text of the label, or the whole label when the text ends in '$'."""
    return label == text[:-1] if text.endswith("$") else text in label


def scenario_steps(scenario, settings, idle_for):
    """The progress lines a scenario prints: one per connection count (two with a pipeline), the
    latency run, and the idle-memory run for the scenario that has it."""
    conns = len(conns_for(scenario, settings))
    pipeline = scenario.pipeline != "none"
    return (conns * (2 if pipeline else 1) + 1 + (1 if pipeline else 0) +
            (1 if idle_for.get(scenario.server) == scenario else 0))


def run_scenario(scenario, index, settings, context, progress):
    """Measures one scenario; returns its result dict. Never raises for a server's fault."""
    result = {"scenario": asdict(scenario), "label": scenario.label, "workload": scenario.workload,
              "status": "ok", "note": "", "throughput": {}, "latency": None}
    steps = scenario_steps(scenario, settings, context["idle_for"])
    missing = context["inlet_missing"] if scenario.server == "inlet" else (
        context["baseline_missing"] if scenario.server == "baseline" else None)
    if missing:
        result.update(status="not available", note=missing)
        progress.done += steps
        print(f"[{progress.done}/{progress.total}] {scenario.label} ... not available: {missing}",
              flush=True)
        return result
    if scenario.encoding == "br" and not payloads.have_brotli():
        result.update(status="skipped", note="python3-brotli missing")
        progress.done += steps
        return result
    workdir = Path(context["tmp"]) / f"{index:02d}-{scenario.server}"
    manifest = context["requests"].manifest(scenario.payload, scenario.encoding, scenario.auth == "github")
    edge_server = None  # the Redis or NATS servers an edge needs
    server = None
    try:
        if scenario.edge == "redis":
            if shutil.which("redis-server") is None:
                raise SkipScenario("redis-server is not installed")
            edge_server = servers.RedisServer(workdir / "redis", scenario, settings.load_cpus)
            edge_server.start()
        elif scenario.edge.startswith("nats-r"):
            if not nats_cluster.AVAILABLE:
                raise SkipScenario("nats-server is not installed")
            edge_server = nats_cluster.NatsCluster(workdir / "nats", size=int(scenario.edge[len("nats-r"):]))
        binary = context["baseline_binary"] if scenario.server == "baseline" else context["inlet_binary"]
        server = make_server(scenario, workdir, settings, binary, edge_server)
        if isinstance(server, servers.InletServer):
            reason = server.check()
            if reason is not None:
                if scenario.server == "baseline":
                    raise SkipScenario(f"the compared revision does not accept this config: {reason}")
                if scenario.optional:
                    raise SkipScenario(f"`inlet check` rejects this config: {reason}")
                raise ScenarioFailed(f"`inlet check` rejects the config: {reason}")
        try:
            server.start()
        except servers.StartError as error:
            raise ScenarioFailed(f"server failed to start: {error}")
        status, body = servers.send_raw(server.port, Path(open(manifest).readline().strip()).read_bytes(),
                                        tls=scenario.tls != "off")
        if status != 200:
            raise ScenarioFailed(f"first request answered {status}: {body[:200]!r}")

        best, best_conns = 0.0, 32
        logged = isinstance(server, servers.InletServer) and scenario.edge == "log"
        conns_list = conns_for(scenario, settings)
        for conns in conns_list:
            servers.wait_idle(server.pid)
            sampler = PipelineSampler(server) if scenario.pipeline != "none" else None
            # The log's own counters say how well group commit batched this run's records.
            commits_before = log_commit_counters(server.admin_port) if logged else None
            cpu_before = servers.cpu_seconds(server.pid)
            wrk = run_wrk(server.port, manifest, conns, settings.duration, settings.load_cpus,
                          scenario.tls, unique_key=scenario.dedup)
            cpu_used = servers.cpu_seconds(server.pid) - cpu_before
            commits = group_commit(commits_before, log_commit_counters(server.admin_port)) if logged else None
            pipeline = sampler.finish(wrk["duration_us"] / 1e6) if sampler else None
            if server.process.poll() is not None:
                raise ScenarioFailed(f"server exited during the run (code {server.process.returncode})\n"
                                     f"{servers.log_tail(server.log)}")
            rps = wrk["requests"] / (wrk["duration_us"] / 1e6)
            if wrk["requests"] == 0:
                raise ScenarioFailed(f"no request completed in {settings.duration:g} s at {conns} connections")
            entry = {"rps": round(rps, 1), "requests": wrk["requests"],
                     "cpu_ms_per_1k": round(cpu_used * 1e6 / wrk["requests"], 3),
                     "errors": wrk["errors"], "wrk_latency_us": wrk["latency_us"]}
            if pipeline:
                entry["pipeline"] = pipeline
            if commits:
                entry["group_commit"] = commits
            result["throughput"][str(conns)] = entry
            if pipeline:
                progress.line(f"{scenario.label} conns={conns} processor ... {pipeline['processed_per_s']:,.0f} "
                              f"msg/s while the webhook node took {rps:,.0f} req/s "
                              f"({pipeline['processed_per_s'] / rps:.2f}x); lag max {pipeline['lag_max']:,}, "
                              f"at the end {pipeline['lag_end']:,}, drained in {pipeline['drain_s']:.1f} s")
            if rps > best:
                best, best_conns = rps, conns
            socket_errors = sum(v for k, v in wrk["errors"].items() if k != "status")
            flag = ""
            if wrk["errors"]["status"]:
                flag += f"  ({wrk['errors']['status']} non-2xx answers)"
            if socket_errors:
                flag += f"  ({socket_errors} socket errors)"
            batching = ""
            if commits and scenario.ack == "fsync" and commits["records_per_sync"]:
                batching = f", {commits['records_per_sync']:.1f} records per fdatasync"
            progress.line(f"{scenario.label} conns={conns} ... {rps:,.0f} req/s, "
                          f"{entry['cpu_ms_per_1k']:.1f} CPU ms/1k req{batching}{flag}")
            if wrk["errors"]["status"]:
                raise ScenarioFailed(f"{wrk['errors']['status']} of {wrk['requests']} answers were not 2xx")

        if scenario.tls != "off" or scenario.dedup:
            # bench/loadgen.cc speaks plain HTTP only, and repeats its requests (dedup would answer
            # them as duplicates): wrk's own latency figures stand in.
            result["note"] += ("latency: wrk's (loadgen has no TLS). " if scenario.tls != "off" else
                               "latency: wrk's (loadgen repeats its requests' keys). ")
            result["peak_rss_kib"] = servers.memory_kib(server.pid, "VmHWM")
            progress.done += 1 + (1 if context["idle_for"].get(scenario.server) == scenario else 0)
            return result
        rate = max(best * 0.5, 1.0)
        servers.wait_idle(server.pid)
        # As many connections as the best closed-loop run had (at least 32): the server showed it can
        # do twice this rate with that much concurrency, so the connection pool is not the bottleneck.
        # At a constant rate the lag must stay bounded: a processor that keeps up only in bursts
        # would show here as a lag that grows for the whole run.
        sampler = PipelineSampler(server) if scenario.pipeline != "none" else None
        latency = run_loadgen(context["loadgen"], server.port, manifest, rate, settings.latency_duration,
                              settings.load_cpus, connections=max(best_conns, 32))
        latency["connections"] = max(best_conns, 32)
        if sampler:
            latency["pipeline"] = sampler.finish()
        result["latency"] = latency
        lat = latency["latency_us"]
        progress.line(f"{scenario.label} latency at {rate:,.0f} req/s ... p50 {lat['p50'] / 1000:.2f} ms, "
                      f"p99 {lat['p99'] / 1000:.2f} ms, p99.9 {lat['p99.9'] / 1000:.2f} ms" +
                      (f"; processor {latency['pipeline']['processed_per_s']:,.0f} msg/s, lag max "
                       f"{latency['pipeline']['lag_max']:,}, at the end {latency['pipeline']['lag_end']:,}"
                       if sampler else ""))
        bad = sum(n for code, n in latency["status"].items() if code != "200") + latency["errors"]
        if bad:
            result["note"] += f"latency run: {bad} failed or non-200 answers. "
        if latency["achieved_rate"] < 0.95 * latency["target_rate"]:
            result["note"] += (f"latency run answered {latency['achieved_rate']:,.0f} of "
                               f"{latency['target_rate']:,.0f} req/s offered: the figures include queueing. ")

        if context["idle_for"].get(scenario.server) == scenario:
            idle = measure_idle(context["loadgen"], server, manifest, settings.idle_connections,
                                settings.load_cpus)
            result["idle"] = idle
            progress.line(f"{scenario.label} {idle['connections']} idle keep-alive connections ... "
                          f"RSS {idle['rss_idle_kib'] / 1024:.1f} MiB "
                          f"({idle['kib_per_connection']:.1f} KiB per connection)")
        result["peak_rss_kib"] = servers.memory_kib(server.pid, "VmHWM")
        if scenario.pipeline != "none":
            server.stop()
            drain = measure_backlog_drain(server, settings)
            result["backlog_drain"] = drain
            progress.line(f"{scenario.label} the processor alone over the log's {drain['messages']:,} "
                          f"messages ... {drain['per_s']:,.0f} msg/s")
        if not stored_something(server):
            result["note"] += "nothing was written to the queue. "
    except SkipScenario as reason:
        result.update(status="skipped", note=str(reason))
        print(f"      {scenario.label} skipped: {reason}", flush=True)
    except ScenarioFailed as reason:
        result.update(status="failed", note=str(reason))
        print(f"      {scenario.label} FAILED: {reason}", flush=True)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        result.update(status="failed", note=f"{type(error).__name__}: {error}")
        print(f"      {scenario.label} FAILED: {error}", flush=True)
    finally:
        if server is not None:
            code = server.stop()
            if scenario.server == "inlet" and code not in (0, None) and result["status"] == "ok":
                result["note"] += f"inlet exited with code {code} on SIGTERM. "
        if edge_server is not None:
            edge_server.stop()
        if not settings.keep_tmp:
            shutil.rmtree(workdir, ignore_errors=True)
    # Keep the step counter right when a scenario ended early.
    progress.done = max(progress.done, context["steps_before"][index] + steps)
    return result


DELIVERY_LABEL = "inlet delivery"


def run_delivery_scenario(settings, context, progress):
    """bench/delivery.py's measurement, as a result dict with a status like the matrix's."""
    result = {"label": DELIVERY_LABEL, "status": "ok", "note": ""}
    if context["inlet_missing"]:
        result.update(status="not available", note=context["inlet_missing"])
        return result
    manifest = context["requests"].manifest("tiny", "identity", False)
    try:
        result.update(delivery.measure(context["inlet_binary"], manifest, settings,
                                       Path(context["tmp"]) / "delivery", run_wrk,
                                       lambda server: Scenario(server, "tiny"), progress.line))
        if result["lost"] or result["dead_lettered"]:
            result.update(status="failed", note=f"{result['lost']} lost, {result['dead_lettered']} dead letters")
    except (RuntimeError, OSError, subprocess.TimeoutExpired, servers.StartError) as error:
        result.update(status="failed", note=f"{type(error).__name__}: {error}")
        print(f"      {DELIVERY_LABEL} FAILED: {error}", flush=True)
    return result


class SkipScenario(Exception):
    pass


def node_progress(admin_port, node):
    """(outputs stored, lag or None before the first lag is known) of consumer node `node` reading
    edge `main`, from one scrape of /metrics."""
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    _, body = servers.send_raw(admin_port, request, timeout=5)
    emitted, lag = 0, None
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(f'inlet_node_messages_total{{node="{node}",result="emitted"}}'):
            emitted = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith(f'inlet_consumer_lag{{edge="main",consumer="{node}"}}'):
            lag = int(float(line.rsplit(" ", 1)[1]))
    return emitted, lag


LOG_COMMIT_COUNTERS = ("records", "batches", "syncs")


def log_commit_counters(admin_port):
    """inlet_log_queue_{records,batches,syncs}_total of edge `main`, from one scrape of /metrics."""
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    _, body = servers.send_raw(admin_port, request, timeout=5)
    counters = dict.fromkeys(LOG_COMMIT_COUNTERS, 0)
    for line in body.decode(errors="replace").splitlines():
        for name in LOG_COMMIT_COUNTERS:
            if line.startswith(f'inlet_log_queue_{name}_total{{edge="main"}}'):
                counters[name] = int(float(line.rsplit(" ", 1)[1]))
    return counters


def group_commit(before, after):
    """What one run's records made of the log's group commit: records per write round and per
    fdatasync (ack: write syncs only when a segment rolls)."""
    delta = {name: after[name] - before[name] for name in LOG_COMMIT_COUNTERS}
    return dict(delta, records_per_batch=round(delta["records"] / max(delta["batches"], 1), 2),
                records_per_sync=round(delta["records"] / delta["syncs"], 2) if delta["syncs"] else None)


def measure_backlog_drain(server, settings):
    """The processor's own capacity: a consumers-only inlet on the same core, whose node (a new
    consumer, so from offset 0) processes everything the scenario's runs left in the log, timed
    from its first stored output to its last one. The end is the scrape at which the count of
    stored outputs last grew, not the one that first reads a lag of 0: the node refreshes
    `inlet_consumer_lag` once a second, and waiting for it added up to a second to every drain
    (a quick run's 2-second drain read 0.6x instead of 0.8x)."""
    import yaml
    admin_port = servers.free_port()
    config = {"node": {"name": "drain"}, "admin_listen": f"127.0.0.1:{admin_port}",
              "nodes": [{"name": "drain", "kind": "processor", "concurrency": 64,
                         "input": {"name": "main", "queue": {"type": "log", "dir": str(server.workdir / "queue")}},
                         "processor": {"inline": "def processor(*, context, message, source, **kwargs):\n"
                                                 "    return message\n"},
                         "edges": [{"name": "out", "queue": {"type": "log", "dir": str(server.workdir / "drain-out"),
                                                             "ack": server.scenario.ack}}]}]}
    path = server.workdir / "drain.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    process = servers.spawn([str(server.binary), "serve", "--config", str(path)], server.workdir / "drain.log",
                            server.cpus)
    try:
        first = last = None  # (when, outputs stored) at the first output, and when the count last grew
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the draining inlet exited with {process.returncode}")
            try:
                emitted, lag = node_progress(admin_port, "drain")
            except OSError:
                time.sleep(0.05)
                continue
            now = time.monotonic()
            if first is None and emitted > 0:
                first = (now, emitted)
            grew = last is None or emitted > last[1]
            if grew:
                last = (now, emitted)
            if first is not None and lag == 0 and not grew:
                seconds = max(last[0] - first[0], 1e-3)
                return {"messages": emitted, "seconds": round(seconds, 2),
                        "per_s": round((emitted - first[1]) / seconds, 1)}
            time.sleep(0.05)
        raise RuntimeError("the backlog did not drain within 180 s")
    finally:
        servers.stop(process)


class PipelineSampler:
    """Reads the consumer node's counters on /metrics every 250 ms while a load runs: how many
    messages it stored, and its lag (a gauge the node refreshes once a second)."""

    def __init__(self, server):
        import threading
        self.server = server
        self.lags = []
        self.started = time.monotonic()
        self.start_count = self.sample()[0]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self):
        emitted, lag = node_progress(self.server.admin_port, "copy")
        return emitted, lag or 0

    def run(self):
        while not self.stop.wait(0.25):
            try:
                self.lags.append(self.sample()[1])
            except OSError:
                pass

    def finish(self, seconds=None):
        """The counts since the start; per second over `seconds`, else over the sampler's own time."""
        end_count, lag_end = self.sample()
        seconds = seconds or max(time.monotonic() - self.started, 1e-3)
        self.stop.set()
        self.thread.join()
        drained_at = time.monotonic()
        deadline = drained_at + 60
        lag = lag_end
        while lag > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            lag = self.sample()[1]
        return {"processed": end_count - self.start_count,
                "processed_per_s": round((end_count - self.start_count) / seconds, 1),
                "lag_max": max(self.lags + [lag_end]), "lag_end": lag_end,
                "drain_s": round(time.monotonic() - drained_at, 2)}


class ScenarioFailed(Exception):
    pass


STALL_PROBE = """
import json, sys, time
end = time.monotonic() + float(sys.argv[1])
last = time.monotonic()
longest = lost = 0.0
stalls = 0
while last < end:
    now = time.monotonic()
    gap = now - last
    longest = max(longest, gap)
    if gap > 0.005:
        stalls += 1
        lost += gap
    last = now
print(json.dumps({"longest_ms": round(longest * 1e3, 1), "stalls": stalls, "lost_ms": round(lost * 1e3, 1)}))
"""


def probe_stalls(cpus, seconds):
    """Spins one process on each of `cpus` for `seconds`: the longest time a busy core was taken
    away, and how much of the time went in gaps over 5 ms. A VM whose host caps its CPU time (one
    of this project's machines stalls a vCPU for 100 ms about once a second when both are busy)
    shows it here, and every latency percentile near that gap is the machine's, not a server's."""
    argv = ["/usr/bin/python3", "-c", STALL_PROBE, str(seconds)]
    spinners = [subprocess.Popen((["taskset", "-c", cpu] if cpu else []) + argv, stdout=subprocess.PIPE,
                                 text=True) for cpu in cpus]
    outputs = [spinner.communicate(timeout=seconds + 30)[0] for spinner in spinners]
    try:
        readings = [json.loads(out) for out in outputs]
    except json.JSONDecodeError:
        return None
    return {"seconds": seconds, "cores": len(readings),
            "longest_ms": max(r["longest_ms"] for r in readings),
            "lost_percent": round(sum(r["lost_ms"] for r in readings) / (10 * seconds * len(readings)), 2)}


def machine_info(inlet_binary):
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory_kib = int(meminfo.readline().split()[1])

    def version(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return ""

    commit = version(["git", "-C", str(SOURCE_DIR), "rev-parse", "--short", "HEAD"])
    return {"nproc": os.cpu_count(), "model": model, "kernel": platform.release(),
            "memory_gib": round(memory_kib / 1048576, 1), "commit": commit,
            "versions": {"nginx": version(["nginx", "-v"]), "wrk": version(["wrk", "--version"]),
                         "python": sys.version.split()[0],
                         "uvicorn": version(["/usr/bin/python3", "-c",
                                             "import uvicorn; print(uvicorn.__version__)"]),
                         "inlet": version([str(inlet_binary), "--version"]) if inlet_binary else ""}}


def compile_loadgen(build_dir):
    source = BENCH_DIR / "loadgen.cc"
    target = Path(build_dir) / "bench-tools" / "loadgen"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["g++", "-O2", "-std=c++20", "-pthread", "-o", str(target), str(source)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench/run: compiling bench/loadgen.cc failed:\n{result.stderr}")
    return target


def resolve_revision(revision):
    """The short commit of `revision` in the source tree's git repository, or None."""
    result = subprocess.run(["git", "-C", str(SOURCE_DIR), "rev-parse", "--short=12", "--verify",
                             f"{revision}^{{commit}}"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def build_revision(commit, tmp, log_path):
    """Checks `commit` out in a worktree under `tmp` and builds its inlet: (binary, None) or
    (None, reason). The worktree is removed again; the binary is copied out first."""
    tree = tmp / f"inlet-{commit}"
    with open(log_path, "ab") as log:
        added = subprocess.run(["git", "-C", str(SOURCE_DIR), "worktree", "add", "--detach", str(tree), commit],
                               stdout=log, stderr=subprocess.STDOUT)
    if added.returncode != 0:
        return None, f"git worktree add failed (see {log_path})"
    try:
        reason = servers.build_inlet(tree, tree / "build", log_path)
        if reason:
            return None, reason
        binary = tmp / f"inlet-{commit}.bin"
        shutil.copy2(tree / "build" / "runtime" / "inlet", binary)
        return binary, None
    finally:
        subprocess.run(["git", "-C", str(SOURCE_DIR), "worktree", "remove", "--force", str(tree)],
                       capture_output=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Measure inlet against nginx (the HTTP ceiling) and FastAPI.")
    parser.add_argument("--quick", action="store_true", help="reduced matrix, under 2 minutes (CI smoke)")
    parser.add_argument("--out", help="results directory (default bench/results/<YYYY-MM-DD-HHMM>)")
    parser.add_argument("--inlet", help="inlet binary to use (skips the build)")
    parser.add_argument("--build-dir", default=str(SOURCE_DIR / "build"),
                        help="CMake build dir (default build/); built Release if needed")
    parser.add_argument("--no-build", action="store_true", help="do not run cmake")
    parser.add_argument("--allow-missing-inlet", action="store_true",
                        help="exit 0 when the inlet binary is missing or not functional yet")
    parser.add_argument("--servers", default=",".join(SERVER_ORDER),
                        help="comma-separated subset of nginx,inlet,fastapi")
    parser.add_argument("--filter", action="append", default=[],
                        help="only scenarios whose label contains this text, or is it when it ends in '$' (repeatable, any matches)")
    parser.add_argument("--duration", type=float, help="seconds per throughput run (default 8, quick 3)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep configs, logs and queues")
    parser.add_argument("--compare", metavar="REV",
                        help="also build git revision REV (in a worktree, about 6 min on 2 cores) and run "
                             "it as inlet@REV right after inlet in every inlet scenario: A/B figures "
                             "from one run, interleaved, in one report; REV may also be the path of an "
                             "inlet binary already built, which is run as is")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    wanted = tuple(name for name in args.servers.split(",") if name)
    unknown = set(wanted) - set(SERVER_ORDER)
    if unknown:
        print(f"bench/run: unknown servers {sorted(unknown)}", file=sys.stderr)
        return 2
    for tool in ("wrk", "nginx", "g++"):
        if shutil.which(tool) is None:
            print(f"bench/run: `{tool}` is not installed (see deploy/packages-test.txt)", file=sys.stderr)
            return 2
    duration = args.duration or (3.0 if args.quick else 8.0)
    two_cores = (os.cpu_count() or 1) >= 2
    settings = Settings(quick=args.quick, duration=duration,
                        latency_duration=2.0 if args.quick else duration,
                        conns=[32] if args.quick else [1, 32, 256],
                        server_cpus="0" if two_cores else None, load_cpus="1" if two_cores else None,
                        servers=wanted, keep_tmp=args.keep_tmp)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    results_root = BENCH_DIR / "results"
    out = Path(args.out) if args.out else results_root / stamp
    out.mkdir(parents=True, exist_ok=True)
    if not args.out and not (results_root / ".gitignore").exists():
        (results_root / ".gitignore").write_text("*\n")

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    # A shell starting us in the background ignores SIGINT; Ctrl-C must still stop everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    load_at_start = os.getloadavg()[0]
    stalls = None
    tmp = tempfile.mkdtemp(prefix="inlet-bench-")
    settings.certificate_dir = str(Path(tmp) / "tls")
    started = time.monotonic()
    results = []
    interrupted = False
    delivery_result = None
    inlet_binary, inlet_missing = None, None
    context = None
    compare_label = None
    try:
        if "inlet" in wanted:
            if args.inlet:
                inlet_binary = Path(args.inlet).resolve()
            else:
                inlet_binary = Path(args.build_dir).resolve() / "runtime" / "inlet"
                if not args.no_build:
                    print(f"building inlet (Release) in {args.build_dir} ...", flush=True)
                    reason = servers.build_inlet(SOURCE_DIR, args.build_dir, out / "build.log")
                    if reason:
                        inlet_missing = reason
            inlet_missing = inlet_missing or servers.inlet_status(inlet_binary)
            if inlet_missing:
                print(f"inlet not available: {inlet_missing}", flush=True)
        baseline_binary, baseline_missing = None, None
        if args.compare and "inlet" in wanted:
            if Path(args.compare).is_file():
                baseline_binary = Path(args.compare).resolve()
                compare_label = str(baseline_binary)
            else:
                compare_label = resolve_revision(args.compare)
                if compare_label is None:
                    print(f"bench/run: --compare {args.compare}: neither an inlet binary nor a git revision of "
                          f"{SOURCE_DIR}", file=sys.stderr)
                    return 2
                print(f"building inlet@{compare_label} (Release) in a worktree ...", flush=True)
                baseline_binary, baseline_missing = build_revision(compare_label, Path(tmp),
                                                                   out / "build-compare.log")
            baseline_missing = baseline_missing or servers.inlet_status(baseline_binary)
            if baseline_missing:
                print(f"inlet@{compare_label} not available: {baseline_missing}", flush=True)
        loadgen = compile_loadgen(args.build_dir)
        matrix = build_matrix(args.quick, wanted, payloads.have_brotli())
        if args.filter:
            matrix = [s for s in matrix if any(label_matches(s.label, text) for text in args.filter)]
        if args.compare and "inlet" in wanted:
            # Interleaved: each inlet scenario is followed by the same one on the other binary, so
            # both meet the same machine state.
            matrix = [twin for s in matrix
                      for twin in ((s, replace(s, server="baseline")) if s.server == "inlet" else (s,))]
        idle_for = {}
        for scenario in matrix:
            idle_for.setdefault(scenario.server, scenario)
        steps_before, total = [], 0
        for scenario in matrix:
            steps_before.append(total)
            total += scenario_steps(scenario, settings, idle_for)
        # The delivery scenario (bench/delivery.py): its label is "inlet delivery".
        run_delivery = "inlet" in wanted and (not args.filter or any(
            label_matches(DELIVERY_LABEL, text) for text in args.filter))
        if run_delivery:
            total += 3
        context = {"tmp": tmp, "requests": payloads.RequestSets(Path(tmp) / "requests", SOURCE_DIR),
                   "inlet_binary": inlet_binary, "inlet_missing": inlet_missing, "loadgen": loadgen,
                   "baseline_binary": baseline_binary, "baseline_missing": baseline_missing,
                   "idle_for": idle_for, "steps_before": steps_before}
        print(f"real payloads: {payloads.real_corpus(SOURCE_DIR)[0]}", flush=True)
        stalls = probe_stalls([settings.server_cpus, settings.load_cpus] if settings.server_cpus else [None, None],
                              3.0)
        if stalls:
            print(f"machine check: {report.stall_line(stalls)}", flush=True)
        scenario_count = len(matrix) + (1 if run_delivery else 0)
        print(f"{scenario_count} scenarios, {total} measurements, {duration:g} s each; "
              f"servers on cpu {settings.server_cpus}, load on cpu {settings.load_cpus}", flush=True)
        progress = Progress(total)
        for index, scenario in enumerate(matrix):
            results.append(run_scenario(scenario, index, settings, context, progress))
        if run_delivery:
            delivery_result = run_delivery_scenario(settings, context, progress)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping servers", flush=True)
    finally:
        servers.stop_all()
        if args.keep_tmp:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    document = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "bench/run " + " ".join(argv),
        "machine": machine_info(inlet_binary if not inlet_missing else None),
        "settings": asdict(settings),
        "elapsed_s": round(time.monotonic() - started, 1),
        "load_average": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)},
        "stalls": stalls,
        "interrupted": interrupted,
        "inlet_missing": inlet_missing,
        "compare": compare_label,
        "real_payloads": payloads.real_corpus(SOURCE_DIR)[0],
        "request_sets": {" ".join(map(str, key)): value
                         for key, value in (context["requests"].stats.items() if context else [])},
        "results": results,
        "delivery": delivery_result,
    }
    report.write(out, document)
    print(report.summary_table(document))
    print(f"\nreport: {out / 'report.md'}")

    failed = [r for r in results + ([delivery_result] if delivery_result else []) if r["status"] == "failed"]
    if interrupted:
        return 130
    if failed:
        print(f"bench/run: {len(failed)} scenario(s) failed: " + "; ".join(r["label"] for r in failed),
              file=sys.stderr)
        return 1
    if inlet_missing and not args.allow_missing_inlet:
        print(f"bench/run: inlet not available ({inlet_missing}); pass --allow-missing-inlet to accept",
              file=sys.stderr)
        return 1
    return 0
