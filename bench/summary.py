#!/usr/bin/env python3
"""Render the results of scripts/bench.sh as Markdown, with every target of
issues 6 and 12 marked met or missed, and the HTTP figures beside those of
a previous run when one is given.
Usage: summary.py [--compare PREVIOUS_HTTP_TSV] RESULTS_DIR"""

import argparse
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
            d["_rep"] = rep
            runs.setdefault((endpoint, server, int(conns)), []).append(d)
    return runs


HTTP_ENDPOINTS = ("issue", "status", "seats", "seats-inm", "flow")
HTTP_SERVERS = ("bare", "concertd-memory", "concertd-sqlite", "concertd-postgresql")
# A run slower than the previous one's by more than this is flagged.
WORSE_BY = 0.15


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
    if "not_modified" in ok[0]:
        m["not_modified"] = sum(int(r["not_modified"]) for r in ok)
        m["full"] = sum(int(r["full"]) for r in ok)
        # Neither 200 nor 304 (4xx and 5xx are in wrk's err_status too).
        m["other"] = sum(int(r.get("other", 0)) for r in ok)
    loads = [float(r["load1"]) for r in ok if "load1" in r]
    if loads:
        m["load"] = (min(loads), max(loads))
    return m


def share_304(m):
    """Share of a conditional run's replies that were 304."""
    answered = m["not_modified"] + m["full"]
    return m["not_modified"] / answered if answered else 0.0


def load_range(runs):
    loads = [float(r["load1"]) for reps in runs.values() for r in reps if "load1" in r]
    return f"{min(loads):.1f} to {max(loads):.1f}" if loads else "not recorded"


def http_section(runs, env, out, targets):
    runs = {k: v for k, v in runs.items() if k[0] in HTTP_ENDPOINTS}
    if not runs:
        return
    reps = max(len(v) for v in runs.values())
    out.append(f"## HTTP: concertd against a bare libmicrohttpd server "
               f"(wrk -t2, {env.get('duration_s', '?')} s per run, median of {reps} runs)\n")
    out.append("Same machine for server and load generator (2 cores shared). "
               "The bare server answers the very bytes and headers concertd sends "
               "(checked before the runs), with the same MHD set-up. "
               "seats-inm: the listing asked with If-None-Match and the ETag of the last 200 "
               "(bare: the 304 concertd sends). "
               f"Load average (1 min) at the runs' starts: {load_range(runs)}.\n")
    out.append("| endpoint | conns | server | req/s | ratio to bare | p50 ms | p99 ms | errors | note |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for endpoint in HTTP_ENDPOINTS:
        for conns in (64, 1000):
            bare = http_median(runs.get((endpoint, "bare", conns), []))
            for server in HTTP_SERVERS:
                m = http_median(runs.get((endpoint, server, conns), []))
                if not m:
                    continue
                ratio = m["rps"] / bare["rps"] if bare and server != "bare" and bare["rps"] else None
                note = ""
                if "flows_per_s" in m:
                    note = f"{m['flows_per_s']:,.0f} flows/s"
                if "joins" in m:
                    note = f"{m['joins']:,} joins, {m['lookups']:,} lookups"
                if "not_modified" in m:
                    note = f"{100 * share_304(m):.2f}% of replies 304"
                    if m["other"]:
                        note += f", {m['other']:,} neither 200 nor 304"
                out.append(f"| {endpoint} | {conns} | {server} | {fmt(m['rps'])} | "
                           f"{fmt(ratio, 2) if ratio else '-'} | {m['p50_ms']:.2f} | "
                           f"{m['p99_ms']:.2f} | {m['errors']} | {note} |")
                http_targets(endpoint, server, conns, m, bare, ratio, targets)
    out.append("")


def http_targets(endpoint, server, conns, m, bare, ratio, targets):
    """Issue 6's bars (memory and SQLite) and issue 12's seat listing bars."""
    if server == "bare":
        return
    store = server.replace("concertd-", "")
    vs = f"({fmt(m['rps'])} vs {fmt(bare['rps'])})" if bare else ""
    if endpoint == "seats-inm":
        if conns == 64 and ratio is not None and store in ("memory", "sqlite"):
            conditional = share_304(m) >= 0.99 and share_304(bare) >= 0.99
            targets.append((f"Issue 12: HTTP seats with If-None-Match, {server}: ≥ 0.9x bare "
                            f"with If-None-Match (64 conns)",
                            f"{ratio:.2f}x {vs}; 304s: {100 * share_304(m):.2f}% "
                            f"(bare {100 * share_304(bare):.2f}%)",
                            ratio >= 0.9 and conditional))
        return
    if endpoint == "seats" and conns == 64 and ratio is not None and store in ("memory", "sqlite"):
        targets.append((f"Issue 12: HTTP seats (1,000 free), {server}: ≥ 0.7x bare (64 conns)",
                        f"{ratio:.2f}x {vs}", ratio >= 0.7))
    if store == "postgresql":
        return  # no bar of issue 6 for PostgreSQL: its rows are for reading
    if endpoint in ("status", "seats"):
        if conns == 64 and ratio is not None and endpoint == "status":
            targets.append((f"HTTP {endpoint}, {server}: ≥ 0.7x bare req/s (64 conns)",
                            f"{ratio:.2f}x {vs}", ratio >= 0.7))
        if conns == 1000 and ratio is not None:
            targets.append((f"HTTP {endpoint}, {server}: ≥ 0.7x bare req/s (1,000 conns)",
                            f"{ratio:.2f}x {vs}", ratio >= 0.7))
        if conns == 64:
            targets.append((f"HTTP {endpoint}, {server}: p99 < 5 ms at 64 conns",
                            f"{m['p99_ms']:.2f} ms", m["p99_ms"] < 5.0))
    if conns == 1000:
        # A run that completed nothing has no errors but failed.
        targets.append((f"HTTP {endpoint}, {server}: no errors at 1,000 conns",
                        f"{m['errors']} errors in {m['requests']:,} requests",
                        m["errors"] == 0 and m["requests"] > 0))


def multi_section(runs, env, out, targets):
    """flow-pg: 1 and 2 concertd on one PostgreSQL database, with the CPU
    each process group used during the runs, as a share of the machine."""
    setups = {}
    flow_pg_runs = {k: v for k, v in runs.items() if k[0] == "flow-pg"}
    for (endpoint, server, conns), reps in runs.items():
        if endpoint == "flow-pg":
            setups[int(reps[0].get("processes", server.rsplit("x", 1)[-1]))] = reps
    if not setups:
        return
    out.append(f"## HTTP flow on PostgreSQL: 1 and 2 concertd on one database, one port "
               f"(--reuse-port; wrk -t2, 64 conns, {env.get('duration_s', '?')} s per run, "
               f"median of {max(len(r) for r in setups.values())} runs, set-ups alternating)\n")
    out.append("CPU: each group's user + system time during the run as a share of the "
               "machine's (2 cores x the run): concertd per process, the PostgreSQL "
               "server's processes, wrk; other = the rest of the machine's busy time "
               "(other users' work); idle = what no one used. "
               f"Load average (1 min) at the runs' starts: {load_range(flow_pg_runs)}.\n")
    out.append("CPU ms per flow: each group's CPU time over the flows the run completed (this "
               "does not grow with other users' load the way flows/s shrinks); ceiling = the "
               "flows/s the machine's cores would give if the bench had them all at that cost.\n")
    out.append("| concertd | flows/s | req/s | ratio to 1 | p50 ms | p99 ms | errors | "
               "CPU concertd | CPU postgres | CPU wrk | CPU other | idle | "
               "CPU ms/flow concertd + postgres + wrk | ceiling flows/s |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    medians = {}
    for n in sorted(setups):
        reps = [r for r in setups[n] if "rps" in r and "cpu_total_ms" in r]
        m = http_median(reps)
        if not m:
            continue

        def share(key, rs=reps):
            return statistics.median(float(r[key]) / float(r["cpu_total_ms"]) for r in rs
                                     if float(r["cpu_total_ms"]) > 0)

        each = [statistics.median(float(r["cpu_concertd_each_ms"].split("/")[i]) /
                                  float(r["cpu_total_ms"]) for r in reps) for i in range(n)]
        groups = {
            "concertd": share("cpu_concertd_ms"),
            "postgres": share("cpu_postgres_ms"),
            "wrk": share("cpu_wrk_ms"),
            "busy": share("cpu_busy_ms"),
        }
        other = statistics.median(
            (float(r["cpu_busy_ms"]) - float(r["cpu_concertd_ms"]) - float(r["cpu_postgres_ms"]) -
             float(r["cpu_wrk_ms"])) / float(r["cpu_total_ms"]) for r in reps)
        groups["other"] = max(other, 0.0)
        groups["idle"] = 1 - groups["busy"]

        def per_flow(key, rs=reps):
            return statistics.median(float(r[key]) / int(r["flows"]) for r in rs
                                     if int(r.get("flows", 0)) > 0)

        cost = {g: per_flow(f"cpu_{g}_ms") for g in ("concertd", "postgres", "wrk")}
        cpus = int(env.get("nproc", "2"))
        total_cost = sum(cost.values())
        groups["ceiling"] = cpus * 1000 / total_cost if total_cost > 0 else None
        groups["cost"] = cost
        medians[n] = (m, groups)
        base = medians.get(1)
        ratio = m["flows_per_s"] / base[0]["flows_per_s"] if base and n != 1 and base[0]["flows_per_s"] else None
        cd = f"{100 * groups['concertd']:.0f}%"
        if n > 1:
            cd += " (" + " + ".join(f"{100 * e:.0f}%" for e in each) + ")"
        out.append(f"| {n} | {fmt(m['flows_per_s'])} | {fmt(m['rps'])} | "
                   f"{fmt(ratio, 2) if ratio else '-'} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                   f"{m['errors']} | {cd} | {100 * groups['postgres']:.0f}% | "
                   f"{100 * groups['wrk']:.0f}% | {100 * groups['other']:.0f}% | "
                   f"{100 * groups['idle']:.0f}% | {cost['concertd']:.2f} + "
                   f"{cost['postgres']:.2f} + {cost['wrk']:.2f} | {fmt(groups['ceiling'])} |")
    out.append("")
    if 1 in medians and 2 in medians and medians[1][0]["flows_per_s"]:
        (m1, _), (m2, g2) = medians[1], medians[2]
        ratio = m2["flows_per_s"] / m1["flows_per_s"]
        targets.append(("Issue 12: HTTP flow on PostgreSQL, 2 concertd ≥ 1.5x 1 concertd "
                        "(else the measured bound)",
                        f"{ratio:.2f}x ({fmt(m2['flows_per_s'])} vs {fmt(m1['flows_per_s'])} flows/s); "
                        f"with 2: CPU concertd {100 * g2['concertd']:.0f}%, postgres "
                        f"{100 * g2['postgres']:.0f}%, wrk {100 * g2['wrk']:.0f}%, other "
                        f"{100 * g2['other']:.0f}%, idle {100 * g2['idle']:.0f}%; CPU per flow "
                        f"{g2['cost']['concertd']:.2f} ms concertd, {g2['cost']['postgres']:.2f} ms "
                        f"postgres, {g2['cost']['wrk']:.2f} ms wrk: at most "
                        f"{fmt(g2['ceiling'])} flows/s on all {env.get('nproc', '2')} cores "
                        f"({g2['ceiling'] / m1['flows_per_s']:.2f}x one process's rate in this run)",
                        ratio >= 1.5))


def profile_section(d, out):
    """One more 2-process flow-pg run under perf record -a: samples by
    group (this bench's concertd, its PostgreSQL server, wrk, other) and
    binary (perf_flow_pg.tsv: percent, group, binary)."""
    path = os.path.join(d, "perf_flow_pg.tsv")
    if not os.path.exists(path):
        return
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                rows.append((float(parts[0]), parts[1], parts[2]))
    if not rows:
        return
    rate = ""
    wrk_log = os.path.join(d, "wrk.flow-pg.profile.log")
    if os.path.exists(wrk_log):
        with open(wrk_log) as f:
            for line in f:
                if line.startswith("WRK_RESULT"):
                    rate = f"; {float(kv(line).get('flows_per_s', 0)):,.0f} flows/s under perf"
    by_group = {}
    for pct, group, _ in rows:
        by_group[group] = by_group.get(group, 0.0) + pct
    out.append("Profile of one more run of the 2-process set-up (`perf record -a -F 499`, every "
               f"CPU{rate}), share of all samples: "
               + ", ".join(f"{g} {p:.1f}%" for g, p in sorted(by_group.items(), key=lambda x: -x[1]))
               + ". By binary (rows of 1% or more; other = every process not this bench's, "
               "by command):\n")
    out.append("| process | binary | samples |")
    out.append("|---|---|---:|")
    for pct, group, dso in rows:
        if pct >= 1.0:
            out.append(f"| {group} | {dso} | {pct:.1f}% |")
    out.append("")


def kv(text):
    return dict(x.split("=", 1) for x in text.split() if "=" in x)


def compare_section(runs, previous, prev_env, out):
    """Previous run against this one, per row of this run."""
    if previous is None:
        return
    path, prev_runs = previous
    out.append("## HTTP: this run against the previous one\n")
    out.append(f"Previous: `{path}` ({prev_env.get('date', 'date unknown')}, commit "
               f"{prev_env.get('commit', '?')}, load at start {prev_env.get('load_start', '?')}). "
               f"Rows more than {WORSE_BY:.0%} slower in req/s are flagged; on a shared machine "
               "read them with the load averages of both runs.\n")
    out.append("| endpoint | conns | server | previous req/s | now req/s | change | |")
    out.append("|---|---:|---|---:|---:|---:|---|")
    order = {e: i for i, e in enumerate(HTTP_ENDPOINTS + ("flow-pg",))}
    worse = 0
    for key in sorted(runs, key=lambda k: (order.get(k[0], 99), k[0], k[2], k[1])):
        now = http_median(runs[key])
        before = http_median(prev_runs.get(key, []))
        if not now:
            continue
        if not before:
            out.append(f"| {key[0]} | {key[2]} | {key[1]} | - | {fmt(now['rps'])} | new | |")
            continue
        change = now["rps"] / before["rps"] - 1 if before["rps"] else 0.0
        flag = ""
        if change < -WORSE_BY:
            flag = f"**worse by more than {WORSE_BY:.0%}**"
            worse += 1
        out.append(f"| {key[0]} | {key[2]} | {key[1]} | {fmt(before['rps'])} | "
                   f"{fmt(now['rps'])} | {100 * change:+.1f}% | {flag} |")
    not_rerun = sum(1 for k in prev_runs if k not in runs)
    out.append("")
    out.append(f"{worse} row(s) worse by more than {WORSE_BY:.0%}"
               + (f"; {not_rerun} row(s) of the previous run not run this time." if not_rerun else ".")
               + "\n")


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


def sse_section(d, out, targets13):
    """Issue 13: concert-bench-sse's figures (sse.json)."""
    j = load_json(os.path.join(d, "sse.json"))
    if not j:
        return
    opened = j["open_queue"] + j["open_seats"]
    out.append(f"## Issue 13: {j['subscribers']:,} SSE subscribers on one concertd "
               "(memory store, concert-bench-sse)\n")
    out.append(f"{j['open_queue']:,} queue streams (WAITING tokens) and {j['open_seats']:,} "
               f"seat streams (ACTIVE tokens, one schedule of 1,000 seats) opened in "
               f"{j['connect_s']:.1f} s, {j['failed']} failed; load average {j['load_start']:.2f} "
               f"at the start, {j['load_end']:.2f} at the end.\n")
    out.append("| figure | value | what it is |")
    out.append("|---|---:|---|")
    rss_mib = j["rss_with_kib"] / 1024
    out.append(f"| RSS before | {j['rss_before_kib'] / 1024:.1f} MiB | concertd VmRSS, tokens joined, "
               "no subscriber |")
    out.append(f"| RSS with them | {rss_mib:.1f} MiB | VmRSS with every stream open "
               f"({(j['rss_with_kib'] - j['rss_before_kib']) / max(opened, 1):.1f} KiB per "
               f"subscriber); {j['threads']} threads, {j['fds_with']:,} fds |")
    out.append(f"| CPU while idle | {j['quiet_cpu_ms']} ms in {j['quiet_s']:.0f} s "
               f"({j['quiet_cpu_pct']:.2f}% of a core) | utime+stime over a window without "
               f"changes; {j['quiet_events']:,} events, {j['quiet_keepalives']:,} keepalives "
               "reached the clients meanwhile |")
    if "between_cpu_pct" in j:
        out.append(f"| CPU between updates | {j['between_cpu_pct']:.2f}% of a core | the same "
                   f"window cut in 100 ms slices: the {j['between_s']:.1f} s of slices with no "
                   "event arriving in them or next to them (schedstat CPU time) |")
    for kind, what in (("queue", "admissions (an ACTIVE buyer leaves)"),
                       ("seats", "a seat held, released")):
        out.append(f"| delivery, {kind} | p50 {j[kind + '_p50_ms']:.0f} / p99 "
                   f"{j[kind + '_p99_ms']:.0f} / max {j[kind + '_max_ms']:.0f} ms | "
                   f"{j[kind + '_delivered']:,} of {j[kind + '_expected']:,} expected events over "
                   f"{j['triggers']} triggers: {what}, timed from the request that made it |")
    if "poll_ratio" in j:
        out.append(f"| poll req/s with / without | {j['poll_rps_with']:,.0f} / "
                   f"{j['poll_rps_without']:,.0f} ({j['poll_ratio']:.3f}x) | wrk -c"
                   f"{j['wrk_conns']} GET /api/v1/queue/tokens/current, median of {j['reps']} "
                   f"alternating runs each; runs with "
                   f"{', '.join(f'{x:,.0f}' for x in j['poll_rps_with_runs'])}, without "
                   f"{', '.join(f'{x:,.0f}' for x in j['poll_rps_without_runs'])}; p99 "
                   f"{j['poll_p99_ms_with']:.1f} vs {j['poll_p99_ms_without']:.1f} ms |")
        if "poll_cpu_us_with" in j:
            out.append(f"| concertd CPU per poll with / without | {j['poll_cpu_us_with']:.2f} / "
                       f"{j['poll_cpu_us_without']:.2f} µs "
                       f"({j['poll_cpu_us_with'] / max(j['poll_cpu_us_without'], 1e-9):.3f}x) | "
                       "the server's CPU (schedstat) over each run divided by its requests, "
                       "medians: the figure other processes' load does not move; "
                       f"{j['poll_events_with']:,} events reached the subscribers during the "
                       "runs with them |")
    out.append("")
    targets13.append((f"{j['subscribers']:,} SSE subscribers: RSS ≤ 300 MB",
                      f"{rss_mib:.1f} MiB ({rss_mib * 1.048576:.1f} MB)",
                      rss_mib * 1.048576 <= 300 and opened == j["subscribers"]))
    between = j.get("between_cpu_pct", -1)
    targets13.append(("CPU idle between updates (here: under 1% of a core)",
                      f"{between:.2f}% of a core in the {j.get('between_s', 0):.1f} s without "
                      f"events; {j['quiet_cpu_pct']:.2f}% over the whole {j['quiet_s']:.0f} s "
                      f"window ({j['quiet_events']:,} events, the ETA moving)",
                      0 <= between < 1.0))
    worst = max(j["queue_max_ms"], j["seats_max_ms"])
    every = (j["queue_delivered"] == j["queue_expected"] and
             j["seats_delivered"] == j["seats_expected"])
    targets13.append(("every update delivered within 2 s",
                      f"max {worst:.0f} ms; {j['queue_delivered'] + j['seats_delivered']:,} of "
                      f"{j['queue_expected'] + j['seats_expected']:,} delivered",
                      every and worst <= 2000))
    if "poll_ratio" in j:
        cpu = (f"; CPU per poll {j['poll_cpu_us_with'] / max(j['poll_cpu_us_without'], 1e-9):.3f}x"
               if "poll_cpu_us_with" in j else "")
        targets13.append(("HTTP poll throughput drops ≤ 20% with them connected",
                          f"{j['poll_ratio']:.3f}x{cpu}", j["poll_ratio"] >= 0.8))
    if "rss_after_kib" in j:
        out.append(f"After the {j['reps']} disconnections and reconnections of the poll runs: RSS "
                   f"{j['rss_after_kib'] / 1024:.1f} MiB with them connected again; idle CPU "
                   f"{j['quiet_after_cpu_pct']:.2f}% of a core ({j['between_after_cpu_pct']:.2f}% "
                   "in the slices without events; a keepalive round may fall in this window).\n")


def metrics_section(d, env, out, targets13):
    """Issue 13: seat listing with /metrics and the access log on and off (metrics.tsv)."""
    runs = http_load(os.path.join(d, "metrics.tsv"))
    on = runs.get(("seats", "metrics-on", 64), [])
    off = runs.get(("seats", "metrics-off", 64), [])
    only = runs.get(("seats", "metrics-only", 64), [])
    m_on, m_off = http_median(on), http_median(off)
    if not m_on or not m_off:
        return
    ratio = m_on["rps"] / m_off["rps"]
    logged = statistics.median(int(r.get("log_bytes", 0)) for r in on)

    def cpu_us(reps):
        v = [int(r["cpu_ms"]) * 1000 / int(r["requests"]) for r in reps
             if "cpu_ms" in r and int(r.get("requests", 0)) > 0]
        return statistics.median(v) if v else None
    cpu_on, cpu_off, cpu_only = cpu_us(on), cpu_us(off), cpu_us(only)
    m_only = http_median(only)
    # Each repetition's runs are next to each other: their ratio is less
    # moved by drift in the machine's load than the ratio of medians.
    by_rep_off = {r.get("_rep"): r for r in off}
    paired = [float(r["rps"]) / float(by_rep_off[r["_rep"]]["rps"]) for r in on
              if r.get("_rep") in by_rep_off and "rps" in r and "rps" in by_rep_off[r["_rep"]]]
    out.append("## Issue 13: what /metrics and the access log cost (seat listing, "
               f"wrk -t2 -c64, {env.get('duration_s', '?')} s runs, in rotating order)\n")
    out.append("concertd servers (memory store, same catalog) run side by side: one records "
               "metrics and writes the text access log to a file, one runs with "
               "`--no-metrics --log-format off`"
               + (", one with metrics and `--log-format off`" if only else "") +
               "; /metrics is scraped once a second during the runs of those with metrics. "
               f"Load average at the runs' starts: {load_range({1: on + off + only})}.\n")
    out.append("| server | req/s (median) | runs | concertd CPU µs/request | p50 ms | p99 ms | errors | note |")
    out.append("|---|---:|---|---:|---:|---:|---:|---|")
    sides = [("metrics + text log", m_on, on, cpu_on)]
    if m_only:
        sides.append(("metrics, --log-format off", m_only, only, cpu_only))
    sides.append(("--no-metrics --log-format off", m_off, off, cpu_off))
    for name, m, reps, cpu in sides:
        note = f"{logged / 1e6:.1f} MB of log per run (median)" if m is m_on else ""
        each = ", ".join(fmt(float(r["rps"])) for r in reps if "rps" in r)
        out.append(f"| {name} | {fmt(m['rps'])} | {each} | {fmt(cpu, 2)} | "
                   f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['errors']} | {note} |")
    out.append("")
    if paired:
        out.append(f"Paired ratios (on / off, each repetition): "
                   f"{', '.join(f'{x:.3f}' for x in paired)}; median {statistics.median(paired):.3f}.\n")
    if cpu_on and cpu_off:
        line = (f"CPU per request, metrics and log on against off: {cpu_on / cpu_off:.3f}x "
                f"({cpu_on - cpu_off:+.2f} µs)")
        if cpu_only:
            line += (f"; metrics alone {cpu_only / cpu_off:.3f}x ({cpu_only - cpu_off:+.2f} µs), "
                     f"so the log {cpu_on - cpu_only:+.2f} µs")
        out.append(line + " (the server's utime+stime over the run divided by the requests "
                   "answered).\n")
    extra = f"; paired median {statistics.median(paired):.3f}x" if paired else ""
    if cpu_on and cpu_off:
        extra += f"; CPU per request {cpu_on / cpu_off:.3f}x"
    targets13.append(("/metrics and logging cost ≤ 5% of seat-listing throughput",
                      f"{ratio:.3f}x ({fmt(m_on['rps'])} vs {fmt(m_off['rps'])} req/s){extra}",
                      ratio >= 0.95))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", metavar="FILE",
                    help="a previous run's http.tsv: its rows beside this run's")
    ap.add_argument("dir", help="the results directory of scripts/bench.sh")
    args = ap.parse_args()
    d = args.dir
    env = load_env(os.path.join(d, "machine.env"))
    # Sections of parts that did not run this time are left out: their
    # files, if any, are an earlier run's.
    parts = env["parts"].split(",") if "parts" in env else None
    lib = load_json(os.path.join(d, "lib.json")) if parts is None or "lib" in parts else None
    out, targets = [], []
    out.append("# libconcert benchmark results\n")
    out.append(f"- machine: {env.get('nproc', '?')} x {env.get('cpu', '?')}, "
               f"{env.get('memory_mib', '?')} MiB, Linux {env.get('kernel', '?')}")
    dirty = env.get("dirty", "0")
    out.append(f"- date: {env.get('date', '?')}, commit {env.get('commit', '?')}"
               f"{f' (+{dirty} uncommitted files)' if dirty not in ('', '0') else ''}, "
               f"{env.get('postgresql', 'no PostgreSQL')}, {env.get('wrk', '')}"
               + (f"; binaries not rebuilt (--no-build), built {env['prebuilt']}"
                  if "prebuilt" in env else ""))
    out.append(f"- load average at start {env.get('load_start', '?')}, after the HTTP part "
               f"{env.get('load_end_http', '?')}")
    out.append(f"- command: `{env.get('command', 'scripts/bench.sh')}`\n")
    if lib:
        lib_section(lib, out)
        lib_targets(lib, targets)
    if parts is None or "pg" in parts:
        pg_section(os.path.join(d, "pg_holds.tsv"), out, targets)
    runs = http_load(os.path.join(d, "http.tsv"))
    http_section(runs, env, out, targets)
    multi_section(runs, env, out, targets)
    if parts is None or "http:flow-pg" in parts:
        profile_section(d, out)
    if args.compare:
        prev_env_path = os.path.join(os.path.dirname(args.compare), "http.prev.env")
        if not (os.path.basename(args.compare) == "http.prev.tsv" and os.path.exists(prev_env_path)):
            prev_env_path = os.path.join(os.path.dirname(args.compare), "machine.env")
        compare_section(runs, (args.compare, http_load(args.compare)), load_env(prev_env_path), out)
    targets13 = []
    if parts is None or "http:sse" in parts:
        sse_section(d, out, targets13)
    if parts is None or "http:metrics" in parts:
        metrics_section(d, env, out, targets13)
    if targets:
        out.append("## Targets (issues 6 and 12)\n")
        out.append("| target | measured | verdict |")
        out.append("|---|---|---|")
        for name, measured, ok in targets:
            out.append(f"| {name} | {measured} | {verdict(ok)} |")
        out.append("")
    if targets13:
        out.append("## Targets (issue 13)\n")
        out.append("| target | measured | verdict |")
        out.append("|---|---|---|")
        for name, measured, ok in targets13:
            out.append(f"| {name} | {measured} | {verdict(ok)} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
