"""The seat map (issue 13): GET /api/v1/schedules/{id}/seatmap lists every
seat with its state (FREE, HELD with held_until, SOLD), its FREE seats are
the seat list, and it carries an ETag and answers 304 exactly like the seat
list (test_list_cache.py), under a tag of its own.

The exact expiry instant is tested on the fake clock without sockets
(test_list_cache_unit.c); here a real server with a 1 s hold.
"""
import json

from harness import (FUTURE_SCHEDULE, PAST_SCHEDULE, PENDING_SCHEDULE, SEAT_PRICE_R,
                     SEAT_PRICE_S, assert_error, parse_time)

SEATMAP = f"/api/v1/schedules/{FUTURE_SCHEDULE}/seatmap"
SEATS = f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats"
CACHE_CONTROL = "private, no-cache"


def get(server, path, token, etag=None):
    headers = {"If-None-Match": etag} if etag is not None else None
    return server.call("GET", path, token=token, headers=headers)


def assert_map(r):
    """A 200 seat map: its ETag, after checking the shape of every seat."""
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json", r.headers
    etag = r.header("ETag")
    assert etag and etag.startswith('"') and etag.endswith('"'), r.headers
    assert r.header("Cache-Control") == CACHE_CONTROL, r.headers
    doc = r.json
    assert doc["schedule_id"] == FUTURE_SCHEDULE
    assert [s["number"] for s in doc["seats"]] == list(range(1, 41)), "every seat, in order"
    for s in doc["seats"]:
        n = s["number"]
        assert s["grade"] == ("R" if n <= 20 else "S"), s
        assert s["price"] == (SEAT_PRICE_R if n <= 20 else SEAT_PRICE_S), s
        assert s["status"] in ("FREE", "HELD", "SOLD"), s
        expected_keys = {"number", "grade", "price", "status"}
        if s["status"] == "HELD":
            expected_keys.add("held_until")
            parse_time(s["held_until"])
        assert set(s) == expected_keys, s
    return etag


def states(r):
    return {s["number"]: s["status"] for s in r.json["seats"]}


def seat(r, number):
    return r.json["seats"][number - 1]


def assert_free_is_the_seat_list(server, token, map_response):
    free = [{k: s[k] for k in ("number", "grade", "price")}
            for s in map_response.json["seats"] if s["status"] == "FREE"]
    listed = get(server, SEATS, token)
    assert listed.status == 200, listed
    assert listed.json["seats"] == free


def test_every_seat_free_at_first_in_the_documented_body(server):
    token = server.active_token(1)
    r = get(server, SEATMAP, token)
    assert_map(r)
    assert set(states(r).values()) == {"FREE"}
    # Compact JSON and a newline, like every list concertd renders.
    assert r.raw == (json.dumps(r.json, separators=(",", ":"), ensure_ascii=False)
                     + "\n").encode()
    assert r.raw.startswith(b'{"schedule_id":10,"seats":[{"number":1,"grade":"R",'
                            b'"price":1000,"status":"FREE"},')
    assert_free_is_the_seat_list(server, token, r)


def test_hold_pay_and_release_show_in_the_map(server):
    viewer = server.active_token(2)
    buyer = server.active_token(1)
    first = get(server, SEATMAP, viewer)
    etag0 = assert_map(first)

    held = server.reserve(buyer, 7)
    assert held.status == 201, held
    r = get(server, SEATMAP, viewer, etag0)
    etag1 = assert_map(r)
    assert etag1 != etag0, "a hold changes the map's tag"
    assert seat(r, 7)["status"] == "HELD"
    assert parse_time(seat(r, 7)["held_until"]) == parse_time(held.json["held_until"])
    assert [n for n, st in states(r).items() if st != "FREE"] == [7]
    assert_free_is_the_seat_list(server, viewer, r)
    # The holder sees the same: the map never says whose a hold is.
    mine = get(server, SEATMAP, buyer)
    assert mine.raw == r.raw

    other = server.reserve(buyer, 8)
    assert other.status == 201, other
    paid = server.pay(buyer, other.json["id"])
    assert paid.status == 201, paid
    r = get(server, SEATMAP, viewer, etag1)
    etag2 = assert_map(r)
    assert etag2 not in (etag0, etag1)
    assert seat(r, 8)["status"] == "SOLD" and "held_until" not in seat(r, 8)
    assert seat(r, 7)["status"] == "HELD"
    assert_free_is_the_seat_list(server, viewer, r)

    # The payment ended the buyer's token; a new one releases seat 7.
    buyer = server.active_token(1)
    released = server.call("DELETE", f"/api/v1/reservations/{held.json['id']}", token=buyer)
    assert released.status == 204, released
    r = get(server, SEATMAP, viewer, etag2)
    etag3 = assert_map(r)
    assert etag3 not in (etag0, etag1, etag2)
    assert seat(r, 7) == {"number": 7, "grade": "R", "price": SEAT_PRICE_R, "status": "FREE"}
    assert [n for n, st in states(r).items() if st != "FREE"] == [8]
    assert_free_is_the_seat_list(server, viewer, r)


def test_etag_and_304_like_the_seat_list(server):
    token = server.active_token(1)
    first = get(server, SEATMAP, token)
    etag = assert_map(first)
    again = get(server, SEATMAP, token)
    assert assert_map(again) == etag and again.raw == first.raw

    for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        r = get(server, SEATMAP, token, value)
        assert r.status == 304, (value, r)
        assert r.raw == b""
        assert r.header("ETag") == etag
        assert r.header("Cache-Control") == CACHE_CONTROL
    # The seat list has the same version but its own tag: no 304 across.
    list_etag = get(server, SEATS, token).header("ETag")
    assert list_etag and list_etag != etag
    cross = get(server, SEATMAP, token, list_etag)
    assert cross.status == 200 and cross.raw == first.raw
    assert get(server, SEATMAP, token, '"m1-0-0-0-0-0"').status == 200

    head = server.call("HEAD", SEATMAP, token=token)
    assert head.status == 200 and head.raw == b""
    assert head.header("ETag") == etag


def test_an_expiring_hold_is_free_again(start_server, store):
    server = start_server(store, args=["--hold-ttl", "60"], clock=True)
    viewer = server.active_token(2)
    buyer = server.active_token(1)
    held = server.reserve(buyer, 9)
    assert held.status == 201, held
    r = get(server, SEATMAP, viewer)
    etag = assert_map(r)
    assert seat(r, 9)["status"] == "HELD"

    server.advance(59_999)
    assert get(server, SEATMAP, viewer, etag).status == 304, "held until the end"
    server.advance(1)
    r = get(server, SEATMAP, viewer, etag)
    assert assert_map(r) != etag, "the hold ran out: the map changed"
    assert set(states(r).values()) == {"FREE"}


def test_token_and_schedule_errors_like_the_seat_list(start_server, store):
    server = start_server(store, args=["--max-active", "2"])
    token = server.active_token(1)
    etag = assert_map(get(server, SEATMAP, token))
    other = server.active_token(2)
    left = server.call("DELETE", "/api/v1/queue/tokens/current", token=token)
    assert left.status == 204, left
    server.active_token(3)  # takes the place it left
    waiting = server.issue(4)
    assert waiting["status"] == "WAITING", waiting

    for value in (None, etag, "*"):
        r = get(server, SEATMAP, token, value)
        assert_error(r, 401, "TOKEN_INVALID")
        assert r.header("ETag") is None
        r = get(server, SEATMAP, waiting["token"], value)
        assert_error(r, 403, "TOKEN_NOT_ACTIVE")
        assert r.header("ETag") is None
    assert_error(get(server, SEATMAP, None), 401, "TOKEN_INVALID")
    assert_error(get(server, SEATMAP, "not-a-token"), 401, "TOKEN_INVALID")

    refused = [
        (PAST_SCHEDULE, 409, "BOOKING_CLOSED"),
        (PENDING_SCHEDULE, 409, "CONCERT_NOT_BOOKABLE"),
        (999, 404, "SCHEDULE_NOT_FOUND"),
    ]
    for schedule, status, code in refused:
        for value in (None, "*", etag):
            r = get(server, f"/api/v1/schedules/{schedule}/seatmap", other, value)
            assert_error(r, status, code)
            assert r.header("ETag") is None
            listed = get(server, f"/api/v1/schedules/{schedule}/seats", other)
            assert listed.status == r.status and listed.json == r.json
    assert_error(get(server, "/api/v1/schedules/x1/seatmap", other), 400, "MALFORMED_REQUEST")
    assert assert_map(get(server, SEATMAP, other)) == etag
