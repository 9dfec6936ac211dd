"""End-to-end tests of the concert CLI on temporary SQLite stores.

Run by ctest (tests/cli.cmake) with CONCERT_CLI set to build/bin/concert and
CONCERT_LIB to libconcert.so (used through ctypes to put tokens in the queue,
which the CLI itself cannot do). SQLite only: the CLI's store handling is the
library's, and the library's suites cover the other stores.
"""
import ctypes
import json
import os
import sqlite3
import subprocess
import time

import pytest

CLI = os.environ.get("CONCERT_CLI", "build/bin/concert")
LIB = os.environ.get("CONCERT_LIB", "")

CATALOG = {
    "users": [
        {"id": 1, "name": "Kim", "points": 0},
        {"id": 2, "name": "Lee", "points": 50000},
        {"id": 3, "name": "박지민", "points": 7},
    ],
    "concerts": [
        {"id": 1, "title": "Winter Gala", "status": "OPEN",
         "schedules": [{"id": 10, "starts_at": "2030-12-24T19:00:00Z",
                        "seats": [{"from": 1, "to": 50, "grade": "R", "price": 80000},
                                  {"from": 51, "to": 60, "grade": "S", "price": 50000}]}]},
        {"id": 2, "title": "Spring Preview", "status": "PENDING"},
        {"id": 3, "title": "Old Show", "status": "CLOSED",
         "schedules": [{"id": 30, "starts_at": "2020-01-01T19:00:00+09:00", "seats": []}]},
    ],
}


def run(args, store=None, stdin=None, check_status=None):
    cmd = [CLI]
    if store is not None:
        cmd += ["--store", store]
    cmd += args
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    if check_status is not None:
        assert proc.returncode == check_status, (cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_json(args, store):
    proc = run(args + ["--json"], store, check_status=0)
    return json.loads(proc.stdout)


@pytest.fixture
def store(tmp_path):
    return "sqlite:" + str(tmp_path / "store.db")


@pytest.fixture
def loaded(tmp_path, store):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(CATALOG), encoding="utf-8")
    run(["import", str(path)], store, check_status=0)
    return store


def write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document),
                    encoding="utf-8")
    return str(path)


# ---- help, version, usage ----

COMMANDS = ["import", "demo", "concerts", "users", "balance", "charge", "history", "queue",
            "verify", "prune"]


def test_global_help_lists_every_command():
    proc = run(["--help"], check_status=0)
    assert proc.stdout.startswith("Usage: concert")
    for name in COMMANDS:
        assert "\n  " + name + " " in proc.stdout, name
    assert "sqlite:concert.db" in proc.stdout
    assert run(["-h"], check_status=0).stdout == proc.stdout
    assert run(["help"], check_status=0).stdout == proc.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name, tmp_path):
    # --help must not open (and so create) the store.
    store = "sqlite:" + str(tmp_path / "never.db")
    proc = run([name, "--help"], store, check_status=0)
    assert proc.stdout.startswith("Usage: concert [--store URI] " + name)
    assert proc.stderr == ""
    assert not (tmp_path / "never.db").exists()
    assert run(["help", name], check_status=0).stdout == proc.stdout


def test_version():
    proc = run(["--version"], check_status=0)
    assert proc.stdout.startswith("concert ")
    assert "libconcert" in proc.stdout


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["--frob", "users"],
    ["--store"],
    ["--max-active", "0", "queue"],
    ["--max-active", "x", "queue"],
    ["users", "extra"],
    ["users", "--frob"],
    ["balance"],
    ["balance", "abc"],
    ["balance", "1x"],
    ["balance", " 1"],
    ["balance", "99999999999999999999"],
    ["charge", "1"],
    ["charge", "1", "1.5"],
    ["charge", "1", "10", "--key"],
    ["charge", "1", "10", "--json", "--frob"],
    ["import"],
    ["import", "a", "b"],
    ["help", "nosuch"],
    # queue subcommands: refused before the store is opened
    ["queue", "frob"],
    ["queue", "PAUSE"],
    ["queue", "pause", "extra"],
    ["queue", "pause", "--max-active", "2"],
    ["queue", "resume", "--frob"],
    ["queue", "open", "now"],
    ["queue", "close", "--opens-at", "2099-01-01T00:00:00Z"],
    ["queue", "schedule"],
    ["queue", "schedule", "--opens-at"],
    ["queue", "schedule", "--opens-at", "tomorrow"],
    ["queue", "schedule", "--opens-at", "2099-02-30T00:00:00Z"],
    ["queue", "schedule", "--opens-at", "2099-01-01 00:00:00Z"],
    ["queue", "schedule", "--opens-at", "2099-01-01T00:00:00"],
    ["queue", "schedule", "--opens-at", "4102444800000"],
    ["queue", "schedule", "2099-01-01T00:00:00Z"],
    ["queue", "set"],
    ["queue", "set", "--json"],
    ["queue", "set", "--max-active"],
    ["queue", "set", "--max-active", "abc"],
    ["queue", "set", "--max-active", "1.5"],
    ["queue", "set", "--max-active", "1e3"],
    ["queue", "set", "--max-active", " 5"],
    ["queue", "set", "--max-active", ""],
    ["queue", "set", "--max-active", "99999999999999999999"],
    ["queue", "set", "--admit-per-minute", "-99999999999999999999"],
    ["queue", "set", "--admit-per-minute", "ten"],
    ["queue", "set", "--max-active", "5", "--admit-per-minute", "x"],
    ["queue", "set", "5"],
    ["queue", "set", "--max-active", "5", "--state", "OPEN"],
    ["prune", "--limit"],
    ["prune", "--limit", "0"],
    ["prune", "--limit", "-1"],
    ["prune", "--limit", "ten"],
    ["prune", "5"],
    ["--retention", "0", "prune"],
    ["--retention", "1.5", "prune"],
    ["--retention", "day", "prune"],
    ["--retention"],
])
def test_bad_usage_exits_2(args, tmp_path):
    store = "sqlite:" + str(tmp_path / "never.db")
    proc = run(args, store)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("concert")
    assert "--help" in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "never.db").exists()


# ---- import and the read commands ----

def test_import_then_read_everything(tmp_path, store):
    path = write(tmp_path, "catalog.json", CATALOG)
    proc = run(["import", path], store, check_status=0)
    assert proc.stdout == "imported 3 users, 3 concerts, 2 schedules, 60 seats\n"

    concerts = run(["concerts"], store, check_status=0).stdout.splitlines()
    assert concerts[0].split() == ["ID", "STATUS", "TITLE"]
    assert concerts[1].split() == ["1", "OPEN", "Winter", "Gala"]
    assert concerts[2].split() == ["2", "PENDING", "Spring", "Preview"]
    assert concerts[3].split() == ["3", "CLOSED", "Old", "Show"]
    assert run_json(["concerts"], store) == {"concerts": [
        {"id": 1, "title": "Winter Gala", "status": "OPEN"},
        {"id": 2, "title": "Spring Preview", "status": "PENDING"},
        {"id": 3, "title": "Old Show", "status": "CLOSED"}]}

    users = run(["users"], store, check_status=0).stdout.splitlines()
    assert users[0].split() == ["ID", "BALANCE", "NAME"]
    assert users[3].split() == ["3", "7", "박지민"]
    assert run_json(["users"], store) == {"users": [
        {"id": 1, "name": "Kim", "balance": 0},
        {"id": 2, "name": "Lee", "balance": 50000},
        {"id": 3, "name": "박지민", "balance": 7}]}
    # --json is also accepted before the command.
    assert json.loads(run(["--json", "users"], store, check_status=0).stdout)["users"][1][
        "balance"] == 50000


def test_import_from_stdin_with_json_summary(store):
    proc = run(["import", "-", "--json"], store, stdin=json.dumps(CATALOG), check_status=0)
    assert json.loads(proc.stdout) == {"users": 3, "concerts": 3, "schedules": 2, "seats": 60}


def users_of(store):
    return run_json(["users"], store)["users"]


def concerts_of(store):
    return run_json(["concerts"], store)["concerts"]


@pytest.mark.parametrize("document, place", [
    # shape and types: refused by the parser
    ({"users": [{"id": 9, "name": "New"}],
      "concerts": [{"id": 9, "title": "t", "status": "SOLD_OUT"}]},
     "concerts[0].status: must be one of OPEN, PENDING, CLOSED"),
    ({"users": [{"id": 9, "name": "New", "points": "10"}]},
     "users[0].points: must be an integer"),
    ({"users": [{"id": 9, "name": "New"}],
      "concerts": [{"id": 9, "title": "t", "status": "OPEN",
                    "schedules": [{"id": 90, "starts_at": "2030-02-30T00:00:00Z"}]}]},
     "concerts[0].schedules[0].starts_at: not an RFC 3339 time"),
    ('{"users": [{"id": 9, "name": "New"}], "concerts": [', "catalog: not valid JSON"),
    # values: refused by the library
    ({"users": [{"id": 9, "name": "New"}],
      "concerts": [{"id": 9, "title": "t", "status": "OPEN", "schedules": [
          {"id": 90, "starts_at": "2030-01-01T00:00:00Z", "seats": []},
          {"id": 91, "starts_at": "2030-01-01T00:00:00Z",
           "seats": [{"from": 5, "to": 4, "grade": "R", "price": 1}]}]}]},
     "concerts[0].schedules[1].seats[0].to: must be >= from"),
    ({"users": [{"id": 9, "name": "New"}],
      "concerts": [{"id": 9, "title": "t", "status": "OPEN", "schedules": [
          {"id": 90, "starts_at": "2030-01-01T00:00:00Z",
           "seats": [{"from": 1, "to": 10, "grade": "R", "price": 1},
                     {"from": 10, "to": 20, "grade": "S", "price": 1}]}]}]},
     "concerts[0].schedules[0].seats[1]"),
    ({"users": [{"id": 9, "name": "New"}],
      "concerts": [{"id": 9, "title": "t", "status": "OPEN", "schedules": [
          {"id": 90, "starts_at": "2030-01-01T00:00:00Z",
           "seats": [{"from": 1, "to": 10, "grade": "R", "price": -1}]}]}]},
     "concerts[0].schedules[0].seats[0].price"),
    ({"users": [{"id": 9, "name": "New"}, {"id": 9, "name": "Again"}]}, "users[1].id"),
])
def test_failed_import_names_the_place_and_changes_nothing(tmp_path, loaded, document, place):
    before = (users_of(loaded), concerts_of(loaded))
    text = document if isinstance(document, str) else json.dumps(document)
    proc = run(["import", write(tmp_path, "bad.json", text)], loaded)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("concert: INVALID_ARGUMENT: "), proc.stderr
    assert place in proc.stderr
    assert proc.stdout == ""
    assert (users_of(loaded), concerts_of(loaded)) == before


def test_import_of_existing_ids_is_refused_atomically(tmp_path, loaded):
    before = (users_of(loaded), concerts_of(loaded))
    # User 9 is new; concert 1 already exists: nothing may be loaded.
    document = {"users": [{"id": 9, "name": "New", "points": 10}],
                "concerts": [{"id": 1, "title": "Dup", "status": "OPEN"}]}
    proc = run(["import", write(tmp_path, "dup.json", document)], loaded)
    assert proc.returncode == 1
    assert proc.stderr.startswith("concert: "), proc.stderr
    assert "concerts[0]" in proc.stderr, proc.stderr
    assert (users_of(loaded), concerts_of(loaded)) == before
    # The same file a second time after a successful import: also refused.
    assert run(["import", write(tmp_path, "again.json", CATALOG)], loaded).returncode == 1
    assert (users_of(loaded), concerts_of(loaded)) == before


def test_import_problems_with_the_file(tmp_path, store):
    proc = run(["import", str(tmp_path / "missing.json")], store)
    assert proc.returncode == 1
    assert proc.stderr.startswith("concert: INVALID_ARGUMENT: cannot open ")
    proc = run(["import", str(tmp_path)], store)  # a directory
    assert proc.returncode == 1
    assert "cannot read" in proc.stderr
    # A bad catalog is refused before the store is even opened.
    assert not (tmp_path / "store.db").exists()


# ---- points ----

def test_balance_charge_and_history(loaded):
    assert run(["balance", "2"], loaded, check_status=0).stdout == \
        "user 2: balance 50000 points\n"
    assert run_json(["balance", "1"], loaded) == {"user_id": 1, "balance": 0}
    assert run_json(["charge", "1", "1000"], loaded) == {"user_id": 1, "balance": 1000}
    proc = run(["charge", "1", "500"], loaded, check_status=0)
    assert proc.stdout == "user 1: balance 1500 points\n"
    assert run_json(["balance", "1"], loaded)["balance"] == 1500

    history = run_json(["history", "1"], loaded)
    assert history["user_id"] == 1
    amounts = [(e["type"], e["amount"], e["balance_after"]) for e in history["entries"]]
    # Newest first; the opening balance of 0 may or may not be an entry.
    assert amounts[:2] == [("CHARGE", 500, 1500), ("CHARGE", 1000, 1000)]
    for entry in history["entries"]:
        assert entry["at"].endswith("Z") and entry["at"][4] == "-"
    table = run(["history", "1"], loaded, check_status=0).stdout.splitlines()
    assert table[0].split() == ["ID", "TYPE", "AMOUNT", "BALANCE", "AT"]
    assert table[1].split()[1:4] == ["CHARGE", "+500", "1500"]


def test_charge_with_a_key_applies_once(loaded):
    first = run_json(["charge", "2", "100", "--key", "order-7"], loaded)
    assert first == {"user_id": 2, "balance": 50100}
    again = run_json(["charge", "2", "100", "--key=order-7"], loaded)
    assert again == first
    assert run_json(["balance", "2"], loaded)["balance"] == 50100
    proc = run(["charge", "2", "200", "--key", "order-7"], loaded)
    assert proc.returncode == 1
    assert proc.stderr.startswith("concert: IDEMPOTENCY_KEY_REUSED: ")
    assert run_json(["balance", "2"], loaded)["balance"] == 50100


@pytest.mark.parametrize("args, code", [
    (["charge", "1", "0"], "INVALID_AMOUNT"),
    (["charge", "1", "-5"], "INVALID_AMOUNT"),
    (["charge", "1", "1000000001"], "INVALID_AMOUNT"),
    (["charge", "404", "10"], "USER_NOT_FOUND"),
    (["balance", "404"], "USER_NOT_FOUND"),
    (["history", "404"], "USER_NOT_FOUND"),
    (["charge", "1", "10", "--key", "k" * 256], "INVALID_ARGUMENT"),
])
def test_domain_errors_exit_1_with_the_code(loaded, args, code):
    proc = run(args, loaded)
    assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("concert: " + code + ": "), proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stdout == ""
    assert run_json(["balance", "1"], loaded)["balance"] == 0


def test_unreachable_store_exits_1(tmp_path):
    proc = run(["users"], "sqlite:" + str(tmp_path / "no" / "such" / "dir.db"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("concert: STORAGE_UNAVAILABLE: "), proc.stderr
    proc = run(["users"], "nosuchscheme:x")
    assert proc.returncode == 1
    assert proc.stderr.startswith("concert: INVALID_ARGUMENT: "), proc.stderr


# ---- queue and verify ----

class TokenInfo(ctypes.Structure):
    _fields_ = [("token", ctypes.c_char * 64), ("user_id", ctypes.c_int64),
                ("state", ctypes.c_int32), ("is_new", ctypes.c_int32),
                ("position", ctypes.c_int64), ("eta_ms", ctypes.c_int64),
                ("expires_at", ctypes.c_int64)]


class Options(ctypes.Structure):
    # concert_options version 2
    _fields_ = [("version", ctypes.c_uint), ("max_active", ctypes.c_int64),
                ("active_ttl_ms", ctypes.c_int64), ("wait_ttl_ms", ctypes.c_int64),
                ("hold_ttl_ms", ctypes.c_int64), ("booking_cutoff_ms", ctypes.c_int64),
                ("clock", ctypes.c_void_p), ("clock_ctx", ctypes.c_void_p),
                ("random", ctypes.c_void_p), ("random_ctx", ctypes.c_void_p),
                ("pool_size", ctypes.c_int32), ("busy_timeout_ms", ctypes.c_int32),
                ("connect_timeout_ms", ctypes.c_int32), ("reserved", ctypes.c_int32),
                ("admit_per_minute", ctypes.c_int64), ("queue_refresh_ms", ctypes.c_int64)]


WAITING, ACTIVE = 1, 2
QUEUE_CLOSED = -36
FUTURE = "2099-01-01T00:00:00Z"


def join_queue(store, users, expect=0):
    """Issue tokens for users through the C API, as concertd would.

    Returns [(state, position)] per user; a call may fail with ``expect``
    (a negative code), then (code, None) is recorded for it."""
    if not LIB:
        pytest.skip("CONCERT_LIB not set (sanitized build)")
    lib = ctypes.CDLL(LIB)
    opts = Options()
    assert lib.concert_options_init(ctypes.byref(opts), 2) == 0
    assert opts.queue_refresh_ms == 250
    db = ctypes.c_void_p()
    assert lib.concert_db_open(ctypes.byref(db), store.encode(), ctypes.byref(opts)) == 0
    results = []
    try:
        for user in users:
            info = TokenInfo()
            rc = lib.concert_queue_issue(ctypes.byref(info), db, ctypes.c_int64(user))
            if rc != 0:
                assert rc == expect, rc
                results.append((rc, None))
            else:
                results.append((info.state, info.position))
    finally:
        lib.concert_db_close(db)
    return results


def queue_of(store):
    return run_json(["queue"], store)


def settings_of(store):
    stats = queue_of(store)
    return {k: stats[k] for k in ("state", "opens_at", "max_active", "admit_per_minute")}


def test_queue_shows_state_limits_and_counts(loaded):
    stats = queue_of(loaded)
    assert stats == {"state": "OPEN", "opens_at": None, "max_active": 1000,
                     "admit_per_minute": 0, "active": 0, "waiting": 0, "prequeued": 0,
                     "admitted_through": stats["admitted_through"],
                     "last_ticket": stats["last_ticket"],
                     "eta_seconds": stats["eta_seconds"]}
    text = run(["queue"], loaded, check_status=0).stdout
    assert "state:            OPEN\n" in text
    assert "max active:       1000\n" in text
    assert "admit per minute: unlimited\n" in text
    assert "opens at" not in text
    assert "pre-queued:       0\n" in text
    assert "wait at the back: " in text


def test_queue_counts_under_a_limit_set_in_the_store(loaded):
    set_json = run_json(["queue", "set", "--max-active", "2"], loaded)
    assert set_json == {"state": "OPEN", "opens_at": None, "max_active": 2,
                        "admit_per_minute": 0}
    # The global --max-active only seeds a new store: it does not override.
    assert [s for s, _ in join_queue(loaded, [1, 2, 3])] == [ACTIVE, ACTIVE, WAITING]
    stats = run_json(["--max-active", "50", "queue"], loaded)
    assert stats["active"] == 2
    assert stats["waiting"] == 1
    assert stats["max_active"] == 2
    assert stats["last_ticket"] >= 3
    text = run(["queue"], loaded, check_status=0).stdout
    assert "active:           2 of 2" in text
    assert "waiting:          1" in text


def test_global_max_active_seeds_a_new_store(store):
    assert run_json(["--max-active", "7", "queue"], store)["max_active"] == 7
    assert run_json(["--max-active", "9", "queue"], store)["max_active"] == 7


def test_queue_set_either_limit_or_both(loaded):
    assert run_json(["queue", "set", "--admit-per-minute", "600"], loaded) == {
        "state": "OPEN", "opens_at": None, "max_active": 1000, "admit_per_minute": 600}
    assert run_json(["queue", "set", "--max-active=25"], loaded)["admit_per_minute"] == 600
    proc = run(["queue", "set", "--max-active", "100000000", "--admit-per-minute", "6000000"],
               loaded, check_status=0)
    assert "max active:       100000000\n" in proc.stdout
    assert "admit per minute: 6000000\n" in proc.stdout
    assert run_json(["queue", "set", "--admit-per-minute", "0", "--max-active", "1"],
                    loaded) == {"state": "OPEN", "opens_at": None, "max_active": 1,
                                "admit_per_minute": 0}
    assert settings_of(loaded) == {"state": "OPEN", "opens_at": None, "max_active": 1,
                                   "admit_per_minute": 0}
    assert "admit per minute: unlimited" in run(["queue"], loaded, check_status=0).stdout


@pytest.mark.parametrize("args, code", [
    (["queue", "set", "--max-active", "0"], "INVALID_ARGUMENT"),
    (["queue", "set", "--max-active", "-5"], "INVALID_ARGUMENT"),
    (["queue", "set", "--max-active", "-1"], "INVALID_ARGUMENT"),   # not "unchanged"
    (["queue", "set", "--max-active", "100000001"], "INVALID_ARGUMENT"),
    (["queue", "set", "--max-active", "9223372036854775807"], "INVALID_ARGUMENT"),
    (["queue", "set", "--admit-per-minute", "-1"], "INVALID_ARGUMENT"),
    (["queue", "set", "--admit-per-minute", "6000001"], "INVALID_ARGUMENT"),
    # one good and one bad value: the good one is not applied either
    (["queue", "set", "--max-active", "3", "--admit-per-minute", "-7"], "INVALID_ARGUMENT"),
    (["queue", "set", "--max-active", "-3", "--admit-per-minute", "7"], "INVALID_ARGUMENT"),
    (["queue", "schedule", "--opens-at", "2020-01-01T00:00:00Z"], "INVALID_ARGUMENT"),
    (["queue", "schedule", "--opens-at", "1970-01-01T00:00:00Z"], "INVALID_ARGUMENT"),
    (["queue", "resume"], "CONFLICT"),   # the queue is OPEN, not PAUSED
])
def test_queue_bad_values_exit_1_and_change_nothing(loaded, args, code):
    run(["queue", "set", "--max-active", "10", "--admit-per-minute", "120"], loaded,
        check_status=0)
    before = settings_of(loaded)
    proc = run(args, loaded)
    assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("concert: " + code + ": "), proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stdout == ""
    assert settings_of(loaded) == before


def test_queue_pause_and_resume(loaded):
    proc = run(["queue", "pause"], loaded, check_status=0)
    assert proc.stdout.startswith("state:            PAUSED\n")
    # Paused: joins still queue, nobody is admitted, the wait is unknown.
    assert join_queue(loaded, [1, 2]) == [(WAITING, 1), (WAITING, 2)]
    stats = queue_of(loaded)
    assert (stats["state"], stats["active"], stats["waiting"]) == ("PAUSED", 0, 2)
    assert stats["eta_seconds"] is None
    assert "wait at the back: unknown" in run(["queue"], loaded, check_status=0).stdout
    # Pausing again is allowed; resuming twice is not.
    assert run_json(["queue", "pause"], loaded)["state"] == "PAUSED"
    assert run_json(["queue", "resume"], loaded)["state"] == "OPEN"
    proc = run(["queue", "resume"], loaded)
    assert proc.returncode == 1
    assert proc.stderr.startswith("concert: CONFLICT: ")
    stats = queue_of(loaded)
    assert (stats["state"], stats["active"], stats["waiting"]) == ("OPEN", 2, 0)


def test_queue_close_refuses_joins_and_open_reopens(loaded):
    assert join_queue(loaded, [1]) == [(ACTIVE, 0)]
    assert run_json(["queue", "close"], loaded)["state"] == "CLOSED"
    assert join_queue(loaded, [2], expect=QUEUE_CLOSED) == [(QUEUE_CLOSED, None)]
    # A live token is still returned to its user.
    assert join_queue(loaded, [1]) == [(ACTIVE, 0)]
    stats = queue_of(loaded)
    assert (stats["state"], stats["active"]) == ("CLOSED", 1)
    proc = run(["queue", "open"], loaded, check_status=0)
    assert proc.stdout.startswith("state:            OPEN\n")
    assert join_queue(loaded, [2]) == [(ACTIVE, 0)]


def test_queue_schedule_prequeue_and_open(loaded):
    run(["queue", "set", "--max-active", "2"], loaded, check_status=0)
    # +09:00 is accepted like everywhere else in the CLI; shown in UTC.
    sched = run_json(["queue", "schedule", "--opens-at", "2099-01-01T09:00:00+09:00"], loaded)
    assert sched == {"state": "SCHEDULED", "opens_at": FUTURE, "max_active": 2,
                     "admit_per_minute": 0}
    text = run(["queue"], loaded, check_status=0).stdout
    assert "state:            SCHEDULED\n" in text
    assert "opens at:         " + FUTURE + "\n" in text
    # Joins before the opening are pre-queued: waiting, no position yet.
    assert join_queue(loaded, [1, 2, 3]) == [(WAITING, -1)] * 3
    stats = queue_of(loaded)
    assert (stats["state"], stats["opens_at"], stats["prequeued"], stats["active"]) == \
        ("SCHEDULED", FUTURE, 3, 0)
    assert stats["eta_seconds"] is None
    # Rescheduling keeps the pre-queue.
    run(["queue", "schedule", "--opens-at=2098-06-01T12:30:00.250Z"], loaded, check_status=0)
    assert settings_of(loaded)["opens_at"] == "2098-06-01T12:30:00.250Z"
    # Opening now runs the lottery: two admitted, one in line.
    assert run_json(["queue", "open"], loaded) == {"state": "OPEN", "opens_at": None,
                                                   "max_active": 2, "admit_per_minute": 0}
    stats = queue_of(loaded)
    assert (stats["prequeued"], stats["active"], stats["waiting"]) == (0, 2, 1)
    states = sorted(s for s, _ in join_queue(loaded, [1, 2, 3]))
    assert states == [WAITING, ACTIVE, ACTIVE]


def test_queue_subcommand_help_does_not_open_the_store(tmp_path):
    store = "sqlite:" + str(tmp_path / "never.db")
    for sub in ["pause", "resume", "close", "open", "schedule", "set"]:
        proc = run(["queue", sub, "--help"], store, check_status=0)
        assert proc.stdout.startswith("Usage: concert [--store URI] queue " + sub), sub
        assert proc.stderr == ""
    help_text = run(["queue", "--help"], store, check_status=0).stdout
    for sub in ["pause", "resume", "close", "open", "schedule --opens-at TIME",
                "set [--max-active N] [--admit-per-minute N]"]:
        assert "  queue " + sub in help_text, sub
    assert not (tmp_path / "never.db").exists()


def test_queue_usage_errors_name_the_subcommand(tmp_path):
    store = "sqlite:" + str(tmp_path / "never.db")
    proc = run(["queue", "set", "--max-active", "lots"], store)
    assert proc.returncode == 2
    assert proc.stderr.startswith("concert queue set: --max-active must be a whole number")
    assert "Try 'concert queue set --help'." in proc.stderr
    proc = run(["queue", "schedule", "--opens-at", "soon"], store)
    assert proc.returncode == 2
    assert proc.stderr.startswith("concert queue schedule: --opens-at must be an RFC 3339 time")
    proc = run(["queue", "frob"], store)
    assert proc.returncode == 2
    assert proc.stderr.startswith("concert queue: unknown subcommand 'frob'")
    assert not (tmp_path / "never.db").exists()


def test_verify_clean_store(loaded):
    run(["charge", "1", "1000"], loaded, check_status=0)
    join_queue(loaded, [1, 2])
    proc = run(["verify"], loaded, check_status=0)
    assert "checked:" in proc.stdout
    assert "result: OK, no violations" in proc.stdout
    report = run_json(["verify"], loaded)
    assert report["ok"] is True
    assert report["violations"] == []
    assert report["checked"]["users"] == 3
    assert report["checked"]["seats"] == 60
    assert report["checked"]["ledger_entries"] >= 1
    assert report["checked"]["active_tokens"] == 2


def test_verify_reports_a_violation_and_exits_1(loaded, tmp_path):
    # A balance changed behind the library's back no longer matches its ledger.
    run(["charge", "2", "100"], loaded, check_status=0)
    with sqlite3.connect(str(tmp_path / "store.db")) as conn:
        conn.execute("UPDATE users SET balance = balance + 1 WHERE id = 2")
    conn.close()
    proc = run(["verify"], loaded)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "VIOLATION: " in proc.stdout
    assert "result: 1 violation" in proc.stdout
    proc = run(["verify", "--json"], loaded)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and len(report["violations"]) == 1


# ---- demo ----

def test_demo_loads_once(store):
    assert run_json(["demo"], store) == {"loaded": True}
    assert run(["demo"], store, check_status=0).stdout.startswith("the store is not empty")
    statuses = {c["status"] for c in concerts_of(store)}
    assert statuses == {"OPEN", "PENDING", "CLOSED"}
    balances = {u["id"]: u["balance"] for u in users_of(store)}
    assert balances[1] == 500000 and balances[2] == 0
    run(["verify"], store, check_status=0)


def test_demo_refused_on_a_store_with_data(loaded):
    assert run_json(["demo"], loaded) == {"loaded": False}
    assert len(users_of(loaded)) == 3


# ---- prune ----

DAY_S = 86400


def old_activity(store, seconds_ago, leave_users=(), keyed_charges=()):
    """Through the C API with a clock seconds_ago in the past: tokens of
    leave_users issued and left (so ended then) and charges of 1 point with
    the given (user, key) pairs (idempotency records of then)."""
    if not LIB:
        pytest.skip("CONCERT_LIB not set (sanitized build)")
    lib = ctypes.CDLL(LIB)
    lib.concert_queue_leave.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.concert_charge_points.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p,
                                          ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p]
    clock_type = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
    then_ms = int((time.time() - seconds_ago) * 1000)
    clock = clock_type(lambda ctx: then_ms)
    opts = Options()
    assert lib.concert_options_init(ctypes.byref(opts), 2) == 0
    opts.clock = ctypes.cast(clock, ctypes.c_void_p)
    db = ctypes.c_void_p()
    assert lib.concert_db_open(ctypes.byref(db), store.encode(), ctypes.byref(opts)) == 0
    try:
        for user in leave_users:
            info = TokenInfo()
            assert lib.concert_queue_issue(ctypes.byref(info), db, ctypes.c_int64(user)) == 0
            assert lib.concert_queue_leave(db, info.token) == 0
        for user, key in keyed_charges:
            balance = ctypes.c_int64()
            assert lib.concert_charge_points(ctypes.byref(balance), db, user, 1,
                                             key.encode()) == 0
    finally:
        lib.concert_db_close(db)


def table_rows(store, table):
    """Rows of a table of the SQLite store (what prune may delete)."""
    conn = sqlite3.connect(store[len("sqlite:"):])
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_prune_on_a_store_with_nothing_due(store):
    assert run_json(["prune"], store) == {"tokens": 0, "idempotency": 0, "more": False}
    proc = run(["prune"], store, check_status=0)
    assert "ended tokens         0" in proc.stdout
    assert "idempotency records  0" in proc.stdout
    assert "nothing more is due" in proc.stdout
    assert run_json(["prune"], "memory:") == {"tokens": 0, "idempotency": 0, "more": False}


def test_prune_deletes_only_what_retention_allows(loaded):
    # Two days ago: two tokens ended and a keyed charge. Now: a live token and
    # a keyed charge, which must survive.
    old_activity(loaded, 2 * DAY_S, leave_users=[1, 2], keyed_charges=[(2, "old-key")])
    join_queue(loaded, [3])
    run(["charge", "2", "5", "--key", "new-key"], loaded, check_status=0)

    # The token issue and the charge just made may already have pruned some
    # of it (stores prune a few due rows inside normal calls): prune reports
    # the rest, and afterwards only what is live or inside retention is left.
    report = run_json(["prune"], loaded)
    assert report["tokens"] <= 2 and report["idempotency"] <= 1 and report["more"] is False
    assert run_json(["prune"], loaded) == {"tokens": 0, "idempotency": 0, "more": False}
    assert table_rows(loaded, "tokens") == 1, "only the live token is left"
    assert table_rows(loaded, "idempotency") == 1, "only the key inside retention is left"
    assert queue_of(loaded)["active"] == 1, "a live token is never pruned"
    # Inside retention a retry still replays (same key, another amount: reused).
    proc = run(["charge", "2", "6", "--key", "new-key"], loaded)
    assert proc.returncode == 1 and "IDEMPOTENCY_KEY_REUSED" in proc.stderr, proc.stderr
    # After it, the old key is a new request: it applies.
    balance = run_json(["balance", "2"], loaded)["balance"]
    assert run_json(["charge", "2", "7", "--key", "old-key"], loaded)["balance"] == balance + 7
    run(["verify"], loaded, check_status=0)


def test_prune_limit_stops_and_says_more_is_due(loaded):
    old_activity(loaded, 2 * DAY_S, leave_users=[1, 2, 3],
                 keyed_charges=[(2, "a"), (2, "b")])
    first = run_json(["prune", "--limit", "2"], loaded)
    assert first["tokens"] + first["idempotency"] == 2
    assert first["more"] is True
    proc = run(["prune", "--limit=1"], loaded, check_status=0)
    assert "more are due" in proc.stdout
    rest = run_json(["prune"], loaded)
    assert rest["more"] is False
    assert rest["tokens"] + rest["idempotency"] == 5 - 2 - 1
    assert run_json(["prune"], loaded) == {"tokens": 0, "idempotency": 0, "more": False}


def test_prune_follows_the_global_retention(loaded):
    old_activity(loaded, 2 * 3600, leave_users=[1], keyed_charges=[(2, "k")])
    # Two hours is inside the default 24 h.
    assert run_json(["prune"], loaded) == {"tokens": 0, "idempotency": 0, "more": False}
    assert table_rows(loaded, "tokens") == 1 and table_rows(loaded, "idempotency") == 1
    assert run_json(["--retention", "3600", "prune"], loaded) == \
        {"tokens": 1, "idempotency": 1, "more": False}
    assert table_rows(loaded, "tokens") == 0 and table_rows(loaded, "idempotency") == 0
