"""Live updates over Server-Sent Events (issue 13): the two streams' event
shapes, their credentials (header or query string, refused before the stream
starts), the queue stream ending at ACTIVE, seat events after another
buyer's hold, release and payment, and no query string in the server log."""

import time

import pytest

from harness import FUTURE_SCHEDULE, PAST_SCHEDULE, assert_error
from identity import jwt_args, user_headers
from sse_client import SseStream

QUEUE_EVENTS = "/api/v1/queue/tokens/current/events"
SEAT_EVENTS = f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats/events"
# An event the hub sends on a change comes within a tick or two (500 ms);
# this only bounds a test that would otherwise hang.
EVENT_TIMEOUT_S = 10


def assert_stream_headers(stream):
    assert stream.status == 200, (stream.status, stream.body)
    assert stream.header("Content-Type") == "text/event-stream"
    assert stream.header("Cache-Control") == "no-cache"
    assert stream.header("X-Accel-Buffering") == "no"


def queue_doc(server, token, headers=None):
    r = server.call("GET", "/api/v1/queue/tokens/current", token=token, headers=headers)
    assert r.status == 200, r
    return r.json


def assert_same_document(event_doc, polled):
    """The event's data is the polled document: the same members, the same
    values but the estimate, which the admission rate moves between them."""
    assert set(event_doc) == set(polled), (event_doc, polled)
    for key in polled:
        if key != "eta_seconds":
            assert event_doc[key] == polled[key], (key, event_doc, polled)


def test_queue_stream_sends_the_token_document_and_ends_at_active(start_server, store):
    server = start_server(store, args=["--max-active", "1"])
    first = server.active_token(1)
    waiting = server.issue(2)
    assert waiting["status"] == "WAITING", waiting
    stream = SseStream(server, f"{QUEUE_EVENTS}?token={waiting['token']}")
    try:
        assert_stream_headers(stream)
        event = stream.next_event(EVENT_TIMEOUT_S)
        assert stream.retry == 2000, "the stream starts with retry: 2000"
        assert event["event"] == "queue", event
        assert_same_document(event["data"], queue_doc(server, waiting["token"]))
        assert event["data"]["status"] == "WAITING" and event["data"]["position"] == 1

        # The ACTIVE buyer leaves: the waiting one is admitted, told so, and
        # the stream ends after that event.
        assert server.call("DELETE", "/api/v1/queue/tokens/current", token=first).status == 204
        rest = stream.events_until_end(EVENT_TIMEOUT_S)
        # Before it, maybe a new estimate (the admission rate moved it).
        assert rest and {e["event"] for e in rest} == {"queue"}, rest
        assert all(e["data"]["status"] == "WAITING" for e in rest[:-1]), rest
        assert rest[-1]["data"]["status"] == "ACTIVE" and rest[-1]["data"]["position"] == 0
        assert_same_document(rest[-1]["data"], queue_doc(server, waiting["token"]))
    finally:
        stream.close()


def test_queue_stream_takes_the_bearer_header_too(start_server):
    server = start_server("memory")
    token = server.active_token(3)
    stream = SseStream(server, QUEUE_EVENTS, headers={"Authorization": f"Bearer {token}"})
    try:
        assert_stream_headers(stream)
        events = stream.events_until_end(EVENT_TIMEOUT_S)
        assert [e["event"] for e in events] == ["queue"], events
        assert events[0]["data"]["status"] == "ACTIVE"
    finally:
        stream.close()


def test_bad_credentials_are_refused_before_the_stream(start_server):
    server = start_server("memory", args=["--max-active", "1"])
    active = server.active_token(1)
    waiting = server.issue(2)["token"]
    cases = [
        (QUEUE_EVENTS, {}, 401, "TOKEN_INVALID"),
        (f"{QUEUE_EVENTS}?token=not-a-token", {}, 401, "TOKEN_INVALID"),
        (f"{QUEUE_EVENTS}?token={active}&token={active}", {}, 401, "TOKEN_INVALID"),
        (SEAT_EVENTS, {}, 401, "TOKEN_INVALID"),
        (f"{SEAT_EVENTS}?token=not-a-token", {}, 401, "TOKEN_INVALID"),
        # A WAITING token may watch the queue, not the seats.
        (f"{SEAT_EVENTS}?token={waiting}", {}, 403, "TOKEN_NOT_ACTIVE"),
        (f"/api/v1/schedules/{PAST_SCHEDULE}/seats/events?token={active}", {}, 409,
         "BOOKING_CLOSED"),
        ("/api/v1/schedules/9999/seats/events", {"Authorization": f"Bearer {active}"}, 404,
         "SCHEDULE_NOT_FOUND"),
    ]
    for path, headers, status, code in cases:
        stream = SseStream(server, path, headers=headers)
        assert stream.status == status, (path, stream.status, stream.body)
        assert stream.header("Content-Type") == "application/json", path
        assert stream.body["error"]["code"] == code, (path, stream.body)


@pytest.mark.parametrize("via_query", [False, True])
def test_jwt_identity_must_own_the_token(start_server, workdir, via_query):
    server = start_server("memory", args=jwt_args(workdir))
    a, b = user_headers(1), user_headers(2)
    joined = server.call("POST", "/api/v1/queue/tokens", {}, headers=a)
    assert joined.status == 201, joined
    token_a = joined.json["token"]

    def open_as(identity, path):
        if via_query:
            sep = "&" if "?" in path else "?"
            return SseStream(server, f"{path}{sep}token={token_a}"
                             f"&user_token={identity['X-User-Token']}")
        return SseStream(server, path,
                         headers=dict(identity, Authorization=f"Bearer {token_a}"))

    for path in (QUEUE_EVENTS, SEAT_EVENTS):
        other = open_as(b, path)
        assert other.status == 403 and other.body["error"]["code"] == "FORBIDDEN", \
            (path, other.status, other.body)
        assert token_a not in str(other.body)
        nobody = SseStream(server, f"{path}?token={token_a}")
        assert nobody.status == 401 and nobody.body["error"]["code"] == "AUTH_REQUIRED", \
            (path, nobody.status, nobody.body)
        assert nobody.header("WWW-Authenticate")
        forged = SseStream(server, f"{path}?token={token_a}&user_token=x.y.z")
        assert forged.status == 401 and forged.body["error"]["code"] == "AUTH_INVALID"

    own = open_as(a, SEAT_EVENTS)
    try:
        assert_stream_headers(own)
        assert own.next_event(EVENT_TIMEOUT_S)["event"] == "seatmap"
    finally:
        own.close()


def seat_changes(stream, number, timeout=EVENT_TIMEOUT_S):
    """The next seats event, which must name seat number."""
    event = stream.next_event(timeout)
    assert event is not None and event["event"] == "seats", event
    assert event["data"]["schedule_id"] == FUTURE_SCHEDULE
    changed = {s["number"]: s for s in event["data"]["seats"]}
    assert number in changed, event
    return event, changed[number]


def seatmap(server, token):
    r = server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seatmap", token=token)
    assert r.status == 200, r
    return r


def test_seat_stream_follows_other_buyers(start_server, store):
    server = start_server(store, args=["--max-active", "2"])
    watcher = server.active_token(1)
    buyer = server.active_token(2)
    stream = SseStream(server, f"{SEAT_EVENTS}?token={watcher}")
    try:
        assert_stream_headers(stream)
        first = stream.next_event(EVENT_TIMEOUT_S)
        assert first["event"] == "seatmap", first
        polled = seatmap(server, watcher)
        assert first["data"] == polled.json, "the map is the seatmap route's document"
        assert first["id"] == polled.header("ETag"), (first["id"], polled.headers)
        seats = {s["number"]: s for s in first["data"]["seats"]}
        assert seats[5] == {"number": 5, "grade": "R", "price": 1000, "status": "FREE"}

        held = server.reserve(buyer, 5)
        assert held.status == 201, held
        event, seat = seat_changes(stream, 5)
        assert [s["number"] for s in event["data"]["seats"]] == [5], event
        assert seat == dict(seats[5], status="HELD", held_until=held.json["held_until"]), seat
        polled = seatmap(server, watcher)
        assert event["id"] == polled.header("ETag") and event["id"] != first["id"]
        assert {s["number"]: s for s in polled.json["seats"]}[5] == seat

        assert server.call("DELETE", f"/api/v1/reservations/{held.json['id']}",
                           token=buyer).status in (200, 204)
        event, seat = seat_changes(stream, 5)
        assert [s["number"] for s in event["data"]["seats"]] == [5], event
        assert seat == seats[5], "a released seat is FREE again, as in the first map"

        held = server.reserve(buyer, 6)
        assert held.status == 201, held
        _, seat = seat_changes(stream, 6)
        assert seat["status"] == "HELD", seat
        paid = server.pay(buyer, held.json["id"])
        assert paid.status == 201, paid
        event, seat = seat_changes(stream, 6)
        assert [s["number"] for s in event["data"]["seats"]] == [6], event
        assert seat == {"number": 6, "grade": "R", "price": 1000, "status": "SOLD"}, seat
        assert event["id"] == seatmap(server, watcher).header("ETag")
    finally:
        stream.close()


def test_seat_stream_ends_when_the_token_ends(start_server):
    server = start_server("memory")
    token = server.active_token(1)
    stream = SseStream(server, SEAT_EVENTS, headers={"Authorization": f"Bearer {token}"})
    try:
        assert stream.next_event(EVENT_TIMEOUT_S)["event"] == "seatmap"
        assert server.call("DELETE", "/api/v1/queue/tokens/current", token=token).status == 204
        events = stream.events_until_end(EVENT_TIMEOUT_S)
        assert events and events[-1]["event"] == "error", events
        assert events[-1]["data"]["error"]["code"] == "TOKEN_INVALID", events
        assert set(events[-1]["data"]["error"]) == {"code", "message"}
    finally:
        stream.close()


def test_query_strings_never_reach_the_log(start_server, workdir):
    server = start_server("memory", args=jwt_args(workdir))
    jwt = user_headers(1)["X-User-Token"]
    joined = server.call("POST", "/api/v1/queue/tokens", {}, headers=user_headers(1))
    token = joined.json["token"]
    stream = SseStream(server, f"{QUEUE_EVENTS}?token={token}&user_token={jwt}")
    assert_stream_headers(stream)
    assert stream.events_until_end(EVENT_TIMEOUT_S)[0]["data"]["status"] == "ACTIVE"
    stream.close()
    refused = SseStream(server, f"{SEAT_EVENTS}?token=secret-looking-thing&user_token={jwt}")
    assert refused.status == 401
    # A stream's line is written when the server finishes it, which can come
    # after the refused request's line: wait for each.
    server.wait_log(f"GET {QUEUE_EVENTS} 200")
    log = server.wait_log("/seats/events 401")
    assert f"GET {QUEUE_EVENTS} 200" in log, log
    assert "/seats/events 401" in log, log
    for secret in (token, jwt, "secret-looking-thing", "token=", "?"):
        assert secret not in log, f"{secret!r} in the server log"


def test_stop_ends_open_streams_promptly(start_server):
    server = start_server("memory", args=["--max-active", "1"])
    active = server.active_token(1)
    waiting = server.issue(2)["token"]
    streams = [SseStream(server, f"{QUEUE_EVENTS}?token={waiting}"),
               SseStream(server, f"{SEAT_EVENTS}?token={active}")]
    for s in streams:
        assert s.next_event(EVENT_TIMEOUT_S) is not None
    assert server.stop() == 0
    for s in streams:
        assert s.events_until_end(EVENT_TIMEOUT_S) == []
        s.close()
    # Ended by the hub, each response finished whole; streams left to the
    # daemon's stop would be cut ("closed early") after the grace period.
    log = server.log()
    for path in (QUEUE_EVENTS, SEAT_EVENTS):
        lines = [line for line in log.splitlines() if f"GET {path} " in line]
        assert len(lines) == 1 and lines[0].split(" ")[3] == "200", lines
        assert "closed early" not in lines[0], lines


def test_a_token_holds_at_most_four_streams(start_server):
    """One token cannot hoard connection slots with streams that never end:
    the fifth is 429 TOO_MANY_STREAMS (both routes count), another token is
    not affected, and a slot comes back once a stream is gone."""
    server = start_server("memory")
    token = server.active_token(1)
    other = server.active_token(2)
    streams = [SseStream(server, f"{SEAT_EVENTS}?token={token}") for _ in range(3)]
    streams.append(SseStream(server, f"{QUEUE_EVENTS}?token={token}"))
    try:
        for s in streams[:3]:
            assert_stream_headers(s)
            assert s.next_event(EVENT_TIMEOUT_S)["event"] == "seatmap"
        # The queue stream of an ACTIVE token ends after its one event, and
        # gives its slot back; a fourth seat stream takes it.
        assert streams[3].events_until_end(EVENT_TIMEOUT_S)[-1]["data"]["status"] == "ACTIVE"
        streams[3].close()
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        fourth = SseStream(server, f"{SEAT_EVENTS}?token={token}")
        while fourth.status == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
            fourth = SseStream(server, f"{SEAT_EVENTS}?token={token}")
        assert_stream_headers(fourth)
        streams[3] = fourth

        fifth = SseStream(server, f"{SEAT_EVENTS}?token={token}")
        assert fifth.status == 429, fifth.status
        assert fifth.body["error"]["code"] == "TOO_MANY_STREAMS", fifth.body
        queue = SseStream(server, QUEUE_EVENTS, headers={"Authorization": f"Bearer {token}"})
        assert queue.status == 429, "the queue route counts against the same token"

        mine = SseStream(server, f"{SEAT_EVENTS}?token={other}")
        assert_stream_headers(mine)
        mine.close()

        # A client goes away; its stream is noticed when the server writes
        # to it (the first write after a close still succeeds, the peer's
        # reset fails the next: two holds, a tick apart), and the slot
        # comes back.
        streams.pop().close()
        for seat in (7, 8):
            held = server.call("POST", "/api/v1/reservations",
                               {"schedule_id": FUTURE_SCHEDULE, "seat_number": seat}, token=other)
            assert held.status == 201, held
            time.sleep(1)
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        again = SseStream(server, f"{SEAT_EVENTS}?token={token}")
        while again.status == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
            again = SseStream(server, f"{SEAT_EVENTS}?token={token}")
        assert_stream_headers(again)
        streams.append(again)
    finally:
        for s in streams:
            s.close()
