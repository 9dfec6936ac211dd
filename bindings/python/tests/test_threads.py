"""One handle shared by many threads."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, List

import pytest

import concert

from conftest import RACE_USERS, FakeClock, make_catalog


def run_together(n: int, work: Callable[[int], object]) -> List[object]:
    """Run work(i) on n threads released at the same instant; collect results
    (or the exception each raised)."""
    barrier = threading.Barrier(n)
    results: List[object] = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: B902 (reported by the test)
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a worker thread hung"
    return results


@pytest.mark.parametrize("round_seat", [7, 8, 9])
def test_32_threads_one_seat_one_winner(db: concert.Database, round_seat: int) -> None:
    tokens = [db.queue_issue(u) for u in RACE_USERS]
    assert len(tokens) == 32 and all(t.active for t in tokens)
    results = run_together(32, lambda i: db.reserve(tokens[i], 10, round_seat))

    winners = [r for r in results if isinstance(r, concert.Reservation)]
    losers = [r for r in results if not isinstance(r, concert.Reservation)]
    assert len(winners) == 1, results
    assert all(type(r) is concert.SeatTaken for r in losers), losers
    assert all(r.message for r in losers)

    # The winner can pay; nobody else ever held the seat.
    winner = winners[0]
    token = next(t for t in tokens if t.user_id == winner.user_id)
    db.pay(token, winner.id)
    report = db.verify()
    assert report.ok, report.violations
    assert report.seats_sold == 1


def test_race_with_an_injected_clock(store_uri: str) -> None:
    """The Python clock is called back from 32 threads inside C calls at once."""
    clock = FakeClock(datetime(2026, 6, 1, tzinfo=timezone.utc))
    with concert.open(store_uri, clock=clock, hold_ttl=30) as db:
        db.load_catalog(make_catalog(clock()))
        tokens = [db.queue_issue(u) for u in RACE_USERS]
        for seat in (20, 21):
            results = run_together(32, lambda i: db.reserve(tokens[i], 10, seat))
            winners = [r for r in results if isinstance(r, concert.Reservation)]
            assert len(winners) == 1, results
            assert all(type(r) is concert.SeatTaken
                       for r in results if r is not winners[0]), results
            assert winners[0].held_until == clock() + timedelta(seconds=30)
        clock.advance(seconds=30)      # both holds lapse: the seats are free again
        results = run_together(32, lambda i: db.reserve(tokens[i], 10, 20))
        assert sum(isinstance(r, concert.Reservation) for r in results) == 1


def test_error_detail_is_read_on_the_failing_thread(db: concert.Database) -> None:
    """Threads failing differently at the same time each get their own
    library message, not another thread's."""
    kim = db.queue_issue(1)
    calls = [
        (concert.SeatNotFound, lambda: db.reserve(kim, 10, 999)),
        (concert.ScheduleNotFound, lambda: db.seats(kim, 12345)),
        (concert.UserNotFound, lambda: db.balance(55555)),
        (concert.TokenInvalid, lambda: db.concerts("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")),
    ]
    expected = []
    for cls, call in calls:
        with pytest.raises(cls) as info:
            call()
        expected.append(info.value.message)
    assert len(set(expected)) == len(expected), expected  # distinguishable messages

    def hammer(i: int) -> int:
        cls, call = calls[i % len(calls)]
        for _ in range(200):
            try:
                call()
            except cls as exc:
                assert exc.message == expected[i % len(calls)], exc.message
            else:
                raise AssertionError("call did not fail")
        return i

    results = run_together(16, hammer)
    assert results == list(range(16)), [r for r in results if not isinstance(r, int)]


def test_close_waits_for_calls_in_progress(store_uri: str) -> None:
    db = concert.open(store_uri)
    db.load_catalog(make_catalog(datetime.now(timezone.utc)))
    calls = [0] * 8
    busy = threading.Event()

    def reader(i: int) -> str:
        # Keep calling until the handle closes under us: must end in
        # DatabaseClosed, never a crash or another error.
        while True:
            try:
                db.users()
            except concert.DatabaseClosed:
                return "closed"
            calls[i] += 1
            if sum(calls) >= 40:
                busy.set()

    box: List[object] = []
    t = threading.Thread(target=lambda: box.extend(run_together(8, reader)))
    t.start()
    assert busy.wait(timeout=60), "readers never got going"
    db.close()                       # while the readers are mid-call
    t.join(timeout=60)
    assert box == ["closed"] * 8
    assert db.closed
