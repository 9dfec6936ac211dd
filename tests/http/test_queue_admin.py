"""The queue's public page and its admin routes (issue 10): GET /api/v1/queue,
the X-Admin-Key gate, pause/resume/close/open, PUT limits and opening time.

Servers here run with --queue-refresh-ms 0 unless a test is about the
refresh interval, so that every answer reflects the store at once."""
import datetime
import uuid

import pytest

from conftest import fresh_pg_database
from harness import ADMIN_KEY, assert_error, parse_time, rfc3339

QUEUE_FIELDS = {"state", "max_active", "admit_per_minute", "opens_at", "waiting", "active",
                "prequeued", "eta_seconds"}
SETTINGS_FIELDS = {"state", "max_active", "admit_per_minute", "opens_at"}
ADMIN_FIELDS = QUEUE_FIELDS | {"admitted_through", "last_ticket", "admit_rate_per_minute"}
KEY = {"X-Admin-Key": ADMIN_KEY}
FRESH = ["--queue-refresh-ms", "0"]

# Every admin operation, with a body where it takes one.
ADMIN_OPS = [
    ("GET", "/api/v1/admin/queue", None),
    ("PUT", "/api/v1/admin/queue", {"max_active": 1}),
    ("POST", "/api/v1/admin/queue/pause", None),
    ("POST", "/api/v1/admin/queue/resume", None),
    ("POST", "/api/v1/admin/queue/close", None),
    ("POST", "/api/v1/admin/queue/open", None),
]


@pytest.fixture
def admin_server(start_server, store, admin_key_file):
    """start(args) -> a server with the admin key, on each store."""
    def start(*args, clock=False):
        return start_server(store, args=["--admin-key-file", admin_key_file, *FRESH, *args],
                            clock=clock)
    return start


def admin(server, method, path, body=None, raw=None):
    return server.call(method, "/api/v1/admin/queue" + path, body=body, raw=raw, headers=KEY)


def admin_state(server):
    r = admin(server, "GET", "")
    assert r.status == 200, r
    assert set(r.json) == ADMIN_FIELDS, r.json
    return r.json


def public_queue(server):
    r = server.call("GET", "/api/v1/queue")
    assert r.status == 200, r
    assert set(r.json) == QUEUE_FIELDS, r.json
    return r.json


def join(server, user_id):
    r = server.call("POST", "/api/v1/queue/tokens", {"user_id": user_id})
    assert r.status == 201, r
    return r.json


def poll(server, token):
    r = server.call("GET", "/api/v1/queue/tokens/current", token=token)
    assert r.status == 200, r
    return r.json


def leave(server, token):
    assert server.call("DELETE", "/api/v1/queue/tokens/current", token=token).status == 204


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339_ms(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---- the public page ----

def test_public_queue_needs_no_token_and_counts_the_line(start_server, store):
    # A rate high enough never to hold anyone back here: pacing is the
    # library's to test, with its fake clock.
    server = start_server(store, args=["--max-active", "1", "--admit-per-minute", "600000",
                                       *FRESH])
    first, second, third = join(server, 1), join(server, 2), join(server, 3)
    assert first["status"] == "ACTIVE" and second["status"] == third["status"] == "WAITING"

    r = server.call("GET", "/api/v1/queue")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    assert r.header("Cache-Control") == "public, max-age=0"
    q = r.json
    assert set(q) == QUEUE_FIELDS, q
    assert q["state"] == "OPEN"
    assert (q["active"], q["waiting"], q["prequeued"]) == (1, 2, 0), q
    assert (q["max_active"], q["admit_per_minute"]) == (1, 600000), q
    assert q["opens_at"] is None
    assert q["eta_seconds"] is None or q["eta_seconds"] >= 0, q

    leave(server, first["token"])
    q = public_queue(server)
    assert (q["active"], q["waiting"]) == (1, 1), q
    assert server.call("HEAD", "/api/v1/queue").status == 200
    assert_error(server.call("POST", "/api/v1/queue", {}), 405, "METHOD_NOT_ALLOWED")


def test_public_queue_is_cacheable_for_the_refresh_interval_only(start_server):
    for refresh_ms, max_age in (("2500", 2), ("999", 0), ("60000", 60)):
        server = start_server("memory", catalog=None, args=["--queue-refresh-ms", refresh_ms])
        r = server.call("GET", "/api/v1/queue")
        assert r.status == 200, r
        assert r.header("Cache-Control") == f"public, max-age={max_age}", (refresh_ms, r.headers)
        # Nothing else is marked cacheable.
        assert server.call("GET", "/healthz").header("Cache-Control") is None


def test_default_refresh_interval_is_250_ms(start_server):
    server = start_server("memory", catalog=None)
    assert server.call("GET", "/api/v1/queue").header("Cache-Control") == "public, max-age=0"


# ---- the admin gate ----

def test_admin_routes_do_not_exist_without_the_flag(start_server, store):
    server = start_server(store, args=FRESH)
    for method, path, body in ADMIN_OPS + [("PATCH", "/api/v1/admin/queue", None),
                                           ("GET", "/api/v1/admin", None),
                                           ("GET", "/api/v1/admin/nothing", None)]:
        for headers in (None, KEY):
            r = server.call(method, path, body=body, headers=headers)
            assert_error(r, 404, "NOT_FOUND")
    # And nothing happened: the PUT and /close above were not applied.
    q = public_queue(server)
    assert q["state"] == "OPEN" and q["max_active"] != 1, q
    assert join(server, 1)["status"] == "ACTIVE"


@pytest.mark.parametrize("headers, status, code", [
    (None, 401, "ADMIN_KEY_REQUIRED"),
    ({"X-Admin-Key": "wrong"}, 403, "ADMIN_KEY_INVALID"),
    ({"X-Admin-Key": ADMIN_KEY[:-1]}, 403, "ADMIN_KEY_INVALID"),
    ({"X-Admin-Key": ADMIN_KEY + "x"}, 403, "ADMIN_KEY_INVALID"),
    ({"X-Admin-Key": ADMIN_KEY.upper()}, 403, "ADMIN_KEY_INVALID"),
    ({"X-Admin-Key": ""}, 403, "ADMIN_KEY_INVALID"),
    ({"Authorization": "Bearer " + ADMIN_KEY}, 401, "ADMIN_KEY_REQUIRED"),
])
def test_missing_or_wrong_key_is_refused_and_changes_nothing(admin_server, headers, status,
                                                             code):
    server = admin_server("--max-active", "2")
    before = admin_state(server)
    for method, path, body in ADMIN_OPS:
        assert_error(server.call(method, path, body=body, headers=headers), status, code)
    # Checked before anything else: unknown sub-routes, wrong methods, bad and
    # oversized bodies all get the same answer without the key.
    assert_error(server.call("GET", "/api/v1/admin/nothing", headers=headers), status, code)
    assert_error(server.call("GET", "/api/v1/admin", headers=headers), status, code)
    assert_error(server.call("PATCH", "/api/v1/admin/queue", headers=headers), status, code)
    assert_error(server.call("PUT", "/api/v1/admin/queue", raw=b"{not json", headers=headers),
                 status, code)
    big = b'{"max_active": 1, "pad": "' + b"x" * (100 * 1024) + b'"}'
    assert_error(server.call("PUT", "/api/v1/admin/queue", raw=big, headers=headers),
                 status, code)
    after = admin_state(server)
    assert after == before, (before, after)
    assert (after["state"], after["max_active"]) == ("OPEN", 2)


def test_the_right_key_reaches_404_405_and_413_of_the_admin_routes(admin_server):
    server = admin_server()
    assert_error(server.call("GET", "/api/v1/admin/nothing", headers=KEY), 404, "NOT_FOUND")
    # There is no state but the four routes: an unknown one is no route at all.
    for state in ("reopen", "SCHEDULED", "PAUSE", "schedule"):
        assert_error(server.call("POST", "/api/v1/admin/queue/" + state, headers=KEY),
                     404, "NOT_FOUND")
    assert admin_state(server)["state"] == "OPEN"
    r = server.call("PATCH", "/api/v1/admin/queue", headers=KEY)
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in r.header("Allow").split(",")} == {"GET", "HEAD", "PUT"}
    big = b'{"max_active": 1, "pad": "' + b"x" * (100 * 1024) + b'"}'
    assert_error(server.call("PUT", "/api/v1/admin/queue", raw=big, headers=KEY),
                 413, "PAYLOAD_TOO_LARGE")
    # The key does not open the booking routes.
    assert_error(server.call("GET", "/api/v1/concerts", headers=KEY), 401, "TOKEN_INVALID")


# ---- reading and changing the settings ----

def test_admin_get_shows_settings_and_counts(admin_server):
    server = admin_server("--max-active", "1", "--admit-per-minute", "60")
    join(server, 1)
    join(server, 2)
    r = admin(server, "GET", "")
    assert r.status == 200, r
    assert r.header("Cache-Control") == "no-store"
    s = r.json
    assert set(s) == ADMIN_FIELDS, s
    assert (s["state"], s["max_active"], s["admit_per_minute"], s["opens_at"]) == \
        ("OPEN", 1, 60, None)
    assert (s["active"], s["waiting"], s["prequeued"]) == (1, 1, 0), s
    assert s["last_ticket"] >= 2 and s["admitted_through"] >= 1, s
    assert s["admit_rate_per_minute"] is None or s["admit_rate_per_minute"] >= 0


def test_put_changes_the_limits_for_everyone(admin_server):
    server = admin_server("--max-active", "1")
    r = admin(server, "PUT", "", {"max_active": 2})
    assert r.status == 200, r
    assert r.json == {"state": "OPEN", "max_active": 2, "admit_per_minute": 0,
                      "opens_at": None}
    assert r.header("Cache-Control") == "no-store"
    # Two buyers inside at once now.
    assert join(server, 1)["status"] == "ACTIVE"
    assert join(server, 2)["status"] == "ACTIVE"
    third = join(server, 3)
    assert (third["status"], third["position"]) == ("WAITING", 1)

    r = admin(server, "PUT", "", {"admit_per_minute": 600000, "max_active": 3})
    assert r.status == 200, r
    assert (r.json["max_active"], r.json["admit_per_minute"]) == (3, 600000)
    assert poll(server, third["token"])["status"] == "ACTIVE"
    q = public_queue(server)
    assert (q["max_active"], q["admit_per_minute"], q["active"]) == (3, 600000, 3), q
    s = admin_state(server)
    assert (s["max_active"], s["admit_per_minute"]) == (3, 600000)
    # 0 turns the rate limit off again.
    r = admin(server, "PUT", "", {"admit_per_minute": 0})
    assert r.status == 200 and r.json["admit_per_minute"] == 0, r


PAST = "2000-01-01T00:00:00Z"


@pytest.mark.parametrize("body, status, code", [
    ({"max_active": -1}, 422, "INVALID_ARGUMENT"),
    ({"max_active": 0}, 422, "INVALID_ARGUMENT"),
    ({"max_active": 100000001}, 422, "INVALID_ARGUMENT"),
    ({"max_active": 2 ** 62}, 422, "INVALID_ARGUMENT"),
    ({"max_active": 2 ** 63}, 400, "MALFORMED_REQUEST"),
    ({"admit_per_minute": -1}, 422, "INVALID_ARGUMENT"),
    ({"admit_per_minute": 6000001}, 422, "INVALID_ARGUMENT"),
    ({"max_active": "5"}, 400, "MALFORMED_REQUEST"),
    ({"max_active": 5.5}, 400, "MALFORMED_REQUEST"),
    ({"max_active": None}, 400, "MALFORMED_REQUEST"),
    ({"max_active": True}, 400, "MALFORMED_REQUEST"),
    ({"admit_per_minute": [1]}, 400, "MALFORMED_REQUEST"),
    ({"opens_at": PAST}, 422, "INVALID_ARGUMENT"),
    ({"opens_at": 4102444800000}, 400, "MALFORMED_REQUEST"),
    ({"opens_at": "tomorrow"}, 400, "MALFORMED_REQUEST"),
    ({"opens_at": "2099-01-01 00:00:00"}, 400, "MALFORMED_REQUEST"),
    ({"opens_at": None}, 400, "MALFORMED_REQUEST"),
    ({"state": "PAUSED"}, 400, "MALFORMED_REQUEST"),
    ({"max_active": 5, "bogus": 1}, 400, "MALFORMED_REQUEST"),
    ({"max_active": 5, "admit_per_minute": -1}, 422, "INVALID_ARGUMENT"),
    ({"max_active": 5, "opens_at": PAST}, 422, "INVALID_ARGUMENT"),
    ({}, 400, "MALFORMED_REQUEST"),
    ([], 400, "MALFORMED_REQUEST"),
])
def test_bad_updates_are_refused_and_change_nothing(admin_server, body, status, code):
    server = admin_server("--max-active", "2", "--admit-per-minute", "30")
    before = admin_state(server)
    assert_error(admin(server, "PUT", "", body), status, code)
    after = admin_state(server)
    assert after == before, (body, before, after)
    assert (after["state"], after["max_active"], after["admit_per_minute"]) == ("OPEN", 2, 30)


def test_an_unknown_member_is_named_in_the_error(admin_server):
    server = admin_server()
    r = admin(server, "PUT", "", {"max_actve": 5})
    assert_error(r, 400, "MALFORMED_REQUEST")
    assert "max_actve" in r.json["error"]["message"], r.json


@pytest.mark.parametrize("raw", [b"", b"not json", b'{"max_active": 5} x',
                                 b'{"max_active": 5, "max_active": 6}'])
def test_malformed_update_bodies_are_400_and_change_nothing(admin_server, raw):
    server = admin_server("--max-active", "2")
    before = admin_state(server)
    assert_error(admin(server, "PUT", "", raw=raw), 400, "MALFORMED_REQUEST")
    assert admin_state(server) == before


# ---- pause, resume, close, open ----

def test_pause_holds_everyone_in_line_and_resume_admits(admin_server):
    server = admin_server("--max-active", "1")
    first = join(server, 1)
    assert first["status"] == "ACTIVE"

    r = admin(server, "POST", "/pause")
    assert r.status == 204 and r.raw == b"", r
    assert public_queue(server)["state"] == "PAUSED"
    # ACTIVE tokens keep going while paused.
    assert server.call("GET", "/api/v1/concerts", token=first["token"]).status == 200
    # A free place is not filled: the new buyer stays WAITING, nobody is admitted.
    leave(server, first["token"])
    second = join(server, 2)
    assert (second["status"], second["position"], second["queue_state"]) == \
        ("WAITING", 1, "PAUSED"), second
    assert second["eta_seconds"] is None
    for _ in range(3):
        s = poll(server, second["token"])
        assert (s["status"], s["position"]) == ("WAITING", 1), s
    q = public_queue(server)
    assert (q["active"], q["waiting"], q["eta_seconds"]) == (0, 1, None), q
    # Pausing twice is fine; resume only from PAUSED.
    assert admin(server, "POST", "/pause").status == 204

    assert admin(server, "POST", "/resume").status == 204
    s = poll(server, second["token"])
    assert (s["status"], s["position"], s["queue_state"]) == ("ACTIVE", 0, "OPEN"), s
    assert_error(admin(server, "POST", "/resume"), 409, "CONFLICT")
    assert admin_state(server)["state"] == "OPEN"


def test_close_refuses_new_buyers_and_keeps_the_line(admin_server):
    server = admin_server("--max-active", "1")
    first, second = join(server, 1), join(server, 2)
    assert (first["status"], second["status"]) == ("ACTIVE", "WAITING")

    assert admin(server, "POST", "/close").status == 204
    assert_error(server.call("POST", "/api/v1/queue/tokens", {"user_id": 3}),
                 409, "QUEUE_CLOSED")
    assert public_queue(server)["state"] == "CLOSED"
    # Tokens already there keep working and keep their place.
    assert server.call("GET", "/api/v1/concerts", token=first["token"]).status == 200
    again = server.call("POST", "/api/v1/queue/tokens", {"user_id": 1})
    assert again.status == 200 and again.json["token"] == first["token"], again
    s = poll(server, second["token"])
    assert (s["status"], s["position"], s["queue_state"]) == ("WAITING", 1, "CLOSED"), s
    # A CLOSED queue still admits its line.
    leave(server, first["token"])
    assert poll(server, second["token"])["status"] == "ACTIVE"
    # Resume is only for a paused queue.
    assert_error(admin(server, "POST", "/resume"), 409, "CONFLICT")
    assert admin_state(server)["state"] == "CLOSED"

    assert admin(server, "POST", "/open").status == 204
    third = server.call("POST", "/api/v1/queue/tokens", {"user_id": 3})
    assert third.status == 201, third
    assert third.json["queue_state"] == "OPEN"


# ---- scheduled opening ----

def schedule(server, opens_at):
    r = admin(server, "PUT", "", {"opens_at": opens_at})
    assert r.status == 200, r
    assert r.json["state"] == "SCHEDULED", r.json
    return r.json


def assert_prequeued(token):
    assert (token["status"], token["position"], token["prequeue"]) == \
        ("WAITING", None, True), token
    assert token["queue_state"] == "SCHEDULED" and token["eta_seconds"] is None, token


def test_schedule_prequeues_and_open_runs_the_lottery(admin_server):
    server = admin_server("--max-active", "1")
    opens_at = rfc3339(now_utc() + datetime.timedelta(hours=1))
    settings = schedule(server, opens_at)
    assert parse_time(settings["opens_at"]) == parse_time(opens_at)

    early = [join(server, u) for u in (1, 2, 3, 4)]
    for token in early:
        assert_prequeued(token)
        assert_prequeued(poll(server, token["token"]))
    q = public_queue(server)
    assert (q["state"], q["prequeued"], q["active"], q["eta_seconds"]) == \
        ("SCHEDULED", 4, 0, None), q
    assert parse_time(q["opens_at"]) == parse_time(opens_at)

    # Opening now runs the lottery: everyone gets a distinct place.
    assert admin(server, "POST", "/open").status == 204
    after = [poll(server, t["token"]) for t in early]
    assert all(t["prequeue"] is False and t["queue_state"] == "OPEN" for t in after), after
    assert sorted(t["position"] for t in after) == [0, 1, 2, 3], after
    assert [t["status"] for t in after].count("ACTIVE") == 1, after
    # A later join queues behind all of them.
    late = join(server, 5)
    assert (late["status"], late["position"], late["prequeue"]) == ("WAITING", 4, False), late
    assert public_queue(server)["prequeued"] == 0


def test_schedule_opens_by_itself_at_opens_at(admin_server):
    """On concertd-test's clock: still scheduled a millisecond before
    opens_at, open at it."""
    server = admin_server("--max-active", "1", clock=True)
    opens = server.now() + datetime.timedelta(seconds=3)
    schedule(server, rfc3339_ms(opens))
    early = [join(server, u) for u in (1, 2, 3)]
    for token in early:
        assert_prequeued(token)

    server.advance(2999)
    assert_prequeued(poll(server, early[0]["token"]))
    assert public_queue(server)["state"] == "SCHEDULED"
    server.advance(1)
    after = [poll(server, t["token"]) for t in early]
    assert all(t["prequeue"] is False for t in after), after
    assert sorted(t["position"] for t in after) == [0, 1, 2], after
    late = join(server, 4)
    assert (late["position"], late["prequeue"]) == (3, False), late
    q = public_queue(server)
    assert (q["state"], q["opens_at"], q["prequeued"]) == ("OPEN", None, 0), q


def test_pausing_a_scheduled_queue_runs_the_lottery(admin_server):
    server = admin_server("--max-active", "1")
    schedule(server, rfc3339(now_utc() + datetime.timedelta(hours=1)))
    early = [join(server, u) for u in (1, 2)]
    assert admin(server, "POST", "/pause").status == 204
    after = [poll(server, t["token"]) for t in early]
    # Paused: placed by the lottery, but nobody admitted yet.
    assert sorted(t["position"] for t in after) == [1, 2], after
    assert all(t["status"] == "WAITING" and not t["prequeue"] for t in after), after
    assert admin(server, "POST", "/resume").status == 204
    assert sorted(poll(server, t["token"])["position"] for t in early) == [0, 1]


# ---- several processes on one store ----

def test_settings_changed_through_one_server_rule_another(start_server, store, workdir,
                                                          admin_key_file, request):
    """Two concertd on one store: the settings live in the store, so a change
    made through one is obeyed by the other (at once here: refresh 0)."""
    if store == "memory":
        pytest.skip("a memory store is private to its process")
    if store == "sqlite":
        uri = "sqlite:" + workdir + "/shared.db"
    else:
        uri = fresh_pg_database(request.getfixturevalue("pg_server"),
                                "http_" + uuid.uuid4().hex[:16])
    a = start_server(uri, args=["--admin-key-file", admin_key_file, "--max-active", "1", *FRESH])
    b = start_server(uri, catalog=None, args=["--max-active", "50", *FRESH])
    assert public_queue(b)["max_active"] == 1, "the second server's flag only seeds"

    assert join(a, 1)["status"] == "ACTIVE"
    assert (join(b, 2)["status"], join(b, 3)["status"]) == ("WAITING", "WAITING")
    assert admin(a, "PUT", "", {"max_active": 2}).status == 200
    assert public_queue(b)["max_active"] == 2
    second = join(b, 4)  # also runs admission on b: user 2 moves in
    assert public_queue(b)["active"] == 2, public_queue(b)

    assert admin(a, "POST", "/pause").status == 204
    assert public_queue(b)["state"] == "PAUSED"
    assert admin(a, "PUT", "", {"max_active": 10}).status == 200
    # Room for everyone, but paused: b admits nobody.
    assert poll(b, second["token"])["status"] == "WAITING"
    assert public_queue(b)["active"] == 2

    assert admin(a, "POST", "/close").status == 204
    assert_error(b.call("POST", "/api/v1/queue/tokens", {"user_id": 5}), 409, "QUEUE_CLOSED")
    s = poll(b, second["token"])  # a closed queue still admits its line
    assert (s["status"], s["queue_state"]) == ("ACTIVE", "CLOSED"), s
