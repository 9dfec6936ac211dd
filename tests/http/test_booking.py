"""Booking routes: holds, reading reservations, payment and its retries."""
import datetime

from harness import (FUTURE_SCHEDULE, PAST_SCHEDULE, PENDING_SCHEDULE, POOR_USER, RICH_POINTS,
                     SEAT_PRICE_R, SEAT_PRICE_S, assert_error, parse_time)

RESERVATION_FIELDS = {"id", "user_id", "schedule_id", "seat_number", "price", "status",
                      "held_until"}
PAYMENT_FIELDS = {"id", "reservation_id", "reservation_ids", "user_id", "amount", "balance",
                  "paid_at"}


def test_hold_a_seat_then_hold_it_again(server):
    token = server.active_token(1)
    r = server.reserve(token, 3)
    assert r.status == 201, r
    assert set(r.json) == RESERVATION_FIELDS
    assert r.json["user_id"] == 1
    assert r.json["schedule_id"] == FUTURE_SCHEDULE
    assert r.json["seat_number"] == 3
    assert r.json["price"] == SEAT_PRICE_R
    assert r.json["status"] == "HELD"
    assert parse_time(r.json["held_until"]) > datetime.datetime.now(datetime.timezone.utc)

    again = server.reserve(token, 3)
    assert again.status == 200, again
    assert again.json["id"] == r.json["id"]

    read = server.call("GET", f"/api/v1/reservations/{r.json['id']}", token=token)
    assert read.status == 200, read
    assert read.json == r.json


def test_hold_errors(server):
    token = server.active_token(1)
    other = server.active_token(2)
    assert server.reserve(token, 4).status == 201
    assert_error(server.reserve(other, 4), 409, "SEAT_TAKEN")
    assert_error(server.reserve(token, 999), 404, "SEAT_NOT_FOUND")
    assert_error(server.reserve(token, 1, schedule=999), 404, "SCHEDULE_NOT_FOUND")
    assert_error(server.reserve(token, 1, schedule=PAST_SCHEDULE), 409, "BOOKING_CLOSED")
    assert_error(server.reserve(token, 1, schedule=PENDING_SCHEDULE), 409,
                 "CONCERT_NOT_BOOKABLE")
    assert_error(server.reserve(None, 1), 401, "TOKEN_INVALID")


def test_reservation_read_errors(server):
    owner = server.active_token(1)
    stranger = server.active_token(2)
    rid = server.reserve(owner, 6).json["id"]
    assert_error(server.call("GET", f"/api/v1/reservations/{rid}", token=stranger),
                 403, "FORBIDDEN")
    assert_error(server.call("GET", "/api/v1/reservations/987654", token=owner),
                 404, "RESERVATION_NOT_FOUND")
    assert_error(server.pay(stranger, rid), 403, "FORBIDDEN")
    assert_error(server.pay(owner, 987654), 404, "RESERVATION_NOT_FOUND")


def test_pay_ends_the_token_and_replays_with_the_same_key(server):
    token = server.active_token(1)
    rid = server.reserve(token, 21).json["id"]
    paid = server.pay(token, rid, key="pay-1")
    assert paid.status == 201, paid
    assert set(paid.json) == PAYMENT_FIELDS
    assert paid.json["reservation_id"] == rid
    assert paid.json["user_id"] == 1
    assert paid.json["amount"] == SEAT_PRICE_S
    assert paid.json["balance"] == RICH_POINTS - SEAT_PRICE_S
    parse_time(paid.json["paid_at"])

    # The token ended with the payment; the same key replays the same 201.
    assert_error(server.call("GET", "/api/v1/queue/tokens/current", token=token),
                 401, "TOKEN_INVALID")
    replay = server.pay(token, rid, key="pay-1")
    assert replay.status == 201, replay
    assert replay.json == paid.json
    balance = server.call("GET", "/api/v1/users/1/points").json["balance"]
    assert balance == RICH_POINTS - SEAT_PRICE_S, "a replay must not charge twice"

    # Without the key, the ended token is simply invalid.
    assert_error(server.pay(token, rid), 401, "TOKEN_INVALID")

    # A later token of the owner still reads the paid reservation...
    later = server.active_token(1)
    read = server.call("GET", f"/api/v1/reservations/{rid}", token=later)
    assert read.status == 200, read
    assert read.json["status"] == "CONFIRMED"
    # ...and paying it again is ALREADY_PAID; another reservation under the
    # first key is IDEMPOTENCY_KEY_REUSED.
    assert_error(server.pay(later, rid), 409, "ALREADY_PAID")
    other = server.reserve(later, 22).json["id"]
    assert_error(server.pay(later, other, key="pay-1"), 409, "IDEMPOTENCY_KEY_REUSED")

    # The seat is sold: nobody can hold it.
    third = server.active_token(3)
    assert_error(server.reserve(third, 21), 409, "SEAT_TAKEN")


def test_insufficient_points(server):
    token = server.active_token(POOR_USER)
    rid = server.reserve(token, 8).json["id"]
    assert_error(server.pay(token, rid), 409, "INSUFFICIENT_POINTS")
    # Nothing changed: still held, still this user's token, balance 0.
    assert server.call("GET", f"/api/v1/reservations/{rid}", token=token).json["status"] == "HELD"
    assert server.call("GET", f"/api/v1/users/{POOR_USER}/points").json["balance"] == 0


def test_overlong_idempotency_key_is_invalid_argument(server):
    token = server.active_token(1)
    rid = server.reserve(token, 9).json["id"]
    assert_error(server.pay(token, rid, key="k" * 256), 422, "INVALID_ARGUMENT")
    assert server.pay(token, rid, key="k" * 255).status == 201


def test_hold_expires(start_server, store):
    """On concertd-test's clock: the hold lasts exactly --hold-ttl, held
    until the millisecond before and expired at it."""
    hold_ms = 60_000
    server = start_server(store, args=["--hold-ttl", "60"], clock=True)
    token = server.active_token(1)
    held = server.reserve(token, 10)
    assert held.status == 201, held
    assert held.json["status"] == "HELD"
    assert parse_time(held.json["held_until"]) == \
        server.now() + datetime.timedelta(milliseconds=hold_ms)
    path = f"/api/v1/reservations/{held.json['id']}"

    server.advance(hold_ms - 1)
    read = server.call("GET", path, token=token)
    assert read.status == 200, read
    assert read.json["status"] == "HELD", "a millisecond before held_until"
    assert server.reserve(server.active_token(2), 10).status == 409

    server.advance(1)
    read = server.call("GET", path, token=token)
    assert read.status == 200, read
    assert read.json["status"] == "EXPIRED"
    assert_error(server.pay(token, held.json["id"]), 409, "HOLD_EXPIRED")
    # The seat is free again, for anyone.
    other = server.active_token(2)
    assert server.reserve(other, 10).status == 201
