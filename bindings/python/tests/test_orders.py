"""Issue 11 through the binding: orders, release, per-buyer limits, paged
history, token owners and strict idempotency keys, on the memory and SQLite
stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import concert
from concert import LedgerType, ReservationStatus

from conftest import make_catalog, rfc3339


def test_order_of_two_holds_pays_once(db: concert.Database) -> None:
    kim = db.queue_issue(1)
    first = db.reserve(kim, 10, 1)        # R, 80000
    second = db.reserve(kim, 10, 51)      # VIP, 150000
    ledger_before = db.history(1)
    balance_before = db.balance(1)

    # Ids in any order; the payment names the lowest.
    payment = db.pay_order(kim, [second.id, first.id], idempotency_key="basket-1")
    total = first.price + second.price
    assert (payment.amount, payment.user_id) == (total, 1)
    assert payment.reservation_id == min(first.id, second.id)
    assert payment.balance == balance_before - total == db.balance(1)

    ledger = db.history(1)
    assert len(ledger) == len(ledger_before) + 1          # ONE entry for the order
    entry = ledger[0]
    assert (entry.type, entry.amount, entry.balance_after) == \
        (LedgerType.PAYMENT, -total, balance_before - total)
    assert entry.reservation_id == payment.reservation_id
    assert ledger[1:] == ledger_before

    # The same key and set, listed the other way round, replays: no second debit.
    assert db.pay_order(kim, (first.id, second.id), idempotency_key="basket-1") == payment
    assert db.balance(1) == balance_before - total
    with pytest.raises(concert.TokenInvalid):             # paying ended the token
        db.queue_status(kim)

    later = db.queue_issue(1)
    for r in (first, second):
        assert db.reservation(later, r.id).status is ReservationStatus.CONFIRMED
    free = [s.number for s in db.seats(later, 10)]
    assert 1 not in free and 51 not in free
    report = db.verify()
    assert report.ok, report.violations
    assert (report.payments, report.seats_sold) == (1, 2)


def test_order_with_a_released_hold_changes_nothing(db: concert.Database) -> None:
    kim = db.queue_issue(1)
    kept = db.reserve(kim, 10, 2)
    let_go = db.reserve(kim, 10, 3)
    db.release(kim, let_go.id)
    balance = db.balance(1)
    with pytest.raises(concert.HoldExpired):
        db.pay_order(kim, [kept.id, let_go.id])
    assert db.balance(1) == balance
    assert db.reservation(kim, kept.id).status is ReservationStatus.HELD
    assert db.queue_status(kim).active                    # the token was not ended


def test_order_arguments_are_checked(db: concert.Database) -> None:
    kim = db.queue_issue(1)
    held = db.reserve(kim, 10, 4)
    for ids in ([], [held.id, held.id], list(range(1, concert._native.ORDER_MAX + 2))):
        with pytest.raises(concert.InvalidArgument):
            db.pay_order(kim, ids)
    with pytest.raises(TypeError):
        db.pay_order(kim, held.id)                        # an int, not a list of ids
    with pytest.raises(TypeError):
        db.pay_order(kim, [str(held.id)])
    with pytest.raises(concert.InvalidArgument):
        db.pay_order(kim, [2 ** 64])                      # would be truncated by ctypes
    assert db.reservation(kim, held.id).status is ReservationStatus.HELD


def test_release_frees_the_seat_for_another_user(db: concert.Database) -> None:
    kim, lee = db.queue_issue(1), db.queue_issue(2)
    mine = db.reserve(kim, 10, 5)
    with pytest.raises(concert.SeatTaken):
        db.reserve(lee, 10, 5)
    with pytest.raises(concert.Forbidden):
        db.release(lee, mine.id)                          # not Lee's to release

    released = db.release(kim, mine.id)
    assert (released.id, released.status) == (mine.id, ReservationStatus.RELEASED)
    assert db.reservation(kim, mine.id).status is ReservationStatus.RELEASED
    assert 5 in [s.number for s in db.seats(lee, 10)]

    theirs = db.reserve(lee, 10, 5)                       # at once, no expiry needed
    assert theirs.is_new and theirs.user_id == 2 and theirs.id != mine.id

    # Releasing again changes nothing, and leaves Lee's hold on the seat alone.
    assert db.release(kim, mine.id).status is ReservationStatus.RELEASED
    assert db.reservation(lee, theirs.id).status is ReservationStatus.HELD
    with pytest.raises(concert.SeatTaken):
        db.reserve(kim, 10, 5)
    with pytest.raises(concert.ReservationNotFound):
        db.release(kim, 987654)


def test_a_paid_reservation_cannot_be_released(db: concert.Database) -> None:
    kim = db.queue_issue(1)
    held = db.reserve(kim, 10, 6)
    db.pay(kim, held.id)
    again = db.queue_issue(1)
    with pytest.raises(concert.AlreadyPaid):
        db.release(again, held.id)
    assert db.reservation(again, held.id).status is ReservationStatus.CONFIRMED


def test_the_fifth_hold_raises_hold_limit(db: concert.Database) -> None:
    kim = db.queue_issue(1)
    held = [db.reserve(kim, 10, seat) for seat in (11, 12, 13, 14)]   # the default limit, 4
    with pytest.raises(concert.HoldLimitError) as info:
        db.reserve(kim, 10, 15)
    err = info.value
    assert type(err) is concert.HoldLimit and isinstance(err, concert.Error)
    assert (err.code, err.name) == (-37, "HOLD_LIMIT")
    assert "4" in err.message
    assert 15 in [s.number for s in db.seats(kim, 10)]    # nothing was held
    # Asking again for a seat already held is no new hold: never refused.
    assert not db.reserve(kim, 10, 11).is_new
    # Another buyer has a limit of their own.
    assert db.reserve(db.queue_issue(2), 10, 15).is_new
    # Letting one go makes room.
    db.release(kim, held[0].id)
    assert db.reserve(kim, 10, 16).is_new


@pytest.mark.parametrize("limit,holds", [(2, 2), (0, 6)])
def test_max_holds_per_user_option(store_uri: str, limit: int, holds: int) -> None:
    with concert.open(store_uri, max_holds_per_user=limit) as db:
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        kim = db.queue_issue(1)
        for seat in range(1, holds + 1):
            db.reserve(kim, 10, seat)
        if limit:
            with pytest.raises(concert.HoldLimit):
                db.reserve(kim, 10, holds + 1)
        else:                                             # 0: no limit
            assert db.reserve(kim, 10, holds + 1).is_new


def test_bad_max_holds_per_user_is_refused() -> None:
    with pytest.raises(concert.InvalidArgument):
        concert.open("memory:", max_holds_per_user=-1)
    with pytest.raises(TypeError):
        concert.open("memory:", max_holds_per_user="4")


def test_catalog_max_per_user(store_uri: str) -> None:
    starts = rfc3339(datetime.now(timezone.utc) + timedelta(days=5))
    with concert.open(store_uri) as db:
        db.load_catalog({
            "users": [{"id": 1, "name": "Kim", "points": 100000}],
            "concerts": [{"id": 5, "title": "One Each", "status": "OPEN", "max_per_user": 1,
                          "schedules": [{"id": 50, "starts_at": starts, "seats": [
                              {"from": 1, "to": 3, "grade": "R", "price": 100}]}]}]})
        db.load_catalog(concert.Catalog(concerts=[concert.CatalogConcert(
            6, "Two Each", "OPEN", [concert.CatalogSchedule(60, starts, [
                concert.SeatRange(1, 3, "R", 100)])], max_per_user=2)]))
        kim = db.queue_issue(1)
        assert [(c.id, c.max_per_user) for c in db.concerts(kim)] == [(5, 1), (6, 2)]
        assert db.concert(kim, 5).max_per_user == 1
        held = db.reserve(kim, 50, 1)
        with pytest.raises(concert.HoldLimit):
            db.reserve(kim, 50, 2)
        db.pay(kim, held.id)
        # A paid seat counts against the concert's limit too.
        with pytest.raises(concert.HoldLimit):
            db.reserve(db.queue_issue(1), 50, 2)
        with pytest.raises(concert.InvalidArgument) as info:
            db.load_catalog(concert.Catalog(concerts=[concert.CatalogConcert(
                7, "Too Many", "OPEN", max_per_user=2 ** 31)]))
        assert "concerts[0].max_per_user" in info.value.message
        assert 7 not in [c.id for c in db.all_concerts()]


def test_history_paging_walks_every_entry_exactly_once(db: concert.Database) -> None:
    for amount in range(1, 24):                           # Lee starts with no entry
        db.charge(2, amount)
    everything = db.history(2)
    assert len(everything) == 23

    seen, before, pages = [], None, 0
    while True:
        page = db.points_history_page(2, before=before, limit=5)
        pages += 1
        assert 1 <= len(page.entries) <= 5
        seen += page.entries
        if page.last:
            assert page.next_before is None
            break
        assert page.next_before == page.entries[-1].id
        before = page.next_before
    assert pages == 5                                     # 5+5+5+5+3
    assert [e.id for e in seen] == [e.id for e in everything]
    assert len({e.id for e in seen}) == 23
    assert [e.amount for e in seen] == list(range(23, 0, -1))    # newest first

    whole = db.points_history_page(2, limit=23)           # exactly one full page
    assert list(whole.entries) == everything and whole.next_before is None
    assert list(db.iter_history(2, page_size=7)) == everything
    assert db.points_history_page(2, before=everything[-1].id).entries == ()


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"limit": -1},
                                    {"before": -1}])
def test_bad_history_pages_are_refused(db: concert.Database, kwargs: dict) -> None:
    with pytest.raises(concert.InvalidArgument):
        db.points_history_page(1, **kwargs)


def test_history_page_of_an_unknown_user(db: concert.Database) -> None:
    with pytest.raises(concert.UserNotFound):
        db.points_history_page(9999)
    with pytest.raises(concert.UserNotFound):
        next(db.iter_history(9999))


def test_token_owner(store_uri: str) -> None:
    with concert.open(store_uri, max_active=1) as db:
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        kim = db.queue_issue(1)
        lee = db.queue_issue(2)                           # waits behind Kim
        assert db.token_owner(kim) == 1
        assert db.token_owner(lee.token) == 2
        assert db.queue_status(lee).position == 1         # asking did not move it
        held = db.reserve(kim, 10, 7)
        db.pay(kim, held.id)
        assert db.token_owner(kim) == 1                   # ended tokens keep their owner
        unknown = kim.token[:-1] + ("B" if kim.token[-1] == "A" else "A")
        with pytest.raises(concert.TokenInvalid):
            db.token_owner(unknown)                       # well formed, never issued
        with pytest.raises(concert.TokenInvalid):
            db.token_owner("not a token")
        with pytest.raises(concert.TokenInvalid):
            db.token_owner("")


@pytest.mark.parametrize("key", ["", " ", "a b", "caf\u00e9", "k" * 256])
def test_malformed_idempotency_keys_are_invalid(db: concert.Database, key: str) -> None:
    kim = db.queue_issue(1)
    held = db.reserve(kim, 10, 8)
    balance, ledger = db.balance(1), db.history(1)
    with pytest.raises(concert.InvalidArgument):
        db.pay(kim, held.id, idempotency_key=key)
    with pytest.raises(concert.InvalidArgument):
        db.pay_order(kim, [held.id], idempotency_key=key)
    with pytest.raises(concert.InvalidArgument):
        db.charge(1, 10, idempotency_key=key)
    assert (db.balance(1), db.history(1)) == (balance, ledger)
    assert db.reservation(kim, held.id).status is ReservationStatus.HELD
    # None is "no key" (passed as NULL), never "".
    assert db.charge(1, 10).__class__ is int
    assert db.pay(kim, held.id, idempotency_key=None).amount == held.price


def test_longest_key_is_accepted(db: concert.Database) -> None:
    key = "~" * 255
    assert db.charge(2, 5, idempotency_key=key) == 5
    assert db.charge(2, 5, idempotency_key=key) == 5      # replayed
