"""5xx through a real server, on SQLite: a store that stays locked is 503
STORAGE_UNAVAILABLE, a broken store is 500 INTERNAL, and neither body says
anything about the store. (The library's busy timeout is 5 s: the 503 case
waits that long, once, for both requests at the same time.)"""
import os
import sqlite3
import threading

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
    results = {}

    def call(name, method, path, body=None):
        results[name] = server.call(method, path, body)

    threads = [threading.Thread(target=call, args=("issue", "POST", "/api/v1/queue/tokens",
                                                   {"user_id": 2})),
               threading.Thread(target=call, args=("health", "GET", "/healthz"))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    for name in ("issue", "health"):
        assert_error(results[name], 503, "STORAGE_UNAVAILABLE")
        assert_reveals_nothing(results[name])
    # The log keeps the detail for the operator.
    assert "locked" in server.log()
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
    assert "queue_state" in server.log()
    health = server.call("GET", "/healthz")
    assert health.status >= 500, health
