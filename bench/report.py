"""Writes a bench/run result directory: results.json, report.md and the PNG plots.

Every inlet figure is also given as a ratio to nginx (same payload and encoding) and to the FastAPI
peer (same payload, encoding, authenticator and ack), both measured in the same run.
"""
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

COLORS = {"nginx": "#8c8c8c", "inlet": "#1f77b4", "baseline": "#9467bd", "fastapi": "#ff7f0e"}
# "baseline" is the revision `bench/run --compare REV` built: named inlet@REV once a report has one.
NAMES = {"nginx": "nginx", "inlet": "inlet", "baseline": "inlet (compared)", "fastapi": "FastAPI"}
SERVERS = ("nginx", "inlet", "baseline", "fastapi")


def name_servers(document):
    if document.get("compare"):
        NAMES["baseline"] = f"inlet@{document['compare']}"


def headline_conns(document):
    conns = document["settings"]["conns"]
    return "32" if 32 in conns else str(conns[-1])


def rps(result, conns):
    entry = result["throughput"].get(conns)
    return entry["rps"] if entry else None


def cpu(result, conns):
    entry = result["throughput"].get(conns)
    return entry["cpu_ms_per_1k"] if entry else None


def latency(result, percentile):
    if not result.get("latency"):
        return None
    return result["latency"]["latency_us"][percentile] / 1000.0


def baseline(results, result, server):
    """The ok result of `server` measured on the same work as `result`, or None."""
    mine = result["scenario"]
    for other in results:
        theirs = other["scenario"]
        if other["status"] != "ok" or theirs["server"] != server:
            continue
        keys = ("payload", "encoding", "tls") if server == "nginx" else ("payload", "encoding", "auth", "ack", "tls")
        if all(theirs.get(key, "off") == mine.get(key, "off") for key in keys):
            return other
    return None


def ratio(mine, theirs):
    if mine is None or not theirs:
        return ""
    value = mine / theirs
    return f"{value:.3f}×" if value < 0.1 else f"{value:.2f}×"


def number(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def workloads(results):
    seen = []
    for result in results:
        if result["workload"] not in seen:
            seen.append(result["workload"])
    return seen


def by_workload(results):
    table = {}
    for result in results:
        table.setdefault(result["workload"], {})[result["scenario"]["server"]] = result
    return table


def ok(result):
    return result is not None and result["status"] == "ok"


def throughput_table(document):
    results = document["results"]
    conns = [str(c) for c in document["settings"]["conns"]]
    head = headline_conns(document)
    lines = ["| workload | server | " + " | ".join(f"req/s, {c} conns" for c in conns) +
             f" | CPU ms per 1k req ({head} conns) | peak RSS MiB | req/s vs nginx | req/s vs FastAPI "
             "| CPU vs nginx | CPU vs FastAPI | status |",
             "|---|---|" + "---:|" * (len(conns) + 6) + "---|"]
    for result in results:
        server = result["scenario"]["server"]
        nginx = baseline(results, result, "nginx") if server == "inlet" else None
        fastapi = baseline(results, result, "fastapi") if server == "inlet" else None
        cells = [result["workload"], NAMES[server]]
        cells += [number(rps(result, c)) for c in conns]
        cells.append(number(cpu(result, head), 1))
        peak = result.get("peak_rss_kib")
        cells.append(number(peak / 1024 if peak else None, 1))
        cells.append(ratio(rps(result, head), nginx and rps(nginx, head)))
        cells.append(ratio(rps(result, head), fastapi and rps(fastapi, head)))
        cells.append(ratio(cpu(result, head), nginx and cpu(nginx, head)))
        cells.append(ratio(cpu(result, head), fastapi and cpu(fastapi, head)))
        status = result["status"]
        if result["note"]:
            status += ": " + result["note"].strip().splitlines()[0][:160]
        cells.append(status.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pipeline_table(document):
    """The pipeline scenarios' rows; empty when none ran."""
    results = document["results"]
    lines = []
    for result in results:
        if result["scenario"].get("pipeline", "none") == "none" or not ok(result):
            continue
        if not lines:
            lines = ["| workload | load | webhook req/s | processor msg/s | processor ÷ webhook | lag max "
                     "| lag at the end | drained after (s) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for conns, entry in result.get("throughput", {}).items():
            run = entry.get("pipeline")
            if run:
                lines.append(f"| {result['workload']} | {conns} conns, closed loop | {number(entry['rps'])} | "
                             f"{number(run['processed_per_s'])} | {ratio(run['processed_per_s'], entry['rps'])} | "
                             f"{number(run['lag_max'])} | {number(run['lag_end'])} | {number(run['drain_s'], 1)} |")
        latency_run = result.get("latency", {})
        run = latency_run.get("pipeline")
        if run:
            offered = latency_run.get("achieved_rate") or latency_run.get("target_rate")
            lines.append(f"| {result['workload']} | constant rate, {latency_run['connections']} conns | "
                         f"{number(offered)} | {number(run['processed_per_s'])} | "
                         f"{ratio(run['processed_per_s'], offered)} | {number(run['lag_max'])} | "
                         f"{number(run['lag_end'])} | {number(run['drain_s'], 1)} |")
        drain = result.get("backlog_drain")
        if drain:
            alone = same_work(results, result, "inlet", pipeline="none")
            head = headline_conns(document)
            alone_rps = rps(alone, head) if alone else None
            lines.append(f"| {result['workload']} | alone, over {number(drain['messages'])} messages | "
                         f"{number(alone_rps)} (the node alone) | {number(drain['per_s'])} | "
                         f"{ratio(drain['per_s'], alone_rps)} | | | |")
    return "\n".join(lines)


def group_commit_table(document):
    """Records per log write and per fdatasync, for every inlet row with `ack: fsync` and the two
    headline `ack: write` rows; empty when no run has the log's counters."""
    conns = [str(c) for c in document["settings"]["conns"]]
    lines = ["| workload | server | " + " | ".join(f"{c} conns: req/s · per write · per fdatasync" for c in conns) + " |",
             "|---|---|" + "---:|" * len(conns)]
    for result in document["results"]:
        scenario = result["scenario"]
        if scenario["server"] not in ("inlet", "baseline") or not ok(result):
            continue
        if scenario.get("ack") != "fsync" and result["workload"] not in ("tiny identity", "real identity"):
            continue
        cells = []
        for c in conns:
            entry = result["throughput"].get(c) or {}
            commits = entry.get("group_commit")
            cells.append("–" if not commits else
                         f"{number(entry['rps'])} · {commits['records_per_batch']:.1f} · "
                         f"{number(commits['records_per_sync'], 1)}")
        if all(cell == "–" for cell in cells):
            continue
        lines.append(f"| {result['workload']} | {NAMES[scenario['server']]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def latency_table(document):
    results = document["results"]
    lines = ["| workload | server | conns | offered req/s | answered req/s | p50 ms | p99 ms | p99.9 ms | max ms "
             "| p99 vs nginx | p99 vs FastAPI | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        if not result.get("latency"):
            continue
        run = result["latency"]
        server = result["scenario"]["server"]
        nginx = baseline(results, result, "nginx") if server == "inlet" else None
        fastapi = baseline(results, result, "fastapi") if server == "inlet" else None
        bad = sum(n for code, n in run["status"].items() if code != "200") + run["errors"] + run["unsent"]
        cells = [result["workload"], NAMES[server], str(run.get("connections", "")), number(run["target_rate"]), number(run["achieved_rate"]),
                 number(latency(result, "p50"), 2), number(latency(result, "p99"), 2),
                 number(latency(result, "p99.9"), 2), number(latency(result, "max"), 2),
                 ratio(latency(result, "p99"), nginx and latency(nginx, "p99")),
                 ratio(latency(result, "p99"), fastapi and latency(fastapi, "p99")), str(bad)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(document):
    """Every inlet figure divided by nginx's and by FastAPI's for the same work: "nginx / FastAPI"."""
    results = document["results"]
    conns = [str(c) for c in document["settings"]["conns"]]
    head = headline_conns(document)
    figures = [(f"req/s {c} conns", lambda r, c=c: rps(r, c)) for c in conns]
    figures += [(f"CPU per req ({head} conns)", lambda r: cpu(r, head)),
                ("peak RSS", lambda r: r.get("peak_rss_kib"))]
    figures += [(f"latency {p}", lambda r, p=p: latency(r, p)) for p in ("p50", "p99", "p99.9", "max")]
    lines = ["| workload | " + " | ".join(name for name, _ in figures) + " |",
             "|---|" + "---:|" * len(figures)]
    for result in results:
        if result["scenario"]["server"] != "inlet" or result["status"] != "ok":
            continue
        nginx = baseline(results, result, "nginx")
        fastapi = baseline(results, result, "fastapi")
        cells = [result["workload"]]
        for _, value in figures:
            mine = value(result)
            cells.append(f"{ratio(mine, nginx and value(nginx)) or '–'} / "
                         f"{ratio(mine, fastapi and value(fastapi)) or '–'}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_table(document):
    results = document["results"]
    idle = {r["scenario"]["server"]: r for r in results if r.get("idle")}
    lines = ["| server | measured on | RSS before, MiB | RSS with idle conns, MiB | KiB per idle conn "
             "| vs nginx | vs FastAPI |", "|---|---|---:|---:|---:|---:|---:|"]
    for server in SERVERS:
        result = idle.get(server)
        if not result:
            continue
        data = result["idle"]
        cells = [NAMES[server], f"{result['workload']}, {data['connections']} conns",
                 number(data["rss_before_kib"] / 1024, 1), number(data["rss_idle_kib"] / 1024, 1),
                 number(data["kib_per_connection"], 1)]
        for other in ("nginx", "fastapi"):
            theirs = idle.get(other)
            cells.append(ratio(data["rss_idle_kib"], theirs and theirs["idle"]["rss_idle_kib"])
                         if server == "inlet" else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def same_work(results, result, server, **changed):
    """The ok result of `server` for exactly `result`'s scenario (--compare's twin), or None; with
    `changed`, for that scenario with those fields changed (pipeline="none": the node alone)."""
    mine = {k: v for k, v in {**result["scenario"], **changed}.items() if k != "server"}
    for other in results:
        theirs = other["scenario"]
        if other["status"] == "ok" and theirs["server"] == server and \
                {k: v for k, v in theirs.items() if k != "server"} == mine:
            return other
    return None


def compare_table(document):
    """inlet against the revision --compare built, scenario by scenario, from the same run."""
    results = document["results"]
    head = headline_conns(document)
    before = NAMES["baseline"]
    lines = [f"| workload | inlet req/s | {before} req/s | ratio | inlet CPU ms/1k | {before} CPU ms/1k "
             f"| ratio | inlet p99 ms | {before} p99 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        if result["scenario"]["server"] != "inlet" or result["status"] != "ok":
            continue
        other = same_work(results, result, "baseline")
        if other is None:
            lines.append(f"| {result['workload']} | {number(rps(result, head))} | not measured | | | | | | |")
            continue
        lines.append("| " + " | ".join([
            result["workload"], number(rps(result, head)), number(rps(other, head)),
            ratio(rps(result, head), rps(other, head)), number(cpu(result, head), 1),
            number(cpu(other, head), 1), ratio(cpu(result, head), cpu(other, head)),
            number(latency(result, "p99"), 2), number(latency(other, "p99"), 2)]) + " |")
    return "\n".join(lines)


def short(value):
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.2f}"


def grouped_bars(axis, table, names, value, log=True):
    """One group of bars per workload, one bar per server; a server that did not run says why."""
    present = [s for s in SERVERS if any(s in table[name] for name in names)]
    width = 0.8 / max(1, len(present))
    plotted = []
    for slot, server in enumerate(present):
        xs, ys = [], []
        for position, name in enumerate(names):
            result = table[name].get(server)
            v = value(result) if ok(result) else None
            x = position + (slot - (len(present) - 1) / 2) * width
            if v:
                xs.append(x)
                ys.append(v)
            elif result is not None:
                axis.annotate(result["status"].replace("not available", "n/a"), (x, 0), xycoords=(
                    "data", "axes fraction"), ha="center", va="bottom", rotation=90, fontsize=7,
                    color=COLORS[server], xytext=(0, 3), textcoords="offset points")
        bars = axis.bar(xs, ys, width, label=NAMES[server], color=COLORS[server])
        plotted += ys
        for bar, y in zip(bars, ys):
            axis.annotate(short(y), (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom",
                          fontsize=7, xytext=(0, 1), textcoords="offset points")
    axis.set_xticks(range(len(names)))
    axis.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    if log and plotted:
        axis.set_yscale("log")
        # Bars on a log axis start at the bottom limit: put it a decade under the smallest value so
        # bar heights compare, and label ticks plainly.
        low = 10 ** math.floor(math.log10(min(plotted)) - 0.5)
        axis.set_ylim(bottom=low, top=max(plotted) * 3)
        axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: short(v)))
        axis.yaxis.set_minor_formatter(ticker.NullFormatter())
    axis.grid(axis="y", alpha=0.3, which="major")


def plots(out, document):
    results = document["results"]
    table = by_workload(results)
    names = workloads(results)
    head = headline_conns(document)
    files = {}

    figure, axis = plt.subplots(figsize=(max(7, 1.1 * len(names) + 3), 5))
    grouped_bars(axis, table, names, lambda r: rps(r, head))
    axis.set_ylabel("requests per second (log scale)")
    axis.set_title(f"Throughput, {head} connections, closed loop (wrk), server on one core")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "throughput.png", dpi=110)
    plt.close(figure)
    files["throughput"] = "throughput.png"

    figure, axes = plt.subplots(3, 1, figsize=(max(7, 1.1 * len(names) + 3), 11), sharex=True)
    for axis, percentile in zip(axes, ("p50", "p99", "p99.9")):
        grouped_bars(axis, table, names, lambda r, p=percentile: latency(r, p))
        axis.set_ylabel(f"{percentile} ms (log)")
    axes[0].set_title("Latency at a constant rate of half each server's maximum (open loop)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(out / "latency.png", dpi=110)
    plt.close(figure)
    files["latency"] = "latency.png"

    figure, axis = plt.subplots(figsize=(max(7, 1.1 * len(names) + 3), 5))
    grouped_bars(axis, table, names, lambda r: cpu(r, head))
    axis.set_ylabel("CPU ms per 1,000 requests (log scale)")
    axis.set_title(f"Server CPU per request ({head} connections; lower is better)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "cpu.png", dpi=110)
    plt.close(figure)
    files["cpu"] = "cpu.png"
    return files


HOW_TO_READ = """\
**How to read this.** Every server runs on one core (core 0; `threads=2` rows also use core 1) and
the load generators run on the other, so the numbers are per-core figures on this machine, not a
cluster's. *nginx* answers a fixed 200 after reading and dropping the body: it is the ceiling for
HTTP on this box, nothing can be faster. *FastAPI* is the same node written on the platform's
stack (FastAPI + uvicorn, uvloop, httptools, one worker) doing the same checks, decoding,
authenticator and file write as inlet. Throughput is closed loop (wrk, each connection sends its
next request when the answer arrives). Latency is open loop (bench/loadgen.cc): requests are sent at
a constant rate of half the server's own best throughput and timed from when they were *scheduled*,
so queueing behind a slow answer counts (no coordinated omission); as each server gets half of its
own maximum, compare latency ratios with that in mind. "vs nginx" and "vs FastAPI" are inlet's
figure divided by the baseline's from this same run: for req/s above 1× is better, for CPU,
latency and memory below 1× is better. Readings vary by about ±20% between runs on this machine;
compare within a run."""


def stall_line(stalls):
    """The probe's reading as one sentence, or None."""
    if not stalls:
        return None
    line = (f"with {stalls['cores']} cores busy for {stalls['seconds']:g} s, the longest stall of a core was "
            f"{stalls['longest_ms']:g} ms, and {stalls['lost_percent']:g}% of the time went in stalls over 5 ms")
    if stalls["longest_ms"] >= 20:
        line += (f": latency percentiles near {stalls['longest_ms']:.0f} ms are this machine's stalls, "
                 "for every server alike")
    return line


def write(out, document):
    name_servers(document)
    out = Path(out)
    files = {}
    try:
        # A run of only the delivery scenario has no HTTP rows to plot.
        files = plots(out, document) if document["results"] else {}
    except Exception as error:  # a broken plot must not lose the measurements
        document["plot_error"] = f"{type(error).__name__}: {error}"
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    machine = document["machine"]
    lines = [
        "# inlet benchmark",
        "",
        f"- date: {document['date']}",
        f"- machine: {machine['nproc']} × {machine['model']}, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}",
        f"- source: commit {machine['commit'] or 'unknown'}; inlet `{machine['versions']['inlet'] or 'n/a'}`, "
        f"{machine['versions']['nginx']}, uvicorn {machine['versions']['uvicorn']}, "
        f"Python {machine['versions']['python']}",
        f"- real payloads: {document.get('real_payloads', 'n/a')}",
        f"- command: `{document['command']}` ({document['elapsed_s']:.0f} s"
        f"{', interrupted' if document['interrupted'] else ''})",
        f"- runs: {document['settings']['duration']:g} s per throughput run at "
        f"{', '.join(map(str, document['settings']['conns']))} connections; "
        f"{document['settings']['latency_duration']:g} s per latency run",
    ]
    stalls = stall_line(document.get("stalls"))
    if stalls:
        lines.append(f"- machine check: {stalls}")
    load = document.get("load_average", {})
    lines.append(f"- 1-minute load average: {load.get('start')} at start, {load.get('end')} at the end")
    if load.get("start", 0) > 0.5 * (machine["nproc"] or 1):
        lines.append("- **the machine was busy with other work during this run: treat every figure as "
                     "unreliable (ratios within the run less so)**")
    if document.get("plot_error"):
        lines.append(f"- plots failed: {document['plot_error']}")
    if document.get("inlet_missing"):
        lines.append(f"- **inlet not available: {document['inlet_missing']}**")
    if document["results"]:
        images = {name: f"![{name}]({files[name]})" if name in files else f"({name} plot not drawn)"
                  for name in ("throughput", "cpu", "latency")}
        lines += ["", HOW_TO_READ, "", "## Throughput and CPU", "", throughput_table(document), "",
                  images["throughput"], "", images["cpu"], ""]
        commits = group_commit_table(document)
        if commits:
            lines += ["## Group commit in the log", "",
                      "From the log's counters around each throughput run (`inlet_log_queue_records_total` "
                      "÷ `_batches_total` and ÷ `_syncs_total`): how many records one write round and one "
                      "fdatasync covered. With `ack: fsync` every answer waits for a sync, so records per "
                      "fdatasync is what group commit buys; with `ack: write` the log syncs only when a "
                      "segment rolls.", "", commits, ""]
        pipeline = pipeline_table(document)
        if pipeline:
            lines += ["## Pipeline: webhook node → log → processor → log", "",
                      "One inlet process on one core runs the webhook node and a processor node that "
                      "returns its input (Python), each storing to its own log. Per run: the webhook "
                      "node's rate, the processor's, and the consumer lag (`inlet_consumer_lag`, "
                      "sampled every 250 ms). \"Constant rate\" is the latency run, offered half of "
                      "the best closed-loop rate: there the lag must stay bounded. \"Alone\" is the "
                      "processor over the whole backlog with no webhook load, divided by the webhook "
                      "node alone with the same bodies (the same scenario without the pipeline, in this run).", "",
                      pipeline, ""]
        lines += ["## Latency at a constant rate", "", latency_table(document), "",
                  images["latency"], "", "## Memory with idle keep-alive connections", "",
                  memory_table(document), "", "## Every inlet figure as a ratio: vs nginx / vs FastAPI", "",
                  "Each cell is inlet's figure divided by nginx's, then by FastAPI's, for the same work in "
                  "this run (nginx: same payload and encoding; FastAPI: also the same authenticator and "
                  "ack).", "", ratio_table(document), ""]
    else:
        lines.append("")
    if document.get("compare"):
        lines += [f"## inlet against inlet@{document['compare']} (`--compare`)", "",
                  "Each pair ran back to back in this run on the same settings; ratio is inlet's "
                  "figure divided by the compared revision's.", "", compare_table(document), ""]
    if document.get("delivery"):
        lines += ["## Delivery", "",
                  "A delivery node (Standard Webhooks signed) drains a log edge to nginx `return 200` over "
                  "keep-alive, on the core wrk had when it measured the same nginx; nginx logs every "
                  "tracking id, so lost and duplicate counts are what arrived.", ""] + delivery_lines(document) + [""]
    lines += ["## Request sets", "",
              "| payload encoding signed | requests | mean decoded bytes | mean bytes on the wire |",
              "|---|---:|---:|---:|"]
    for key, stats in document.get("request_sets", {}).items():
        lines.append(f"| {key} | {stats['requests']} | {stats['mean_body_bytes']:,} | "
                     f"{stats['mean_wire_bytes']:,} |")
    notes = [r for r in document["results"] if r["note"]]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {r['label']} ({r['status']}): {r['note'].strip()}" for r in notes]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def delivery_lines(document):
    """The delivery scenario (bench/delivery.py), as report lines; empty when it did not run."""
    d = document.get("delivery")
    if not d:
        return []
    if d["status"] != "ok" and "per_s" not in d:
        return [f"delivery scenario: {d['status']}: {d['note']}"]
    return [f"delivery: one node, {d['connections']} connections to nginx `return 200`: "
            f"{d['per_s']:,.0f} deliveries/s = {d['ratio']:.2f}x wrk's {d['wrk_rps']:,.0f} req/s against the "
            f"same nginx on the same core; {d['messages']:,} messages, {d['delivered']:,} delivered, "
            f"{d['dead_lettered']} dead letters, {d['lost']} lost, {d['duplicates']} duplicates, "
            f"{d['cpu_ms_per_1k']:.1f} CPU ms/1k" + (f" ({d['status']}: {d['note']})" if d["status"] != "ok" else "")]


def summary_table(document):
    name_servers(document)
    results = document["results"]
    head = headline_conns(document)
    table = by_workload(results)
    rows = [("workload", "inlet req/s", "nginx req/s", "FastAPI req/s", "÷nginx", "÷FastAPI",
             "inlet p99 ms", "FastAPI p99 ms")]
    for name in workloads(results):
        entry = table[name]
        inlet = entry.get("inlet")

        def shown(result, value):
            if result is None:
                return ""
            if result["status"] != "ok":
                return result["status"]
            return value(result)

        nginx = baseline(results, inlet, "nginx") if inlet else entry.get("nginx")
        fastapi = baseline(results, inlet, "fastapi") if inlet else entry.get("fastapi")
        nginx = nginx or entry.get("nginx")
        fastapi = fastapi or entry.get("fastapi")
        inlet_rps = rps(inlet, head) if ok(inlet) else None
        rows.append((
            name,
            shown(inlet, lambda r: number(rps(r, head))),
            shown(entry.get("nginx"), lambda r: number(rps(r, head))),
            shown(entry.get("fastapi"), lambda r: number(rps(r, head))),
            ratio(inlet_rps, rps(nginx, head) if ok(nginx) else None),
            ratio(inlet_rps, rps(fastapi, head) if ok(fastapi) else None),
            shown(inlet, lambda r: number(latency(r, "p99"), 2)),
            shown(entry.get("fastapi"), lambda r: number(latency(r, "p99"), 2)),
        ))
    if document.get("compare"):
        rows[0] = rows[0] + (f"÷inlet@{document['compare']}",)
        for index in range(1, len(rows)):
            inlet = table[rows[index][0]].get("inlet")
            other = same_work(results, inlet, "baseline") if ok(inlet) else None
            rows[index] = rows[index] + (ratio(rps(inlet, head), rps(other, head)) if other else "",)
    if len(rows) == 1:
        return "\n".join(["", *delivery_lines(document)] if document.get("delivery") else [])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    text = [f"\nsummary ({head} connections; ÷ = inlet divided by the baseline)"]
    for index, row in enumerate(rows):
        text.append("  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
                              for i, cell in enumerate(row)))
        if index == 0:
            text.append("  ".join("-" * w for w in widths))
    text += ["", *delivery_lines(document)] if document.get("delivery") else []
    return "\n".join(text)


if __name__ == "__main__":
    # Re-renders a result directory from its results.json: python3 bench/report.py DIR
    directory = Path(sys.argv[1])
    saved = json.loads((directory / "results.json").read_text())
    write(directory, saved)
    print(summary_table(saved))
