#!/usr/bin/python3
"""Fault test 3c, a PostgreSQL server that hangs instead of going away:
SIGSTOP on the postmaster and its children (what a frozen host or a network
partition looks like to the client), 8 times, under the load of several
client threads, each time for longer than busy_timeout_ms, then SIGCONT.

Issue 14's bound: after each freeze the first 503 STORAGE_UNAVAILABLE
arrives within busy_timeout_ms + 100 ms (--margin-ms) of the SIGSTOP. While
frozen every request is answered (2xx that raced the freeze, or 503
STORAGE_UNAVAILABLE), none hangs. After SIGCONT concertd recovers by itself
and the load goes on with 2xx only. Afterwards every acknowledged charge is
in its user's ledger exactly once; charges answered 503 (a commit cut off by
the deadline may or may not have landed) are replayed with their
Idempotency-Key and must then be applied exactly once; balances are exact and
`concert verify` is clean. Figures (time to the first 503 per cycle, median
and max; requests answered and failed) are printed; the only timing checked
is the bound above.

Only this test's own private server is stopped (the postmaster's pid from its
postmaster.pid and that process's children), never another PostgreSQL.

  freeze_pg.py --concertd build/bin/concertd --concert build/bin/concert
"""
import os
import random
import signal
import statistics
import subprocess
import threading
import time

from relib import (Client, Concertd, PgServer, Refused, Unknown, base_args, check, fmt, log,
                   make_catalog, pg_skipped, run_main, temp_workdir, verify, write_catalog)
from relib import audit_charges

# concertd leaves busy_timeout_ms and connect_timeout_ms at the library's
# defaults (include/concert/options.h).
BUSY_MS = 5000
CONNECT_MS = 3000
OPENING = 1000
MAX_ACTIVE = 100000


def postmaster_pid(pg):
    with open(os.path.join(pg.state["dir"], "data", "postmaster.pid"), encoding="utf-8") as f:
        return int(f.readline())


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(c) for c in out.split()]


def freeze(postmaster):
    """SIGSTOP the postmaster and every child it has. The children are listed
    first so that they stop right after the postmaster (pgrep takes tens of
    ms on a loaded machine, and a running backend still answers); any child
    forked in that window is stopped after. Returns the stopped pids,
    postmaster first, and the moment the known ones were all stopped."""
    known = children(postmaster)
    os.kill(postmaster, signal.SIGSTOP)
    pids = [postmaster]
    for pid in known:
        try:
            os.kill(pid, signal.SIGSTOP)
            pids.append(pid)
        except ProcessLookupError:
            pass
    frozen_at = time.monotonic()
    for pid in children(postmaster):
        if pid not in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                pids.append(pid)
            except ProcessLookupError:
                pass
    return pids, frozen_at


def thaw(pids):
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


class Load(threading.Thread):
    """Charges (unique amounts, keys) and balance reads, each with its start
    and end on the monotonic clock."""

    def __init__(self, server, users, shared, seed):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.client = Client(lambda: (server.host, server.port, 0), timeout=60)
        self.users = users
        self.shared = shared
        self.records = []    # (started, ended, route, status, code)
        self.charges = []    # (uid, amount, key, status)
        self.failures = []   # transport errors: concertd must stay up and answer

    def run(self):
        while not self.shared["stop"]:
            uid = self.rng.choice(self.users)
            started = time.monotonic()
            try:
                if self.rng.random() < 0.6:
                    with self.shared["lock"]:
                        self.shared["amount"] += 1
                        amount = self.shared["amount"]
                    key = f"freeze-{amount}"
                    r = self.client.call("POST", f"/api/v1/users/{uid}/points/charge",
                                         {"amount": amount}, key=key)
                    self.charges.append((uid, amount, key, r.status))
                    route = "charge"
                else:
                    r = self.client.call("GET", f"/api/v1/users/{uid}/points")
                    route = "balance"
            except (Refused, Unknown) as e:
                self.failures.append((started, f"{type(e).__name__}: {e}"))
                time.sleep(0.05)
                continue
            self.records.append((started, time.monotonic(), route, r.status, r.code))
            if r.status == 503:
                time.sleep(0.02)  # answers come fast while frozen: do not spin
        self.client.close()


def wait_recovered(server, uid, timeout_s):
    """Seconds until /healthz is 200 and a write succeeds again."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if server.call("GET", "/healthz", timeout=30).status == 200:
            r = server.call("POST", "/api/v1/queue/tokens", {"user_id": uid}, timeout=30)
            if r.status in (200, 201):
                return time.monotonic() - started
        time.sleep(0.1)
    return None


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=8)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--freeze-s", type=float, default=BUSY_MS / 1000 + 1.5,
                   help="how long each freeze lasts (longer than busy_timeout_ms)")
    p.add_argument("--margin-ms", type=float, default=100.0,
                   help="the first 503 must come within busy_timeout_ms plus this")
    args = p.parse_args()
    if pg_skipped():
        return 77
    seed = args.seed if args.seed is not None else int(time.time())
    bound_s = (BUSY_MS + args.margin_ms) / 1000
    # The longest a request may take while frozen: a free pooled connection
    # (busy), a new connection (connect), then the statements (busy); beyond
    # that it hangs.
    hang_s = (2 * BUSY_MS + CONNECT_MS) / 1000 + 2.0
    log(f"frozen database: PostgreSQL SIGSTOPped {args.cycles} times for {args.freeze_s:.1f} s "
        f"under the load of {args.threads} client threads, seed {seed}; first 503 due within "
        f"{bound_s * 1000:.0f} ms")
    rng = random.Random(seed)
    with temp_workdir("concert-freeze-") as workdir:
        pg = PgServer(workdir)
        server = None
        frozen = []
        try:
            store = pg.database()
            users = list(range(1, args.users + 1))
            catalog = write_catalog(workdir, make_catalog(users, lambda u: OPENING, 10))
            server = Concertd(args.concertd, store, workdir,
                              ["--max-active", str(MAX_ACTIVE), "--threads", "4",
                               # No metrics: a keyed charge then makes no
                               # second call (the metrics' "was it new" read,
                               # whose failure is ignored), so every request
                               # that meets the frozen server fails with 503
                               # rather than answer 200 after the deadline.
                               "--no-metrics", "--import", catalog])
            pid = server.proc.pid
            postmaster = postmaster_pid(pg)
            shared = {"stop": False, "lock": threading.Lock(), "amount": 0}
            loads = [Load(server, users, shared, rng.random()) for _ in range(args.threads)]
            for t in loads:
                t.start()
            cycles = []   # (stopped at, thawed at, recovery seconds)
            try:
                for _ in range(args.cycles):
                    time.sleep(1.5)
                    frozen, stopped_at = freeze(postmaster)
                    time.sleep(args.freeze_s)
                    check(server.alive(), f"concertd died while the database was frozen: "
                                          f"{server.log()[-2000:]}")
                    thawed_at = time.monotonic()
                    thaw(frozen)
                    frozen = []
                    took = wait_recovered(server, users[0], 30)
                    check(took is not None, "no recovery within 30 s after SIGCONT")
                    cycles.append((stopped_at, thawed_at, took))
                time.sleep(1.5)
            finally:
                shared["stop"] = True
                thaw(frozen)
                for t in loads:
                    t.join(90)
            check(all(not t.is_alive() for t in loads), "a client thread hung")
            check(server.alive() and server.proc.pid == pid, "concertd did not stay up")

            records = [r for t in loads for r in t.records]
            failures = [f for t in loads for f in t.failures]
            firsts, bad_frozen, bad_up, slow, late_answers = [], [], [], [], []
            n_frozen = n_503 = 0
            for n, (stopped_at, thawed_at, _) in enumerate(cycles, 1):
                ends = [e for s, e, _, st, c in records
                        if st == 503 and c == "STORAGE_UNAVAILABLE" and stopped_at <= e]
                check(ends, "no 503 after a freeze")
                firsts.append(min(ends) - stopped_at)
                if firsts[-1] > bound_s:
                    # What the requests around a late freeze did (offsets from the SIGSTOP).
                    around = sorted((round(s - stopped_at, 3), round(e - stopped_at, 3), r, st)
                                    for s, e, r, st, _ in records
                                    if s <= thawed_at and e >= stopped_at)
                    log(f"cycle {n}: first 503 after {firsts[-1] * 1000:.0f} ms; requests "
                        f"overlapping the freeze (start s, end s, route, status): {around[:20]}")
            for s, e, route, st, c in records:
                during = any(a <= e and s <= b + 0.2 for a, b, _ in cycles)
                if during:
                    n_frozen += 1
                    n_503 += st == 503
                    if not (200 <= st < 300 or (st == 503 and c == "STORAGE_UNAVAILABLE")):
                        bad_frozen.append((route, st, c))
                elif not 200 <= st < 300:
                    # Requests that began within the recovery window may still
                    # find a connection the server has not yet taken back.
                    if not any(b <= s <= b + took + 0.5 for _, b, took in cycles):
                        bad_up.append((route, st, c))
                if e - s > hang_s:
                    slow.append((route, st, round(e - s, 2)))
                # Time spent waiting on the frozen server: no request may wait
                # longer than the bound, whatever it was answered.
                for a, b, _ in cycles:
                    waited = min(e, b) - max(s, a)
                    if e > a and s < b and e < b and waited > bound_s:
                        late_answers.append((route, st, round(waited * 1000)))
            ok = sum(1 for r in records if 200 <= r[3] < 300)
            log(f"first 503 after each SIGSTOP (ms): "
                f"{', '.join(f'{x * 1000:.0f}' for x in firsts)}; median "
                f"{statistics.median(firsts) * 1000:.0f}, max {max(firsts) * 1000:.0f} "
                f"(bound {bound_s * 1000:.0f})")
            log(f"requests: {fmt(len(records))} answered, {fmt(ok)} ok, "
                f"{fmt(len(records) - ok)} failed; overlapping a freeze {fmt(n_frozen)} "
                f"({fmt(n_503)} 503); slowest {max(e - s for s, e, *_ in records) * 1000:.0f} ms")
            log(f"recovered after SIGCONT (s): {', '.join(f'{c[2]:.1f}' for c in cycles)}")
            log(f"transport errors: {failures[:5] or 'none'}")
            check(not failures, f"{len(failures)} requests got no answer")
            check(not bad_frozen, f"answers other than 2xx or 503 STORAGE_UNAVAILABLE while "
                                  f"frozen: {bad_frozen[:10]}")
            check(not slow, f"requests slower than {hang_s:.0f} s (hung): {slow[:10]}")
            check(not late_answers, f"requests answered more than {bound_s * 1000:.0f} ms after "
                                    f"they began waiting on the frozen server: "
                                    f"{late_answers[:10]}")
            check(not bad_up, f"errors while the database was up: {bad_up[:10]}")

            # Every acknowledged charge landed once; a 503 one may have, and
            # its replay makes it land exactly once.
            charges = [c for t in loads for c in t.charges]
            lost, landed_503 = audit_charges(server, charges, OPENING)
            n_acked = sum(1 for c in charges if c[3] == 200)
            log(f"charges: {fmt(n_acked)} acknowledged, {lost} lost; "
                f"{fmt(len(charges) - n_acked)} answered 503 of which {landed_503} had landed "
                f"(replayed by key: each now applied exactly once)")
            verify(args.concert, store, MAX_ACTIVE)
            code = server.stop()
            server = None
            check(code == 0, f"concertd exited {code} on SIGTERM")
            log(f"RESULT: {len(cycles)} freezes, first 503 median "
                f"{statistics.median(firsts) * 1000:.0f} ms max {max(firsts) * 1000:.0f} ms "
                f"(bound {bound_s * 1000:.0f}), {fmt(ok)} ok / {fmt(len(records) - ok)} failed, "
                f"{fmt(n_acked)} acknowledged charges, {lost} lost")
            check(lost == 0, f"{lost} acknowledged charges lost")
            late = [round(x * 1000) for x in firsts if x > bound_s]
            check(not late, f"first 503 later than {bound_s * 1000:.0f} ms after SIGSTOP: "
                            f"{late} ms")
            return 0
        finally:
            thaw(frozen)
            if server is not None:
                server.kill()
            pg.close()


if __name__ == "__main__":
    run_main(main)
