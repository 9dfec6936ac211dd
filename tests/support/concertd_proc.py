"""The one way tests start concertd: tests/http/harness.py (the contract
tests) and tests/reliability/relib.py (the fault tests) both build on it.

ConcertdProcess runs one concertd (or concertd-test) on a free loopback port
("--listen 127.0.0.1:0"), reads the port from the line it prints when it
listens, sends its stderr to a log file in the work directory, and stops it
with a signal and a bounded wait.
"""
import os
import re
import select
import subprocess
import time

LISTEN_LINE = re.compile(r"^concertd listening on http://(\[[^\]]+\]|[^:]+):(\d+)$")


class StartFailed(AssertionError):
    """concertd exited or printed something else instead of its listen line."""


class ConcertdProcess:
    """One running concertd.

    argv: the program and its flags (--listen is added); env: the
    environment (None: ours); user: run as this user through runuser;
    preexec: passed to Popen (e.g. to lower limits in the child)."""

    def __init__(self, argv, workdir, name="concertd", env=None, user=None, preexec=None,
                 startup_timeout=30):
        self.workdir = workdir
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}-{time.monotonic_ns()}.log")
        self._log = open(self.log_path, "wb")
        argv = [argv[0], "--listen", "127.0.0.1:0"] + list(argv[1:])
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, cwd=workdir,
                                     env=env, preexec_fn=preexec)
        line = self._read_line(startup_timeout)
        m = LISTEN_LINE.match(line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            self._close_files()
            raise StartFailed(f"{name} did not start (exit {self.proc.returncode}): "
                              f"stdout {line!r}, stderr {self.log()[-1500:]!r}")
        self.host = m.group(1)
        self.port = int(m.group(2))

    def _read_line(self, timeout):
        """One line of stdout, or what came before the timeout."""
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 1)
            if not chunk:
                break
            buf += chunk
        return buf.decode("utf-8", "replace").strip()

    def _close_files(self):
        if self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if not self._log.closed:
            self._log.close()

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        """Everything concertd wrote on stderr so far."""
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, timeout=5):
        """The log once it contains text (or at the timeout): request lines
        are written when a request completes, which can be just after the
        client read the reply."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log or time.monotonic() > deadline:
                return log
            time.sleep(0.05)

    def kill(self):
        """SIGKILL: no cleanup at all, as a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_files()

    def stop(self, sig=None, timeout=20):
        """Send sig (SIGTERM by default), wait up to timeout seconds and
        return the exit status. A process that outlives the wait is killed
        and TimeoutError raised."""
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TimeoutError(f"{self.name} did not stop within {timeout} s of a signal")
        finally:
            self._close_files()
