"""The two free lists rendered once per change (issue 12): GET
/api/v1/schedules/{id}/seats and GET /api/v1/concerts/{id}/schedules carry an
ETag built from the list's version, answer 304 to If-None-Match, and are
never stale: after a hold's 201, no listing that started later shows the seat.

The fake clock and the exact expiry instant are tested without sockets
(test_list_cache_unit.c); here expiry is seen through a real server with a
1 s hold, as in test_booking.py.
"""
import datetime
import json
import threading
import time

from harness import (ALL_PAST_CONCERT, FUTURE_SCHEDULE, OPEN_CONCERT, PAST_SCHEDULE,
                     PENDING_SCHEDULE, SEAT_PRICE_R, SEAT_PRICE_S, assert_error)

SEATS = f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats"
SCHEDULES = f"/api/v1/concerts/{OPEN_CONCERT}/schedules"
CACHE_CONTROL = "private, no-cache"


def expected_seats_body(free):
    """The seat list exactly as concertd has always written it: compact JSON
    in seat order, then a newline."""
    seats = [{"number": n, "grade": "R" if n <= 20 else "S",
              "price": SEAT_PRICE_R if n <= 20 else SEAT_PRICE_S} for n in sorted(free)]
    doc = {"schedule_id": FUTURE_SCHEDULE, "seats": seats}
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def get(server, path, token, etag=None, conn=None):
    headers = {"If-None-Match": etag} if etag is not None else None
    return server.call("GET", path, token=token, headers=headers, conn=conn)


def assert_listing(r):
    assert r.status == 200, r
    etag = r.header("ETag")
    assert etag and etag.startswith('"') and etag.endswith('"'), r.headers  # strong
    assert r.header("Cache-Control") == CACHE_CONTROL, r.headers
    return etag


def assert_not_modified(r, etag):
    assert r.status == 304, r
    assert r.raw == b""
    assert r.header("ETag") == etag, r.headers
    assert r.header("Cache-Control") == CACHE_CONTROL, r.headers


def seat_numbers(r):
    return {s["number"] for s in r.json["seats"]}


def test_seat_list_has_a_stable_etag_and_answers_304(server):
    token = server.active_token(1)
    first = get(server, SEATS, token)
    etag = assert_listing(first)
    assert first.raw == expected_seats_body(range(1, 41)), "the body must not change"
    again = get(server, SEATS, token)
    assert assert_listing(again) == etag
    assert again.raw == first.raw

    for value in (etag, f"W/{etag}", f'"nope", {etag}', f'W/"a" ,W/{etag},', "*"):
        assert_not_modified(get(server, SEATS, token, value), etag)
    # A tag of another list, or an old one, gets the list.
    other = get(server, SEATS, token, '"s1-0-0-0-0-0"')
    assert assert_listing(other) == etag and other.raw == first.raw
    # Not the syntax: ignored, the full answer.
    assert get(server, SEATS, token, etag.strip('"')).status == 200

    head = server.call("HEAD", SEATS, token=token)
    assert head.status == 200 and head.raw == b""
    assert head.header("ETag") == etag


def test_several_if_none_match_fields_get_the_full_answer(server):
    """Documented in docs/http.md: fields are not combined (a full answer is
    always correct; no client sends two)."""
    token = server.active_token(1)
    etag = assert_listing(get(server, SEATS, token))
    conn = server.connection()
    try:
        conn.putrequest("GET", SEATS)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("If-None-Match", '"other"')
        conn.putheader("If-None-Match", etag)
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("ETag") == etag
        r.read()
    finally:
        conn.close()


def test_schedule_list_has_an_etag_that_follows_the_free_counts(server):
    token = server.active_token(1)
    first = get(server, SCHEDULES, token)
    etag = assert_listing(first)
    assert first.json["schedules"][0]["available_seats"] == 40
    assert_not_modified(get(server, SCHEDULES, token, etag), etag)

    assert server.reserve(token, 3).status == 201
    after = get(server, SCHEDULES, token, etag)
    new_etag = assert_listing(after)
    assert new_etag != etag
    assert after.json["schedules"][0]["available_seats"] == 39
    assert_not_modified(get(server, SCHEDULES, token, new_etag), new_etag)
    # The seat list's tag is its own, never the schedule list's.
    assert assert_listing(get(server, SEATS, token)) != new_etag


def test_hold_release_and_payment_each_change_the_tag(server):
    viewer = server.active_token(2)
    buyer = server.active_token(1)
    etag = assert_listing(get(server, SEATS, viewer))

    held = server.reserve(buyer, 7)
    assert held.status == 201, held
    r = get(server, SEATS, viewer, etag)
    held_etag = assert_listing(r)
    assert held_etag != etag and 7 not in seat_numbers(r)
    assert r.raw == expected_seats_body(set(range(1, 41)) - {7})

    released = server.call("DELETE", f"/api/v1/reservations/{held.json['id']}", token=buyer)
    assert released.status == 204, released
    r = get(server, SEATS, viewer, held_etag)
    released_etag = assert_listing(r)
    assert released_etag not in (etag, held_etag) and 7 in seat_numbers(r)

    again = server.reserve(buyer, 8)
    assert again.status == 201, again
    r = get(server, SEATS, viewer, released_etag)
    before_pay = assert_listing(r)
    assert before_pay != released_etag and 8 not in seat_numbers(r)
    paid = server.pay(buyer, again.json["id"])
    assert paid.status == 201, paid
    r = get(server, SEATS, viewer, before_pay)
    assert assert_listing(r) != before_pay, "a sale changes the version"
    assert 8 not in seat_numbers(r)


def test_an_expiring_hold_changes_the_tag(start_server, store):
    """On concertd-test's clock, moved past the hold's end."""
    server = start_server(store, args=["--hold-ttl", "60"], clock=True)
    viewer = server.active_token(2)
    buyer = server.active_token(1)
    held = server.reserve(buyer, 9)
    assert held.status == 201, held
    r = get(server, SEATS, viewer)
    etag = assert_listing(r)
    assert 9 not in seat_numbers(r)

    server.advance(59_999)
    r = get(server, SEATS, viewer, etag)
    assert r.status == 304, "a millisecond before its end the hold still counts"
    server.advance(1)
    r = get(server, SEATS, viewer, etag)
    assert assert_listing(r) != etag, "the hold ran out: the list changed"
    assert 9 in seat_numbers(r)
    assert r.raw == expected_seats_body(range(1, 41))


def test_token_and_list_errors_are_never_answered_from_the_cache(start_server, store):
    server = start_server(store, args=["--max-active", "2"])
    token = server.active_token(1)
    seats_etag = assert_listing(get(server, SEATS, token))
    schedules_etag = assert_listing(get(server, SCHEDULES, token))
    other = server.active_token(2)
    # An ended token (it left the queue): the error, with or without a tag.
    left = server.call("DELETE", "/api/v1/queue/tokens/current", token=token)
    assert left.status == 204, left
    server.active_token(3)  # takes the place it left
    waiting = server.issue(4)
    assert waiting["status"] == "WAITING", waiting
    for path, etag in ((SEATS, seats_etag), (SCHEDULES, schedules_etag)):
        for value in (None, etag, "*"):
            r = get(server, path, token, value)
            assert_error(r, 401, "TOKEN_INVALID")
            assert r.header("ETag") is None
            r = get(server, path, waiting["token"], value)
            assert_error(r, 403, "TOKEN_NOT_ACTIVE")
            assert r.header("ETag") is None
        assert_error(get(server, path, None, etag), 401, "TOKEN_INVALID")

    # Other lists: the listing's own errors, never a 304 for "*".
    refused = [
        (f"/api/v1/schedules/{PAST_SCHEDULE}/seats", 409, "BOOKING_CLOSED"),
        (f"/api/v1/schedules/{PENDING_SCHEDULE}/seats", 409, "CONCERT_NOT_BOOKABLE"),
        ("/api/v1/schedules/999/seats", 404, "SCHEDULE_NOT_FOUND"),
        (f"/api/v1/concerts/{ALL_PAST_CONCERT}/schedules", 409, "BOOKING_CLOSED"),
        ("/api/v1/concerts/999/schedules", 404, "CONCERT_NOT_FOUND"),
    ]
    for path, status, code in refused:
        for value in (None, "*", seats_etag):
            r = get(server, path, other, value)
            assert_error(r, status, code)
            assert r.header("ETag") is None
    # The good token still gets the list.
    assert assert_listing(get(server, SEATS, other)) == seats_etag


# ---- the race: a cached listing is never stale ----

RACE_SEATS = 1000                     # a full hall: rendering it takes a while
RACE_HOLDERS = 100                    # users 1..100, 4 holds each (the default limit)
RACE_HELD = list(range(1, 4 * RACE_HOLDERS + 1))
LISTERS = 4
HOLD_THREADS = 4


def race_catalog():
    starts = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    users = [{"id": u, "name": f"user{u}", "points": 1000}
             for u in range(1, RACE_HOLDERS + LISTERS + 1)]
    return {"users": users,
            "concerts": [{"id": OPEN_CONCERT, "title": "Race", "status": "OPEN",
                          "schedules": [{"id": FUTURE_SCHEDULE,
                                         "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                         "seats": [{"from": 1, "to": RACE_SEATS, "grade": "R",
                                                    "price": 10}]}]}]}


def test_no_listing_after_a_hold_shows_the_seat(start_server, store):
    """Listers poll the seat list (half with If-None-Match, as a browser does,
    half without) while holders take seats. For every hold, every listing
    that started after its 201 arrived must not show the seat. A cache that
    ever served a body under a version older than the body fails this."""
    server = start_server(store, catalog=race_catalog())
    holder_tokens = {u: server.active_token(u) for u in range(1, RACE_HOLDERS + 1)}
    lister_tokens = [server.active_token(RACE_HOLDERS + 1 + k) for k in range(LISTERS)]
    held_at = {}            # seat -> monotonic time its 201 was read
    listings = []           # (started, seats shown)
    errors = []
    holding = threading.Event()
    holding.set()

    def holder(k):
        try:
            conn = server.connection()
            for seat in RACE_HELD[k::HOLD_THREADS]:
                user = 1 + (seat - 1) // 4
                r = server.call("POST", "/api/v1/reservations",
                                {"schedule_id": FUTURE_SCHEDULE, "seat_number": seat},
                                token=holder_tokens[user], conn=conn)
                done = time.monotonic()
                if r.status != 201:
                    errors.append(f"hold {seat}: {r}")
                    return
                held_at[seat] = done
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(f"holder {k}: {e!r}")

    def lister(k):
        try:
            conn = server.connection()
            etag, shown, rounds_after = None, None, 0
            # Keep listing a little after the last hold: those listings must
            # show none of the held seats.
            while holding.is_set() or rounds_after < 10:
                if not holding.is_set():
                    rounds_after += 1
                send_tag = etag if k % 2 == 0 else None
                started = time.monotonic()
                r = get(server, SEATS, lister_tokens[k], send_tag, conn=conn)
                if r.status == 304:
                    if r.header("ETag") != etag:
                        errors.append(f"304 under another tag: {r.headers}")
                        return
                elif r.status == 200:
                    etag, shown = r.header("ETag"), frozenset(seat_numbers(r))
                else:
                    errors.append(f"listing: {r}")
                    return
                listings.append((started, shown))
            conn.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"lister {k}: {e!r}")

    listers = [threading.Thread(target=lister, args=(k,)) for k in range(LISTERS)]
    holders = [threading.Thread(target=holder, args=(k,)) for k in range(HOLD_THREADS)]
    for t in listers + holders:
        t.start()
    for t in holders:
        t.join(300)
    holding.clear()
    for t in listers:
        t.join(300)
    assert not errors, errors[:5]
    assert set(held_at) == set(RACE_HELD)

    holds = sorted((at, seat) for seat, at in held_at.items())
    stale = 0
    for started, shown in listings:
        for at, seat in holds:
            if at >= started:
                break
            stale += seat in shown
    assert stale == 0, f"{stale} times a listing showed a seat held before it started"
    last_hold = holds[-1][0]
    after = [shown for started, shown in listings if started > last_hold]
    assert len(after) >= LISTERS * 10, "the listers kept going after the last hold"
    assert all(shown == frozenset(range(len(RACE_HELD) + 1, RACE_SEATS + 1)) for shown in after)
