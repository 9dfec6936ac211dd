"""Shared fixtures: stores to run on, a catalog, a fake clock.

The library is found the binding's usual way: CONCERT_LIBRARY (set by ctest
to the freshly built target) or the source tree's build/lib.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

# Test the package in this source tree, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import concert  # noqa: E402

RACE_USERS = range(100, 132)   # 32 buyers with enough points for any seat


class FakeClock:
    """An injectable clock that only moves when told to. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)


def rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_catalog(now: datetime) -> Dict[str, Any]:
    """A catalog in the JSON shape, with schedules in the future of ``now``."""
    first = (now + timedelta(days=30)).replace(microsecond=0)
    second = first + timedelta(days=1)
    users = [{"id": 1, "name": "Kim", "points": 500000},
             {"id": 2, "name": "Lee", "points": 0},
             {"id": 3, "name": "Park"}]
    users += [{"id": u, "name": f"racer{u}", "points": 1_000_000} for u in RACE_USERS]
    return {
        "users": users,
        "concerts": [
            {"id": 1, "title": "Winter Gala", "status": "OPEN", "schedules": [
                # Listed out of start order on purpose: the library sorts.
                {"id": 11, "starts_at": rfc3339(second),
                 "seats": [{"from": 1, "to": 10, "grade": "S", "price": 50000}]},
                {"id": 10, "starts_at": rfc3339(first),
                 "seats": [{"from": 1, "to": 50, "grade": "R", "price": 80000},
                           {"from": 51, "to": 60, "grade": "VIP", "price": 150000}]},
            ]},
            {"id": 2, "title": "Spring Preview", "status": "PENDING", "schedules": [
                {"id": 20, "starts_at": rfc3339(first),
                 "seats": [{"from": 1, "to": 5, "grade": "R", "price": 1000}]}]},
            {"id": 3, "title": "Autumn Finale", "status": "CLOSED", "schedules": []},
        ],
    }


@pytest.fixture(params=["memory", "sqlite"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once per embedded store."""
    if request.param == "memory":
        return "memory:"
    return f"sqlite:{tmp_path / 'concert.db'}"


@pytest.fixture
def db(store_uri: str) -> Iterator[concert.Database]:
    """An open store with the test catalog loaded (real clock)."""
    with concert.open(store_uri) as handle:
        handle.load_catalog(make_catalog(datetime.now(timezone.utc)))
        yield handle
