"""--auth jwt: the X-User-Token JWT says who a request acts for. Good tokens
work; expired, not-yet-valid, forged, alg none/HS512/RS256 and malformed
ones are 401 AUTH_INVALID; none at all is 401 AUTH_REQUIRED; acting for
another user is 403 FORBIDDEN."""
import hashlib
import time

import pytest

from harness import RICH_POINTS, assert_error
from identity import (JWT_SECRET, b64url, b64url_json, jwt_args, make_jwt, sign, user_headers)

JOIN = "/api/v1/queue/tokens"


@pytest.fixture
def jwt_server(start_server, workdir):
    return start_server("memory", args=jwt_args(workdir))


def join(server, user_id, body=None, **kw):
    return server.call("POST", JOIN, body if body is not None else {},
                       headers=user_headers(user_id, **kw))


def assert_auth_error(response, code):
    assert_error(response, 401, code)
    challenge = response.header("WWW-Authenticate")
    assert challenge and challenge.startswith("X-User-Token realm="), response.headers


def test_a_good_token_joins_as_its_subject(jwt_server):
    r = join(jwt_server, 1)
    assert r.status == 201, r
    assert r.json["user_id"] == 1
    # The body may name the same user; the live token comes back to its owner.
    again = join(jwt_server, 1, {"user_id": 1})
    assert again.status == 200, again
    assert again.json["token"] == r.json["token"]
    # No body at all is fine for an identified caller.
    bare = jwt_server.call("POST", JOIN, headers=user_headers(1))
    assert bare.status == 200 and bare.json["token"] == r.json["token"], bare
    # sub as a JSON integer is accepted too.
    token = make_jwt(2, claims={"sub": 2})
    r2 = jwt_server.call("POST", JOIN, {}, headers={"X-User-Token": token})
    assert r2.status == 201 and r2.json["user_id"] == 2, r2


def test_join_for_someone_else_is_forbidden(jwt_server):
    victim = join(jwt_server, 1)
    assert victim.status == 201
    r = join(jwt_server, 2, {"user_id": 1})
    assert_error(r, 403, "FORBIDDEN")
    # Nothing was handed over: user 1's token is still only user 1's.
    assert victim.json["token"] not in r.raw.decode()


def test_no_token_is_auth_required(jwt_server):
    assert_auth_error(jwt_server.call("POST", JOIN, {"user_id": 1}), "AUTH_REQUIRED")
    assert_auth_error(jwt_server.call("GET", "/api/v1/users/1/points"), "AUTH_REQUIRED")


def forged_tokens():
    now = int(time.time())
    good_head = b64url_json({"alg": "HS256", "typ": "JWT"})
    good_body = b64url_json({"sub": "1", "exp": now + 3600})
    good = make_jwt(1)
    h, p, s = good.split(".")

    def signed(header, payload, secret=JWT_SECRET, digest=hashlib.sha256):
        si = b64url_json(header) + "." + b64url_json(payload)
        return si + "." + sign(si, secret, digest)

    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    return {
        "expired": make_jwt(1, exp_in=-10),
        "expired just now": make_jwt(1, exp_in=0),
        "not valid yet": make_jwt(1, claims={"nbf": now + 3600}),
        "wrong secret": make_jwt(1, secret="another-secret-0123456789abcdef0123"),
        "forged signature": f"{h}.{p}.{flipped}",
        "payload swapped": f"{h}.{b64url_json({'sub': '2', 'exp': now + 3600})}.{s}",
        "alg none": f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{good_body}.",
        "alg none with a signature": f"{b64url_json({'alg': 'none'})}.{good_body}.{s}",
        "alg HS512": signed({"alg": "HS512", "typ": "JWT"}, {"sub": "1", "exp": now + 3600},
                            digest=hashlib.sha512),
        "alg hs256 lower case": signed({"alg": "hs256"}, {"sub": "1", "exp": now + 3600}),
        "alg RS256": signed({"alg": "RS256"}, {"sub": "1", "exp": now + 3600}),
        "no alg": signed({"typ": "JWT"}, {"sub": "1", "exp": now + 3600}),
        "crit header": signed({"alg": "HS256", "crit": ["exp"]}, {"sub": "1", "exp": now + 3600}),
        "no exp": signed({"alg": "HS256"}, {"sub": "1"}),
        "exp as a string": signed({"alg": "HS256"}, {"sub": "1", "exp": str(now + 3600)}),
        "exp fractional": signed({"alg": "HS256"}, {"sub": "1", "exp": now + 3600.5}),
        "no sub": signed({"alg": "HS256"}, {"exp": now + 3600}),
        "sub zero": signed({"alg": "HS256"}, {"sub": "0", "exp": now + 3600}),
        "sub negative": signed({"alg": "HS256"}, {"sub": -1, "exp": now + 3600}),
        "sub not a number": signed({"alg": "HS256"}, {"sub": "alice", "exp": now + 3600}),
        "sub leading zero": signed({"alg": "HS256"}, {"sub": "01", "exp": now + 3600}),
        "sub too large": signed({"alg": "HS256"}, {"sub": 2 ** 53, "exp": now + 3600}),
        "duplicate sub": None,  # filled below: needs raw JSON
        "two parts": f"{h}.{p}",
        "four parts": f"{good}.{s}",
        "empty": "",
        "garbage": "not-a-jwt",
        "padding": f"{h}.{p}.{s}=",
        "standard base64 alphabet": f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}"
                                    if ("-" in s or "_" in s) else f"{h}.{p}.{s}+",
        "header not JSON": f"{b64url(b'alg=HS256')}.{p}.{s}",
        "payload not an object": (lambda si: si + "." + sign(si))(
            good_head + "." + b64url(b"[1]")),
        "trailing data in the payload": (lambda si: si + "." + sign(si))(
            good_head + "." + b64url(b'{"sub":"1","exp":%d} x' % (now + 3600))),
    }


def duplicate_sub_token():
    now = int(time.time())
    head = b64url_json({"alg": "HS256"})
    body = b64url(b'{"sub":"2","exp":%d,"sub":"1"}' % (now + 3600))
    si = head + "." + body
    return si + "." + sign(si)


@pytest.mark.parametrize("name", sorted(forged_tokens()))
def test_bad_tokens_are_auth_invalid(jwt_server, name):
    token = forged_tokens()[name] if name != "duplicate sub" else duplicate_sub_token()
    r = jwt_server.call("POST", JOIN, {}, headers={"X-User-Token": token})
    assert_auth_error(r, "AUTH_INVALID")
    r = jwt_server.call("GET", "/api/v1/users/1/points", headers={"X-User-Token": token})
    assert_auth_error(r, "AUTH_INVALID")


def test_the_token_may_carry_surrounding_spaces(jwt_server):
    token = make_jwt(3)
    r = jwt_server.call("GET", "/api/v1/users/3/points", headers={"X-User-Token": f"  {token} "})
    assert r.status == 200, r
    assert r.json == {"user_id": 3, "balance": RICH_POINTS}


def test_balance_and_history_only_for_oneself(jwt_server):
    mine = jwt_server.call("GET", "/api/v1/users/4/points", headers=user_headers(4))
    assert mine.status == 200 and mine.json["balance"] == RICH_POINTS, mine
    hist = jwt_server.call("GET", "/api/v1/users/4/points/history", headers=user_headers(4))
    assert hist.status == 200, hist
    for path in ("/api/v1/users/5/points", "/api/v1/users/5/points/history",
                 "/api/v1/users/999/points"):
        # Someone else's, or nobody's: the same 403, so ids cannot be probed.
        assert_error(jwt_server.call("GET", path, headers=user_headers(4)), 403, "FORBIDDEN")


def test_queue_token_of_another_user_is_forbidden(jwt_server):
    owner = join(jwt_server, 6).json["token"]
    path = "/api/v1/queue/tokens/current"
    assert jwt_server.call("GET", path, token=owner, headers=user_headers(6)).status == 200
    assert_error(jwt_server.call("GET", path, token=owner, headers=user_headers(7)),
                 403, "FORBIDDEN")
    assert_error(jwt_server.call("DELETE", path, token=owner, headers=user_headers(7)),
                 403, "FORBIDDEN")
    # The owner's token survived the attempt to end it.
    assert jwt_server.call("GET", path, token=owner, headers=user_headers(6)).status == 200
    # A queue token without the identity is not enough.
    assert_auth_error(jwt_server.call("GET", path, token=owner), "AUTH_REQUIRED")


def test_full_booking_flow_with_jwt(jwt_server):
    me = user_headers(8)
    token = join(jwt_server, 8).json["token"]
    held = jwt_server.call("POST", "/api/v1/reservations", {"schedule_id": 10, "seat_number": 5},
                           token=token, headers=me)
    assert held.status == 201, held
    paid = jwt_server.call("POST", "/api/v1/payments", {"reservation_id": held.json["id"]},
                           token=token, headers={**me, "Idempotency-Key": "flow-8"})
    assert paid.status == 201, paid
    # The replay through the ended token works for its owner...
    again = jwt_server.call("POST", "/api/v1/payments", {"reservation_id": held.json["id"]},
                            token=token, headers={**me, "Idempotency-Key": "flow-8"})
    assert again.status == 201 and again.json == paid.json, again
    # ...and tells another user nothing.
    other = jwt_server.call("POST", "/api/v1/payments", {"reservation_id": held.json["id"]},
                            token=token, headers={**user_headers(9), "Idempotency-Key": "flow-8"})
    assert other.status in (401, 403), other
    assert str(paid.json["balance"]) not in other.raw.decode()
