#!/usr/bin/python3
"""Fault test: the reply to a commit is lost (issue 14, "retries proven safe").

A TCP proxy sits between concertd and a throwaway PostgreSQL server and
speaks just enough of the wire protocol to see, for each request cycle (up
to a Sync or a simple Query), which prepared statements the client bound
and how the server answered. Armed, it lets the server run and commit a
chosen step, then withholds the server's reply and instead

  drop    closes the connection (a network cut after the commit), or
  fatal   sends a FATAL ErrorResponse with SQLSTATE 57P01 ("terminating
          connection due to administrator command") and closes,

so the client cannot know whether the step committed. The step is an
unkeyed points charge (POST .../points/charge without Idempotency-Key: one
auto-commit write, concert_fn.charge). In both modes the charge must be
applied exactly once: the backend must not run it again (a re-run would
charge twice); its answer is an error (503 STORAGE_UNAVAILABLE, "may or may
not have been applied"). Balance and ledger are read both through concertd
and straight from the database.

Then the other side of the policy: the same fault on a read (the balance
query) must be retried on a new connection and answered 200, so the test
also fails if the backend simply stopped retrying.

  pg_commit_proxy.py --concertd build/bin/concertd --concert build/bin/concert

--expect-double-charge inverts the fatal-mode check, to show that a backend
with the old policy (57P01 taken as "aborted", the step re-run) charges twice.
"""
import collections
import http.client
import os
import select
import socket
import struct
import subprocess
import threading

from relib import (Concertd, PgServer, base_args, check, history_entries, log, make_catalog,
                   pg_skipped, run_main, temp_workdir, write_catalog)

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
OPENING = 1000
FATAL_57P01 = (b"SFATAL\0VFATAL\0C57P01\0"
               b"Mterminating connection due to administrator command\0\0")


def cstrings(body, count):
    """The first count NUL-terminated strings of a message body."""
    out, at = [], 0
    for _ in range(count):
        end = body.index(b"\0", at)
        out.append(body[at:end].decode("utf-8", "replace"))
        at = end + 1
    return out


class Conn:
    """One client connection and its upstream, pumped by one thread."""

    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.cbuf = b""
        self.sbuf = b""
        self.started = False     # the client's startup message went by
        self.single = 0          # one-byte answers due (SSL/GSS refused)
        self.opaque = False      # TLS accepted: pass bytes, understand nothing
        self.current = []        # statements bound in the cycle being sent
        self.pending = collections.deque()  # cycles sent, not yet answered
        self.reply = []          # the server's messages for pending[0]
        self.tags = []
        self.failed = False
        self.block = []          # statements since this session's last BEGIN

    def close(self):
        for s in (self.client, self.upstream):
            try:
                s.close()
            except OSError:
                pass

    def run(self):
        try:
            self._pump()
        except OSError:
            pass
        finally:
            self.close()

    def _pump(self):
        while True:
            ready, _, _ = select.select([self.client, self.upstream], [], [], 1.0)
            if self.proxy.closing:
                return
            if self.client in ready:
                data = self.client.recv(65536)
                if not data:
                    return
                self._from_client(data)
                self.upstream.sendall(data)
            if self.upstream in ready:
                data = self.upstream.recv(65536)
                if not data:
                    self._flush()
                    return
                if not self._from_server(data):
                    return

    def _from_client(self, data):
        if self.opaque:
            return
        self.cbuf += data
        while True:
            if not self.started:
                if len(self.cbuf) < 8:
                    return
                n, code = struct.unpack("!II", self.cbuf[:8])
                if len(self.cbuf) < n:
                    return
                self.cbuf = self.cbuf[n:]
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    self.single += 1
                else:
                    self.started = True
                continue
            if len(self.cbuf) < 5:
                return
            kind = self.cbuf[:1]
            n = struct.unpack("!I", self.cbuf[1:5])[0]
            if len(self.cbuf) < 1 + n:
                return
            body = self.cbuf[5:1 + n]
            self.cbuf = self.cbuf[1 + n:]
            if kind == b"B":
                self.current.append(cstrings(body, 2)[1])
            elif kind == b"Q":
                self.current.append(cstrings(body, 1)[0])
                self.pending.append(self.current)
                self.current = []
            elif kind == b"S":
                self.pending.append(self.current)
                self.current = []

    def _flush(self):
        if self.reply:
            try:
                self.client.sendall(b"".join(self.reply))
            except OSError:
                pass
            self.reply = []

    def _from_server(self, data):
        """Forward what the server said, holding each cycle's answer until
        its ReadyForQuery; False once the connection is cut."""
        if self.opaque:
            self.client.sendall(data)
            return True
        self.sbuf += data
        while True:
            if self.single:
                if not self.sbuf:
                    return True
                self.single -= 1
                if self.sbuf[:1] == b"S":
                    self.opaque = True
                self.client.sendall(self.sbuf[:1])
                self.sbuf = self.sbuf[1:]
                if self.opaque:
                    self.client.sendall(self.sbuf)
                    return True
                continue
            if len(self.sbuf) < 5:
                return True
            kind = self.sbuf[:1]
            n = struct.unpack("!I", self.sbuf[1:5])[0]
            if len(self.sbuf) < 1 + n:
                return True
            msg = self.sbuf[:1 + n]
            self.sbuf = self.sbuf[1 + n:]
            if not self.pending:
                self.client.sendall(msg)  # startup, or said while idle
                continue
            self.reply.append(msg)
            if kind == b"C":
                self.tags.append(cstrings(msg[5:], 1)[0])
            elif kind == b"E":
                self.failed = True
            elif kind == b"Z":
                cycle = self.pending.popleft()
                status = msg[5:6]
                if "BEGIN" in self.tags:
                    self.block = []
                self.block += cycle
                fault = self.proxy.answered(cycle, self.tags, self.failed, status, self.block)
                if fault:
                    self.reply = []
                    if fault == "fatal":
                        self.client.sendall(b"E" + struct.pack("!I", 4 + len(FATAL_57P01)) +
                                            FATAL_57P01)
                    self.close()
                    return False
                self._flush()
                self.tags = []
                self.failed = False


class Proxy:
    """Listens on 127.0.0.1 (free port), one Conn per client connection."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.closing = False
        self.conns = []
        self.seen = collections.Counter()  # statement -> cycles the server answered
        self.target = None                  # (statement, mode): armed
        self.fired = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 10)
            except OSError:
                client.close()
                continue
            conn = Conn(self, client, upstream)
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=conn.run, daemon=True).start()

    def arm(self, statement, mode):
        with self.lock:
            self.target = (statement, mode)

    def disarm(self):
        with self.lock:
            self.target = None

    def answered(self, cycle, tags, failed, status, block):
        """A cycle's answer is complete: the fault to inject, or None.

        Armed with a statement name, the hit is that statement run as an
        auto-commit write: its cycle completed without error and the session
        is idle again (status I); the implicit transaction commits at Sync,
        before ReadyForQuery. Armed with ("COMMIT", name), the hit is the
        server's CommandComplete "COMMIT" of an explicit block that ran that
        statement."""
        with self.lock:
            for name in cycle:
                self.seen[name] += 1
            if self.target is None:
                return None
            statement, mode = self.target
            committed = tags and not failed and status == b"I"
            if isinstance(statement, tuple):
                hit = "COMMIT" in tags and statement[1] in block
            else:
                hit = statement in cycle
            if hit and committed:
                self.target = None
                self.fired += 1
                return mode
            return None

    def close(self):
        self.closing = True
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.close()


def psql_value(pg, dbname, sql):
    r = subprocess.run([os.path.join(pg.bindir, "psql"), f"{pg.conninfo} dbname={dbname}", "-X",
                        "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"psql {sql!r}: {r.stderr.strip()}")
    return r.stdout.strip()


def charge_once(server, proxy, pg, dbname, uid, amount, mode, expect_double):
    """Arm the proxy on the charge statement, charge without a key, and
    check the effect against the database."""
    before = proxy.seen["PG_CHARGE"]
    proxy.arm("PG_CHARGE", mode)
    r = server.call("POST", f"/api/v1/users/{uid}/points/charge", {"amount": amount},
                    timeout=30)
    proxy.disarm()
    runs = proxy.seen["PG_CHARGE"] - before
    balance = int(psql_value(pg, dbname, f"SELECT balance FROM concert.users WHERE id = {uid}"))
    rows = int(psql_value(pg, dbname, "SELECT count(*) FROM concert.ledger "
                                      f"WHERE user_id = {uid} AND amount = {amount}"))
    api = server.call("GET", f"/api/v1/users/{uid}/points")
    entries = [e for e in history_entries(server, uid) if e.get("amount") == amount]
    log(f"  {mode}: answer {r.status} {r.raw[:160]!r}; the charge ran {runs} time(s); "
        f"balance {balance} (opening {OPENING}), {rows} ledger row(s) of {amount}")
    check(proxy.fired == 1, f"{mode}: the proxy never saw the charge commit (fired "
                            f"{proxy.fired}): the fault was not injected")
    check(api.status == 200 and api.json.get("balance") == balance,
          f"{mode}: balance through concertd {api} != {balance} in the database")
    check(len(entries) == rows, f"{mode}: history shows {len(entries)} charge(s), the "
                                f"database {rows}")
    if expect_double:
        check(runs == 2 and balance == OPENING + 2 * amount and rows == 2,
              f"{mode}: expected the old policy's double charge, got {runs} run(s), "
              f"balance {balance}")
        return
    check(runs == 1, f"{mode}: the charge ran {runs} times (re-run after a possible commit)")
    check(balance == OPENING + amount and rows == 1,
          f"{mode}: charged {rows} time(s): balance {balance}, expected {OPENING + amount}")
    check(r.status == 503 and r.code == "STORAGE_UNAVAILABLE",
          f"{mode}: a commit whose reply was lost must be answered 503 "
          f"STORAGE_UNAVAILABLE, got {r}")


def read_retried(server, proxy, uid, expected):
    """The same fault on a read: it cannot have changed anything, so the
    backend runs it again on a new connection and answers."""
    before = proxy.seen["PG_BALANCE_GET"]
    proxy.fired = 0
    proxy.arm("PG_BALANCE_GET", "fatal")
    r = server.call("GET", f"/api/v1/users/{uid}/points", timeout=30)
    proxy.disarm()
    runs = proxy.seen["PG_BALANCE_GET"] - before
    log(f"  read: answer {r.status} {r.raw[:120]!r}; the read ran {runs} time(s)")
    check(proxy.fired == 1, "read: the fault was not injected")
    check(r.status == 200 and r.json.get("balance") == expected,
          f"read: a read whose connection died must be retried and answered, got {r}")
    check(runs == 2, f"read: ran {runs} time(s), expected 2 (the retry)")


def admin(server, key, path):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("POST", path, body=b"", headers={"X-Admin-Key": key})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def commit_lost(server, proxy, pg, dbname, key):
    """An explicit block: resuming a paused queue (expect PAUSED, set OPEN,
    admit, COMMIT). The server's "COMMIT" reply is replaced by FATAL 57P01.
    A re-run after that commit would find the queue OPEN and refuse with 409
    CONFLICT, or, with no expectation, write the settings a second time: the
    block must run once and the answer be 503."""
    status, raw = admin(server, key, "/api/v1/admin/queue/pause")
    check(status == 204, f"pause: {status} {raw!r}")
    check(psql_value(pg, dbname, "SELECT state FROM concert.queue_state WHERE id = 1") == "2",
          "pause did not pause the queue")
    before = proxy.seen["PG_Q_SETTINGS_SET"]
    proxy.fired = 0
    proxy.arm(("COMMIT", "PG_Q_SETTINGS_SET"), "fatal")
    status, raw = admin(server, key, "/api/v1/admin/queue/resume")
    proxy.disarm()
    runs = proxy.seen["PG_Q_SETTINGS_SET"] - before
    state = psql_value(pg, dbname, "SELECT state FROM concert.queue_state WHERE id = 1")
    log(f"  commit: answer {status} {raw[:160]!r}; the block ran {runs} time(s); "
        f"queue state {state} (1 OPEN)")
    check(proxy.fired == 1, "commit: the proxy never saw the block's COMMIT")
    check(state == "1", f"commit: the committed resume is not in the database (state {state})")
    check(runs == 1, f"commit: the block ran {runs} times (re-run after its COMMIT)")
    check(status == 503, f"commit: a COMMIT whose reply was lost must be answered 503, got "
                         f"{status} {raw!r}")


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--expect-double-charge", action="store_true",
                   help="expect the old policy's double charge in fatal mode (self-check)")
    args = p.parse_args()
    if pg_skipped():
        return 77
    log("lost commit replies: a proxy withholds PostgreSQL's answer to a committed "
        "unkeyed charge (drop, then FATAL 57P01)")
    with temp_workdir("concert-commitproxy-") as workdir:
        pg = PgServer(workdir)
        server = proxy = None
        try:
            dbname = pg.database().rsplit("dbname=", 1)[1]
            proxy = Proxy(int(pg.state["port"]))
            store = (f"host=127.0.0.1 port={proxy.port} user=concert dbname={dbname} "
                     "sslmode=disable gssencmode=disable")
            catalog = write_catalog(workdir, make_catalog([1, 2, 3], lambda u: OPENING, 10))
            key = "commit-proxy-admin-key"
            key_file = os.path.join(workdir, "admin.key")
            with open(key_file, "w", encoding="utf-8") as f:
                f.write(key + "\n")
            server = Concertd(args.concertd, store, workdir,
                              ["--import", catalog, "--admin-key-file", key_file])
            for uid, amount, mode in ((1, 777, "drop"), (2, 778, "fatal")):
                proxy.fired = 0
                charge_once(server, proxy, pg, dbname, uid, amount, mode,
                            args.expect_double_charge and mode == "fatal")
            if not args.expect_double_charge:
                commit_lost(server, proxy, pg, dbname, key)
            read_retried(server, proxy, 3, OPENING)
            check(server.alive(), "concertd died")
        finally:
            if server is not None:
                server.stop()
            if proxy is not None:
                proxy.close()
            pg.close()
    if args.expect_double_charge:
        log("RESULT lost commit replies: the FATAL 57P01 charge was applied twice, as expected "
            "of the old policy")
    else:
        log("RESULT lost commit replies: each unkeyed charge applied exactly once (drop and "
            "FATAL 57P01), a lost COMMIT not re-run, the read retried")
    return 0


if __name__ == "__main__":
    run_main(main)
