"""An injected clock: holds expire without sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import concert
from concert import ReservationStatus

from conftest import FakeClock, make_catalog

START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_hold_expires_with_a_fake_clock(store_uri: str) -> None:
    clock = FakeClock(START)
    with concert.open(store_uri, clock=clock, hold_ttl=60) as db:
        assert db.now() == START
        db.load_catalog(make_catalog(START))
        kim = db.queue_issue(1)
        held = db.reserve(kim, 10, 5)
        assert held.held_until == START + timedelta(seconds=60)

        clock.advance(seconds=59)
        assert db.reservation(kim, held.id).status is ReservationStatus.HELD
        lee = db.queue_issue(2)
        with pytest.raises(concert.SeatTaken):
            db.reserve(lee, 10, 5)

        clock.advance(seconds=1)       # exactly held_until: the hold is over
        assert db.reservation(kim, held.id).status is ReservationStatus.EXPIRED
        with pytest.raises(concert.HoldExpired) as info:
            db.pay(kim, held.id)
        assert info.value.message
        assert db.balance(1) == 500000
        # The seat is free again for everyone at once.
        assert 5 in [s.number for s in db.seats(lee, 10)]
        taken = db.reserve(lee, 10, 5)
        assert taken.is_new and taken.user_id == 2
        assert taken.held_until == START + timedelta(seconds=120)
        assert db.verify().ok


def test_active_token_lifetime_follows_the_clock(store_uri: str) -> None:
    clock = FakeClock(START)
    with concert.open(store_uri, clock=clock, active_ttl=timedelta(minutes=10)) as db:
        db.load_catalog(make_catalog(START))
        token = db.queue_issue(1)
        assert token.expires_at == START + timedelta(minutes=10)
        clock.advance(minutes=10, seconds=1)
        with pytest.raises(concert.TokenInvalid):
            db.concerts(token)


def test_a_failing_clock_raises_after_the_call() -> None:
    state = {"fail": False}

    def clock() -> datetime:
        if state["fail"]:
            raise RuntimeError("clock broke")
        return START

    with concert.open("memory:", clock=clock) as db:
        state["fail"] = True
        with pytest.raises(RuntimeError, match="clock broke"):
            db.now()
        state["fail"] = False
        assert db.now() == START     # the parked exception was raised once


def test_a_naive_datetime_from_the_clock_is_refused() -> None:
    with concert.open("memory:", clock=lambda: datetime(2026, 1, 1)) as db:
        with pytest.raises(ValueError, match="timezone"):
            db.now()
