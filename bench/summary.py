#!/usr/bin/env python3
"""Render the results of scripts/bench.sh as Markdown, with every target of
issue 6 marked met or missed. Usage: summary.py RESULTS_DIR"""

import json
import os
import statistics
import sys


def load_env(path):
    env = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    env[k] = v
    return env


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, digits=0):
    if v is None:
        return "-"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def lib_section(lib, out):
    out.append(f"## In process: concert-bench (median of {lib['repetitions']} repetitions)\n")
    out.append("| scenario | store | threads | size | ops/s | CPU µs/op | p50 µs | p99 µs | peak RSS MiB | derived | note |")
    out.append("|---|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    for r in lib["rows"]:
        derived = f"{r['value_name']} = {r['value']:.2f}" if r["value"] is not None else ""
        p50 = fmt(r["p50_us"], 2) if r["p50_us"] else "-"
        p99 = fmt(r["p99_us"], 2) if r["p99_us"] else "-"
        ops = fmt(r["ops_per_s"]) if r["ops_per_s"] else "-"
        peak = fmt(r["peak_rss_kib"] / 1024, 1) if r["peak_rss_kib"] >= 0 else "-"
        cpu = fmt(r.get("cpu_us_per_op"), 2) if r.get("cpu_us_per_op") else "-"
        out.append(f"| {r['scenario']} | {r['store']} | {r['threads']} | {r['size']} | {ops} | "
                   f"{cpu} | {p50} | {p99} | {peak} | {derived} | {r['note']} |")
    out.append("")


def row(lib, scenario, store, threads=None):
    for r in (lib or {}).get("rows", []):
        if r["scenario"] == scenario and r["store"] == store and (threads is None or r["threads"] == threads):
            return r
    return None


def http_load(path):
    """{(endpoint, server, conns): [dict per rep]}"""
    runs = {}
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 6:
                continue
            phase, endpoint, server, conns, rep, kv = parts[:6]
            d = dict(x.split("=", 1) for x in kv.split() if "=" in x)
            runs.setdefault((endpoint, server, int(conns)), []).append(d)
    return runs


def http_median(reps):
    """Median req/s, p50, p99 over repetitions; errors summed."""
    ok = [r for r in reps if "rps" in r]
    if not ok:
        return None
    errors = sum(int(r.get(k, 0)) for r in ok for k in
                 ("err_connect", "err_read", "err_write", "err_timeout", "err_status"))
    errors += sum(int(r.get("broken", 0)) for r in ok)
    m = {
        "rps": statistics.median(float(r["rps"]) for r in ok),
        "p50_ms": statistics.median(int(r["p50_us"]) for r in ok) / 1000,
        "p99_ms": statistics.median(int(r["p99_us"]) for r in ok) / 1000,
        "errors": errors,
        "requests": sum(int(r["requests"]) for r in ok),
        "reps": len(ok),
    }
    if "flows_per_s" in ok[0]:
        m["flows_per_s"] = statistics.median(float(r["flows_per_s"]) for r in ok)
    if "joins" in ok[0]:
        m["joins"] = sum(int(r["joins"]) for r in ok)
        m["lookups"] = sum(int(r["lookups"]) for r in ok)
    return m


def http_section(runs, env, out, targets):
    if not runs:
        return
    reps = max(len(v) for v in runs.values())
    out.append(f"## HTTP: concertd against a bare libmicrohttpd server "
               f"(wrk -t2, {env.get('duration_s', '?')} s per run, median of {reps} runs)\n")
    out.append("Same machine for server and load generator (2 cores shared). "
               "The bare server answers the very bytes concertd sends, with the same MHD set-up.\n")
    out.append("| endpoint | conns | server | req/s | ratio to bare | p50 ms | p99 ms | errors | note |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for endpoint in ("issue", "status", "seats", "flow"):
        for conns in (64, 1000):
            bare = http_median(runs.get((endpoint, "bare", conns), []))
            for server in ("bare", "concertd-memory", "concertd-sqlite"):
                m = http_median(runs.get((endpoint, server, conns), []))
                if not m:
                    continue
                ratio = m["rps"] / bare["rps"] if bare and server != "bare" and bare["rps"] else None
                note = ""
                if "flows_per_s" in m:
                    note = f"{m['flows_per_s']:,.0f} flows/s"
                if "joins" in m:
                    note = f"{m['joins']:,} joins, {m['lookups']:,} lookups"
                out.append(f"| {endpoint} | {conns} | {server} | {fmt(m['rps'])} | "
                           f"{fmt(ratio, 2) if ratio else '-'} | {m['p50_ms']:.2f} | "
                           f"{m['p99_ms']:.2f} | {m['errors']} | {note} |")
                if server != "bare" and endpoint in ("status", "seats"):
                    if conns == 64 and ratio is not None:
                        targets.append((f"HTTP {endpoint}, {server}: ≥ 0.7x bare req/s (64 conns)",
                                        f"{ratio:.2f}x ({fmt(m['rps'])} vs {fmt(bare['rps'])})",
                                        ratio >= 0.7))
                    if conns == 1000 and ratio is not None:
                        targets.append((f"HTTP {endpoint}, {server}: ≥ 0.7x bare req/s (1,000 conns)",
                                        f"{ratio:.2f}x ({fmt(m['rps'])} vs {fmt(bare['rps'])})",
                                        ratio >= 0.7))
                    if conns == 64:
                        targets.append((f"HTTP {endpoint}, {server}: p99 < 5 ms at 64 conns",
                                        f"{m['p99_ms']:.2f} ms", m["p99_ms"] < 5.0))
                if server != "bare" and conns == 1000:
                    # A run that completed nothing has no errors but failed.
                    targets.append((f"HTTP {endpoint}, {server}: no errors at 1,000 conns",
                                    f"{m['errors']} errors in {m['requests']:,} requests",
                                    m["errors"] == 0 and m["requests"] > 0))
    out.append("")


def pg_section(pg_holds_path, out, targets):
    """bench/pg_holds.c's tsv: rep, library holds/s, its new holds, p50 ms,
    p99 ms, pgbench tps, its new holds, pgbench's average latency ms."""
    reps = []
    if os.path.exists(pg_holds_path):
        with open(pg_holds_path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 8:
                    reps.append(parts)
    if not reps:
        return
    lib = statistics.median(float(r[1]) for r in reps)
    bench = statistics.median(float(r[5]) for r in reps)
    out.append("## PostgreSQL: library holds against pgbench (same server, same run)\n")
    out.append("| what | clients | per second | p50 ms | p99 ms | note |")
    out.append("|---|---:|---:|---:|---:|---|")
    out.append(f"| concert_reserve_seat through libconcert | 16 | {fmt(lib)} | "
               f"{statistics.median(float(r[3]) for r in reps):.2f} | "
               f"{statistics.median(float(r[4]) for r in reps):.2f} | median of {len(reps)} runs; "
               f"new holds per run: {', '.join(f'{int(r[2]):,}' for r in reps)} |")
    out.append(f"| pgbench, the hold's own statement (concert_fn.seat_hold) | 16 | {fmt(bench)} | "
               f"- | - | median of {len(reps)} runs; average latency "
               f"{statistics.median(float(r[7]) for r in reps):.2f} ms; new holds per run: "
               f"{', '.join(f'{int(r[6]):,}' for r in reps)} |")
    out.append("")
    ratio = lib / bench
    targets.append(("PostgreSQL: holds/s ≥ 0.8x pgbench running the hold's own statement",
                    f"{ratio:.2f}x ({fmt(lib)} vs {fmt(bench)})", ratio >= 0.8))


def lib_targets(lib, targets):
    r = row(lib, "flow", "memory", 1)
    if r:
        targets.append(("Memory store, 1 thread: ≥ 500,000 booking flows/s",
                        f"{fmt(r['ops_per_s'])} flows/s", r["ops_per_s"] >= 500000))
    for store in ("memory", "sqlite", "postgresql"):
        r = row(lib, "queue.status.ratio", store)
        if r:
            targets.append((f"Queue status poll, {store}: big queue costs ≤ 2x the 1,000 queue",
                            f"{r['value']:.2f}x at {r['size']} waiting", r["value"] <= 2.0))
    r = row(lib, "footprint.seat", "memory")
    if r:
        targets.append(("Memory store: ≤ 64 bytes per seat (RSS growth at 1M)",
                        f"{r['value']:.1f} B/seat ({r['note']})", r["value"] <= 64))
    r = row(lib, "footprint.token", "memory")
    if r:
        targets.append(("Memory store: ≤ 128 bytes per waiting token (RSS growth at 1M)",
                        f"{r['value']:.1f} B/token", r["value"] <= 128))


def main():
    d = sys.argv[1]
    env = load_env(os.path.join(d, "machine.env"))
    lib = load_json(os.path.join(d, "lib.json"))
    out, targets = [], []
    out.append("# libconcert benchmark results\n")
    out.append(f"- machine: {env.get('nproc', '?')} x {env.get('cpu', '?')}, "
               f"{env.get('memory_mib', '?')} MiB, Linux {env.get('kernel', '?')}")
    out.append(f"- date: {env.get('date', '?')}, commit {env.get('commit', '?')}, "
               f"{env.get('postgresql', 'no PostgreSQL')}, {env.get('wrk', '')}")
    out.append(f"- command: `{env.get('command', 'scripts/bench.sh')}`\n")
    if lib:
        lib_section(lib, out)
        lib_targets(lib, targets)
    pg_section(os.path.join(d, "pg_holds.tsv"), out, targets)
    http_section(http_load(os.path.join(d, "http.tsv")), env, out, targets)
    if targets:
        out.append("## Targets of issue 6\n")
        out.append("| target | measured | verdict |")
        out.append("|---|---|---|")
        for name, measured, ok in targets:
            out.append(f"| {name} | {measured} | {verdict(ok)} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
