#!/usr/bin/python3
"""Drive examples/kiosk through a pseudo-terminal, as a clerk would.

    kiosk_pty.py KIOSK_BINARY CONCERT_BINARY

A sale with a walk-up charge (the clerk says yes) prints a ticket whose code
this script recomputes from the key; a "no" changes nothing; a party of two
pays together, all or nothing; `release` frees a held seat at once; a kiosk
killed after a hold leaves a store that `concert verify` finds clean; a hold
run past its expiry on the injected clock cannot be paid; `check` accepts a
printed code of a paid reservation and refuses a forged or unpaid one.
Exit 0 on success.
(Kills inside `pay` are kiosk_kill.py.)
"""
import os
import re
import sys
import tempfile
import time

from kiosklib import Kiosk, KEY, concert, ledger, ticket_code, verified


def main():
    kiosk_bin, concert_bin = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        store = "sqlite:" + os.path.join(tmp, "kiosk.db")
        concert(concert_bin, store, "demo")
        user = 2  # Lee: balance 0 in the demo catalog, so every sale is a walk-up

        # Find a schedule and a free seat from the kiosk's own screens.
        k = Kiosk(kiosk_bin, store, user)
        k.send("concerts")
        concert_id = k.expect(r"concert (\d+) ").group(1)
        k.send(f"schedules {concert_id}")
        schedule = k.expect(r"schedule (\d+) ").group(1)
        k.send(f"map {schedule}")
        seat, price = k.expect(r" +(\d+)\.(\S+) +(\d+)").group(1, 3)

        # Hold, then kill -9 mid-sale: nothing half-done.
        k.send(f"hold {schedule} {seat}")
        res = k.expect(r"reservation (\d+),").group(1)
        k.kill9()
        verified(concert_bin, store)

        # Restart. The clerk says no to the walk-up charge: nothing changes.
        k = Kiosk(kiosk_bin, store, user)
        k.send(f"pay {res}")
        assert k.answer("n") == int(price)
        k.expect(r"no charge, no payment")
        assert ledger(concert_bin, store, user) == (0, 0)
        k.send(f"map {schedule}")
        k.expect(rf" +{seat}h")

        # Yes: one charge, one payment, a ticket.
        k.send(f"pay {res}")
        assert k.answer("y") == int(price)
        k.expect(rf"walk-up charge: {price} points")
        code = k.expect(r"code ([0-9A-F]{4}-[0-9A-F]{4})").group(1)
        assert code == ticket_code(res, schedule, seat, price), code
        assert code != ticket_code(res, schedule, seat, price, key=KEY + "x")
        k.send(f"pay {res}")  # a repeat returns the same payment, no question
        k.expect(rf"paid {price} points")
        assert "collect" not in k.seen and "walk-up" not in k.seen, k.seen
        assert code == k.expect(r"code ([0-9A-F]{4}-[0-9A-F]{4})").group(1)
        assert ledger(concert_bin, store, user) == (1, 1)

        # The door's check: the printed code and a paid reservation.
        k.send(f"check {res} {code.lower()}")
        k.expect(rf"valid: reservation {res}, schedule {schedule}, seat {seat}, paid")
        forged = ticket_code(res, schedule, seat, price, key=KEY + "x")
        k.send(f"check {res} {forged}")
        k.expect(rf"! check: the code does not match reservation {res}")

        # A party of two: one question for the sum, one payment, two tickets.
        k.send(f"map {schedule}")
        text = k.expect(r"seat map of schedule \d+[^\n]*\n((?:[^\n]*\n)*?)(?=kiosk> )").group(1)
        pairs = re.findall(r" +(\d+)\.\S+ +(\d+)", text)  # free seats: (number, price)
        (s1, p1), (s2, p2) = pairs[0], pairs[1]
        k.send(f"hold {schedule} {s1}")
        r1 = k.expect(r"reservation (\d+),").group(1)
        k.send(f"hold {schedule} {s2}")
        r2 = k.expect(r"reservation (\d+),").group(1)
        k.send(f"pay {r2} {r1}")
        assert k.answer("y") == int(p1) + int(p2)
        k.expect(rf"paid {int(p1) + int(p2)} points")
        c1 = k.expect(rf"reservation {r1} .*\n.*seat {s1} .*\n.*\n\| code (\S+)").group(1)
        c2 = k.expect(rf"reservation {r2} .*\n.*seat {s2} .*\n.*\n\| code (\S+)").group(1)
        assert c1 == ticket_code(r1, schedule, s1, p1), c1
        assert c2 == ticket_code(r2, schedule, s2, p2), c2
        assert ledger(concert_bin, store, user) == (2, 2)
        k.send(f"map {schedule}")
        k.expect(rf" +{s1}X")
        k.expect(rf" +{s2}X")

        # All or nothing: a party with one released hold pays for neither,
        # charges nothing, and `release` freed that seat at once.
        s3, s4 = pairs[2][0], pairs[3][0]
        k.send(f"hold {schedule} {s3}")
        r3 = k.expect(r"reservation (\d+),").group(1)
        k.send(f"hold {schedule} {s4}")
        r4 = k.expect(r"reservation (\d+),").group(1)
        k.send(f"release {r4}")
        k.expect(rf"reservation {r4} RELEASED")
        k.send(f"map {schedule}")
        k.expect(rf" +{s3}h")
        k.expect(rf" +{s4}\.")
        k.send(f"check {r3} {ticket_code(r3, schedule, s3, pairs[2][1])}")
        k.expect(rf"! check: reservation {r3} is HELD, not paid")
        k.send(f"pay {r3} {r4}")
        k.expect(rf"! pay: reservation {r4} is RELEASED; nothing charged or paid")
        assert "collect" not in k.seen, k.seen
        assert ledger(concert_bin, store, user) == (2, 2)
        k.send(f"map {schedule}")
        k.expect(rf" +{s3}h")
        k.quit()
        verified(concert_bin, store)

        # A hold the clerk never paid for runs out on the injected clock:
        # paying then changes nothing and the seat is free again.
        clock = os.path.join(tmp, "clock")
        now_ms = int(time.time() * 1000)
        with open(clock, "w") as f:
            f.write(f"{now_ms}\n")
        k = Kiosk(kiosk_bin, store, user, clock_file=clock)
        late_seat = pairs[4][0]
        k.send(f"hold {schedule} {late_seat}")
        late = k.expect(r"reservation (\d+),").group(1)
        with open(clock, "w") as f:
            f.write(f"{now_ms + 301_000}\n")  # past the default 300 s hold
        k.send(f"pay {late}")
        k.expect(rf"! pay: reservation {late} is EXPIRED")
        k.send(f"map {schedule}")
        k.expect(rf" +{late_seat}\.")
        # The counter idles past the ACTIVE token's 10 minutes: the next
        # command joins the queue again instead of failing on a dead token.
        with open(clock, "w") as f:
            f.write(f"{now_ms + 301_000 + 600_000}\n")
        k.send(f"map {schedule}")
        k.expect(rf" +{late_seat}\.")
        k.quit()
        assert ledger(concert_bin, store, user) == (2, 2)
        verified(concert_bin, store)
    print("kiosk pty test: OK")


if __name__ == "__main__":
    main()
