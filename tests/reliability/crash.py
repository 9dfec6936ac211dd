#!/usr/bin/python3
"""Fault test 1, crash: concertd under concurrent charges, holds and payments
is killed with SIGKILL at random moments and restarted on the same store.

Several client threads each own some users and seats. They charge points
(every charge has a unique amount and its own Idempotency-Key, so the ledger
shows exactly which charges applied) and run booking flows (token, hold, pay
with an Idempotency-Key). Every request is classified:
  acknowledged  2xx received: must be in the store afterwards;
  rejected      an error response: must have changed nothing;
  unknown       the connection died after sending: may or may not have applied;
  refused       no server listening: never delivered, retried later.
After the last restart the test checks, per user, the ledger (every
acknowledged charge exactly once, no rejected charge, payments between the
acknowledged count and that plus the unknown ones), then replays every
unknown request with its idempotency key (an applied one must not apply again,
a missing one applies now), and then the exact balance
    opening + applied charges - applied payments,
that every acknowledged payment's reservation reads CONFIRMED and every
acknowledged unpaid hold still HELD, `concert verify`, and that the server
serves and stops cleanly.

  crash.py --concertd build/bin/concertd --concert build/bin/concert --store sqlite|postgres
"""
import random
import signal
import threading
import time

from relib import (Client, Concertd, PgServer, Refused, TestFailure, Unknown, base_args,
                   check, fmt, log, make_catalog, pg_skipped, run_main, temp_workdir,
                   verify, write_catalog)
from relib import history_entries

SCHEDULE = 10
PRICE = 1000
MAX_ACTIVE = 100000


def opening_points(uid):
    return 10_000_000 + uid


class Shared:
    """What the client threads share: the current server and the amounts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = None
        self.generation = 0
        self.next_amount = 0
        self.stop = False

    def target(self):
        with self.lock:
            return self.host, self.port, self.generation

    def set_server(self, server):
        with self.lock:
            self.generation += 1
            self.port = server.port if server else None

    def amount(self):
        with self.lock:
            self.next_amount += 1
            return self.next_amount


class Worker(threading.Thread):
    def __init__(self, index, shared, users, seats, seed):
        super().__init__(name=f"worker-{index}", daemon=True)
        self.shared = shared
        self.client = Client(shared.target, timeout=15)
        self.rng = random.Random(seed)
        self.users = list(users)
        self.retired = set()       # users with an unknown booking step
        self.free_seats = list(seats)
        self.rng.shuffle(self.free_seats)
        # Outcomes.
        self.charges_acked = []    # (uid, amount, key)
        self.charges_unknown = []
        self.charges_rejected = []
        self.tokens_acked = 0
        self.holds_acked = {}      # reservation id -> (uid, seat)
        self.pays_acked = []       # (uid, reservation id, seat, token, key)
        self.pays_unknown = []
        self.unknown_other = 0     # issue/hold with an unknown outcome
        self.rejected = {}         # (route, status, code) -> count
        self.flow = None           # [uid, token, reservation id]
        self.errors = []

    # One request; None when refused (retry later).
    def request(self, route, method, path, body=None, token=None, key=None):
        try:
            return self.client.call(method, path, body, token, key)
        except Refused:
            time.sleep(0.02)
            return None

    def note_rejected(self, route, reply):
        k = (route, reply.status, reply.code)
        self.rejected[k] = self.rejected.get(k, 0) + 1

    def do_charge(self):
        uid = self.rng.choice(self.users)
        amount = self.shared.amount()
        key = f"charge-{amount}"
        while not self.shared.stop:
            try:
                r = self.request("charge", "POST", f"/api/v1/users/{uid}/points/charge",
                                 {"amount": amount}, key=key)
            except Unknown:
                self.charges_unknown.append((uid, amount, key))
                return
            if r is None:
                continue
            if r.status == 200:
                self.charges_acked.append((uid, amount, key))
            else:
                self.charges_rejected.append((uid, amount, key))
                self.note_rejected("charge", r)
            return

    def start_flow(self):
        candidates = [u for u in self.users if u not in self.retired]
        if not candidates or not self.free_seats:
            return False
        self.flow = [self.rng.choice(candidates), None, None]
        return True

    def retire(self):
        self.retired.add(self.flow[0])
        self.flow = None

    def do_booking_step(self):
        if self.flow is None and not self.start_flow():
            return
        uid, token, res = self.flow
        try:
            if token is None:
                r = self.request("issue", "POST", "/api/v1/queue/tokens", {"user_id": uid})
                if r is None:
                    return
                if r.status in (200, 201):
                    self.tokens_acked += r.status == 201
                    if r.json["status"] != "ACTIVE":
                        self.errors.append(f"user {uid}: token not ACTIVE with max_active "
                                           f"{MAX_ACTIVE}: {r}")
                        self.retire()
                        return
                    self.flow[1] = r.json["token"]
                else:
                    self.note_rejected("issue", r)
                    self.flow = None
            elif res is None:
                seat = self.free_seats[-1]
                r = self.request("hold", "POST", "/api/v1/reservations",
                                 {"schedule_id": SCHEDULE, "seat_number": seat}, token=token)
                if r is None:
                    return
                if r.status in (200, 201):
                    self.free_seats.pop()
                    self.holds_acked[r.json["id"]] = (uid, seat)
                    self.flow[2] = r.json["id"]
                else:
                    self.note_rejected("hold", r)
                    if r.code == "SEAT_TAKEN":  # only ours could hold it: a bug
                        self.errors.append(f"seat {seat} of this thread taken: {r}")
                        self.free_seats.pop()
                    self.flow = None
            else:
                key = f"pay-{res}"
                try:
                    r = self.request("pay", "POST", "/api/v1/payments", {"reservation_id": res},
                                     token=token, key=key)
                except Unknown:
                    self.pays_unknown.append((uid, res, self.holds_acked[res][1], token, key))
                    self.retire()
                    return
                if r is None:
                    return
                if r.status == 201:
                    self.pays_acked.append((uid, res, self.holds_acked[res][1], token, key))
                    self.flow = None
                else:
                    self.note_rejected("pay", r)
                    self.retire()
        except Unknown:
            # An issue or a hold whose outcome is unknown: leave this user and
            # the seat alone from now on (a hold may exist).
            self.unknown_other += 1
            if res is None and token is not None:
                self.free_seats.pop()
            self.retire()

    def run(self):
        try:
            while not self.shared.stop:
                if self.rng.random() < 0.5:
                    self.do_charge()
                else:
                    self.do_booking_step()
        except Exception as e:  # reported by the main thread
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.client.close()


def check_store(server, workers, lost):
    """The checks after the last restart; appends to lost what is missing."""
    users = {}
    for w in workers:
        for u in w.users:
            users[u] = {"acked": [], "unknown": [], "rejected": [], "pays": [], "pays_unknown": []}
        for uid, amount, key in w.charges_acked:
            users[uid]["acked"].append((amount, key))
        for uid, amount, key in w.charges_unknown:
            users[uid]["unknown"].append((amount, key))
        for uid, amount, key in w.charges_rejected:
            users[uid]["rejected"].append((amount, key))
        for p in w.pays_acked:
            users[p[0]]["pays"].append(p)
        for p in w.pays_unknown:
            users[p[0]]["pays_unknown"].append(p)

    def history(uid):
        entries = history_entries(server, uid)
        # The catalog's opening points are the oldest entry, a CHARGE.
        check(entries and entries[-1]["type"] == "CHARGE"
              and entries[-1]["amount"] == opening_points(uid),
              f"user {uid}: the oldest ledger entry is not the opening points: {entries[-1:]}")
        entries = entries[:-1]
        charges = [e["amount"] for e in entries if e["type"] == "CHARGE"]
        payments = [e["amount"] for e in entries if e["type"] == "PAYMENT"]
        return charges, payments

    def balance(uid):
        r = server.call("GET", f"/api/v1/users/{uid}/points")
        check(r.status == 200, f"balance of user {uid}: {r}")
        return r.json["balance"]

    figures = {"unknown_applied": 0, "unknown_missing": 0}
    for uid, u in sorted(users.items()):
        charges, payments = history(uid)
        seen = {}
        for a in charges:
            seen[a] = seen.get(a, 0) + 1
        dupes = [a for a, n in seen.items() if n > 1]
        check(not dupes, f"user {uid}: charges applied twice: {dupes[:5]}")
        known = {a for a, _ in u["acked"] + u["unknown"] + u["rejected"]}
        strangers = [a for a in seen if a not in known]
        check(not strangers, f"user {uid}: ledger charges nobody sent: {strangers[:5]}")
        for amount, key in u["acked"]:
            if amount not in seen:
                lost.append(f"user {uid}: acknowledged charge {amount} ({key}) not in the ledger")
        for amount, key in u["rejected"]:
            check(amount not in seen, f"user {uid}: rejected charge {amount} ({key}) applied")
        check(all(p == -PRICE for p in payments), f"user {uid}: payments {payments}")
        if len(payments) < len(u["pays"]):
            lost.append(f"user {uid}: {len(u['pays'])} acknowledged payments, "
                        f"{len(payments)} in the ledger")
        check(len(payments) <= len(u["pays"]) + len(u["pays_unknown"]),
              f"user {uid}: {len(payments)} payments in the ledger, more than "
              f"{len(u['pays'])} acknowledged + {len(u['pays_unknown'])} unknown")

        # Replay the unknown charges with their keys: exactly-once either way.
        for amount, key in u["unknown"]:
            before = balance(uid)
            r = server.call("POST", f"/api/v1/users/{uid}/points/charge", {"amount": amount},
                            key=key)
            check(r.status == 200, f"user {uid}: replay of {key}: {r}")
            after = balance(uid)
            if amount in seen:
                figures["unknown_applied"] += 1
                check(after == before, f"user {uid}: replay of applied {key} charged again "
                                       f"({before} -> {after})")
            else:
                figures["unknown_missing"] += 1
                check(after == before + amount, f"user {uid}: replay of unapplied {key}: "
                                                f"{before} -> {after}")
        # Replay the unknown payments with their token and key.
        for _, res, _, token, key in u["pays_unknown"]:
            n_before = len(history(uid)[1])
            r = server.call("POST", "/api/v1/payments", {"reservation_id": res},
                            token=token, key=key)
            check(r.status == 201, f"user {uid}: replay of payment {key}: {r}")
            n_after = len(history(uid)[1])
            if n_after == n_before:
                figures["unknown_applied"] += 1
            else:
                figures["unknown_missing"] += 1
                check(n_after == n_before + 1, f"user {uid}: replay of {key} paid "
                                               f"{n_after - n_before} times")
            u["pays"].append(None)

        charges, payments = history(uid)
        check(len(payments) == len(u["pays"]), f"user {uid}: {len(payments)} payments in the "
              f"ledger after replays, {len(u['pays'])} applied")
        expected = opening_points(uid) + sum(charges) - PRICE * len(payments)
        check(sorted(charges) == sorted(a for a, _ in u["acked"] + u["unknown"]),
              f"user {uid}: the ledger's charges differ from the applied ones")
        got = balance(uid)
        if got != expected:
            lost.append(f"user {uid}: balance {got}, expected {expected}")

    # Every acknowledged payment's reservation is CONFIRMED and every
    # acknowledged, unpaid hold still HELD, read by its owner.
    tokens = {}
    confirmed = held = 0
    for w in workers:
        paid = {p[1] for p in w.pays_acked} | {p[1] for p in w.pays_unknown}
        for res, (uid, seat) in w.holds_acked.items():
            if uid not in tokens:
                r = server.call("POST", "/api/v1/queue/tokens", {"user_id": uid})
                check(r.status in (200, 201) and r.json["status"] == "ACTIVE",
                      f"token for user {uid}: {r}")
                tokens[uid] = r.json["token"]
            r = server.call("GET", f"/api/v1/reservations/{res}", token=tokens[uid])
            check(r.status == 200, f"reservation {res}: {r}")
            check(r.json["seat_number"] == seat, f"reservation {res}: {r}")
            want = "CONFIRMED" if res in paid else "HELD"
            if r.json["status"] != want:
                lost.append(f"reservation {res} (user {uid}, seat {seat}) is "
                            f"{r.json['status']}, expected {want}")
            confirmed += want == "CONFIRMED"
            held += want == "HELD"
    figures["confirmed"] = confirmed
    figures["held"] = held
    return figures


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--store", choices=("sqlite", "postgres", "memory"), required=True,
                   help="memory: the self-check; a store that forgets everything on a kill "
                        "(the catalog is imported again at each restart) must show losses")
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--threads", type=int, default=6)
    p.add_argument("--users-per-thread", type=int, default=25)
    p.add_argument("--seats-per-thread", type=int, default=600)
    args = p.parse_args()
    if args.store == "postgres" and pg_skipped():
        return 77
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    log(f"crash test on {args.store}: {args.kills} SIGKILLs, {args.threads} client threads, "
        f"seed {seed}")

    with temp_workdir("concert-crash-") as workdir:
        pg = PgServer(workdir) if args.store == "postgres" else None
        server = None
        try:
            store = (pg.database() if pg else "memory:" if args.store == "memory"
                     else f"sqlite:{workdir}/crash.db")
            n_users = args.threads * args.users_per_thread
            n_seats = args.threads * args.seats_per_thread
            catalog = write_catalog(workdir, make_catalog(range(1, n_users + 1), opening_points,
                                                          n_seats, SCHEDULE, PRICE))
            flags = ["--max-active", str(MAX_ACTIVE), "--threads", "4"]
            shared = Shared()
            server = Concertd(args.concertd, store, workdir, flags + ["--import", catalog])
            shared.set_server(server)
            workers = []
            for i in range(args.threads):
                users = range(1 + i * args.users_per_thread, 1 + (i + 1) * args.users_per_thread)
                seats = range(1 + i * args.seats_per_thread,
                              1 + (i + 1) * args.seats_per_thread)
                workers.append(Worker(i, shared, users, seats, rng.random()))
            for w in workers:
                w.start()
            kills = 0
            try:
                for k in range(args.kills):
                    # Every third kill comes right after a restart, while the
                    # store may still be recovering from the previous one.
                    time.sleep(rng.uniform(0.05, 0.3) if k % 3 == 2 else rng.uniform(0.3, 2.5))
                    check(server.alive(), f"concertd died by itself: {server.log()[-2000:]}")
                    server.proc.send_signal(signal.SIGKILL)
                    shared.set_server(None)
                    server.kill()
                    kills += 1
                    time.sleep(rng.uniform(0.0, 0.3))
                    again = ["--import", catalog] if args.store == "memory" else []
                    server = Concertd(args.concertd, store, workdir, flags + again)
                    shared.set_server(server)
                time.sleep(rng.uniform(0.3, 1.0))
            finally:
                shared.stop = True
                for w in workers:
                    w.join(60)
            for w in workers:
                check(not w.is_alive(), f"{w.name} did not finish")
                check(not w.errors, f"{w.name}: {w.errors[:5]}")

            check(server.call("GET", "/healthz").status == 200, "not serving after restarts")
            lost = []
            try:
                figures = check_store(server, workers, lost)
            except TestFailure:
                # Say what was lost before the first broken check, then fail.
                log(f"RESULT {args.store}: {kills} kills, {len(lost)} lost before a check "
                    "failed")
                raise

            acked = sum(len(w.charges_acked) + w.tokens_acked + len(w.holds_acked)
                        + len(w.pays_acked) for w in workers)
            unknown = sum(len(w.charges_unknown) + len(w.pays_unknown) + w.unknown_other
                          for w in workers)
            rejected = {}
            for w in workers:
                for k, n in w.rejected.items():
                    rejected[k] = rejected.get(k, 0) + n
            log(f"acknowledged: {fmt(sum(len(w.charges_acked) for w in workers))} charges, "
                f"{fmt(sum(w.tokens_acked for w in workers))} tokens, "
                f"{fmt(sum(len(w.holds_acked) for w in workers))} holds, "
                f"{fmt(sum(len(w.pays_acked) for w in workers))} payments")
            log(f"unknown outcome (connection died): {unknown}; charges and payments among "
                f"them replayed by key: {figures['unknown_applied']} had applied, "
                f"{figures['unknown_missing']} had not")
            log(f"rejected with an error response: {rejected or 'none'}")
            log(f"reservations read back: {figures['confirmed']} CONFIRMED, "
                f"{figures['held']} HELD")
            for line in lost[:20]:
                log("LOST: " + line)
            server_ok = server.call("GET", "/healthz").status == 200
            verify(args.concert, store, MAX_ACTIVE)
            code = server.stop()
            check(code == 0, f"concertd exited {code} on SIGTERM")
            log(f"RESULT {args.store}: {kills} kills, {fmt(acked)} acknowledged writes, "
                f"{len(lost)} lost")
            check(not lost, f"{len(lost)} acknowledged writes lost")
            check(server_ok, "the server did not serve after the checks")
            bad = {k: n for k, n in rejected.items() if k[1] >= 500 and k[1] != 503}
            check(not bad, f"server errors: {bad}")
            return 0
        finally:
            if server is not None and server.alive():
                server.kill()
            if pg:
                pg.close()


if __name__ == "__main__":
    run_main(main)
