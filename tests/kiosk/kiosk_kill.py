#!/usr/bin/python3
"""kill -9 the kiosk inside `pay`, at every point it can be stopped at, and
check that nothing is half-done.

    kiosk_kill.py KIOSK_BINARY CONCERT_BINARY

The kiosk runs with --clock-file on a FIFO: each of its clock reads opens
the FIFO and waits for this script to write the time, so the script knows
exactly where the kiosk is parked (its n-th clock read, or the clerk's
question) and kills it there. The points before the walk-up charge, between
the charge and the payment, and inside the payment call (its clock read comes
before its transaction) are all reached this way. One more point lies after
the payment has committed and before the ticket is printed: the script types
Ctrl-S (XOFF, as a clerk freezing the screen would) with the answer, so the
kiosk blocks on its first line of output after the sale, and kills it there.
Last, kills at increasing delays after the last clock read land inside the
payment's SQLite transaction or just after it (where exactly is up to the
scheduler; every outcome must pass the same checks).

After every kill, on a fresh store each time: `concert verify` is clean; the
walk-up account has at most one charge and one payment; the seat is sold iff
the payment is there, else still held by the reservation (free once the hold
runs out, shown once); and the clerk re-typing the same `pay` after a restart
finishes the sale exactly once: one charge of the price, one payment, the
ticket with the right code, and a second re-type changes nothing.
Exit 0 on success.
"""
import os
import re
import sys
import tempfile
import time

from kiosklib import (ASK, PROMPT, FifoClock, Kiosk, concert, ledger, ticket_code,
                      verified)

USER = 2  # Lee: balance 0 in the demo catalog, so every sale is a walk-up
HOLD_S = 300  # the library's default hold


def drive(k, clock, kill_at=None, freeze=False, last=None, delay_s=0.0):
    """Let the kiosk run its command to the next prompt, serving its clock
    reads and answering "y" to its question; these are its events, counted
    from 0. kill_at=n: kill -9 when it is parked at event n. freeze: type
    Ctrl-S with the answer and kill it once it blocks on output.
    last=n: kill delay_s after serving event n-1 (n = all of them: the kiosk
    runs on from its last clock read). Returns the number of events, or None
    if it killed the kiosk."""
    events = 0
    answered = frozen = False
    while True:
        state = k.state() if frozen else None  # read before waiting(): see below
        fd = clock.waiting()
        if fd is not None:
            if events == kill_at:
                k.kill9()
                os.close(fd)
                return None
            clock.serve(fd)
            events += 1
            # A clock read after the answer: the kiosk has read its answer
            # (before that, asleep may mean waiting for the typed line).
            frozen = frozen or answered
            if events == last:
                time.sleep(delay_s)  # where this lands is not asserted
                k.kill9()
                return None
            continue
        if frozen and state == "S":
            # Asleep before waiting() found no clock read pending: it is not
            # in a clock read (that wait only ends when this side writes), so
            # it is blocked writing to the frozen terminal.
            k.kill9()
            return None
        k.read_some(0.002)
        if ASK in k.buf:
            if events == kill_at:
                k.kill9()
                return None
            # XOFF goes first in the same write, so the terminal is frozen
            # before the kiosk can read its answer.
            m = re.search(r"collect (\d+) points", k.buf)
            k.buf = k.buf[k.buf.index(ASK) + len(ASK):]
            k.write(("\x13" if freeze else "") + "y\n")
            k.asked = int(m.group(1))
            answered = freeze
            events += 1
            continue
        if k.buf.endswith(PROMPT):
            return events


def start(kiosk_bin, store, clock):
    k = Kiosk(kiosk_bin, store, USER, clock_file=clock.path)
    k.asked = None
    assert drive(k, clock) is not None
    return k


def run(k, clock, line, **kw):
    """Type line at the prompt drive() stopped at, and drive it."""
    assert k.buf.endswith(PROMPT), k.buf
    k.buf = k.seen = ""
    k.asked = None
    k.write(line + "\n")
    return drive(k, clock, **kw)


class Sale:
    """A fresh store, a kiosk on a FIFO clock, one held seat."""

    def __init__(self, tmp, name, kiosk_bin, concert_bin, now_ms):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        self.store = "sqlite:" + os.path.join(d, "kiosk.db")
        concert(concert_bin, self.store, "demo")
        self.clock = FifoClock(os.path.join(d, "clock.fifo"), now_ms)
        self.clock_file = os.path.join(d, "clock")
        self.dir = d
        self.kiosk_bin, self.concert_bin, self.now_ms = kiosk_bin, concert_bin, now_ms
        self.k = start(kiosk_bin, self.store, self.clock)

    def hold(self, schedule, seat):
        assert run(self.k, self.clock, f"hold {schedule} {seat}") is not None
        self.res = re.search(r"reservation (\d+),", self.k.seen).group(1)
        self.schedule, self.seat = schedule, seat

    def restart(self, later_s=0):
        """A new kiosk on a plain clock file, later_s after the sale's time."""
        with open(self.clock_file, "w") as f:
            f.write(f"{self.now_ms + later_s * 1000}\n")
        self.k = Kiosk(self.kiosk_bin, self.store, USER, clock_file=self.clock_file)
        return self.k

    def seat_mark(self, k):
        k.send(f"map {self.schedule}")
        return k.expect(rf" +{self.seat}([.hX])").group(1)


def check_after_kill(s, price):
    """The store as the kill left it; returns (charges, payments)."""
    verified(s.concert_bin, s.store)
    charges, payments = ledger(s.concert_bin, s.store, USER)
    assert charges <= 1 and payments <= charges, (charges, payments)
    k = s.restart()
    mark = s.seat_mark(k)
    assert mark == ("X" if payments else "h"), (mark, charges, payments)
    return charges, payments


def finish(s, price, charges_before, code):
    """The clerk re-types the same pay: the sale completes exactly once."""
    k = s.k
    k.send(f"pay {s.res}")
    if charges_before == 0:  # never charged: the clerk is asked, once
        assert k.answer("y") == price
    got = k.expect(r"\| code (\S+)").group(1)
    assert got == code, (got, code)
    assert "collect" not in k.seen or charges_before == 0, k.seen
    k.send(f"pay {s.res}")  # and again: same ticket, no question, no change
    assert k.expect(r"\| code (\S+)").group(1) == code
    assert "collect" not in k.seen, k.seen
    assert s.seat_mark(k) == "X"
    k.quit()
    verified(s.concert_bin, s.store)
    assert ledger(s.concert_bin, s.store, USER) == (1, 1)
    history = concert(s.concert_bin, s.store, "history", str(USER))
    assert f"+{price} " in history and f"-{price} " in history, history


def main():
    kiosk_bin, concert_bin = sys.argv[1], sys.argv[2]
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        # A dry run: find a seat and count the events of a whole `pay`.
        s = Sale(tmp, "dry", kiosk_bin, concert_bin, now_ms)
        k = s.k
        run(k, s.clock, "concerts")
        concert_id = re.search(r"concert (\d+) ", k.seen).group(1)
        run(k, s.clock, f"schedules {concert_id}")
        schedule = re.search(r"schedule (\d+) ", k.seen).group(1)
        run(k, s.clock, f"map {schedule}")
        free = re.findall(r" +(\d+)\.\S+ +(\d+)", k.seen)  # (seat, price)
        seat, price = free[0][0], int(free[0][1])
        seat2 = next(n for n, p in free[1:] if int(p) == price)  # same price
        s.hold(schedule, seat)
        events = run(k, s.clock, f"pay {s.res}")
        assert k.asked == price, k.asked
        code = re.search(r"\| code (\S+)", k.seen).group(1)
        assert code == ticket_code(s.res, schedule, seat, price)
        k.quit()
        assert ledger(concert_bin, s.store, USER) == (1, 1)
        print(f"a walk-up pay makes {events} stops (clock reads and the question)")

        seen = {}
        for n in range(events):
            s = Sale(tmp, f"kill{n}", kiosk_bin, concert_bin, now_ms)
            s.hold(schedule, seat)
            assert run(s.k, s.clock, f"pay {s.res}", kill_at=n) is None
            charges, payments = check_after_kill(s, price)
            seen.setdefault((charges, payments), []).append(n)
            finish(s, price, charges, code)

        # After the payment's commit, before the ticket reaches the screen.
        s = Sale(tmp, "frozen", kiosk_bin, concert_bin, now_ms)
        s.hold(schedule, seat)
        assert run(s.k, s.clock, f"pay {s.res}", freeze=True) is None
        assert "code" not in s.k.seen and "paid" not in s.k.seen, s.k.seen
        charges, payments = check_after_kill(s, price)
        assert (charges, payments) == (1, 1), (charges, payments)
        seen.setdefault((1, 1), []).append("frozen")
        finish(s, price, charges, code)
        print("kill points by (charges, payments) left:", seen)
        # Every stage of the sale was hit: before the charge, between the
        # charge and the payment, after the payment.
        assert set(seen) == {(0, 0), (1, 0), (1, 1)}, seen

        # Killed between the charge and the payment and never re-typed: the
        # hold runs out, the seat is free, the points stay on the walk-up
        # account and pay for the next hold without a second question.
        between = seen[(1, 0)][0]
        s = Sale(tmp, "expire", kiosk_bin, concert_bin, now_ms)
        s.hold(schedule, seat)
        assert run(s.k, s.clock, f"pay {s.res}", kill_at=between) is None
        k = s.restart(later_s=HOLD_S + 1)
        assert s.seat_mark(k) == "."
        k.send(f"pay {s.res}")
        k.expect(rf"! pay: reservation {s.res} is EXPIRED")
        k.send(f"hold {schedule} {seat}")
        res2 = k.expect(r"reservation (\d+),").group(1)
        k.send(f"pay {res2}")
        k.expect(rf"paid {price} points \(balance 0\)")
        assert "collect" not in k.seen, k.seen
        k.quit()
        verified(concert_bin, s.store)
        assert ledger(concert_bin, s.store, USER) == (1, 1)

        # Killed between the charge and the payment, then the counter sells
        # another seat of the same price first: that sale spends the top-up
        # without a question, so re-typing the first pay must ask again and
        # record the second charge (a key on the charge would replay the
        # first one, and the payment would fail short of points).
        s = Sale(tmp, "spent", kiosk_bin, concert_bin, now_ms)
        s.hold(schedule, seat2)
        other = s.res
        s.hold(schedule, seat)
        assert run(s.k, s.clock, f"pay {s.res}", kill_at=between) is None
        assert ledger(concert_bin, s.store, USER) == (1, 0)
        k = s.restart()
        k.send(f"pay {other}")
        k.expect(rf"paid {price} points \(balance 0\)")
        assert "collect" not in k.seen, k.seen
        k.send(f"pay {s.res}")
        assert k.answer("y") == price
        k.expect(rf"walk-up charge: {price} points")
        got = k.expect(r"\| code (\S+)").group(1)
        assert got == ticket_code(s.res, schedule, seat, price), got
        k.quit()
        verified(concert_bin, s.store)
        assert ledger(concert_bin, s.store, USER) == (2, 2)

        # Kills at increasing delays after the last clock read: inside the
        # payment's transaction or after it, as the scheduler has it.
        outcomes = []
        for i, delay_us in enumerate([0, 100, 200, 400, 700, 1000, 1500, 2000, 3000, 5000]):
            s = Sale(tmp, f"delay{i}", kiosk_bin, concert_bin, now_ms)
            s.hold(schedule, seat)
            assert run(s.k, s.clock, f"pay {s.res}", last=events, delay_s=delay_us / 1e6) is None
            charges, payments = check_after_kill(s, price)
            outcomes.append((delay_us, payments))
            finish(s, price, charges, code)
        print("delay sweep (us, payment committed):", outcomes)
    print("kiosk kill test: OK")


if __name__ == "__main__":
    main()
