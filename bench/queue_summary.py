#!/usr/bin/env python3
"""Render the results of scripts/bench-queue.sh as Markdown, with each
target of issue 10 it measures marked met or missed.
Usage: queue_summary.py RESULTS_DIR"""

import json
import os
import statistics
import sys

ERROR_KEYS = ("err_connect", "err_read", "err_write", "err_timeout", "err_status")
STATUS_BARS = {"memory": 0.7, "sqlite": 0.7, "postgresql": 0.5}


def load_env(path):
    env = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    env[k] = v
    return env


def kv(text):
    return dict(x.split("=", 1) for x in text.split() if "=" in x)


def load_tsv(path, key_fields):
    """Lines of KEY_FIELDS tab-separated fields then the key=value pairs."""
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) > key_fields:
                    rows.append((parts[:key_fields], kv(parts[key_fields])))
    return rows


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def errors_of(d):
    return sum(int(d.get(k, 0)) for k in ERROR_KEYS)


def http_section(rows, env, out, targets):
    by_server = {}
    for (server, _rep), d in rows:
        by_server.setdefault(server, []).append(d)
    if not by_server:
        return
    med = {}
    for server, reps in by_server.items():
        ok = [d for d in reps if "rps" in d]
        if not ok:
            continue
        med[server] = {
            "rps": statistics.median(float(d["rps"]) for d in ok),
            "p50": statistics.median(int(d["p50_us"]) for d in ok) / 1000,
            "p99": statistics.median(int(d["p99_us"]) for d in ok) / 1000,
            "errors": sum(errors_of(d) for d in ok),
            "requests": sum(int(d["requests"]) for d in ok),
            "runs": ", ".join(fmt(float(d["rps"])) for d in ok),
            # server CPU per request, median over the runs
            "cpu_us": statistics.median(int(d["server_cpu_ms"]) * 1000 / max(1, int(d["requests"]))
                                        for d in ok) if all("server_cpu_ms" in d for d in ok) else None,
        }
    out.append(f"## a. HTTP status poll of a waiting token (64 connections, wrk -t2, "
               f"{env.get('http_duration_s', '?')} s runs, median of {env.get('http_reps', '?')}, "
               f"servers interleaved)\n")
    out.append("Server CPU µs/req: user + system CPU of the server's processes over the run "
               "(concertd; for PostgreSQL also the database server's) per request. Unlike req/s "
               "it is not lowered by other processes taking the 2 cores, so its ratio "
               "(bare's over concertd's) is the share of bare's rate concertd would reach if "
               "both were bound by their own CPU.\n")
    out.append("| server | req/s | ratio to bare | server CPU µs/req | CPU ratio | p50 ms | p99 ms | "
               "errors | each run, req/s |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    bare = med.get("bare")
    for server in ("bare", "memory", "sqlite", "postgresql"):
        m = med.get(server)
        if not m:
            continue
        ratio = m["rps"] / bare["rps"] if bare and server != "bare" and bare["rps"] else None
        name = server if server == "bare" else f"concertd-{server}"
        cpu_ratio = (bare["cpu_us"] / m["cpu_us"] if bare and server != "bare" and bare.get("cpu_us")
                     and m.get("cpu_us") else None)
        out.append(f"| {name} | {fmt(m['rps'])} | {fmt(ratio, 2) if ratio else '-'} | "
                   f"{fmt(m.get('cpu_us'), 1)} | {fmt(cpu_ratio, 2) if cpu_ratio else '-'} | "
                   f"{m['p50']:.2f} | {m['p99']:.2f} | {m['errors']} | {m['runs']} |")
        if ratio is not None:
            bar = STATUS_BARS[server]
            cpu_note = f"; CPU ratio {cpu_ratio:.2f}" if cpu_ratio else ""
            targets.append((f"HTTP status poll, concertd-{server}: ≥ {bar}x bare (64 conns)",
                            f"{ratio:.2f}x ({fmt(m['rps'])} vs {fmt(bare['rps'])} req/s, "
                            f"{m['errors']} errors{cpu_note})",
                            ratio >= bar and m["errors"] == 0))
    out.append("")


def lib_section(lib, out, targets):
    rows = {(r["scenario"], r["store"], r["size"]): r for r in lib.get("rows", [])}
    out.append(f"## b. In process: status poll at the big queue against 1,000 waiting "
               f"(concert-bench --only queue, median of {lib.get('repetitions', '?')})\n")
    out.append("Cost of one `concert_queue_status_get` of a random waiting token: through the "
               "public API on the db that issued the tokens (its cache, queue_refresh_ms 250) "
               "and on a db opened with queue_refresh_ms 0 (the store's own poll, every call "
               "a store read). The ratio is of CPU µs per poll (not charged for the time other "
               "processes held the CPU), except for the store's poll on PostgreSQL, which is "
               "mostly the server's work: wall µs there.\n")
    out.append("| store | poll | size | CPU µs | wall µs | p50 µs | p99 µs | ratio to 1,000 |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|")
    for store in ("memory", "sqlite", "postgresql"):
        for scen, label in (("queue.status", "public API (cached)"),
                            ("queue.status.store", "store (refresh 0)")):
            sized = [r for (s, st, _), r in rows.items() if s == scen and st == store]
            ratio = [r for (s, st, _), r in rows.items() if s == scen + ".ratio" and st == store]
            if len(sized) < 2:
                continue
            value = ratio[0]["value"] if ratio else None
            kind = ratio[0]["value_name"].replace("_ratio", "") if ratio else ""
            for r in sized:
                is_big = r["size"] != "1,000 waiting"
                shown = f"{value:.2f}x ({kind})" if is_big and value is not None else ""
                out.append(f"| {store} | {label} | {r['size']} | {fmt(r.get('cpu_us_per_op'), 2)} | "
                           f"{fmt(r['mean_us'], 2)} | {fmt(r['p50_us'], 2)} | "
                           f"{fmt(r['p99_us'], 2)} | {shown} |")
            small = [r for r in sized if r["size"] == "1,000 waiting"]
            big = [r for r in sized if r["size"] != "1,000 waiting"]
            if value is not None and small and big:
                targets.append((f"Status poll at {big[0]['size'].replace(' waiting', '')} vs 1,000 "
                                f"waiting, {store}, {label}: ≤ 2x",
                                f"{value:.2f}x by {kind} ({ratio[0]['note']})", value <= 2.0))
    issue = [r for r in lib.get("rows", []) if r["scenario"] == "queue.issue"]
    if issue:
        out.append("")
        out.append("Joins in the same runs (one thread; the fill rate is with the threads noted):\n")
        out.append("| store | size | joins/s | p50 µs | p99 µs | note |")
        out.append("|---|---|---:|---:|---:|---|")
        for r in issue:
            out.append(f"| {r['store']} | {r['size']} | {fmt(r['ops_per_s'])} | "
                       f"{r['p50_us']:.2f} | {r['p99_us']:.2f} | {r['note']} |")
    out.append("")


def stampede_section(rows, env, out, targets):
    if not rows:
        return
    runs = {}
    for (store, servers, phase, _i), d in rows:
        runs.setdefault((store, int(servers)), {}).setdefault(phase, []).append(d)
    out.append(f"## c. The stampede: {int(env.get('buyers', 0)):,} distinct buyers join, then "
               f"every buyer polls for {env.get('poll_duration_s', '?')} s "
               f"({env.get('stampede_conns', '?')} connections in all, max_active 1,000)\n")
    out.append("Joins: wrk with `bench/http/stampede_join.lua`, each user once, stopped when "
               "every user is answered; joins/s = joins / (last join answered − first request). "
               "Polls: `bench/http/status.lua` over every issued token, each through the server "
               "that issued it. With two servers, one wrk per server (half the users and "
               "connections each) run at the same time; rates are summed and latencies are the "
               "worse of the two.\n")
    out.append("Server CPU: user + system CPU of the concertd processes (and, on PostgreSQL, of "
               "the database server) during the phase, per join or per poll.\n")
    out.append("| store | concertd | joins | joins/s | join p50 / p99 ms | CPU µs/join | polls/s | "
               "poll p50 / p99 ms | CPU µs/poll | errors (join + poll) |")
    out.append("|---|---:|---:|---:|---|---:|---:|---|---:|---|")
    for (store, servers), phases in runs.items():
        joins = phases.get("join", [])
        polls = phases.get("poll", [])
        ok = all("rps" in d for d in joins + polls) and joins and polls
        if not ok:
            out.append(f"| {store} | {servers} | failed: see wrk.stampede.{store}.*.log |||||||||")
            targets.append((f"Stampede, {store}, {servers} concertd: completes with 0 errors",
                            "a wrk run gave no result", False))
            continue
        n_joins = sum(int(d.get("joins", 0)) for d in joins)
        start = min(float(d["start_s"]) for d in joins)
        end = max(float(d["end_s"]) for d in joins)
        complete = all(d.get("complete") == "1" for d in joins)
        join_rate = n_joins / (end - start) if complete and end > start else None
        poll_rate = sum(float(d["rps"]) for d in polls)
        jp50 = max(int(d["p50_us"]) for d in joins) / 1000
        jp99 = max(int(d["p99_us"]) for d in joins) / 1000
        pp50 = max(int(d["p50_us"]) for d in polls) / 1000
        pp99 = max(int(d["p99_us"]) for d in polls) / 1000
        # refused: answers other than 201 or 200 (error statuses are in
        # err_status as well) and 201s without a token.
        jerr = sum(errors_of(d) + max(0, int(d.get("refused", 0)) - int(d.get("err_status", 0)))
                   for d in joins)
        perr = sum(errors_of(d) for d in polls)
        missing = int(env.get("buyers", 0)) - n_joins
        n_polls = sum(int(d["requests"]) for d in polls)
        n_join_reqs = sum(int(d["requests"]) for d in joins)
        jcpu = (int(joins[0]["servers_cpu_ms"]) * 1000 / max(1, n_join_reqs)
                if "servers_cpu_ms" in joins[0] else None)
        pcpu = (int(polls[0]["servers_cpu_ms"]) * 1000 / max(1, n_polls)
                if "servers_cpu_ms" in polls[0] else None)
        note = "" if complete else " (joins did not finish within the bound)"
        out.append(f"| {store} | {servers} | {n_joins:,}{note} | {fmt(join_rate)} | "
                   f"{jp50:.2f} / {jp99:.2f} | {fmt(jcpu, 0)} | {fmt(poll_rate)} | "
                   f"{pp50:.2f} / {pp99:.2f} | {fmt(pcpu, 0)} | {jerr} + {perr} |")
        targets.append((f"Stampede, {store}, {servers} concertd: 0 errors, every buyer joined",
                        f"{jerr} join + {perr} poll errors; {n_joins:,} joins "
                        f"({missing:,} missing); {fmt(join_rate)} joins/s, "
                        f"{fmt(poll_rate)} polls/s",
                        jerr == 0 and perr == 0 and missing == 0 and complete))
    out.append("")


def main():
    d = sys.argv[1]
    env = load_env(os.path.join(d, "machine.env"))
    out, targets = [], []
    out.append("# libconcert waiting-room benchmark (issue 10)\n")
    out.append(f"- machine: {env.get('nproc', '?')} x {env.get('cpu', '?')}, "
               f"{env.get('memory_mib', '?')} MiB, Linux {env.get('kernel', '?')}")
    out.append(f"- date: {env.get('date', '?')}, commit {env.get('commit', '?')}, "
               f"{env.get('postgresql', 'no PostgreSQL')}, {env.get('wrk', '')}")
    out.append(f"- command: `{env.get('command', 'scripts/bench-queue.sh')}` "
               f"({env.get('elapsed_s', '?')} s); load average at start {env.get('load_start', '?')}, "
               f"at end {env.get('load_end', '?')}\n")
    http_section(load_tsv(os.path.join(d, "http_status.tsv"), 2), env, out, targets)
    lib_path = os.path.join(d, "lib.json")
    if os.path.exists(lib_path):
        with open(lib_path) as f:
            lib_section(json.load(f), out, targets)
    stampede_section(load_tsv(os.path.join(d, "stampede.tsv"), 4), env, out, targets)
    if targets:
        out.append("## Targets of issue 10 measured here\n")
        out.append("| target | measured | verdict |")
        out.append("|---|---|---|")
        for name, measured, ok in targets:
            out.append(f"| {name} | {measured} | {verdict(ok)} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
