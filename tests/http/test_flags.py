"""concertd's command line: help, version, bad flags (exit 2), refusing to
start on a bad catalog (exit 1), --demo, and SIGINT."""
import ctypes
import datetime
import json
import os
import re
import signal
import subprocess

import pytest

from harness import Server, parse_time


def run(concertd_path, *args, cwd=None):
    return subprocess.run([concertd_path, *args], capture_output=True, text=True, timeout=30,
                          cwd=cwd)


def test_help_and_version(concertd_path):
    r = run(concertd_path, "--help")
    assert r.returncode == 0
    for flag in ("--store", "--listen", "--max-active", "--admit-per-minute",
                 "--queue-refresh-ms", "--admin-key-file", "--active-ttl", "--wait-ttl",
                 "--hold-ttl", "--booking-cutoff", "--threads", "--import", "--demo", "--help",
                 "--version", "--auth", "--insecure-demo", "--jwt-secret-file", "--auth-header",
                 "--service-key-file", "--allow-self-charge", "--retention", "--reuse-port",
                 "--metrics-token-file", "--no-metrics", "--log-format"):
        assert flag in r.stdout, flag
    # The queue limits only seed a new store: --help must say so.
    assert "only SEED a store" in r.stdout
    assert "sqlite:concert.db" in r.stdout and "127.0.0.1:8080" in r.stdout
    v = run(concertd_path, "--version")
    assert v.returncode == 0
    assert v.stdout.startswith("concertd ") and "libconcert" in v.stdout


@pytest.mark.parametrize("args, complaint", [
    (["--bogus"], "unknown option '--bogus'"),
    (["store"], "unknown option 'store'"),
    (["--store"], "--store needs a value"),
    (["--listen", "8080"], "--listen"),
    (["--listen", "127.0.0.1:70000"], "--listen"),
    (["--listen", "::1:80"], "--listen"),
    (["--max-active", "0"], "--max-active"),
    (["--max-active", "-3"], "--max-active"),
    (["--max-active", "ten"], "--max-active"),
    (["--max-active", "100000001"], "--max-active"),
    (["--admit-per-minute", "-1"], "--admit-per-minute"),
    (["--admit-per-minute", "6000001"], "--admit-per-minute"),
    (["--admit-per-minute", "1.5"], "--admit-per-minute"),
    (["--queue-refresh-ms", "-1"], "--queue-refresh-ms"),
    (["--queue-refresh-ms", "60001"], "--queue-refresh-ms"),
    (["--queue-refresh-ms", "fast"], "--queue-refresh-ms"),
    (["--admin-key-file"], "--admin-key-file needs a value"),
    (["--admin-key-file="], "--admin-key-file: the value must not be empty"),
    (["--hold-ttl", "0"], "--hold-ttl"),
    (["--hold-ttl", "1.2345"], "--hold-ttl"),
    (["--active-ttl", "1e3"], "--active-ttl"),
    (["--wait-ttl", ""], "--wait-ttl"),
    (["--booking-cutoff", "99999999999999"], "--booking-cutoff"),
    (["--threads", "0"], "--threads"),
    (["--threads", "100000"], "--threads"),
    (["--demo=yes"], "--demo takes no value"),
    (["--import"], "--import needs a value"),
    (["--retention", "0"], "--retention"),
    (["--retention", "-5"], "--retention"),
    (["--reuse-port=1"], "--reuse-port takes no value"),
])
def test_bad_flags_exit_2_with_a_message(concertd_path, args, complaint):
    r = run(concertd_path, *args)
    assert r.returncode == 2, (args, r)
    assert complaint in r.stderr, r.stderr
    assert r.stdout == ""


def test_flag_equals_form_and_decimal_seconds(start_server):
    server = start_server("memory", args=["--hold-ttl=2.5", "--max-active=5", "--threads=1"])
    before = datetime.datetime.now(datetime.timezone.utc)
    token = server.active_token(1)
    held = server.reserve(token, 1).json
    after = datetime.datetime.now(datetime.timezone.utc)
    until = parse_time(held["held_until"])
    # A hold of 2.5 s, to the millisecond (the server and the test share a clock).
    assert before + datetime.timedelta(seconds=2.5) <= until + datetime.timedelta(milliseconds=1)
    assert until <= after + datetime.timedelta(seconds=2.5, milliseconds=1)


def test_retention_below_a_second_is_refused_with_the_librarys_bound(concertd_path):
    r = run(concertd_path, "--store", "memory:", "--listen", "127.0.0.1:0", "--retention", "0.5")
    assert r.returncode == 2, r
    assert "--retention: expected seconds from 1 to" in r.stderr, r.stderr


class OptionInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("unit", ctypes.c_char_p),
                ("default_value", ctypes.c_int64), ("min", ctypes.c_int64),
                ("max", ctypes.c_int64), ("zero_means", ctypes.c_char_p),
                ("summary", ctypes.c_char_p)]


def library_options(concertd_path):
    """The library's own table, read from the libconcert concertd runs on."""
    ldd = subprocess.run(["ldd", concertd_path], capture_output=True, text=True).stdout
    if "libasan" in ldd or "libtsan" in ldd:
        # ctypes cannot load a sanitizer build into python (its runtime must
        # come first); the normal build's run of this test checks the table.
        pytest.skip("libconcert is built with a sanitizer")
    path = next(line.split("=>")[1].split("(")[0].strip()
                for line in ldd.splitlines() if "libconcert.so" in line)
    lib = ctypes.CDLL(path)
    lib.concert_options_info.restype = ctypes.POINTER(OptionInfo)
    lib.concert_options_info.argtypes = [ctypes.c_size_t]
    table = {}
    for i in range(100):
        p = lib.concert_options_info(i)
        if not p:
            break
        e = p.contents
        table[e.name.decode()] = (e.default_value, e.min, e.max, e.zero_means.decode())
    return table


OPTION_FLAGS = {"--max-active": ("max_active", 1), "--admit-per-minute": ("admit_per_minute", 1),
                "--queue-refresh-ms": ("queue_refresh_ms", 1),
                "--max-holds-per-user": ("max_holds_per_user", 1),
                "--active-ttl": ("active_ttl_ms", 1000), "--wait-ttl": ("wait_ttl_ms", 1000),
                "--hold-ttl": ("hold_ttl_ms", 1000),
                "--booking-cutoff": ("booking_cutoff_ms", 1000),
                "--retention": ("retention_ms", 1000)}


def seconds(ms):
    return f"{ms // 1000}.{ms % 1000:03d}"


@pytest.mark.parametrize("flag", sorted(OPTION_FLAGS))
def test_option_flags_take_bounds_and_defaults_from_the_library(concertd_path, flag):
    """One source of truth: each flag refuses just past the library's bounds,
    names them, and --help shows the library's default."""
    name, scale = OPTION_FLAGS[flag]
    default, lo, hi, zero = library_options(concertd_path)[name]
    show = seconds if scale == 1000 else str
    r = run(concertd_path, flag, show(hi + 1))
    assert r.returncode == 2 and re.search(rf"to {hi // scale}\b", r.stderr), r.stderr
    if zero == "default":  # naming 0 and getting the default is refused
        assert run(concertd_path, flag, "0").returncode == 2
        below = lo - 1
        if below > 0:
            r = run(concertd_path, flag, show(below))
            assert r.returncode == 2 and flag in r.stderr, r.stderr
    else:
        assert f"from 0 ({zero})" in run(concertd_path, flag, "-1").stderr
    help_text = " ".join(run(concertd_path, "--help").stdout.split())
    start = help_text.index(flag + " ")
    assert f"default {default // scale}" in help_text[start:start + 200], help_text[start:start + 200]


def test_reuse_port_lets_two_servers_share_a_port(concertd_path, workdir):
    first = Server(concertd_path, ["--store", "memory:", "--demo", "--reuse-port"], workdir)
    try:
        port = first.port
        # Without the flag the port is taken...
        r = run(concertd_path, "--store", "memory:", "--listen", f"127.0.0.1:{port}")
        assert r.returncode == 1 and "cannot listen" in r.stderr, r
        # ...with it on both, a second process serves the same port.
        second = Server(concertd_path, ["--store", "memory:", "--demo", "--listen",
                                        f"127.0.0.1:{port}", "--reuse-port"], workdir)
        try:
            assert second.port == port
            assert second.call("GET", "/healthz").status == 200
        finally:
            assert second.stop() == 0
        assert first.call("GET", "/healthz").status == 200
    finally:
        assert first.stop() == 0


def test_bad_catalog_refuses_to_start(concertd_path, workdir):
    bad = os.path.join(workdir, "bad.json")
    with open(bad, "w", encoding="utf-8") as f:
        json.dump({"users": [], "concerts": [{"id": 1, "title": "x", "status": "OPEN",
                   "schedules": [{"id": 1, "starts_at": "2030-01-01T00:00:00Z",
                                  "seats": [{"from": 5, "to": 1, "grade": "R",
                                             "price": 1}]}]}]}, f)
    r = run(concertd_path, "--store", "memory:", "--listen", "127.0.0.1:0", "--import", bad)
    assert r.returncode == 1, r
    assert "concerts[0].schedules[0].seats[0].to" in r.stderr, r.stderr
    assert "listening" not in r.stdout
    r = run(concertd_path, "--store", "memory:", "--listen", "127.0.0.1:0", "--import",
            os.path.join(workdir, "missing.json"))
    assert r.returncode == 1, r
    assert "missing.json" in r.stderr


def test_unusable_store_or_address_refuses_to_start(concertd_path, workdir):
    r = run(concertd_path, "--store", "nosuch:thing", "--listen", "127.0.0.1:0")
    assert r.returncode == 1 and "cannot open the store" in r.stderr, r
    r = run(concertd_path, "--store", "memory:", "--listen", "203.0.113.1:0", "--insecure-demo")
    assert r.returncode == 1 and "cannot listen" in r.stderr, r


def test_default_store_is_sqlite_in_the_working_directory(concertd_path, workdir):
    server = Server(concertd_path, ["--demo"], workdir)
    try:
        assert server.call("GET", "/healthz").status == 200
        assert os.path.exists(os.path.join(workdir, "concert.db"))
        assert "demo catalog loaded" in server.log()
    finally:
        assert server.stop() == 0
    # A second start finds the data and does not load the demo again.
    server = Server(concertd_path, ["--demo"], workdir)
    try:
        assert "store not empty" in server.wait_log("store not empty")
        assert server.call("GET", "/api/v1/users/1/points").status == 200
    finally:
        assert server.stop(signal.SIGINT) == 0
    assert "SIGINT received" in server.log()


@pytest.mark.parametrize("content, complaint", [
    (None, "cannot read"),
    ("", "is empty"),
    ("\n\n", "is empty"),
    ("short\n", "shorter than 16"),
    ("a key with spaces in it\n", "printable ASCII"),
    ("line-one-0123456789\nline-two-0123456789\n", "printable ASCII"),
    ("k" * 2000, "longer than"),
])
def test_bad_admin_key_file_refuses_to_start(concertd_path, workdir, content, complaint):
    path = os.path.join(workdir, "admin.key")
    if content is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
    r = run(concertd_path, "--store", "memory:", "--listen", "127.0.0.1:0",
            "--admin-key-file", path)
    assert r.returncode == 1, r
    assert "--admin-key-file" in r.stderr and complaint in r.stderr, r.stderr
    assert "listening" not in r.stdout


def test_queue_flags_seed_a_new_store_only(start_server, workdir):
    """--max-active/--admit-per-minute set a new store's queue settings; a
    store that has them keeps its own, and the log says so."""
    uri = "sqlite:" + os.path.join(workdir, "seeded.db")
    first = start_server(uri, args=["--max-active", "7", "--admit-per-minute", "120"])
    assert "max_active 7, admit_per_minute 120" in first.wait_log("admit_per_minute")
    assert first.stop() == 0
    second = start_server(uri, catalog=None,
                          args=["--max-active", "3", "--admit-per-minute", "60"])
    log = second.wait_log("only seed a new store")
    assert "max_active 7, admit_per_minute 120" in log, log
    assert "only seed a new store" in log, log
    q = second.call("GET", "/api/v1/queue").json
    assert (q["max_active"], q["admit_per_minute"]) == (7, 120), q
