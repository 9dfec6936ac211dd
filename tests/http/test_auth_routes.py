"""No route reaches another user's data or queue token. The routes come from
the server's own table (concertd_routes), so a route added later is tried
too: user B, identified, goes at every route that acts for a user with
user A's ids and A's queue token, and must get 401 or 403; then A's token,
hold and balance are checked untouched."""
import subprocess

import pytest

from harness import FUTURE_SCHEDULE, OPEN_CONCERT, RICH_POINTS
from identity import (SERVICE_KEY, USER_HEADER, header_args, jwt_args, user_headers)

USER_A = 1
USER_B = 2
# The routes anyone may call. A new public route must be added here on
# purpose, after deciding that it shows nobody's data.
PUBLIC = {("GET", "/api/v1/queue"), ("GET", "/healthz"), ("GET", "/openapi.json"),
          ("GET", "/metrics")}  # open, or its own token (--metrics-token-file)
USER_ACCESS = {"JOIN", "PATH_USER", "CHARGE", "TOKEN", "TOKEN_REPLAY"}
# Bodies that would do something real for A; a route not listed gets {}.
BODIES = {
    ("POST", "/api/v1/queue/tokens"): {"user_id": USER_A},
    ("POST", "/api/v1/reservations"): {"schedule_id": FUTURE_SCHEDULE, "seat_number": 2},
    ("POST", "/api/v1/users/{id}/points/charge"): {"amount": 1000},
}


@pytest.fixture(scope="module")
def route_table(request):
    tool = request.config.getoption("--routes-dump")
    if not tool:
        pytest.fail("give the concertd_routes tool with --routes-dump PATH or CONCERTD_ROUTES")
    out = subprocess.run([tool], check=True, capture_output=True, text=True, timeout=30).stdout
    rows = [tuple(line.split(" ")) for line in out.splitlines() if line]
    assert rows and all(len(r) == 3 for r in rows), out
    return rows


def test_every_route_has_a_known_rule(route_table):
    public = {(m, p) for m, p, rule in route_table if rule == "PUBLIC"}
    assert public == PUBLIC
    for method, pattern, rule in route_table:
        admin = pattern.startswith("/api/v1/admin")
        assert (rule == "ADMIN") == admin, (method, pattern, rule)
        assert rule in USER_ACCESS | {"PUBLIC", "ADMIN"}, (method, pattern, rule)


def identity_for(mode, user_id):
    if mode == "jwt":
        return user_headers(user_id)
    return {USER_HEADER: str(user_id)}


def concrete(pattern, reservation_id):
    ids = {"/api/v1/users/{id}": str(USER_A), "/api/v1/reservations/{id}": str(reservation_id),
           "/api/v1/concerts/{id}": str(OPEN_CONCERT),
           "/api/v1/schedules/{id}": str(FUTURE_SCHEDULE)}
    for prefix, value in ids.items():
        if pattern.startswith(prefix):
            return pattern.replace("{id}", value, 1)
    assert "{id}" not in pattern, f"no id for {pattern}: extend concrete()"
    return pattern


@pytest.mark.parametrize("self_charge", [False, True])
@pytest.mark.parametrize("mode", ["jwt", "header"])
def test_user_b_reaches_nothing_of_user_a(start_server, workdir, route_table, mode, self_charge):
    extra = ["--allow-self-charge"] if self_charge else []
    args = (jwt_args if mode == "jwt" else header_args)(workdir, extra=extra)
    server = start_server("memory", args=args)
    a, b = identity_for(mode, USER_A), identity_for(mode, USER_B)

    joined = server.call("POST", "/api/v1/queue/tokens", {}, headers=a)
    assert joined.status == 201 and joined.json["status"] == "ACTIVE", joined
    token_a = joined.json["token"]
    held = server.call("POST", "/api/v1/reservations",
                       {"schedule_id": FUTURE_SCHEDULE, "seat_number": 1}, token=token_a,
                       headers=a)
    assert held.status == 201, held
    rid = held.json["id"]
    # B has a live token of its own, which must not open A's things either.
    assert server.call("POST", "/api/v1/queue/tokens", {}, headers=b).status == 201

    tried = 0
    for method, pattern, rule in route_table:
        if rule not in USER_ACCESS:
            continue
        path = concrete(pattern, rid)
        body = BODIES.get((method, pattern), {} if method in ("POST", "PUT") else None)
        headers = dict(b, **{"Idempotency-Key": f"b-{tried}"})
        as_b = server.call(method, path, body, token=token_a, headers=headers)
        assert as_b.status in (401, 403), (method, pattern, as_b)
        assert token_a not in as_b.raw.decode(), (method, pattern, as_b)
        # Nobody at all: 401.
        anonymous = server.call(method, path, body, token=token_a)
        assert anonymous.status == 401, (method, pattern, anonymous)
        assert anonymous.header("WWW-Authenticate"), (method, pattern, anonymous.headers)
        tried += 1
    assert tried >= 12, tried

    # A's session is whole: the token lives, the hold stands, no points moved.
    status = server.call("GET", "/api/v1/queue/tokens/current", token=token_a, headers=a)
    assert status.status == 200 and status.json["status"] == "ACTIVE", status
    read = server.call("GET", f"/api/v1/reservations/{rid}", token=token_a, headers=a)
    assert read.status == 200 and read.json["status"] == "HELD", read
    balance = server.call("GET", f"/api/v1/users/{USER_A}/points", headers=a)
    assert balance.json["balance"] == RICH_POINTS, balance
    # And A, with the same requests, is served (the 403s above were about B).
    paid = server.call("POST", "/api/v1/payments", {"reservation_id": rid}, token=token_a,
                       headers=a)
    assert paid.status == 201, paid
    charged = server.call("POST", f"/api/v1/users/{USER_A}/points/charge", {"amount": 5},
                          headers={"X-Service-Key": SERVICE_KEY})
    assert charged.status == 200, charged
