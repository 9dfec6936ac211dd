"""Queue routes: join, poll, leave, and admission in arrival order."""
import datetime

from harness import MISSING_USER, assert_error, parse_time

TOKEN_FIELDS = {"token", "user_id", "status", "position", "prequeue", "queue_state",
                "eta_seconds", "expires_at"}


def test_join_gives_201_then_200_for_the_same_live_token(server):
    first = server.call("POST", "/api/v1/queue/tokens", {"user_id": 1})
    assert first.status == 201, first
    assert first.header("Content-Type") == "application/json"
    assert set(first.json) == TOKEN_FIELDS
    assert first.json["user_id"] == 1
    assert first.json["status"] == "ACTIVE"
    assert first.json["position"] == 0
    assert first.json["prequeue"] is False
    assert first.json["queue_state"] == "OPEN"
    assert first.json["eta_seconds"] is None
    assert isinstance(first.json["token"], str) and len(first.json["token"]) >= 22
    expires = parse_time(first.json["expires_at"])
    assert expires > datetime.datetime.now(datetime.timezone.utc)

    again = server.call("POST", "/api/v1/queue/tokens", {"user_id": 1})
    assert again.status == 200, again
    assert again.json["token"] == first.json["token"]


def test_poll_and_leave(server):
    token = server.active_token(2)
    status = server.call("GET", "/api/v1/queue/tokens/current", token=token)
    assert status.status == 200, status
    assert set(status.json) == TOKEN_FIELDS
    assert status.json["token"] == token
    assert status.json["status"] == "ACTIVE"

    left = server.call("DELETE", "/api/v1/queue/tokens/current", token=token)
    assert left.status == 204, left
    assert left.raw == b""

    gone = server.call("GET", "/api/v1/queue/tokens/current", token=token)
    assert_error(gone, 401, "TOKEN_INVALID")
    assert_error(server.call("DELETE", "/api/v1/queue/tokens/current", token=token),
                 401, "TOKEN_INVALID")
    # After leaving, joining again is a new token.
    rejoin = server.call("POST", "/api/v1/queue/tokens", {"user_id": 2})
    assert rejoin.status == 201, rejoin
    assert rejoin.json["token"] != token


def test_unknown_user_cannot_join(server):
    assert_error(server.call("POST", "/api/v1/queue/tokens", {"user_id": MISSING_USER}),
                 404, "USER_NOT_FOUND")


def test_missing_wrong_and_unknown_tokens_are_401(server):
    path = "/api/v1/queue/tokens/current"
    assert_error(server.call("GET", path), 401, "TOKEN_INVALID")
    assert_error(server.call("GET", path, headers={"Authorization": "Basic dXNlcjpwdw=="}),
                 401, "TOKEN_INVALID")
    assert_error(server.call("GET", path, headers={"Authorization": "Bearer"}),
                 401, "TOKEN_INVALID")
    assert_error(server.call("GET", path, token="A" * 43), 401, "TOKEN_INVALID")
    assert_error(server.call("GET", path, token="x" * 5000), 401, "TOKEN_INVALID")
    assert_error(server.call("GET", path, token="'; DROP TABLE tokens; --"),
                 401, "TOKEN_INVALID")
    # Someone else's token format but a real one works with any case of "bearer".
    token = server.active_token(3)
    ok = server.call("GET", path, headers={"Authorization": f"bearer   {token}"})
    assert ok.status == 200, ok


def test_queue_admits_in_arrival_order(start_server, store):
    server = start_server(store, args=["--max-active", "1", "--wait-ttl", "120"])
    before = datetime.datetime.now(datetime.timezone.utc)
    first = server.issue(1)
    second = server.issue(2)
    third = server.issue(3)
    after = datetime.datetime.now(datetime.timezone.utc)
    assert first["status"] == "ACTIVE" and first["position"] == 0
    assert second["status"] == "WAITING" and second["position"] == 1
    assert third["status"] == "WAITING" and third["position"] == 2
    assert second["prequeue"] is False and third["prequeue"] is False
    # One admission so far and no 5 s admission window closed: no rate, so no
    # estimate (a number here would be invented). A WAITING token is dropped
    # unless polled within --wait-ttl of joining: expires_at is that moment.
    ttl = datetime.timedelta(seconds=120)
    slack = datetime.timedelta(milliseconds=1)  # written in whole ms
    assert first["eta_seconds"] is None
    for waiting in (second, third):
        assert waiting["eta_seconds"] is None, waiting
        expires = parse_time(waiting["expires_at"])
        assert before + ttl - slack <= expires <= after + ttl + slack, (before, expires, after)

    # A waiting token may not browse or book yet.
    assert_error(server.call("GET", "/api/v1/concerts", token=second["token"]),
                 403, "TOKEN_NOT_ACTIVE")
    assert_error(server.reserve(second["token"], 1), 403, "TOKEN_NOT_ACTIVE")

    assert server.call("DELETE", "/api/v1/queue/tokens/current",
                       token=first["token"]).status == 204
    s2 = server.call("GET", "/api/v1/queue/tokens/current", token=second["token"]).json
    s3 = server.call("GET", "/api/v1/queue/tokens/current", token=third["token"]).json
    assert (s2["status"], s2["position"]) == ("ACTIVE", 0)
    assert (s3["status"], s3["position"]) == ("WAITING", 1)
    assert server.call("GET", "/api/v1/concerts", token=second["token"]).status == 200

    assert server.call("DELETE", "/api/v1/queue/tokens/current",
                       token=second["token"]).status == 204
    s3 = server.call("GET", "/api/v1/queue/tokens/current", token=third["token"]).json
    assert (s3["status"], s3["position"]) == ("ACTIVE", 0)
