"""The waiting room's shared settings through the binding: limits, states,
the scheduled opening and its pre-queue, on the memory and SQLite stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Tuple

import pytest

import concert
from concert import QueueSettings, QueueState, TokenState

from conftest import FakeClock, make_catalog

START = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def clocked(store_uri: str) -> Iterator[Tuple[concert.Database, FakeClock]]:
    """An open store with the catalog loaded and a fake clock at START."""
    clock = FakeClock(START)
    with concert.open(store_uri, clock=clock) as handle:
        handle.load_catalog(make_catalog(START))
        yield handle, clock


def test_a_new_store_is_seeded_from_the_options(tmp_path: Path) -> None:
    uri = f"sqlite:{tmp_path / 'seeded.db'}"
    with concert.open(uri, max_active=7, admit_per_minute=30) as db:
        assert db.queue_settings() == QueueSettings(max_active=7, admit_per_minute=30,
                                                    state=QueueState.OPEN, opens_at=None)
    # Options only seed: a store that has settings keeps them.
    with concert.open(uri, max_active=9, admit_per_minute=0) as db:
        settings = db.queue_settings()
        assert (settings.max_active, settings.admit_per_minute) == (7, 30)
        stats = db.queue_stats()
        assert (stats.max_active, stats.admit_per_minute, stats.state) == \
            (7, 30, QueueState.OPEN)


@pytest.mark.parametrize("refresh", [0, 0.25, timedelta(seconds=60)])
def test_queue_refresh_is_passed_at_open(refresh: object) -> None:
    with concert.open("memory:", queue_refresh=refresh) as db:
        assert db.queue_settings().state is QueueState.OPEN


def test_queue_refresh_zero_reads_the_store_every_time() -> None:
    clock = FakeClock(START)
    for refresh, counted in ((0, 1), (None, 0)):
        with concert.open("memory:", clock=clock, queue_refresh=refresh) as db:
            db.load_catalog(make_catalog(START))
            db.pause()
            assert db.queue_stats().waiting == 0
            db.queue_issue(1)
            # The clock has not moved: only a handle without a cache sees the join.
            assert db.queue_stats().waiting == counted, refresh


@pytest.mark.parametrize("kwargs", [
    {"queue_refresh": 61}, {"queue_refresh": -1}, {"admit_per_minute": -1},
    {"admit_per_minute": 6_000_001}, {"admit_per_minute": 2 ** 63},
])
def test_bad_queue_options_are_refused(kwargs: dict) -> None:
    with pytest.raises(concert.InvalidArgument):
        concert.open("memory:", **kwargs)


def test_queue_stats_carry_the_settings(db: concert.Database) -> None:
    stats = db.queue_stats()
    assert stats.state is QueueState.OPEN
    assert (stats.max_active, stats.admit_per_minute, stats.opens_at, stats.prequeued) == \
        (1000, 0, None, 0)
    assert stats.eta is None or stats.eta >= timedelta(0)
    assert stats.admit_rate is None or stats.admit_rate > 0


def test_queue_update_changes_only_what_is_given(db: concert.Database) -> None:
    after = db.queue_update(max_active=2)
    assert after == QueueSettings(2, 0, QueueState.OPEN, None)
    after = db.queue_update(admit_per_minute=600)
    assert after == QueueSettings(2, 600, QueueState.OPEN, None)
    assert db.queue_settings() == after
    after = db.queue_update(max_active=100_000_000, admit_per_minute=0, state="PAUSED")
    assert after == QueueSettings(100_000_000, 0, QueueState.PAUSED, None)
    assert db.queue_update(state=QueueState.CLOSED).state is QueueState.CLOSED
    assert db.queue_update(state=QueueState.OPEN.value).state is QueueState.OPEN
    assert db.queue_settings() == QueueSettings(100_000_000, 0, QueueState.OPEN, None)
    # The limit takes effect for this handle at once.
    db.queue_update(max_active=1)
    assert db.queue_issue(1).state is TokenState.ACTIVE
    second = db.queue_issue(2)
    assert second.state is TokenState.WAITING and second.position == 1


@pytest.mark.parametrize("kwargs", [
    {},
    {"max_active": 0},
    {"max_active": -1},
    {"max_active": 100_000_001},
    {"max_active": 2 ** 63 - 1},
    {"admit_per_minute": -1},
    {"admit_per_minute": 6_000_001},
    {"state": "SCHEDULED"},
    {"state": QueueState.SCHEDULED},
    {"state": "paused"},
    {"state": "HALTED"},
    {"state": 0},
    {"state": 9},
    {"opens_at": START - timedelta(seconds=1)},
    {"opens_at": START},
    {"opens_at": "2029-12-31T23:59:59Z"},
    {"opens_at": "tomorrow"},
    {"opens_at": datetime(2031, 1, 1)},   # naive: no zone
    {"state": "CLOSED", "opens_at": START + timedelta(days=1)},
    {"max_active": 5, "admit_per_minute": -7},    # the good value is not applied either
    {"max_active": 2 ** 64},
])
def test_bad_updates_change_nothing(clocked: Tuple[concert.Database, FakeClock],
                                    kwargs: dict) -> None:
    db, _ = clocked
    db.queue_update(max_active=10, admit_per_minute=120)
    before = db.queue_settings()
    with pytest.raises(concert.InvalidArgument) as info:
        db.queue_update(**kwargs)
    assert info.value.message
    assert db.queue_settings() == before


@pytest.mark.parametrize("kwargs", [
    {"max_active": "5"}, {"max_active": True}, {"admit_per_minute": 1.5},
    {"state": 2.0}, {"opens_at": 1.5}, {"expect_state": object()},
])
def test_wrong_types_raise_type_error(db: concert.Database, kwargs: dict) -> None:
    before = db.queue_settings()
    with pytest.raises(TypeError):
        db.queue_update(**kwargs)
    assert db.queue_settings() == before


def test_expect_state(db: concert.Database) -> None:
    with pytest.raises(concert.Conflict):
        db.queue_update(state="CLOSED", expect_state="PAUSED")
    assert db.queue_settings().state is QueueState.OPEN
    after = db.queue_update(state="CLOSED", expect_state=QueueState.OPEN)
    assert after.state is QueueState.CLOSED


def test_pause_and_resume(clocked: Tuple[concert.Database, FakeClock]) -> None:
    db, clock = clocked
    assert db.pause() is None
    assert db.queue_settings().state is QueueState.PAUSED
    # Paused: joins queue, nobody is admitted, the wait is unknown.
    first, second = db.queue_issue(1), db.queue_issue(2)
    assert (first.state, first.position) == (TokenState.WAITING, 1)
    assert (second.state, second.position) == (TokenState.WAITING, 2)
    clock.advance(seconds=1)   # past queue_refresh: the counts are read again
    stats = db.queue_stats()
    assert (stats.state, stats.active, stats.waiting, stats.eta) == \
        (QueueState.PAUSED, 0, 2, None)
    db.resume()
    assert db.queue_settings().state is QueueState.OPEN
    assert db.queue_status(first).state is TokenState.ACTIVE
    with pytest.raises(concert.Conflict):
        db.resume()   # not PAUSED
    assert db.queue_settings().state is QueueState.OPEN


def test_closed_queue_refuses_joins(db: concert.Database) -> None:
    live = db.queue_issue(1)
    db.close_queue()
    assert not db.closed   # the store handle is still open
    assert db.queue_settings().state is QueueState.CLOSED
    with pytest.raises(concert.QueueClosed) as info:
        db.queue_issue(2)
    err = info.value
    assert (err.code, err.name) == (-36, "QUEUE_CLOSED") and err.message
    # A user with a live token gets it back.
    assert db.queue_issue(1).token == live.token
    db.open_queue()
    assert db.queue_settings().state is QueueState.OPEN
    assert db.queue_issue(2).is_new


def test_scheduled_opening_prequeues_then_orders(
        clocked: Tuple[concert.Database, FakeClock]) -> None:
    db, clock = clocked
    db.queue_update(max_active=1)
    opens_at = START + timedelta(minutes=2)
    db.schedule(opens_at)
    assert db.queue_settings() == QueueSettings(1, 0, QueueState.SCHEDULED, opens_at)
    # The other spellings of a time work too.
    db.schedule("2030-01-01T00:02:00Z")
    assert db.queue_settings().opens_at == opens_at
    with pytest.raises(concert.InvalidArgument):
        db.schedule(START - timedelta(minutes=1))
    assert db.queue_settings().opens_at == opens_at

    early = [db.queue_issue(u) for u in (1, 2, 3)]
    for token in early:
        assert token.state is TokenState.WAITING
        assert token.position is None and token.prequeued
        assert token.eta is None
    clock.advance(seconds=1)   # past queue_refresh: the counts are read again
    stats = db.queue_stats()
    assert (stats.state, stats.opens_at, stats.prequeued, stats.active) == \
        (QueueState.SCHEDULED, opens_at, 3, 0)
    assert db.queue_status(early[0]).prequeued

    clock.advance(minutes=2)   # within wait_ttl: nobody dropped out
    late = db.queue_issue(100)
    assert not late.prequeued and late.state is TokenState.WAITING
    after = [db.queue_status(t) for t in early]
    # The lottery gave the three early buyers places 0 (admitted), 1, 2 in
    # some order; the late one is behind all of them.
    assert sorted(t.position for t in after) == [0, 1, 2]
    assert sum(t.active for t in after) == 1
    assert db.queue_status(late).position == 3
    clock.advance(seconds=1)
    stats = db.queue_stats()
    assert (stats.state, stats.opens_at, stats.prequeued) == (QueueState.OPEN, None, 0)


def test_open_queue_runs_the_lottery_at_once(
        clocked: Tuple[concert.Database, FakeClock]) -> None:
    db, _ = clocked
    db.queue_update(max_active=2, opens_at="2030-06-01T00:00:00+09:00")
    assert db.queue_settings().opens_at == datetime(2030, 5, 31, 15, tzinfo=timezone.utc)
    tokens = [db.queue_issue(u) for u in (1, 2, 3)]
    assert all(t.prequeued for t in tokens)
    db.open_queue()
    after = [db.queue_status(t) for t in tokens]
    assert sorted(t.position for t in after) == [0, 0, 1]
    assert db.queue_stats().prequeued == 0


def test_queue_state_names_agree_with_the_library() -> None:
    from concert import _native
    lib = _native.lib()
    for state in QueueState:
        assert lib.concert_queue_state_name(state.value).decode() == state.name
        assert lib.concert_queue_state_from_name(state.name.encode()) == state.value
    assert lib.concert_queue_state_name(5) == b"UNKNOWN"
