"""Request bodies go through the one strict JSON reader: a key given twice
is 400 MALFORMED_REQUEST (json-c alone kept the last, so
{"reservation_id":1,"reservation_id":2} paid for 2), and so is anything
RFC 8259 does not allow, whatever json-c would let through."""
import pytest

from harness import RICH_POINTS, assert_error

JOIN = "/api/v1/queue/tokens"


def post_raw(server, path, raw, token=None):
    return server.call("POST", path, raw=raw, token=token,
                       headers={"Content-Type": "application/json"})


def test_duplicate_reservation_id_pays_for_nothing(server):
    token = server.active_token(1)
    first = server.reserve(token, 1).json["id"]
    second = server.reserve(token, 2).json["id"]
    body = b'{"reservation_id": %d, "reservation_id": %d}' % (first, second)
    r = post_raw(server, "/api/v1/payments", body, token=token)
    assert_error(r, 400, "MALFORMED_REQUEST")
    assert "reservation_id" in r.json["error"]["message"]
    for rid in (first, second):
        read = server.call("GET", f"/api/v1/reservations/{rid}", token=token)
        assert read.json["status"] == "HELD", read
    assert server.call("GET", "/api/v1/users/1/points").json["balance"] == RICH_POINTS


@pytest.mark.parametrize("raw", [
    b'{"user_id": 1, "user_id": 2}',
    b'{"user_id": 1, "user\\u005fid": 2}',          # the same key, escaped
    b'{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"user_id":1,"user_id":2}',
    b'{"user_id": 1, "x": {"y": 1, "y": 2}}',       # nested
    b'{"user_id": 1, "x": [{"y": 1}, {"y": 1, "y": 2}]}',
])
def test_duplicate_keys_are_malformed(server, raw):
    r = post_raw(server, JOIN, raw)
    assert_error(r, 400, "MALFORMED_REQUEST")
    assert "twice" in r.json["error"]["message"]
    # Nothing joined.
    assert server.call("GET", "/api/v1/queue").json["active"] == 0


def test_duplicate_amount_charges_nothing(server):
    r = post_raw(server, "/api/v1/users/1/points/charge", b'{"amount": 1, "amount": 100000}')
    assert_error(r, 400, "MALFORMED_REQUEST")
    assert server.call("GET", "/api/v1/users/1/points").json["balance"] == RICH_POINTS


@pytest.mark.parametrize("raw", [
    b"{'user_id': 1}",                  # single quotes
    b'{"user_id": 1} {}',               # trailing data
    b'{"user_id": 1}x',
    b'{"user_id": NaN}',
    b'{"user_id": Infinity}',
    b'{"user_id": -Infinity}',
    b'{"user_id": 1.}',
    b'{"user_id": 01}',
    b'{"user_id": 1, "n": "a\tb"}',     # raw control character
    b'{"user_id": 1, "n": "\\ud800"}',  # unpaired surrogate
    b'{"user_id": 1, "n": "\xff"}',     # invalid UTF-8
    b'{"user_id": 1, "n": ' + b"[" * 40 + b"]" * 40 + b"}",   # too deep
    b'{"user_id": 1,}',
    b'{"user_id": 1} /* comment */',
    b'[{"user_id": 1}]',
    b'"user_id"',
    b"",
    b"   ",
])
def test_not_strict_json_is_malformed(server, raw):
    assert_error(post_raw(server, JOIN, raw), 400, "MALFORMED_REQUEST")
    assert server.call("GET", "/api/v1/queue").json["active"] == 0


def test_strict_json_still_reads_what_is_valid(server):
    raw = b' {"user_id" : 1 , "note": "\\u00e9\\ud83d\\ude00", "x": [1.5e3, -0, true, null]}\r\n'
    r = post_raw(server, JOIN, raw)
    assert r.status == 201, r
