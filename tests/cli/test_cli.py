"""End-to-end tests of the concert CLI on temporary SQLite stores.

Run by ctest (tests/cli.cmake) with CONCERT_CLI set to build/bin/concert and
CONCERT_LIB to libconcert.so (used through ctypes to put tokens in the queue,
which the CLI itself cannot do).
"""
import ctypes
import json
import os
import subprocess

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
            "verify"]


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
    _fields_ = [("version", ctypes.c_uint), ("max_active", ctypes.c_int64),
                ("active_ttl_ms", ctypes.c_int64), ("wait_ttl_ms", ctypes.c_int64),
                ("hold_ttl_ms", ctypes.c_int64), ("booking_cutoff_ms", ctypes.c_int64),
                ("clock", ctypes.c_void_p), ("clock_ctx", ctypes.c_void_p),
                ("random", ctypes.c_void_p), ("random_ctx", ctypes.c_void_p),
                ("pool_size", ctypes.c_int32), ("busy_timeout_ms", ctypes.c_int32),
                ("connect_timeout_ms", ctypes.c_int32), ("reserved", ctypes.c_int32)]


def join_queue(store, users, max_active):
    """Issue tokens for users through the C API, as concertd would."""
    if not LIB:
        pytest.skip("CONCERT_LIB not set (sanitized build)")
    lib = ctypes.CDLL(LIB)
    opts = Options()
    assert lib.concert_options_init(ctypes.byref(opts), 1) == 0
    opts.max_active = max_active
    db = ctypes.c_void_p()
    assert lib.concert_open(ctypes.byref(db), store.encode(), ctypes.byref(opts)) == 0
    states = []
    try:
        for user in users:
            info = TokenInfo()
            assert lib.concert_queue_issue(ctypes.byref(info), db, ctypes.c_int64(user)) == 0
            states.append(info.state)
    finally:
        lib.concert_close(db)
    return states


def test_queue_counts(loaded):
    assert run_json(["queue"], loaded)["active"] == 0
    assert run_json(["queue"], loaded)["waiting"] == 0
    assert join_queue(loaded, [1, 2, 3], max_active=2) == [2, 2, 1]  # ACTIVE, ACTIVE, WAITING
    stats = run_json(["--max-active", "2", "queue"], loaded)
    assert stats["active"] == 2
    assert stats["waiting"] == 1
    assert stats["max_active"] == 2
    assert stats["last_ticket"] >= 3
    text = run(["--max-active", "2", "queue"], loaded, check_status=0).stdout
    assert "active:           2 of 2" in text
    assert "waiting:          1" in text


def test_verify_clean_store(loaded):
    run(["charge", "1", "1000"], loaded, check_status=0)
    proc = run(["verify"], loaded, check_status=0)
    assert "checked:" in proc.stdout
    assert "result: OK, no violations" in proc.stdout
    report = run_json(["verify"], loaded)
    assert report["ok"] is True
    assert report["violations"] == []
    assert report["checked"]["users"] == 3
    assert report["checked"]["seats"] == 60
    assert report["checked"]["ledger_entries"] >= 1


def test_verify_reports_a_violation_and_exits_1(loaded):
    # Two tokens made active under a limit of 2, then checked against 1.
    join_queue(loaded, [1, 2], max_active=2)
    run(["--max-active", "2", "verify"], loaded, check_status=0)
    proc = run(["--max-active", "1", "verify"], loaded)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "VIOLATION: " in proc.stdout
    assert "result: 1 violation" in proc.stdout
    proc = run(["--max-active", "1", "verify", "--json"], loaded)
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
