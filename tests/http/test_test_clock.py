"""concertd-test's injected clock (examples/server/test_clock.h): one file
moves the store's clock and concertd's own checks; the shipped concertd has
no such thing and ignores the variable."""
import datetime
import os
import subprocess

from harness import TEST_CLOCK_ENV, Server, parse_time, real_now_ms
from identity import jwt_args, make_jwt

YEAR_2001_MS = 978307200000  # 2001-01-01T00:00:00Z


def write_clock(workdir, text):
    path = os.path.join(workdir, "clock.ms")
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    return path


def run(binary, args, env_clock=None):
    env = dict(os.environ)
    env.pop(TEST_CLOCK_ENV, None)
    if env_clock is not None:
        env[TEST_CLOCK_ENV] = env_clock
    return subprocess.run([binary] + args, capture_output=True, timeout=30, env=env)


def test_the_shipped_concertd_has_no_test_clock(concertd_path, workdir):
    with open(concertd_path, "rb") as f:
        assert TEST_CLOCK_ENV.encode() not in f.read(), "the variable is compiled in"
    usage = run(concertd_path, ["--help"])
    assert usage.returncode == 0, usage
    assert b"clock" not in usage.stdout.lower() + usage.stderr.lower(), usage.stdout
    for flag in (["--test-clock-file", "x"], ["--test-clock", "x"], ["--clock", "x"]):
        refused = run(concertd_path, flag)
        assert refused.returncode == 2, refused
        assert b"unknown option" in refused.stderr, refused.stderr


def test_the_shipped_concertd_ignores_the_variable(concertd_path, workdir):
    """A clock file set in 2001 changes nothing: tokens expire in real time."""
    server = Server(concertd_path, ["--store", "memory:", "--demo"], workdir,
                    clock_ms=YEAR_2001_MS)
    try:
        before = datetime.datetime.now(datetime.timezone.utc)
        token = server.issue(1)
        assert parse_time(token["expires_at"]) > before, token
        assert "TEST BUILD" not in server.log()
    finally:
        assert server.stop() == 0


def test_a_bad_clock_file_stops_the_start(concertd_test_path, workdir):
    for text in ("", "soon\n", "12ab\n", "-5\n", "1" * 70):
        r = run(concertd_test_path, ["--store", "memory:", "--listen", "127.0.0.1:0"],
                env_clock=write_clock(workdir, text))
        assert r.returncode == 2, (text, r)
        assert TEST_CLOCK_ENV.encode() in r.stderr, r.stderr
    missing = os.path.join(workdir, "missing.ms")
    r = run(concertd_test_path, ["--store", "memory:"], env_clock=missing)
    assert r.returncode == 2 and b"No such file" in r.stderr, r


def test_the_clock_is_the_file(start_server):
    server = start_server("memory", clock=True)
    assert "TEST BUILD" in server.wait_log("TEST BUILD")
    server.set_clock(YEAR_2001_MS)
    token = server.issue(1)
    # --active-ttl's default, 10 minutes, from the file's time.
    assert parse_time(token["expires_at"]) == \
        server.now() + datetime.timedelta(minutes=10), token
    server.advance(10 * 60 * 1000)
    r = server.call("GET", "/api/v1/queue/tokens/current", token=token["token"])
    assert r.status == 401, r


def test_one_file_moves_concertds_own_checks_too(start_server, workdir):
    """A JWT is checked against the same clock as the store's holds."""
    server = start_server("memory", args=jwt_args(workdir), clock=True)
    start_s = server.clock_ms // 1000
    jwt = {"X-User-Token": make_jwt(1, exp_in=60, now=start_s)}
    assert server.call("POST", "/api/v1/queue/tokens", {}, headers=jwt).status == 201
    server.advance(61_000)
    r = server.call("POST", "/api/v1/queue/tokens", {}, headers=jwt)
    assert r.status == 401 and r.json["error"]["code"] == "AUTH_INVALID", r
    # And a token made for a time the real clock has not reached is good.
    later = {"X-User-Token": make_jwt(2, exp_in=60, now=start_s + 3600)}
    server.set_clock((start_s + 3600) * 1000)
    assert server.call("POST", "/api/v1/queue/tokens", {}, headers=later).status == 201
    assert real_now_ms() < (start_s + 3600) * 1000
