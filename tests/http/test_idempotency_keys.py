"""Idempotency-Key is read the same way on every store, by concertd before
any library call: surrounding spaces and tabs are not part of the key, a
blank key is 422 INVALID_ARGUMENT (it used to count as none and charge
twice), and a key is 1..255 bytes of printable ASCII (0x21-0x7E): anything
else is 422 too, never a 500 or a silently different key."""
import pytest

from harness import RICH_POINTS, assert_error

CHARGE = "/api/v1/users/{}/points/charge"
REFUSED = [
    "", " ", "\t", "  \t ",                       # blank
    "a b", "k\x7fy", "k\x01y",                    # space or control inside
    "k\u00e9y".encode("utf-8"),                  # valid UTF-8, not ASCII
    b"k\xe9y",                                    # Latin-1 byte, invalid UTF-8
    b"\xff\xfe", b"\xc0\xaf",                     # invalid UTF-8
    "k" * 256,                                    # too long
]


def entries(server, user_id):
    r = server.call("GET", f"/api/v1/users/{user_id}/points/history")
    assert r.status == 200, r
    return r.json["entries"]


@pytest.mark.parametrize("key", REFUSED, ids=repr)
def test_refused_keys_change_nothing(server, key):
    r = server.call("POST", CHARGE.format(1), {"amount": 10}, headers={"Idempotency-Key": key})
    assert_error(r, 422, "INVALID_ARGUMENT")
    assert "Idempotency-Key" in r.json["error"]["message"]
    assert len(entries(server, 1)) == 1, "a refused charge was applied"

    token = server.active_token(2)
    rid = server.reserve(token, 3).json["id"]
    r = server.pay(token, rid, key=key)
    assert_error(r, 422, "INVALID_ARGUMENT")
    read = server.call("GET", f"/api/v1/reservations/{rid}", token=token)
    assert read.json["status"] == "HELD", "a refused payment was applied"


@pytest.mark.parametrize("first, second", [
    ("k1", " k1"), ("k1", "k1 "), ("k1", "\tk1\t"), (" k1 ", "k1"),
])
def test_padded_keys_are_the_same_key(server, first, second):
    a = server.call("POST", CHARGE.format(3), {"amount": 10}, headers={"Idempotency-Key": first})
    b = server.call("POST", CHARGE.format(3), {"amount": 10}, headers={"Idempotency-Key": second})
    assert a.status == b.status == 200, (a, b)
    assert a.json == b.json == {"user_id": 3, "balance": RICH_POINTS + 10}
    assert len(entries(server, 3)) == 2, "the padded key charged a second time"
    c = server.call("POST", CHARGE.format(3), {"amount": 11}, headers={"Idempotency-Key": second})
    assert_error(c, 409, "IDEMPOTENCY_KEY_REUSED")


def test_longest_and_widest_keys_are_accepted(server):
    printable = "".join(chr(c) for c in range(0x21, 0x7F))
    for i, key in enumerate(["k" * 255, printable]):
        a = server.call("POST", CHARGE.format(4), {"amount": 5 + i},
                        headers={"Idempotency-Key": key})
        b = server.call("POST", CHARGE.format(4), {"amount": 5 + i},
                        headers={"Idempotency-Key": key})
        assert a.status == b.status == 200, (key, a, b)
        assert a.json == b.json
    assert len(entries(server, 4)) == 3


def test_payment_with_a_padded_key_replays(server):
    token = server.active_token(5)
    rid = server.reserve(token, 4).json["id"]
    paid = server.pay(token, rid, key="order-5 ")
    assert paid.status == 201, paid
    again = server.pay(token, rid, key=" order-5")
    assert again.status == 201 and again.json == paid.json, again
