#!/usr/bin/python3
"""Drive examples/kiosk through a pseudo-terminal, as a clerk would.

    kiosk_pty.py KIOSK_BINARY CONCERT_BINARY

A sale with a walk-up charge prints a ticket whose code this script
recomputes from the key; a kiosk killed with SIGKILL after the hold leaves a
store that `concert verify` finds clean, and re-typing `pay` after a restart
charges and pays exactly once. Exit 0 on success.
"""
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

KEY = "venue-secret"
WAIT_S = 30  # a bound on a hung kiosk, not a timing assertion


class Kiosk:
    def __init__(self, binary, store, user, clock_file=None):
        argv = [binary, "--store", store, "--user", str(user), "--ticket-key", KEY]
        if clock_file:
            argv += ["--clock-file", clock_file]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(binary, argv)
        self.buf = ""

    def expect(self, pattern):
        """Read until pattern matches the output so far; return the match."""
        while True:
            m = re.search(pattern, self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            ready, _, _ = select.select([self.fd], [], [], WAIT_S)
            if not ready:
                raise AssertionError(f"no {pattern!r} in kiosk output: {self.buf!r}")
            try:
                chunk = os.read(self.fd, 4096).decode()
            except OSError:  # EIO: the child is gone
                raise AssertionError(f"kiosk exited before {pattern!r}: {self.buf!r}")
            self.buf += chunk.replace("\r\n", "\n")

    def send(self, line):
        self.expect(r"kiosk> ")
        os.write(self.fd, (line + "\n").encode())

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)

    def quit(self):
        self.send("quit")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def siphash24(key, msg):
    """Reference SipHash-2-4 (64-bit out), to check the ticket code."""
    mask = (1 << 64) - 1
    rotl = lambda x, b: ((x << b) | (x >> (64 - b))) & mask
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261,
         k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)

    full = len(msg) - len(msg) % 8
    for i in range(0, full, 8):
        m = struct.unpack("<Q", msg[i:i + 8])[0]
        v[3] ^= m; rnd(); rnd(); v[0] ^= m
    last = (len(msg) & 0xFF) << 56
    for j, b in enumerate(msg[full:]):
        last |= b << (8 * j)
    v[3] ^= last; rnd(); rnd(); v[0] ^= last
    v[2] ^= 0xFF
    for _ in range(4):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


# The reference vector from the SipHash paper (key 00..0f, message 00..0e),
# so the check below cannot pass on two copies of the same mistake.
assert siphash24(bytes(range(16)), bytes(range(15))) == 0xA129CA6149BE45E5


def ticket_code(res, schedule, seat, price, key=KEY):
    k = bytearray(16)
    for i, c in enumerate(key.encode()):
        k[i % 16] ^= c
    h = siphash24(bytes(k), f"{res}/{schedule}/{seat}/{price}".encode())
    c = (h ^ (h >> 32)) & 0xFFFFFFFF
    return f"{c >> 16:04X}-{c & 0xFFFF:04X}"


def concert(binary, store, *args):
    return subprocess.run([binary, "--store", store, *args], check=True,
                          capture_output=True, text=True).stdout


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
        assert "result: OK" in concert(concert_bin, store, "verify")

        # Restart; the clerk re-types pay: one charge, one payment, a ticket.
        k = Kiosk(kiosk_bin, store, user)
        k.send(f"pay {res}")
        k.expect(rf"walk-up charge: {price} points")
        code = k.expect(r"code ([0-9A-F]{4}-[0-9A-F]{4})").group(1)
        assert code == ticket_code(res, schedule, seat, price), code
        assert code != ticket_code(res, schedule, seat, price, key=KEY + "x")
        k.send(f"pay {res}")  # a repeat returns the same payment, no second charge
        m = k.expect(r"(walk-up charge|paid) ")
        assert m.group(1) == "paid", "charged twice"
        k.quit()
        assert "result: OK" in concert(concert_bin, store, "verify")
        history = concert(concert_bin, store, "history", str(user))
        assert history.count("CHARGE") == 1 and history.count("PAYMENT") == 1, history

        # A hold the clerk never paid for runs out on the injected clock:
        # paying then changes nothing and the seat is free again.
        clock = os.path.join(tmp, "clock")
        now_ms = int(time.time() * 1000)
        with open(clock, "w") as f:
            f.write(f"{now_ms}\n")
        k = Kiosk(kiosk_bin, store, user, clock_file=clock)
        k.send(f"hold {schedule} {int(seat) + 1}")
        late = k.expect(r"reservation (\d+),").group(1)
        with open(clock, "w") as f:
            f.write(f"{now_ms + 301_000}\n")  # past the default 300 s hold
        k.send(f"pay {late}")
        k.expect(r"! pay: HOLD_EXPIRED")
        k.send(f"map {schedule}")
        k.expect(rf" +{int(seat) + 1}\.")
        k.quit()
        history = concert(concert_bin, store, "history", str(user))
        assert history.count("CHARGE") == 1 and history.count("PAYMENT") == 1, history
    print("kiosk pty test: OK")


if __name__ == "__main__":
    main()
