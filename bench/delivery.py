"""bench/run's delivery scenario (CONTRACT.md section 6): how fast one delivery node POSTs a log's
messages to a local nginx `return 200` over keep-alive, beside wrk's own rate against the same nginx
in the same run, each client on the same one core (nginx on the other).

  1. wrk -c CONNS against nginx for the run's duration: the HTTP client ceiling on one core.
  2. A webhook-only inlet fills a log edge (wrk posting the same tiny payload), then stops.
  3. A consumers-only inlet whose delivery node reads that log from offset 0 and delivers every
     message to nginx (Standard Webhooks signed, `concurrency: CONNS`), timed from its first
     delivery to a lag of 0.
  4. nginx logs each request's X-Inlet-Tracking-Id: what arrived, against what the log holds
     (`inlet queue read`), gives lost and duplicate counts.
"""
import subprocess
import time

import yaml

import servers

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def delivery_progress(admin_port, node):
    """(delivered, dead-lettered, lag or None) of delivery node `node`, from one /metrics scrape."""
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    _, body = servers.send_raw(admin_port, request, timeout=5)
    delivered, dead, lag = 0, 0, None
    for line in body.decode(errors="replace").splitlines():
        value = line.rsplit(" ", 1)[-1]
        if line.startswith(f'inlet_node_messages_total{{node="{node}",result="emitted"}}'):
            delivered = int(float(value))
        elif line.startswith(f'inlet_node_messages_total{{node="{node}",result="dead_lettered"}}'):
            dead = int(float(value))
        elif line.startswith(f'inlet_consumer_lag{{edge="main",consumer="{node}"}}'):
            lag = int(float(value))
    return delivered, dead, lag


def count_log(binary, queue_dir):
    """The records of a log edge and their tracking ids, read by `inlet queue read`."""
    result = subprocess.run([str(binary), "queue", "read", "--dir", str(queue_dir)],
                            capture_output=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"inlet queue read failed: {result.stderr.decode(errors='replace')[:300]}")
    ids = []
    for line in result.stdout.split(b"\n"):
        if line.strip():
            start = line.index(b'"tracking_id":"') + len(b'"tracking_id":"')
            ids.append(line[start:line.index(b'"', start)].decode())
    return ids


def measure(binary, manifest, settings, workdir, run_wrk, scenario_for, line, conns=32):
    """Runs the scenario; returns its result dict (raises RuntimeError or OSError on a fault)."""
    nginx = servers.NginxServer(workdir / "nginx", scenario_for("nginx"), settings.server_cpus,
                                id_log=workdir / "nginx" / "ids.log")
    filler = deliverer = None
    try:
        nginx.start()
        servers.wait_idle(nginx.pid)
        wrk = run_wrk(nginx.port, manifest, conns, settings.duration, settings.load_cpus)
        wrk_rps = wrk["requests"] / (wrk["duration_us"] / 1e6)
        line(f"delivery: wrk against nginx return 200 ... {wrk_rps:,.0f} req/s at {conns} connections")
        # wrk's requests went through the same access log: start the count after them.
        ids_log = workdir / "nginx" / "ids.log"
        nginx.stop()
        ids_log.unlink(missing_ok=True)
        nginx.start()

        filler = servers.InletServer(workdir / "fill", scenario_for("inlet"), settings.server_cpus, binary, None)
        filler.start()
        run_wrk(filler.port, manifest, conns, settings.duration, settings.load_cpus)
        filler.stop()
        queue_dir = filler.workdir / "queue"
        ids = count_log(binary, queue_dir)
        line(f"delivery: filled a log edge with {len(ids):,} messages")

        admin_port = servers.free_port()
        config = {"node": {"name": "deliver"}, "admin_listen": f"127.0.0.1:{admin_port}",
                  "nodes": [{"name": "deliver", "kind": "delivery",
                             "input": {"name": "main", "queue": {"type": "log", "dir": str(queue_dir)}},
                             "endpoints": [{"name": "nginx", "url": f"http://127.0.0.1:{nginx.port}/",
                                            "signature": {"scheme": "standard_webhooks",
                                                          "secret": SIGNING_SECRET},
                                            "concurrency": conns}],
                             "dead_letter": {"name": "dead", "queue": {"type": "log",
                                                                        "dir": str(workdir / "dead")}}}]}
        path = workdir / "deliver.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        # The deliverer gets the core wrk had.
        deliverer = servers.spawn([str(binary), "serve", "--config", str(path)], workdir / "deliver.log",
                                  settings.load_cpus)
        cpu_before = None
        first = None
        deadline = time.monotonic() + 300
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError("the delivery node did not drain the log within 300 s")
            if deliverer.poll() is not None:
                raise RuntimeError(f"the delivering inlet exited with {deliverer.returncode}:\n"
                                   f"{servers.log_tail(workdir / 'deliver.log')}")
            try:
                delivered, dead, lag = delivery_progress(admin_port, "deliver")
            except OSError:
                time.sleep(0.02)
                continue
            now = time.monotonic()
            if cpu_before is None:
                cpu_before = servers.cpu_seconds(deliverer.pid)
            if first is None and delivered + dead > 0:
                first = (now, delivered + dead)
            if first is not None and lag == 0 and delivered + dead >= len(ids):
                seconds = max(now - first[0], 1e-3)
                cpu_used = servers.cpu_seconds(deliverer.pid) - cpu_before
                break
            time.sleep(0.02)
        servers.stop(deliverer)
        deliverer = None
        nginx.stop()
        arrived = [i for i in ids_log.read_text().split("\n") if i] if ids_log.exists() else []
        unique = set(arrived)
        lost = len(set(ids) - unique)
        per_s = (delivered + dead - first[1]) / seconds
        result = {"connections": conns, "wrk_rps": round(wrk_rps, 1), "messages": len(ids),
                  "delivered": delivered, "dead_lettered": dead, "seconds": round(seconds, 2),
                  "per_s": round(per_s, 1), "ratio": round(per_s / wrk_rps, 3) if wrk_rps else None,
                  "cpu_ms_per_1k": round(cpu_used * 1e6 / max(delivered, 1), 3),
                  "requests_at_nginx": len(arrived), "lost": lost, "duplicates": len(arrived) - len(unique)}
        line(f"delivery: {per_s:,.0f} deliveries/s ({result['ratio']:.2f}x wrk's rate), "
             f"{delivered:,} delivered, {dead} dead letters, {lost} lost, {result['duplicates']} duplicates, "
             f"{result['cpu_ms_per_1k']:.1f} CPU ms/1k")
        return result
    finally:
        for process in (deliverer,):
            if process is not None:
                servers.stop(process)
        if filler is not None:
            filler.stop()
        nginx.stop()
