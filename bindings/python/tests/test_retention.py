"""Issue 12 through the binding: the free lists' versions, the retention
option and prune(), on the memory and SQLite stores with a fake clock."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Iterator, Tuple

import pytest

import concert
from concert import ListVersion, PruneReport

from conftest import FakeClock, make_catalog

START = datetime(2030, 1, 1, tzinfo=timezone.utc)
RETENTION = timedelta(seconds=10)
RETENTION_MS = 10_000


@pytest.fixture
def clocked(store_uri: str) -> Iterator[Tuple[concert.Database, FakeClock]]:
    """A store with the catalog, a fake clock at START and a short retention."""
    clock = FakeClock(START)
    with concert.open(store_uri, clock=clock, retention=RETENTION) as handle:
        handle.load_catalog(make_catalog(START))
        yield handle, clock


def test_a_version_changes_with_a_hold_and_stays_equal_otherwise(clocked) -> None:
    db, clock = clocked
    kim, lee = db.queue_issue(1), db.queue_issue(2)
    seats0, concert0 = db.seats_version(kim, 10), db.schedules_version(kim, 1)
    assert isinstance(seats0, ListVersion) and isinstance(concert0, ListVersion)

    # Reading, another token, time passing with no hold: the same versions.
    db.seats(kim, 10)
    db.schedules(kim, 1)
    clock.advance(seconds=30)
    assert db.seats_version(lee, 10) == seats0
    assert db.schedules_version(lee, 1) == concert0

    # A hold on the other schedule changes the concert's list, not this one's.
    db.reserve(lee, 11, 1)
    assert db.seats_version(kim, 10) == seats0
    concert1 = db.schedules_version(kim, 1)
    assert concert1 != concert0

    held = db.reserve(kim, 10, 5)
    seats1 = db.seats_version(kim, 10)
    assert seats1 != seats0
    assert db.schedules_version(kim, 1) != concert1
    assert db.seats_version(lee, 10) == seats1      # and stays put again
    assert len({seats0, seats1, seats0}) == 2       # hashable, compared field by field

    db.release(kim, held.id)
    seats2 = db.seats_version(kim, 10)
    assert seats2 not in (seats0, seats1)           # the same list as at first, a new version


def test_list_version_is_a_frozen_value() -> None:
    v = ListVersion(epoch=7, changes=3, expired_through=0, past=1)
    assert v == ListVersion(7, 3, 0, 1) and v != ListVersion(7, 4, 0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.changes = 4   # type: ignore[misc]


def test_a_version_refuses_what_the_listing_refuses(clocked) -> None:
    db, _ = clocked
    kim = db.queue_issue(1)
    cases = ((db.seats_version, db.seats, (999, 20)),             # unknown; PENDING concert
             (db.schedules_version, db.schedules, (999, 2, 3)))   # unknown; PENDING; CLOSED
    for version, listing, bad_ids in cases:
        for bad in bad_ids:
            with pytest.raises(concert.Error) as listed:
                listing(kim, bad)
            with pytest.raises(concert.Error) as versioned:
                version(kim, bad)
            assert versioned.value.name == listed.value.name, (version.__name__, bad)
    with pytest.raises(concert.TokenInvalid):
        db.seats_version("no-such-token", 10)


def test_prune_forgets_a_keyed_charge_after_the_retention(clocked) -> None:
    db, clock = clocked
    first = db.charge(2, 700, idempotency_key="topup-1")
    clock.advance(milliseconds=RETENTION_MS - 1)
    assert db.charge(2, 700, idempotency_key="topup-1") == first   # a replay
    assert db.prune() == PruneReport(tokens=0, idempotency=0, more=False)
    assert db.charge(2, 700, idempotency_key="topup-1") == first   # still kept

    clock.advance(milliseconds=1)
    report = db.prune()
    assert report.idempotency >= 1 and not report.more
    # The record is gone: the same key is a new request and charges again.
    assert db.charge(2, 700, idempotency_key="topup-1") == first + 700
    assert [e.amount for e in db.history(2) if e.type is concert.LedgerType.CHARGE][:2] == \
        [700, 700]
    assert db.verify().ok


def test_prune_stops_at_its_limit(clocked) -> None:
    db, clock = clocked
    for i in range(3):
        db.charge(2, 100, idempotency_key=f"k{i}")
    clock.advance(milliseconds=RETENTION_MS)
    assert db.prune(limit=1) == PruneReport(tokens=0, idempotency=1, more=True)
    assert db.prune() == PruneReport(tokens=0, idempotency=2, more=False)
    assert db.prune() == PruneReport(tokens=0, idempotency=0, more=False)
    with pytest.raises(concert.InvalidArgument):
        db.prune(limit=-1)
    with pytest.raises(TypeError):
        db.prune(limit="1")   # type: ignore[arg-type]


@pytest.mark.parametrize("retention", [0.999, -1, timedelta(days=366, milliseconds=1)])
def test_retention_out_of_range_is_refused(retention: object) -> None:
    with pytest.raises(concert.InvalidArgument, match="retention"):
        concert.open("memory:", retention=retention)


@pytest.mark.parametrize("retention", [None, 0, 1, timedelta(days=366)])
def test_retention_in_range_is_accepted(retention: object) -> None:
    with concert.open("memory:", retention=retention) as db:
        assert db.backend == "memory"
