"""Catalog routes: OPEN concerts, one concert, bookable schedules, free seats."""
from harness import (ALL_PAST_CONCERT, CLOSED_CONCERT, EMPTY_CONCERT, FUTURE_SCHEDULE,
                     OPEN_CONCERT, PAST_SCHEDULE, PENDING_CONCERT, PENDING_SCHEDULE,
                     SEAT_PRICE_R, SEAT_PRICE_S, assert_error, parse_time)


def test_lists_only_open_concerts(server):
    token = server.active_token(1)
    r = server.call("GET", "/api/v1/concerts", token=token)
    assert r.status == 200, r
    assert set(r.json) == {"concerts"}
    ids = [c["id"] for c in r.json["concerts"]]
    assert ids == sorted(ids)
    assert set(ids) == {OPEN_CONCERT, ALL_PAST_CONCERT, EMPTY_CONCERT}
    first = r.json["concerts"][0]
    assert first == {"id": OPEN_CONCERT, "title": "Open \"Air\" Night \u2605", "status": "OPEN",
                     "max_per_user": None}


def test_one_concert_and_its_errors(server):
    token = server.active_token(1)
    r = server.call("GET", f"/api/v1/concerts/{OPEN_CONCERT}", token=token)
    assert r.status == 200, r
    assert r.json == {"id": OPEN_CONCERT, "title": "Open \"Air\" Night \u2605", "status": "OPEN",
                      "max_per_user": None}
    assert_error(server.call("GET", "/api/v1/concerts/999", token=token),
                 404, "CONCERT_NOT_FOUND")
    assert_error(server.call("GET", f"/api/v1/concerts/{PENDING_CONCERT}", token=token),
                 409, "CONCERT_NOT_BOOKABLE")
    assert_error(server.call("GET", f"/api/v1/concerts/{CLOSED_CONCERT}", token=token),
                 409, "CONCERT_NOT_BOOKABLE")
    assert_error(server.call("GET", f"/api/v1/concerts/{OPEN_CONCERT}"), 401, "TOKEN_INVALID")


def test_schedules_are_the_bookable_ones_with_free_seat_counts(server):
    token = server.active_token(1)
    r = server.call("GET", f"/api/v1/concerts/{OPEN_CONCERT}/schedules", token=token)
    assert r.status == 200, r
    assert r.json["concert_id"] == OPEN_CONCERT
    assert [s["id"] for s in r.json["schedules"]] == [FUTURE_SCHEDULE]
    schedule = r.json["schedules"][0]
    assert set(schedule) == {"id", "starts_at", "available_seats"}
    assert schedule["available_seats"] == 40
    parse_time(schedule["starts_at"])

    assert server.reserve(token, 5).status == 201
    r = server.call("GET", f"/api/v1/concerts/{OPEN_CONCERT}/schedules", token=token)
    assert r.json["schedules"][0]["available_seats"] == 39

    empty = server.call("GET", f"/api/v1/concerts/{EMPTY_CONCERT}/schedules", token=token)
    assert empty.status == 200, empty
    assert empty.json == {"concert_id": EMPTY_CONCERT, "schedules": []}
    assert_error(server.call("GET", f"/api/v1/concerts/{ALL_PAST_CONCERT}/schedules",
                             token=token), 409, "BOOKING_CLOSED")
    assert_error(server.call("GET", "/api/v1/concerts/999/schedules", token=token),
                 404, "CONCERT_NOT_FOUND")
    assert_error(server.call("GET", f"/api/v1/concerts/{PENDING_CONCERT}/schedules",
                             token=token), 409, "CONCERT_NOT_BOOKABLE")


def test_seats_are_the_free_ones(server):
    token = server.active_token(1)
    r = server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats", token=token)
    assert r.status == 200, r
    assert r.json["schedule_id"] == FUTURE_SCHEDULE
    seats = r.json["seats"]
    assert [s["number"] for s in seats] == list(range(1, 41))
    assert seats[0] == {"number": 1, "grade": "R", "price": SEAT_PRICE_R}
    assert seats[39] == {"number": 40, "grade": "S", "price": SEAT_PRICE_S}

    assert server.reserve(token, 7).status == 201
    r = server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats", token=token)
    assert 7 not in [s["number"] for s in r.json["seats"]]
    assert len(r.json["seats"]) == 39

    assert_error(server.call("GET", "/api/v1/schedules/999/seats", token=token),
                 404, "SCHEDULE_NOT_FOUND")
    assert_error(server.call("GET", f"/api/v1/schedules/{PAST_SCHEDULE}/seats", token=token),
                 409, "BOOKING_CLOSED")
    assert_error(server.call("GET", f"/api/v1/schedules/{PENDING_SCHEDULE}/seats",
                             token=token), 409, "CONCERT_NOT_BOOKABLE")
    assert_error(server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats"),
                 401, "TOKEN_INVALID")
