#!/usr/bin/python3
"""Fault test 3b, SQLite on a read-only store and on a full disk, through a
real concertd.

Read-only: concertd is started on a store its user cannot write (as root
the test runs it as "nobody" through runuser, because root ignores file
permissions): first a read-only file, then a writable file in a read-only
directory (SQLite cannot create PATH-wal and PATH-shm). It must refuse to
start with a clear message naming the problem, within seconds, and leave the
file byte for byte unchanged (PRAGMA integrity_check and `concert verify`
pass afterwards).

Full disk: the store lives on a small tmpfs (mount -t tmpfs -o size=...;
where mounting is not allowed, a file-size limit, RLIMIT_FSIZE with SIGXFSZ
ignored, stands in for it). concertd serves, the disk is filled up, and
client threads keep charging points (unique amounts and keys), issuing
tokens and reading balances: every write must be answered 2xx or 503
STORAGE_UNAVAILABLE within 5 s, the server stays up, and when space is
freed the writes succeed again without a restart. Afterwards every
acknowledged charge is in the ledger, no charge answered 503 is (SQLite
rolls the step back), balances are exact, and after a clean stop the file
passes PRAGMA integrity_check and `concert verify`.

  sqlite_disk.py --concertd build/bin/concertd --concert build/bin/concert
"""
import hashlib
import os
import random
import resource
import signal
import subprocess
import threading
import time

from relib import (Client, Concertd, Refused, TestFailure, Unknown, base_args, check, fmt,
                   log, make_catalog, run_main, sqlite_integrity, temp_workdir, verify,
                   write_catalog)
from relib import history_entries

OPENING = 1000
HANG_LIMIT_S = 5.0


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_store(concert, path, catalog):
    r = subprocess.run([concert, "--store", f"sqlite:{path}", "import", catalog],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"concert import: {r.stdout}{r.stderr}")


def start_refused(args, store, workdir, user):
    """Start concertd; return (exit status, stderr, seconds) of a refusal."""
    argv = [args.concertd, "--store", store, "--listen", "127.0.0.1:0"]
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    started = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=workdir)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"concertd started (or hung) on a read-only store: {argv}") from None
    return r.returncode, r.stdout + r.stderr, time.monotonic() - started


def read_only_cases(args, workdir, catalog):
    """Both read-only cases; returns a summary line."""
    as_root = os.geteuid() == 0
    user = "nobody" if as_root else None
    results = []
    for case in ("read-only file", "read-only directory"):
        d = os.path.join(workdir, "ro-" + case.split()[1])
        os.mkdir(d)
        path = os.path.join(d, "store.db")
        make_store(args.concert, path, catalog)
        before = sha256(path)
        if case == "read-only file":
            os.chmod(path, 0o444)
            os.chmod(d, 0o755)         # others may enter, not write
        else:
            if as_root:
                os.chown(path, 65534, 65534)  # nobody may write the file...
            os.chmod(path, 0o666)
            os.chmod(d, 0o555)         # ...but not create PATH-wal in the directory
        os.chmod(workdir, 0o755)
        try:
            code, output, secs = start_refused(args, f"sqlite:{path}", workdir, user)
        finally:
            os.chmod(d, 0o755)
        log(f"  {case}: concertd exit {code} after {secs:.1f} s: "
            f"{output.strip().splitlines()[-1] if output.strip() else '(nothing)'}")
        check(code not in (0, None), f"{case}: concertd did not refuse to start")
        check("read-only" in output or "readonly" in output.lower()
              or "permission" in output.lower(),
              f"{case}: the message does not say what is wrong: {output!r}")
        check(sha256(path) == before, f"{case}: the store file changed")
        check(not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0,
              f"{case}: a WAL was written")
        integrity = sqlite_integrity(path)
        check(integrity == ["ok"], f"{case}: integrity_check: {integrity}")
        verify(args.concert, f"sqlite:{path}")
        results.append(f"{case} refused (exit {code}, {secs:.1f} s), file unchanged")
    return "; ".join(results)


class Disk:
    """A small tmpfs for the store, or a file-size limit where mounting is
    not allowed; fill() and free() make it full and empty again."""

    def __init__(self, workdir, size_mb, try_mount=True):
        self.dir = os.path.join(workdir, "disk")
        os.mkdir(self.dir)
        self.mounted = False
        self.pid = None
        self.filler = os.path.join(self.dir, "filler")
        if try_mount:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                                self.dir], capture_output=True, text=True, timeout=30)
        else:
            r = subprocess.CompletedProcess([], 1, "", "--no-mount given")
        if r.returncode == 0:
            self.mounted = True
            self.kind = f"a {size_mb} MiB tmpfs"
        else:
            self.kind = "a file-size limit (RLIMIT_FSIZE; mounting a tmpfs was refused: " \
                        f"{r.stderr.strip()})"

    def preexec(self):
        # SIGXFSZ ignored: a write past the limit fails with EFBIG instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def attach(self, pid):
        self.pid = pid

    def fill(self, store_path):
        if self.mounted:
            chunk = b"\0" * 65536
            # Unbuffered: a buffered file would try the failed bytes again
            # at close and raise ENOSPC out of the with statement.
            with open(self.filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(chunk)
                except OSError:
                    pass
                # The last bytes: a page at a time.
                try:
                    while True:
                        os.write(f.fileno(), b"\0" * 4096)
                except OSError:
                    pass
        else:
            # No file may grow past 16 KiB: the WAL takes a few frames at
            # most, then every write fails as on a full disk.
            limit = 16384
            # Only the soft limit: raising it back needs no privilege.
            hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)[1]
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (limit, hard))

    def free(self):
        if self.mounted:
            os.unlink(self.filler)
        else:
            hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)[1]
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def close(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.dir], capture_output=True, timeout=30)
            self.mounted = False


class Load(threading.Thread):
    def __init__(self, server, users, shared, seed):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.client = Client(lambda: (server.host, server.port, 0), timeout=30)
        self.users = users
        self.shared = shared
        self.records = []   # (phase, route, status, code, seconds)
        self.charges = []   # (uid, amount, key, status)
        self.failures = []

    def run(self):
        while not self.shared["stop"]:
            phase, epoch = self.shared["phase"], self.shared["epoch"]
            uid = self.rng.choice(self.users)
            op = self.rng.random()
            started = time.monotonic()
            try:
                if op < 0.6:
                    with self.shared["lock"]:
                        self.shared["amount"] += 1
                        amount = self.shared["amount"]
                    key = f"charge-{amount}-" + "k" * 200  # fat keys fill pages sooner
                    r = self.client.call("POST", f"/api/v1/users/{uid}/points/charge",
                                         {"amount": amount}, key=key)
                    self.charges.append((uid, amount, key, r.status))
                    route = "charge"
                elif op < 0.8:
                    r = self.client.call("POST", "/api/v1/queue/tokens", {"user_id": uid})
                    route = "issue"
                else:
                    r = self.client.call("GET", f"/api/v1/users/{uid}/points")
                    route = "balance"
            except (Refused, Unknown) as e:
                self.failures.append(f"{type(e).__name__}: {e}")
                time.sleep(0.05)
                continue
            if self.shared["epoch"] != epoch:
                phase = "changing"
            self.records.append((phase, route, r.status, r.code, time.monotonic() - started))
            if r.status >= 500:
                time.sleep(0.01)
        self.client.close()


def full_disk_case(args, workdir, catalog, users):
    disk = Disk(workdir, args.disk_mb, not args.no_mount)
    server = None
    try:
        log(f"  full disk: {disk.kind}")
        path = os.path.join(disk.dir, "store.db")
        store = f"sqlite:{path}"
        server = Concertd(args.concertd, store, workdir,
                          ["--max-active", "100000", "--threads", "2", "--import", catalog],
                          preexec=disk.preexec)
        disk.attach(server.proc.pid)
        shared = {"stop": False, "phase": "roomy", "epoch": 0, "lock": threading.Lock(),
                  "amount": 0}

        def set_phase(name):
            shared["phase"] = name
            shared["epoch"] += 1

        loads = [Load(server, users, shared, seed) for seed in range(4)]
        for t in loads:
            t.start()
        recovered_after = None
        try:
            time.sleep(1.0)
            set_phase("filling")
            disk.fill(path)
            set_phase("full")
            time.sleep(4.0)
            check(server.alive(), f"concertd died on a full disk: {server.log()[-2000:]}")
            set_phase("freeing")
            disk.free()
            set_phase("freed")
            started = time.monotonic()
            while time.monotonic() - started < 15:
                r = server.call("POST", f"/api/v1/users/{users[0]}/points/charge",
                                {"amount": 1})
                if r.status == 200:
                    recovered_after = time.monotonic() - started
                    break
                time.sleep(0.1)
            check(recovered_after is not None, "writes did not succeed again after freeing "
                                               f"the disk: last answer {r}; log: "
                                               f"{server.log()[-1500:]}")
            time.sleep(1.0)
        finally:
            shared["stop"] = True
            for t in loads:
                t.join(60)
        check(server.alive(), "concertd died")
        records = [r for t in loads for r in t.records]
        failures = [f for t in loads for f in t.failures]
        check(not failures, f"requests without an answer: {failures[:5]}")
        full = [r for r in records if r[0] == "full"]
        writes_full = [r for r in full if r[1] != "balance"]
        n503 = sum(1 for r in writes_full if r[2] == 503)
        reads_full = [r for r in full if r[1] == "balance"]
        bad = [(ph, route, s, c) for ph, route, s, c, _ in records
               if not (200 <= s < 300 or (s == 503 and c == "STORAGE_UNAVAILABLE"))]
        slow = [(ph, route, s, round(secs, 2)) for ph, route, s, c, secs in records
                if secs > HANG_LIMIT_S]
        after = [r for r in records if r[0] == "freed" and not 200 <= r[2] < 300]
        reads_ok = sum(1 for r in reads_full if r[2] == 200)
        slowest = max((r[4] for r in full), default=0)
        log(f"  full disk: {fmt(len(writes_full))} writes while full, {fmt(n503)} answered 503 "
            f"STORAGE_UNAVAILABLE; reads {reads_ok}/{len(reads_full)} answered 200; slowest "
            f"{slowest * 1000:.0f} ms; writes succeed again {recovered_after:.1f} s after "
            f"space is freed")
        check(n503 > 0, "the disk never looked full: no write failed (is the test broken?)")
        check(not bad, f"answers other than 2xx or 503 STORAGE_UNAVAILABLE: {bad[:10]}")
        check(not slow, f"requests slower than {HANG_LIMIT_S} s: {slow[:10]}")
        check(not after, f"errors after space was freed: {after[:10]}")
        log_text = server.log()
        # Nothing on the wire says SQLite; the log keeps the detail.
        check("full" in log_text.lower() or "disk" in log_text.lower()
              or "large" in log_text.lower(), "the log does not say why writes failed")

        # Acknowledged charges are all there; 503 ones are not.
        per_user = {}
        for t in loads:
            for uid, amount, key, status in t.charges:
                per_user.setdefault(uid, []).append((amount, status))
        lost = landed = 0
        for uid in users:
            entries = history_entries(server, uid)
            ledger = [e["amount"] for e in entries[:-1] if e["type"] == "CHARGE"]
            if uid == users[0]:
                ledger = [a for a in ledger if a != 1]  # the recovery probes
            mine = per_user.get(uid, [])
            acked = sorted(a for a, s in mine if s == 200)
            lost += len(set(acked) - set(ledger))
            landed += len({a for a, s in mine if s != 200} & set(ledger))
            check(len(ledger) == len(set(ledger)), f"user {uid}: a charge applied twice")
            b = server.call("GET", f"/api/v1/users/{uid}/points")
            probes = len([e for e in entries[:-1] if e["type"] == "CHARGE"
                          and e["amount"] == 1]) if uid == users[0] else 0
            check(b.json["balance"] == OPENING + sum(ledger) + probes,
                  f"user {uid}: balance {b.json['balance']} vs ledger")
        n_acked = sum(1 for t in loads for c in t.charges if c[3] == 200)
        log(f"  full disk: {fmt(n_acked)} acknowledged charges, {lost} lost, {landed} charges "
            f"answered 503 found applied")
        code = server.stop()
        server = None
        check(code == 0, f"concertd exited {code} on SIGTERM")
        integrity = sqlite_integrity(path)
        check(integrity == ["ok"], f"integrity_check after the full disk: {integrity}")
        verify(args.concert, store, 100000)
        check(lost == 0, f"{lost} acknowledged charges lost")
        check(landed == 0, f"{landed} charges answered 503 were applied")
        return (f"full disk ({'tmpfs' if disk.mounted else 'RLIMIT_FSIZE'}): "
                f"{fmt(n503)} writes answered 503, {fmt(n_acked)} acknowledged charges, "
                f"{lost} lost, recovery {recovered_after:.1f} s, integrity ok")
    finally:
        if server is not None:
            server.kill()
        disk.close()


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--disk-mb", type=int, default=16,
                   help="tmpfs size; more than the 4 MiB the WAL reaches before SQLite's "
                        "automatic checkpoint")
    p.add_argument("--no-mount", action="store_true",
                   help="use the file-size limit even where a tmpfs could be mounted")
    args = p.parse_args()
    with temp_workdir("concert-disk-") as workdir:
        users = list(range(1, 41))
        catalog = write_catalog(workdir, make_catalog(users, lambda u: OPENING, 100))
        os.chmod(catalog, 0o644)
        log("SQLite, read-only store:")
        ro = read_only_cases(args, workdir, catalog)
        log("SQLite, full disk:")
        full = full_disk_case(args, workdir, catalog, users)
        log(f"RESULT: {ro}; {full}")
    return 0


if __name__ == "__main__":
    run_main(main)
