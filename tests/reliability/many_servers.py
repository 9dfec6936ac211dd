#!/usr/bin/python3
"""Fault test 2, many servers on one database: several concertd processes on
one PostgreSQL database, hammered at once for the same seats and balances.

- Booking threads, each with its own users, all walk the same seats in the
  same order, every request to a randomly chosen server: token, hold, pay.
  Every seat must have exactly one successful hold (201) across all servers
  and at most one payment; the schedule ends with no seat available.
- Charge threads charge the same users meanwhile; half of the charges are
  sent twice at the same moment, with the same Idempotency-Key and amount,
  to two different servers: both must answer 200 and the charge applies once.
- Afterwards every balance is exactly opening + charges (each key once) -
  payments, the ledgers hold exactly those charges, `concert verify` is
  clean, and every server is still up and stops cleanly.

  many_servers.py --concertd build/bin/concertd --concert build/bin/concert
"""
import random
import threading
import time

from relib import (Client, Concertd, PgServer, Refused, Unknown, base_args, check, fmt, log,
                   make_catalog, pg_skipped, run_main, temp_workdir, verify, write_catalog)
from relib import history_entries

SCHEDULE = 10
PRICE = 20000
MAX_ACTIVE = 100000
OPENING = 25000  # one seat's worth: payments and charges race on every balance


class Clients:
    """One keep-alive connection per server for one thread."""

    def __init__(self, servers, rng):
        self.rng = rng
        self.clients = [Client(lambda s=s: (s.host, s.port, 0), timeout=30) for s in servers]

    def call(self, *args, server=None, **kw):
        c = self.clients[self.rng.randrange(len(self.clients)) if server is None else server]
        return c.call(*args, **kw)

    def close(self):
        for c in self.clients:
            c.close()


class Booker(threading.Thread):
    def __init__(self, servers, users, seats, seed):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.clients = Clients(servers, self.rng)
        self.users = users
        self.seats = seats
        self.holds = []         # (seat, reservation id, uid)
        self.payments = []      # (seat, reservation id, uid)
        self.taken = 0
        self.poor = 0
        self.errors = []

    def run(self):
        try:
            self._run()
        except (Refused, Unknown) as e:
            self.errors.append(f"a request failed: {e}")
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.clients.close()

    def _run(self):
        seats = list(self.seats)
        turn = 0
        while seats:
            uid = self.users[turn % len(self.users)]
            turn += 1
            r = self.clients.call("POST", "/api/v1/queue/tokens", {"user_id": uid})
            # With room for every buyer a join is admitted, but on PostgreSQL a
            # join that finds another server holding the admission lock leaves
            # the admission to the next queue call (seen at load 10): poll, as
            # a buyer's page does, a bounded number of times.
            for _ in range(50):
                if r.status not in (200, 201) or r.json["status"] != "WAITING":
                    break
                time.sleep(0.05)
                r = self.clients.call("GET", "/api/v1/queue/tokens/current",
                                      token=r.json["token"])
            if r.status not in (200, 201) or r.json["status"] != "ACTIVE":
                self.errors.append(f"token for {uid}: {r}")
                return
            token = r.json["token"]
            # Walk the seats in order until one is ours.
            while seats:
                seat = seats.pop(0)
                r = self.clients.call("POST", "/api/v1/reservations",
                                      {"schedule_id": SCHEDULE, "seat_number": seat},
                                      token=token)
                if r.status == 409 and r.code == "SEAT_TAKEN":
                    self.taken += 1
                    continue
                if r.status != 201:
                    self.errors.append(f"hold of seat {seat} by {uid}: {r}")
                    return
                res = r.json["id"]
                self.holds.append((seat, res, uid))
                r = self.clients.call("POST", "/api/v1/payments", {"reservation_id": res},
                                      token=token, key=f"pay-{res}")
                if r.status == 201:
                    self.payments.append((seat, res, uid))
                elif r.status == 409 and r.code == "INSUFFICIENT_POINTS":
                    self.poor += 1
                    # The token is still ACTIVE: give it back, the hold stays.
                    self.clients.call("DELETE", "/api/v1/queue/tokens/current", token=token)
                else:
                    self.errors.append(f"payment of {res} by {uid}: {r}")
                    return
                break


class Charger(threading.Thread):
    """Works through a shared job list; a doubled job is sent by two
    chargers at once, each to its own server."""

    def __init__(self, servers, jobs, server_index, barrier_for, seed):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.clients = Clients(servers, self.rng)
        self.jobs = jobs
        self.server_index = server_index
        self.barrier_for = barrier_for
        self.acked = []   # (uid, amount, key, balance)
        self.errors = []

    def run(self):
        try:
            for uid, amount, key, doubled in self.jobs:
                if doubled:
                    self.barrier_for(key).wait(30)
                    server = self.server_index
                else:
                    server = None
                r = self.clients.call("POST", f"/api/v1/users/{uid}/points/charge",
                                      {"amount": amount}, key=key, server=server)
                if r.status != 200:
                    self.errors.append(f"charge {key} of user {uid}: {r}")
                    continue
                self.acked.append((uid, amount, key, r.json["balance"]))
        except (Refused, Unknown) as e:
            self.errors.append(f"a request failed: {e}")
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.clients.close()


def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--servers", type=int, default=3)
    p.add_argument("--seats", type=int, default=200)
    p.add_argument("--bookers", type=int, default=8)
    p.add_argument("--users-per-booker", type=int, default=6)
    p.add_argument("--charges", type=int, default=600, help="charge jobs per charger pair")
    p.add_argument("--store", choices=("postgres", "sqlite"), default="postgres",
                   help="sqlite: several processes on one SQLite file instead")
    args = p.parse_args()
    if args.store == "postgres" and pg_skipped():
        return 77
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    log(f"many servers: {args.servers} concertd on one {args.store} database, "
        f"{args.bookers} booking threads for {args.seats} seats, 2 charger pairs, seed {seed}")
    check(args.servers >= 2, "two servers at least")

    with temp_workdir("concert-many-") as workdir:
        pg = PgServer(workdir) if args.store == "postgres" else None
        servers = []
        try:
            store = pg.database() if pg else f"sqlite:{workdir}/shared.db"
            n_users = args.bookers * args.users_per_booker
            users = list(range(1, n_users + 1))
            catalog = write_catalog(workdir, make_catalog(users, lambda u: OPENING, args.seats,
                                                          SCHEDULE, PRICE))
            # No per-buyer limit: a buyer here may hold many seats at once (this
            # test is about several servers agreeing, not about hoarding).
            flags = ["--max-active", str(MAX_ACTIVE), "--threads", "4",
                     "--max-holds-per-user", "0"]
            servers.append(Concertd(args.concertd, store, workdir, flags + ["--import", catalog],
                                    name="concertd-0"))
            for i in range(1, args.servers):
                servers.append(Concertd(args.concertd, store, workdir, flags,
                                        name=f"concertd-{i}"))

            bookers = [Booker(servers, users[i::args.bookers], range(1, args.seats + 1),
                              rng.random()) for i in range(args.bookers)]
            # Charge jobs: unique amounts (the ledger shows which applied);
            # every other one doubled across two servers.
            barriers = {}
            lock = threading.Lock()

            def barrier_for(key):
                with lock:
                    return barriers.setdefault(key, threading.Barrier(2))

            chargers = []
            amount = 0
            for pair in range(2):
                jobs = []
                for _ in range(args.charges):
                    amount += 1
                    # 1,000 + a unique number: a few seats' worth per user in all.
                    jobs.append((rng.choice(users), 1000 + amount, f"charge-{amount}",
                                 amount % 2 == 0))
                a = pair % len(servers)
                b = (pair + 1) % len(servers)
                chargers.append(Charger(servers, jobs, a, barrier_for, rng.random()))
                chargers.append(Charger(servers, [j for j in jobs if j[3]], b, barrier_for,
                                        rng.random()))
            started = time.monotonic()
            for t in bookers + chargers:
                t.start()
            for t in bookers + chargers:
                t.join(150)
            elapsed = time.monotonic() - started
            for t in bookers + chargers:
                check(not t.is_alive(), "a client thread hung")
                check(not t.errors, f"client errors: {t.errors[:5]}")
            for s in servers:
                check(s.alive(), f"a server died: {s.log()[-2000:]}")

            # Exactly one winner per seat, across servers.
            holds = {}
            for b in bookers:
                for seat, res, uid in b.holds:
                    holds.setdefault(seat, []).append((res, uid))
            doubled_holds = {s: h for s, h in holds.items() if len(h) > 1}
            check(not doubled_holds, f"seats held by more than one: {doubled_holds}")
            check(sorted(holds) == list(range(1, args.seats + 1)),
                  f"seats without a winner: {set(range(1, args.seats + 1)) - set(holds)}")
            sold = {}
            for b in bookers:
                for seat, res, uid in b.payments:
                    sold.setdefault(seat, []).append(uid)
            check(all(len(v) == 1 for v in sold.values()), "a seat paid twice")
            # The listing needs a token: read availability with a fresh one.
            tok = servers[1].call("POST", "/api/v1/queue/tokens", {"user_id": users[0]})
            check(tok.status in (200, 201), f"token: {tok}")
            r = servers[1].call("GET", "/api/v1/concerts/1/schedules",
                                token=tok.json["token"])
            check(r.status == 200, f"schedules: {r}")
            avail = [s["available_seats"] for s in r.json["schedules"] if s["id"] == SCHEDULE]
            check(avail == [0], f"available seats after the race: {avail}")
            servers[1].call("DELETE", "/api/v1/queue/tokens/current", token=tok.json["token"])

            # Doubled charges: both answers 200 with the same balance.
            answers = {}
            for c in chargers:
                for uid, amount, key, balance in c.acked:
                    answers.setdefault(key, []).append((uid, amount, balance))
            mismatched = [k for k, v in answers.items()
                          if len(v) == 2 and v[0][2] != v[1][2]]
            check(not mismatched, f"the two answers to one key differ: "
                                  f"{[(k, answers[k]) for k in mismatched[:5]]}")
            applied = {}
            for key, v in answers.items():
                uid, amount, _ = v[0]
                applied.setdefault(uid, []).append(amount)
            paid = {}
            for b in bookers:
                for seat, res, uid in b.payments:
                    paid[uid] = paid.get(uid, 0) + 1

            wrong = []
            for uid in users:
                entries = history_entries(servers[uid % len(servers)], uid)
                check(entries[-1]["type"] == "CHARGE" and entries[-1]["amount"] == OPENING,
                      f"user {uid}: oldest entry is not the opening points")
                charges = sorted(e["amount"] for e in entries[:-1] if e["type"] == "CHARGE")
                payments = [e for e in entries if e["type"] == "PAYMENT"]
                if charges != sorted(applied.get(uid, [])):
                    wrong.append(f"user {uid}: ledger charges differ: extra "
                                 f"{sorted(set(charges) - set(applied.get(uid, [])))[:5]}, "
                                 f"missing {sorted(set(applied.get(uid, [])) - set(charges))[:5]}")
                if len(payments) != paid.get(uid, 0):
                    wrong.append(f"user {uid}: {len(payments)} payments in the ledger, "
                                 f"{paid.get(uid, 0)} acknowledged")
                expected = OPENING + sum(applied.get(uid, [])) - PRICE * paid.get(uid, 0)
                r = servers[(uid + 1) % len(servers)].call("GET", f"/api/v1/users/{uid}/points")
                check(r.status == 200, f"balance {uid}: {r}")
                if r.json["balance"] != expected:
                    wrong.append(f"user {uid}: balance {r.json['balance']}, expected {expected}")
            for w in wrong[:20]:
                log("WRONG: " + w)

            n_holds = sum(len(b.holds) for b in bookers)
            n_paid = sum(len(b.payments) for b in bookers)
            n_taken = sum(b.taken for b in bookers)
            n_poor = sum(b.poor for b in bookers)
            n_charge_req = sum(len(c.acked) for c in chargers)
            log(f"seats: {args.seats}, one winner each ({n_paid} paid, {n_holds - n_paid} held "
                f"by users short of points); {fmt(n_taken)} SEAT_TAKEN answers to the losers, "
                f"{n_poor} INSUFFICIENT_POINTS")
            log(f"charges: {fmt(n_charge_req)} answered 200 for {fmt(len(answers))} keys "
                f"({fmt(sum(1 for v in answers.values() if len(v) == 2))} sent to two servers "
                f"at once), applied once each: {'yes' if not wrong else 'NO'}")
            log(f"{elapsed:.1f} s of load over {len(servers)} servers")
            verify(args.concert, store, MAX_ACTIVE)
            for s in servers:
                code = s.stop()
                check(code == 0, f"concertd exited {code} on SIGTERM")
            servers = []
            log(f"RESULT: {args.servers} servers, {args.seats} seats with exactly one winner "
                f"each, {len(users)} balances, {len(wrong)} wrong")
            check(not wrong, f"{len(wrong)} balances or ledgers wrong")
            return 0
        finally:
            for s in servers:
                s.kill()
            if pg:
                pg.close()


if __name__ == "__main__":
    run_main(main)
