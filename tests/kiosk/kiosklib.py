"""Shared by the kiosk tests: the kiosk on a pseudo-terminal, a FIFO clock
that lets a test stop the kiosk at each of its clock reads, the ticket code
recomputed from the key, and the concert CLI."""
import errno
import os
import pty
import re
import select
import signal
import struct
import subprocess

KEY = "venue-secret"
WAIT_S = 30  # a bound on a hung kiosk, not a timing assertion
PROMPT = "kiosk> "
ASK = "[y/N] "


class Kiosk:
    def __init__(self, binary, store, user, clock_file=None):
        argv = [binary, "--store", store, "--user", str(user), "--ticket-key", KEY]
        if clock_file:
            argv += ["--clock-file", clock_file]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(binary, argv)
        self.buf = ""
        self.seen = ""  # everything read since the last command was sent

    def read_some(self, timeout):
        """Append what the kiosk printed within timeout s; False if nothing."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 4096).decode()
        except OSError:  # EIO: the child is gone
            raise AssertionError(f"kiosk exited; output so far: {self.buf!r}")
        chunk = chunk.replace("\r\n", "\n")
        self.buf += chunk
        self.seen += chunk
        return True

    def expect(self, pattern):
        """Read until pattern matches the output so far; return the match."""
        while True:
            m = re.search(pattern, self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if not self.read_some(WAIT_S):
                raise AssertionError(f"no {pattern!r} in kiosk output: {self.buf!r}")

    def write(self, data):
        os.write(self.fd, data.encode())

    def send(self, line):
        self.expect(re.escape(PROMPT))
        self.seen = ""
        self.write(line + "\n")

    def answer(self, reply):
        """Answer the clerk's question (the walk-up charge); return its text."""
        m = self.expect(r"collect (\d+) points from the buyer\? " + re.escape(ASK))
        self.write(reply + "\n")
        return int(m.group(1))

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)

    def quit(self):
        self.send("quit")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status

    def state(self):
        """The process state letter from /proc (R, S, D, ...)."""
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]


class FifoClock:
    """--clock-file as a FIFO: every clock read of the kiosk opens it and
    blocks until this side writes the time, so the test knows the kiosk is
    parked at a clock read and can kill it there."""

    def __init__(self, path, now_ms):
        os.mkfifo(path)
        self.path = path
        self.now_ms = now_ms

    def waiting(self):
        """An open write end if the kiosk sits in a clock read, else None.
        Opening does not let the read finish: it waits for the time."""
        try:
            return os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no reader: the kiosk is elsewhere
                return None
            raise

    def serve(self, fd):
        """Give the waiting read the time. A fresh FIFO takes the path first:
        the kiosk's next read opens that one and waits, and waiting() cannot
        mistake the reader still finishing this read for the next one."""
        fresh = self.path + ".next"
        os.mkfifo(fresh)
        os.rename(fresh, self.path)
        os.write(fd, f"{self.now_ms}\n".encode())
        os.close(fd)


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


def ledger(binary, store, user):
    """(CHARGE count, PAYMENT count) in the user's history."""
    h = concert(binary, store, "history", str(user))
    return h.count("CHARGE"), h.count("PAYMENT")


def verified(binary, store):
    out = concert(binary, store, "verify")
    assert "result: OK" in out, out
