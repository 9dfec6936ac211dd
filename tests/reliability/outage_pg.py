#!/usr/bin/python3
"""Fault test 3a, database outage: PostgreSQL is stopped under load, twice
(pg_ctl stop -m fast, then -m immediate), and started again on the same port
and data directory.

While the database is down every request must be answered within 5 s, with
2xx (it raced the stop) or 503 STORAGE_UNAVAILABLE and nothing else; the
concertd process stays up and is never restarted. Once the database is back
the server must recover by itself (/healthz 200 and writes succeeding within
30 s) and the load goes on with 2xx only. Afterwards every acknowledged
charge is in its user's ledger exactly once; charges answered 503 (a commit
cut by the stop may or may not have landed) are replayed with their
Idempotency-Key and must then be applied exactly once; balances are exact and
`concert verify` is clean.

  outage_pg.py --concertd build/bin/concertd --concert build/bin/concert
"""
import random
import threading
import time

from relib import (Client, Concertd, PgServer, Refused, Unknown, base_args, check, fmt, log,
                   make_catalog, pg_skipped, run_main, temp_workdir, verify, write_catalog)
from relib import audit_charges

SCHEDULE = 10
MAX_ACTIVE = 100000
OPENING = 1000
HANG_LIMIT_S = 5.0


class Load(threading.Thread):
    """Charges (unique amounts, keys), token issues and reads, each timed
    and filed under the phase it started in."""

    def __init__(self, server, users, shared, seed):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.client = Client(lambda: (server.host, server.port, 0), timeout=30)
        self.users = users
        self.shared = shared
        self.records = []          # (phase, route, status, code, seconds)
        self.charges = []          # (uid, amount, key, status)
        self.failures = []         # transport errors: the server must stay up

    def run(self):
        while not self.shared["stop"]:
            phase, epoch = self.shared["phase"], self.shared["epoch"]
            uid = self.rng.choice(self.users)
            op = self.rng.random()
            started = time.monotonic()
            try:
                if op < 0.5:
                    with self.shared["lock"]:
                        self.shared["amount"] += 1
                        amount = self.shared["amount"]
                    key = f"charge-{amount}"
                    r = self.client.call("POST", f"/api/v1/users/{uid}/points/charge",
                                         {"amount": amount}, key=key)
                    self.charges.append((uid, amount, key, r.status))
                    route = "charge"
                elif op < 0.7:
                    r = self.client.call("POST", "/api/v1/queue/tokens", {"user_id": uid})
                    route = "issue"
                elif op < 0.9:
                    r = self.client.call("GET", f"/api/v1/users/{uid}/points")
                    route = "balance"
                else:
                    r = self.client.call("GET", "/healthz")
                    route = "healthz"
            except (Refused, Unknown) as e:
                self.failures.append((phase, f"{type(e).__name__}: {e}",
                                      time.monotonic() - started))
                time.sleep(0.05)
                continue
            if self.shared["epoch"] != epoch:
                phase = "changing"  # overlapped a stop or a start: either answer is right
            self.records.append((phase, route, r.status, r.code, time.monotonic() - started))
            if phase == "down":
                time.sleep(0.02)  # answers come fast: do not spin
        self.client.close()


def wait_recovered(server, uid, timeout_s):
    """Seconds until /healthz is 200 and a write succeeds again."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        h = server.call("GET", "/healthz")
        if h.status == 200:
            r = server.call("POST", "/api/v1/queue/tokens", {"user_id": uid})
            if r.status in (200, 201):
                return time.monotonic() - started
        time.sleep(0.1)
    return None


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--users", type=int, default=100)
    args = p.parse_args()
    if pg_skipped():
        return 77
    seed = args.seed if args.seed is not None else int(time.time())
    log(f"database outage: PostgreSQL stopped twice under the load of {args.threads} "
        f"client threads, seed {seed}")
    rng = random.Random(seed)
    with temp_workdir("concert-outage-") as workdir:
        pg = PgServer(workdir)
        server = None
        try:
            store = pg.database()
            users = list(range(1, args.users + 1))
            catalog = write_catalog(workdir, make_catalog(users, lambda u: OPENING, 10))
            server = Concertd(args.concertd, store, workdir,
                              ["--max-active", str(MAX_ACTIVE), "--threads", "4",
                               "--import", catalog])
            pid = server.proc.pid
            shared = {"stop": False, "phase": "up", "epoch": 0, "lock": threading.Lock(),
                      "amount": 0}

            def set_phase(name):
                shared["phase"] = name
                shared["epoch"] += 1

            loads = [Load(server, users, shared, rng.random()) for _ in range(args.threads)]
            for t in loads:
                t.start()
            recovery = []
            try:
                for mode in ("stop", "stop-immediate"):
                    time.sleep(1.5)
                    set_phase("stopping")
                    pg.ctl(mode)
                    set_phase("down")
                    time.sleep(3.0)
                    check(server.alive(), f"concertd died while the database was down: "
                                          f"{server.log()[-2000:]}")
                    set_phase("starting")
                    pg.ctl("start")
                    set_phase("recovering")
                    took = wait_recovered(server, users[0], 30)
                    check(took is not None, f"no recovery within 30 s after {mode}")
                    recovery.append(took)
                    set_phase("up")
                time.sleep(1.5)
            finally:
                shared["stop"] = True
                for t in loads:
                    t.join(60)
            check(all(not t.is_alive() for t in loads), "a client thread hung")
            check(server.alive() and server.proc.pid == pid, "concertd did not stay up")

            records = [r for t in loads for r in t.records]
            failures = [f for t in loads for f in t.failures]
            by_phase = {}
            for phase, route, status, code, secs in records:
                by_phase.setdefault(phase, []).append((route, status, code, secs))
            down = by_phase.get("down", [])
            check(len(down) > 0, "no request was made while the database was down")
            slowest = max(s for _, _, _, s in down)
            # Requests that overlapped a stop or a start: 2xx or 503 only.
            edge = by_phase.get("changing", []) + by_phase.get("stopping", [])
            bad_down = [(r, s, c) for r, s, c, _ in down + edge
                        if not (200 <= s < 300 or (s == 503 and c == "STORAGE_UNAVAILABLE"))]
            n503 = sum(1 for _, s, _, _ in down if s == 503)
            up = by_phase.get("up", [])
            bad_up = [(r, s, c) for r, s, c, _ in up if not 200 <= s < 300]
            slow_any = [(ph, r, s, round(secs, 2)) for ph, r, s, c, secs in records
                        if secs > HANG_LIMIT_S]
            log(f"while down: {fmt(len(down))} requests, {fmt(n503)} answered 503 "
                f"STORAGE_UNAVAILABLE, slowest {slowest * 1000:.0f} ms; other answers: "
                f"{bad_down[:5] or 'none'}")
            log(f"before and after: {fmt(len(up))} requests, non-2xx: {bad_up[:5] or 'none'}")
            log(f"recovered by itself {', '.join(f'{t:.1f} s' for t in recovery)} after "
                f"PostgreSQL was back (fast, immediate stop)")
            log(f"transport errors: {failures[:5] or 'none'}")
            check(not failures, f"{len(failures)} requests got no answer (server down?)")
            check(not bad_down, f"answers other than 503 STORAGE_UNAVAILABLE while down: "
                                f"{bad_down[:10]}")
            check(not slow_any, f"requests slower than {HANG_LIMIT_S} s: {slow_any[:10]}")
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
            log(f"RESULT: 2 outages, {fmt(n503)} fast 503s (slowest "
                f"{slowest * 1000:.0f} ms), recovery {max(recovery):.1f} s, "
                f"{fmt(n_acked)} acknowledged charges, {lost} lost")
            check(lost == 0, f"{lost} acknowledged charges lost")
            return 0
        finally:
            if server is not None:
                server.kill()
            pg.close()


if __name__ == "__main__":
    run_main(main)
