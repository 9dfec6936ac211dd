"""Shared helpers for the fault tests (issue 7): start and kill real concertd
processes on 127.0.0.1, talk HTTP to them with outcome classification, run
`concert verify`, and start a private throwaway PostgreSQL server with the
same scripts as the rest of the suite (tests/pg/start.sh, ctl.sh, stop.sh).

Each test is a plain script that prints its figures and exits 0 (pass),
1 (fail) or 77 (skipped: CONCERT_SKIP_POSTGRES=1), as ctest expects.
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from concertd_proc import ConcertdProcess, StartFailed  # noqa: E402  (one way to start concertd)
PG_SCRIPTS = os.path.join(HERE, "..", "pg")
SKIP = 77


class TestFailure(AssertionError):
    pass


def check(condition, message):
    """An assertion that survives python -O and names what went wrong."""
    if not condition:
        raise TestFailure(message)


def log(msg):
    print(msg, flush=True)


def fmt(n):
    return f"{n:,}"


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def future_time(days=30):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return rfc3339(now + datetime.timedelta(days=days))


def base_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--concertd", required=True, help="path of build/bin/concertd")
    p.add_argument("--concert", required=True, help="path of build/bin/concert (the CLI)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    return p


def run_main(body):
    """Run body() and turn its outcome into the process exit status."""
    started = time.monotonic()
    try:
        code = body()
    except TestFailure as e:
        log(f"FAIL: {e}")
        code = 1
    log(f"({time.monotonic() - started:.1f} s)")
    sys.exit(code if code is not None else 0)


# ---------------------------------------------------------------- HTTP

class Refused(Exception):
    """The request was never delivered (no server listening): no effect."""


class Unknown(Exception):
    """The connection died after the request may have been delivered: it may
    or may not have taken effect."""


class Reply:
    __slots__ = ("status", "json", "raw")

    def __init__(self, status, raw):
        self.status = status
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        return f"<{self.status} {self.raw[:200]!r}>"


class Client:
    """One keep-alive connection to whichever server `target()` names
    (host, port, generation). A new server generation means a new connection
    first, so a request is never written into a socket of a dead server."""

    def __init__(self, target, timeout=10.0):
        self.target = target
        self.timeout = timeout
        self.conn = None
        self.generation = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self):
        host, port, generation = self.target()
        if port is None:
            raise Refused("no server")
        self.close()
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.connect()
        except (ConnectionRefusedError, socket.timeout, OSError) as e:
            conn.close()
            raise Refused(str(e)) from None
        self.conn = conn
        self.generation = generation

    def call(self, method, path, body=None, token=None, key=None):
        host, port, generation = self.target()
        if self.conn is None or generation != self.generation:
            self._connect()
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
        except (http.client.HTTPException, OSError) as e:
            self.close()
            raise Unknown(f"{type(e).__name__}: {e}") from None
        if r.will_close:
            self.close()
        return Reply(r.status, raw)


def call_once(host, port, method, path, body=None, token=None, key=None, timeout=10.0):
    """One request on a fresh connection (for checks, not for load)."""
    c = Client(lambda: (host, port, 0), timeout)
    try:
        return c.call(method, path, body, token, key)
    finally:
        c.close()


# ---------------------------------------------------------------- concertd

class Concertd(ConcertdProcess):
    """One concertd process on a free loopback port (tests/support/
    concertd_proc.py starts and stops it)."""

    def __init__(self, binary, store, workdir, args=(), name="concertd", preexec=None,
                 user=None):
        try:
            super().__init__([binary, "--store", store] + list(args), workdir, name=name,
                             user=user, preexec=preexec, startup_timeout=30)
        except StartFailed as e:
            raise TestFailure(str(e)) from None

    def call(self, method, path, body=None, token=None, key=None, timeout=10.0):
        return call_once(self.host, self.port, method, path, body, token, key, timeout)

    def stop(self):
        """SIGTERM and wait; return the exit status ("hung on SIGTERM" if it
        had to be killed)."""
        try:
            return super().stop()
        except TimeoutError:
            return "hung on SIGTERM"


def history_entries(server, uid):
    """The user's whole ledger, newest first, read page by page (the route
    gives at most 500 entries per page)."""
    entries, cursor = [], None
    while True:
        path = f"/api/v1/users/{uid}/points/history?limit=500"
        if cursor:
            path += f"&cursor={cursor}"
        r = server.call("GET", path)
        check(r.status == 200, f"history of user {uid}: {r}")
        entries += r.json["entries"]
        cursor = r.json["next_cursor"]
        if cursor is None:
            return entries


def audit_charges(server, charges, opening):
    """After an outage: every acknowledged charge (status 200) is in its
    user's ledger exactly once; every other one (a 503: may or may not have
    landed) is replayed with its key, after which it must be there exactly
    once too; each balance is opening + what was charged. charges holds
    (uid, amount, key, status), amounts unique per user. Returns (lost,
    landed), landed counting the 503 charges that had applied anyway."""
    per_user = {}
    for uid, amount, key, status in charges:
        per_user.setdefault(uid, []).append((amount, key, status))
    lost = landed = 0
    for uid, items in per_user.items():
        in_ledger = [e["amount"] for e in history_entries(server, uid)[:-1]
                     if e["type"] == "CHARGE"]
        check(len(in_ledger) == len(set(in_ledger)), f"user {uid}: a charge twice")
        for amount, key, status in items:
            if status == 200 and amount not in in_ledger:
                lost += 1
                log(f"LOST: user {uid} charge {key}")
            if status != 200:
                landed += amount in in_ledger
                rr = server.call("POST", f"/api/v1/users/{uid}/points/charge",
                                 {"amount": amount}, key=key)
                check(rr.status == 200, f"replay of {key}: {rr}")
        applied = sorted(a for a, _, _ in items)
        in_ledger = sorted(e["amount"] for e in history_entries(server, uid)[:-1]
                           if e["type"] == "CHARGE")
        check(in_ledger == applied, f"user {uid}: after replays the ledger has "
                                    f"{len(in_ledger)} charges, {len(applied)} sent")
        b = server.call("GET", f"/api/v1/users/{uid}/points")
        check(b.json["balance"] == opening + sum(applied),
              f"user {uid}: balance {b.json['balance']}, expected {opening + sum(applied)}")
    return lost, landed


def verify(concert, uri, max_active=None):
    """`concert --store URI verify`: print its report; fail unless exit 0."""
    argv = [concert, "--store", uri]
    if max_active is not None:
        argv += ["--max-active", str(max_active)]
    r = subprocess.run(argv + ["verify"], capture_output=True, text=True, timeout=120)
    for line in (r.stdout + r.stderr).strip().splitlines():
        log("  verify: " + line)
    check(r.returncode == 0, f"concert verify exited {r.returncode}")


def write_catalog(workdir, catalog, name="catalog.json"):
    path = os.path.join(workdir, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(catalog, f)
    return path


def make_catalog(users, opening, seats, schedule_id=10, price=1000):
    """users: ids; opening(uid) -> points; one OPEN concert, one future
    schedule of `seats` seats at `price`."""
    return {
        "users": [{"id": u, "name": f"u{u}", "points": opening(u)} for u in users],
        "concerts": [{"id": 1, "title": "Reliability", "status": "OPEN",
                      "schedules": [{"id": schedule_id, "starts_at": future_time(),
                                     "seats": [{"from": 1, "to": seats, "grade": "R",
                                                "price": price}]}]}],
    }


def temp_workdir(prefix):
    return tempfile.TemporaryDirectory(prefix=prefix)


# ---------------------------------------------------------------- PostgreSQL

class PgServer:
    """A private throwaway PostgreSQL server (tests/pg/start.sh), with stop,
    start (same port and data) and a fresh database per call of database()."""

    def __init__(self, workdir):
        self.conninfo_file = os.path.join(workdir, "pg", "conninfo")
        r = subprocess.run([os.path.join(PG_SCRIPTS, "start.sh"), self.conninfo_file],
                           capture_output=True, text=True, timeout=120)
        if r.returncode == SKIP:
            raise SystemExit(self._skip(r.stdout))
        check(r.returncode == 0, f"PostgreSQL test server did not start: {r.stdout}{r.stderr}")
        with open(self.conninfo_file, encoding="utf-8") as f:
            self.conninfo = f.read().strip()
        with open(self.conninfo_file + ".server", encoding="utf-8") as f:
            self.state = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.bindir = self.state["bindir"]
        self.count = 0

    @staticmethod
    def _skip(text):
        log(text.strip())
        return SKIP

    def database(self):
        self.count += 1
        name = f"rel_{os.getpid()}_{self.count}"
        subprocess.run([os.path.join(self.bindir, "psql"), self.conninfo, "-v",
                        "ON_ERROR_STOP=1", "-q", "-c", f"CREATE DATABASE {name}"],
                       check=True, timeout=60, capture_output=True)
        return f"{self.conninfo} dbname={name}"

    def ctl(self, action, mode=None):
        """stop (fast), stop-immediate, start: same data dir and port."""
        if action == "stop-immediate":
            data = os.path.join(self.state["dir"], "data")
            argv = [os.path.join(self.bindir, "pg_ctl"), "-D", data, "-m", "immediate",
                    "-w", "stop"]
            if self.state.get("run_as"):
                argv = ["runuser", "-u", self.state["run_as"], "--"] + argv
            subprocess.run(argv, check=True, timeout=60, capture_output=True)
            return
        subprocess.run([os.path.join(PG_SCRIPTS, "ctl.sh"), self.conninfo_file, action],
                       check=True, timeout=90, capture_output=True)

    def close(self):
        subprocess.run([os.path.join(PG_SCRIPTS, "stop.sh"), self.conninfo_file],
                       capture_output=True, timeout=60)


def pg_skipped():
    if os.environ.get("CONCERT_SKIP_POSTGRES", "0") == "1":
        log("SKIP: PostgreSQL tests skipped because CONCERT_SKIP_POSTGRES=1")
        return True
    return False


def raise_nofile(wanted):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sqlite_integrity(path):
    import sqlite3
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    return [r[0] for r in rows]


__all__ = [n for n in dir() if not n.startswith("_")] + ["shutil", "threading"]
