"""The seat map (every seat with its state) and the handle's storage stats."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

import concert
from concert import DBStats, SeatState, SeatStatus

from conftest import FakeClock, make_catalog

START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def free_of(seat_map):
    return [concert.Seat(s.number, s.grade, s.price) for s in seat_map
            if s.status is SeatStatus.FREE]


def test_seat_map_follows_holds_expiry_release_and_payment(store_uri: str) -> None:
    clock = FakeClock(START)
    with concert.open(store_uri, clock=clock, hold_ttl=60) as db:
        db.load_catalog(make_catalog(START))
        kim, lee = db.queue_issue(1), db.queue_issue(2)

        first = db.seat_map(lee, 10)
        assert [s.number for s in first] == list(range(1, 61))
        assert first[0] == SeatState(1, "R", 80000, SeatStatus.FREE, None)
        assert first[59] == SeatState(60, "VIP", 150000, SeatStatus.FREE, None)
        assert free_of(first) == db.seats(lee, 10)
        with pytest.raises(dataclasses.FrozenInstanceError):
            first[0].status = SeatStatus.SOLD  # type: ignore[misc]

        v0 = db.seats_version(lee, 10)
        held = db.reserve(kim, 10, 5)
        released = db.reserve(kim, 10, 6)
        sold = db.reserve(kim, 10, 7)
        db.pay(kim, sold.id)
        kim = db.queue_issue(1)   # the payment ended the token
        db.release(kim, released.id)
        assert db.seats_version(lee, 10) != v0

        now = db.seat_map(lee, 10)
        assert now[4] == SeatState(5, "R", 80000, SeatStatus.HELD, START + timedelta(seconds=60))
        assert now[5].status is SeatStatus.FREE and now[5].held_until is None
        assert now[6].status is SeatStatus.SOLD and now[6].held_until is None
        assert free_of(now) == db.seats(lee, 10)
        assert db.seat_map(kim, 10) == now, "the holder sees the same map"

        clock.advance(seconds=59)
        assert db.seat_map(lee, 10)[4].status is SeatStatus.HELD
        clock.advance(seconds=1)      # exactly held_until
        later = db.seat_map(lee, 10)
        assert later[4].status is SeatStatus.FREE
        assert later[6].status is SeatStatus.SOLD
        assert free_of(later) == db.seats(lee, 10)


def test_seat_map_raises_like_seats(db: concert.Database) -> None:
    token = db.queue_issue(1)
    cases = [("not-a-token", 10, concert.TokenInvalid),
             (token, 999, concert.ScheduleNotFound),
             (token, 20, concert.ConcertNotBookable)]
    for tok, schedule, error in cases:
        with pytest.raises(error):
            db.seats(tok, schedule)
        with pytest.raises(error):
            db.seat_map(tok, schedule)
    with pytest.raises(concert.InvalidArgument):
        db.seat_map(token, 2**63)


def test_db_stats_count_calls_and_nothing_else(store_uri: str) -> None:
    with concert.open(store_uri) as db:
        fresh = db.db_stats()
        assert isinstance(fresh, DBStats)
        assert fresh.storage_errors == 0
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        token = db.queue_issue(1)
        db.seat_map(token, 10)
        after = db.db_stats()
        assert after.storage_calls >= fresh.storage_calls + 3
        assert after.storage_errors == 0
        assert db.db_stats() == after, "reading the stats is no storage call"
        # A caller's mistake the store answers is a call, not a store error.
        with pytest.raises(concert.ReservationNotFound):
            db.reservation(token, 999999)
        mistake = db.db_stats()
        assert mistake.storage_calls > after.storage_calls
        assert mistake.storage_errors == 0
        assert (mistake.storage_retries, mistake.storage_reconnects) >= (0, 0)
    with pytest.raises(concert.DatabaseClosed):
        db.db_stats()
