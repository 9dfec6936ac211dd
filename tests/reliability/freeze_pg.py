#!/usr/bin/python3
"""Fault test 3c (not registered in ctest: it fails today, see
docs/reliability.md): a PostgreSQL server that hangs instead of going away
(SIGSTOP on the postmaster and its children: what a frozen host or a network
partition looks like to the client). Requests must still be answered within
5 s with 503 STORAGE_UNAVAILABLE, and the server must recover by itself
after SIGCONT.

Only this test's own private server is stopped (the postmaster's pid from its
postmaster.pid and that process's children), never another PostgreSQL.

  freeze_pg.py --concertd build/bin/concertd --concert build/bin/concert
"""
import os
import signal
import subprocess
import threading
import time

from relib import (Concertd, PgServer, base_args, check, log, make_catalog, pg_skipped,
                   run_main, temp_workdir, verify, write_catalog)

LIMIT_S = 5.0


def server_pids(pg):
    with open(os.path.join(pg.state["dir"], "data", "postmaster.pid"), encoding="utf-8") as f:
        postmaster = int(f.readline())
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                              text=True).stdout.split()
    return [postmaster] + [int(c) for c in children]


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--freeze-s", type=float, default=10.0)
    args = p.parse_args()
    if pg_skipped():
        return 77
    with temp_workdir("concert-freeze-") as workdir:
        pg = PgServer(workdir)
        server = None
        try:
            store = pg.database()
            users = list(range(1, args.requests + 1))
            catalog = write_catalog(workdir, make_catalog(users, lambda u: 1000, 10))
            server = Concertd(args.concertd, store, workdir, ["--import", catalog])
            for u in users:  # warm the connection pool
                check(server.call("GET", f"/api/v1/users/{u}/points").status == 200, "warm-up")
            pids = server_pids(pg)
            results = []

            def one(uid):
                started = time.monotonic()
                try:
                    r = server.call("POST", f"/api/v1/users/{uid}/points/charge",
                                    {"amount": 5}, key=f"freeze-{uid}", timeout=60)
                    results.append((uid, r.status, r.code, time.monotonic() - started))
                except Exception as e:  # a timeout: recorded as a hang
                    results.append((uid, "no answer", type(e).__name__,
                                    time.monotonic() - started))

            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                threads = [threading.Thread(target=one, args=(u,)) for u in users]
                for t in threads:
                    t.start()
                time.sleep(args.freeze_s)
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            for t in threads:
                t.join(90)
            results.sort(key=lambda r: r[3])
            for uid, status, code, secs in results:
                log(f"  user {uid}: {status} {code or ''} after {secs:.1f} s")
            slow = [r for r in results if r[3] > LIMIT_S]
            bad = [r for r in results if r[1] not in (200, 503)]
            started = time.monotonic()
            while time.monotonic() - started < 30:
                if server.call("GET", "/healthz").status == 200:
                    break
                time.sleep(0.2)
            recovered = server.call("GET", "/healthz").status == 200
            log(f"RESULT: database frozen {args.freeze_s:.0f} s: {len(results)} requests, "
                f"{len(slow)} answered after more than {LIMIT_S:.0f} s (slowest "
                f"{max(r[3] for r in results):.1f} s), recovered: {recovered}")
            check(not slow, f"{len(slow)} requests hung more than {LIMIT_S} s")
            check(not bad, f"unexpected answers: {bad}")
            check(recovered, "no recovery after SIGCONT")
            verify(args.concert, store)
            check(server.stop() == 0, "concertd did not stop cleanly")
            server = None
            return 0
        finally:
            if server is not None:
                server.kill()
            pg.close()


if __name__ == "__main__":
    run_main(main)
