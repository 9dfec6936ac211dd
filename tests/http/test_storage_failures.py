"""5xx through a real server. SQLite: a store that stays locked is 503
STORAGE_UNAVAILABLE, a broken store is 500 INTERNAL. PostgreSQL (when a test
server is given): stopped mid-run is 503 at once, and the server recovers by
itself. No 5xx body says anything about the store. (SQLite's busy timeout is
5 s: the locked case waits that long, once. In WAL mode reads go on under a
writer's lock, so /healthz may stay 200 there.)"""
import os
import sqlite3
import subprocess
import time

from harness import assert_error

SECRET_WORDS = ("sqlite", "database", "locked", "queue_state", "table", ".db")


def assert_reveals_nothing(response):
    message = response.json["error"]["message"].lower()
    for word in SECRET_WORDS:
        assert word not in message, response.json


def test_locked_store_is_503_and_recovers(start_server, workdir):
    server = start_server("sqlite")
    assert server.call("POST", "/api/v1/queue/tokens", {"user_id": 1}).status == 201
    db_path = os.path.join(workdir, "store-0.db")
    assert os.path.exists(db_path)

    locker = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        conn = server.connection(timeout=30)
        r = server.call("POST", "/api/v1/queue/tokens", {"user_id": 2}, conn=conn)
        conn.close()
        elapsed = time.monotonic() - started
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert_error(r, 503, "STORAGE_UNAVAILABLE")
    assert_reveals_nothing(r)
    assert elapsed < 15, f"a locked store held the request {elapsed:.1f} s"
    # The log keeps the detail for the operator.
    assert "locked" in server.wait_log("locked")
    # Once the lock is gone, it serves again by itself.
    assert server.call("GET", "/healthz").status == 200
    assert server.call("POST", "/api/v1/queue/tokens", {"user_id": 2}).status == 201


def test_broken_store_is_500_internal_without_detail(start_server, workdir):
    server = start_server("sqlite")
    db_path = os.path.join(workdir, "store-0.db")
    assert server.call("GET", "/healthz").status == 200
    # Remove a row the SQLite backend cannot work without (an implementation
    # detail of that backend: the only way to break a healthy store from
    # outside without corrupting the file).
    with sqlite3.connect(db_path, isolation_level=None, timeout=10) as conn:
        conn.execute("DELETE FROM queue_state")
    r = server.call("POST", "/api/v1/queue/tokens", {"user_id": 1})
    assert_error(r, 500, "INTERNAL")
    assert_reveals_nothing(r)
    assert r.json["error"]["message"] == "internal error"
    assert "queue_state" in server.wait_log("queue_state")
    health = server.call("GET", "/healthz")
    assert health.status >= 500, health


def wait_for_status(server, path, wanted, timeout_s):
    deadline = time.monotonic() + timeout_s
    r = None
    while time.monotonic() < deadline:
        r = server.call("GET", path)
        if r.status == wanted:
            return r
        time.sleep(0.2)
    raise AssertionError(f"{path} did not answer {wanted} within {timeout_s} s: {r}")


def test_postgres_outage_is_503_fast_and_recovers(start_server, pg_server):
    server = start_server("postgres")
    assert server.call("GET", "/healthz").status == 200
    subprocess.run(pg_server["ctl"] + ["stop"], check=True, timeout=60)
    try:
        started = time.monotonic()
        health = server.call("GET", "/healthz")
        issue = server.call("POST", "/api/v1/queue/tokens", {"user_id": 1})
        elapsed = time.monotonic() - started
        assert_error(health, 503, "STORAGE_UNAVAILABLE")
        assert_error(issue, 503, "STORAGE_UNAVAILABLE")
        assert_reveals_nothing(health)
        assert elapsed < 10, f"two requests took {elapsed:.1f} s while the database was down"
    finally:
        subprocess.run(pg_server["ctl"] + ["start"], check=True, timeout=60)
    wait_for_status(server, "/healthz", 200, 30)
    assert server.call("POST", "/api/v1/queue/tokens", {"user_id": 1}).status == 201
