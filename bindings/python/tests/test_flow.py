"""The whole buyer flow on the memory and SQLite stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import concert
from concert import ConcertStatus, LedgerType, ReservationStatus, TokenState

from conftest import make_catalog


def test_issue_admit_list_reserve_pay(db: concert.Database) -> None:
    token = db.queue_issue(1)
    assert token.is_new and token.state is TokenState.ACTIVE and token.active
    assert token.position == 0 and token.eta is None and token.user_id == 1
    assert token.expires_at.tzinfo is not None
    # One live token per user.
    again = db.queue_issue(1)
    assert again.token == token.token and not again.is_new
    assert db.queue_status(token.token).state is TokenState.ACTIVE

    concerts = db.concerts(token)   # a Token works where a str does
    assert concerts == [concert.Concert(1, "Winter Gala", ConcertStatus.OPEN)]
    assert db.concert(token.token, 1).title == "Winter Gala"

    schedules = db.schedules(token, 1)
    assert [s.id for s in schedules] == [10, 11]          # start-time order
    assert [s.available_seats for s in schedules] == [60, 10]
    assert schedules[0].starts_at.tzinfo == timezone.utc
    assert schedules[1].starts_at - schedules[0].starts_at == timedelta(days=1)

    seats = db.seats(token, 10)
    assert len(seats) == 60
    assert seats[0] == concert.Seat(number=1, grade="R", price=80000)
    assert seats[50] == concert.Seat(number=51, grade="VIP", price=150000)

    held = db.reserve(token, 10, 51)
    assert held.status is ReservationStatus.HELD and held.is_new
    assert (held.user_id, held.schedule_id, held.seat_number, held.price) == (1, 10, 51, 150000)
    expected_end = datetime.now(timezone.utc) + timedelta(minutes=5)   # default hold_ttl
    assert abs(held.held_until - expected_end) < timedelta(seconds=60)
    same = db.reserve(token, 10, 51)
    assert same.id == held.id and not same.is_new
    assert 51 not in [s.number for s in db.seats(token, 10)]
    assert db.schedules(token, 1)[0].available_seats == 59
    assert db.reservation(token, held.id).status is ReservationStatus.HELD

    payment = db.pay(token, held.id, idempotency_key="order-1")
    assert (payment.reservation_id, payment.user_id, payment.amount, payment.balance) == \
        (held.id, 1, 150000, 350000)
    assert payment.paid_at.tzinfo == timezone.utc
    # A retry with the same key replays the first result, even though the
    # payment ended the token.
    assert db.pay(token, held.id, idempotency_key="order-1") == payment
    with pytest.raises(concert.TokenInvalid):
        db.queue_status(token)

    later = db.queue_issue(1)
    assert later.is_new and later.token != token.token
    assert db.reservation(later, held.id).status is ReservationStatus.CONFIRMED

    assert db.balance(1) == 350000
    history = db.history(1)
    assert [e.type for e in history] == [LedgerType.PAYMENT, LedgerType.CHARGE]
    assert (history[0].amount, history[0].balance_after, history[0].reservation_id) == \
        (-150000, 350000, held.id)
    assert (history[1].amount, history[1].balance_after, history[1].reservation_id) == \
        (500000, 500000, None)

    users = {u.id: u for u in db.users()}
    assert users[1] == concert.User(1, "Kim", 350000) and users[3].balance == 0

    report = db.verify()
    assert report.ok, report.violations
    assert (report.seats_sold, report.payments) == (1, 1)


def test_charge_and_idempotent_charge(db: concert.Database) -> None:
    assert db.charge(2, 1000) == 1000
    assert db.charge(2, 500, idempotency_key="topup-1") == 1500
    assert db.charge(2, 500, idempotency_key="topup-1") == 1500   # replayed, not added
    assert db.balance(2) == 1500
    assert [e.amount for e in db.history(2)] == [500, 1000]


def test_leave_and_stats(store_uri: str) -> None:
    with concert.open(store_uri, max_active=1) as db:
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        first = db.queue_issue(1)
        second = db.queue_issue(2)
        assert first.state is TokenState.ACTIVE
        assert second.state is TokenState.WAITING and second.position == 1
        stats = db.queue_stats()
        assert (stats.active, stats.max_active) == (1, 1) and stats.waiting >= 1
        db.queue_leave(first)
        assert db.queue_status(second).state is TokenState.ACTIVE
        with pytest.raises(concert.TokenInvalid):
            db.queue_leave(first)


def test_admin_concert_list_shows_every_status(db: concert.Database) -> None:
    assert [(c.id, c.status) for c in db.all_concerts()] == [
        (1, ConcertStatus.OPEN), (2, ConcertStatus.PENDING), (3, ConcertStatus.CLOSED)]


def test_sqlite_store_persists(tmp_path) -> None:
    uri = f"sqlite:{tmp_path / 'persist.db'}"
    with concert.open(uri, hold_ttl=timedelta(minutes=2)) as db:
        assert db.backend == "sqlite"
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        token = db.queue_issue(1)
        held = db.reserve(token, 10, 3)
        assert abs(held.held_until - db.now() - timedelta(minutes=2)) < timedelta(seconds=60)
        db.pay(token, held.id)
    with concert.open(uri) as db:
        assert db.balance(1) == 500000 - 80000
        token = db.queue_issue(1)
        assert db.reservation(token, held.id).status is ReservationStatus.CONFIRMED
        assert 3 not in [s.number for s in db.seats(token, 10)]
        assert db.verify().ok


def test_close_is_idempotent_and_use_after_close_raises(store_uri: str) -> None:
    db = concert.open(store_uri)
    assert not db.closed and "Database" in repr(db)
    db.close()
    db.close()
    assert db.closed and "closed" in repr(db)
    with pytest.raises(concert.DatabaseClosed) as info:
        db.balance(1)
    assert isinstance(info.value, concert.Error)
    assert isinstance(info.value, concert.InvalidArgument)
    assert info.value.code == -1 and info.value.name == "INVALID_ARGUMENT"
    with pytest.raises(concert.Error):
        db.backend
    with pytest.raises(concert.Error):
        db.users()


def test_context_manager_closes_on_error(store_uri: str) -> None:
    with pytest.raises(concert.UserNotFound):
        with concert.open(store_uri) as db:
            db.queue_issue(424242)
    assert db.closed


def test_catalog_as_dataclasses(store_uri: str) -> None:
    starts = datetime.now(timezone.utc) + timedelta(days=3)
    catalog = concert.Catalog(
        users=[concert.CatalogUser(7, "Choi", 1000)],
        concerts=[concert.CatalogConcert(70, "Dataclass Night", ConcertStatus.OPEN, [
            concert.CatalogSchedule(700, starts, [concert.SeatRange(1, 2, "A", 400)]),
            concert.CatalogSchedule(701, int(starts.timestamp() * 1000) + 3_600_000,
                                    [concert.SeatRange(from_=1, to=1, grade="B", price=300)]),
        ])])
    with concert.open(store_uri) as db:
        db.load_catalog(catalog)
        token = db.queue_issue(7)
        schedules = db.schedules(token, 70)
        assert [s.available_seats for s in schedules] == [2, 1]
        assert abs(schedules[0].starts_at - starts) < timedelta(milliseconds=1)
        assert [s.grade for s in db.seats(token, 701)] == ["B"]


def test_clock_can_return_milliseconds(store_uri: str) -> None:
    start_ms = 1_900_000_000_000
    with concert.open(store_uri, clock=lambda: start_ms) as db:
        assert db.now() == datetime.fromtimestamp(start_ms / 1000, timezone.utc)
