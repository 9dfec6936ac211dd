"""--auth header: behind a trusted gateway, the user id comes from the
configured header (here X-User-Id). Missing is AUTH_REQUIRED, anything but
one plain user id is AUTH_INVALID, another user's data is FORBIDDEN."""
import pytest

from harness import RICH_POINTS, assert_error
from identity import USER_HEADER, header_args


@pytest.fixture
def gw_server(start_server, workdir):
    return start_server("memory", args=header_args(workdir))


def as_user(user_id):
    return {USER_HEADER: str(user_id)}


def test_the_header_is_the_identity(gw_server):
    r = gw_server.call("POST", "/api/v1/queue/tokens", {}, headers=as_user(3))
    assert r.status == 201 and r.json["user_id"] == 3, r
    token = r.json["token"]
    assert gw_server.call("GET", "/api/v1/queue/tokens/current", token=token,
                          headers=as_user(3)).status == 200
    assert_error(gw_server.call("GET", "/api/v1/queue/tokens/current", token=token,
                                headers=as_user(4)), 403, "FORBIDDEN")
    assert_error(gw_server.call("POST", "/api/v1/queue/tokens", {"user_id": 3},
                                headers=as_user(4)), 403, "FORBIDDEN")
    b = gw_server.call("GET", "/api/v1/users/3/points", headers=as_user(3))
    assert b.status == 200 and b.json["balance"] == RICH_POINTS, b
    assert_error(gw_server.call("GET", "/api/v1/users/3/points", headers=as_user(4)),
                 403, "FORBIDDEN")


def test_missing_header_is_auth_required(gw_server):
    r = gw_server.call("POST", "/api/v1/queue/tokens", {"user_id": 1})
    assert_error(r, 401, "AUTH_REQUIRED")
    assert r.header("WWW-Authenticate").startswith(f"{USER_HEADER} realm=")
    # The JWT header means nothing in this mode.
    r = gw_server.call("GET", "/api/v1/users/1/points", headers={"X-User-Token": "1"})
    assert_error(r, 401, "AUTH_REQUIRED")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "+1", "01", "1 2", "1.0", "0x10",
                                   "9007199254740992", "99999999999999999999", "１"])
def test_anything_but_a_user_id_is_auth_invalid(gw_server, value):
    r = gw_server.call("GET", "/api/v1/users/1/points",
                       headers={USER_HEADER: value.encode("utf-8")})
    assert_error(r, 401, "AUTH_INVALID")
    assert "invalid_token" in r.header("WWW-Authenticate")


def test_header_sent_twice_is_refused(gw_server):
    """A gateway that appends instead of replacing must not let the
    client's copy through."""
    conn = gw_server.connection()
    try:
        conn.putrequest("GET", "/api/v1/users/1/points")
        conn.putheader(USER_HEADER, "2")
        conn.putheader(USER_HEADER, "1")
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status == 401, body
    assert b"AUTH_INVALID" in body


def test_header_name_is_case_insensitive_and_padded_values_are_fine(gw_server):
    r = gw_server.call("GET", "/api/v1/users/5/points", headers={"x-user-id": " 5 "})
    assert r.status == 200, r
