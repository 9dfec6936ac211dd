"""A catalog as a dict, JSON text, bytes or a file loads the same store.

The dict, text and file go to the library's reader
(concert_catalog_load_json); the binding only serialises. The result must
equal loading the dataclasses (concert_catalog_load), and bad input must
change nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import concert

STARTS = (datetime.now(timezone.utc) + timedelta(days=9)).replace(microsecond=0)


def catalog_dict() -> Dict[str, Any]:
    return {"users": [{"id": 5, "name": "Yoon", "points": 900}],
            "concerts": [{"id": 50, "title": "Source Night", "status": "OPEN", "max_per_user": 2,
                          "schedules": [{"id": 500, "starts_at": STARTS.isoformat(),
                                         "seats": [{"from": 1, "to": 3, "grade": "A",
                                                    "price": 70}]}]}]}


def state(db: concert.Database) -> Tuple[List[Any], List[Any], List[Any]]:
    token = db.queue_issue(5)
    return (db.users(), db.all_concerts(),
            [(s.starts_at, s.available_seats) for s in db.schedules(token, 50)])


def expected(uri: str) -> Tuple[List[Any], List[Any], List[Any]]:
    with concert.open(uri) as db:
        db.load_catalog(concert.Catalog(
            users=[concert.CatalogUser(5, "Yoon", 900)],
            concerts=[concert.CatalogConcert(50, "Source Night", concert.ConcertStatus.OPEN, [
                concert.CatalogSchedule(500, STARTS, [concert.SeatRange(1, 3, "A", 70)])],
                max_per_user=2)]))
        return state(db)


def test_every_source_loads_the_same(tmp_path: Path) -> None:
    want = expected("memory:")
    data = catalog_dict()
    typed = json.loads(json.dumps(data))
    typed["concerts"][0]["status"] = concert.ConcertStatus.OPEN      # an enum, by name
    typed["concerts"][0]["schedules"][0]["starts_at"] = STARTS       # an aware datetime
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    for source in (data, typed, json.dumps(data), "  \n" + json.dumps(data),
                   json.dumps(data).encode(), path, str(path)):
        with concert.open("memory:") as db:
            db.load_catalog(source)
            assert state(db) == want, source


def test_bad_sources_change_nothing(tmp_path: Path) -> None:
    with concert.open("memory:") as db:
        for bad in ('{"users": [', b"\xff{}", '{"users": [{"id": 1}]}'):
            with pytest.raises(concert.InvalidArgument):
                db.load_catalog(bad)
        naive = catalog_dict()
        naive["concerts"][0]["schedules"][0]["starts_at"] = STARTS.replace(tzinfo=None)
        with pytest.raises(concert.InvalidArgument, match="no timezone"):
            db.load_catalog(naive)
        with pytest.raises(FileNotFoundError):
            db.load_catalog(str(tmp_path / "missing.json"))
        with pytest.raises(TypeError):
            db.load_catalog(42)
        assert db.users() == [] and db.all_concerts() == []


def test_the_librarys_reader_is_the_only_parser() -> None:
    # A repeated key: Python's json keeps the last one silently; only the
    # library's strict reader refuses it, naming the place.
    with concert.open("memory:") as db:
        with pytest.raises(concert.InvalidArgument, match=r"users\[0\]\.name"):
            db.load_catalog('{"users": [{"id": 5, "name": "a", "name": "b"}]}')
        # The same from a dict: the place of an unknown key, in the reader's words.
        bad = catalog_dict()
        bad["concerts"][0]["schedules"][0]["when"] = "today"
        with pytest.raises(concert.InvalidArgument,
                           match=r"concerts\[0\]\.schedules\[0\]\.when: unknown key"):
            db.load_catalog(bad)
        assert db.users() == [] and db.all_concerts() == []
    # No second reader of the JSON shape is left in the binding.
    assert not hasattr(concert.Catalog, "from_dict")
    source = Path(concert.catalog.__file__).read_text(encoding="utf-8")
    assert "json.load" not in source


def test_dict_starts_at_as_milliseconds_is_refused() -> None:
    # The JSON format has RFC 3339 text only; a dict is that format, so an
    # int there is refused as in a file. The dataclasses take milliseconds.
    ms = int(STARTS.timestamp() * 1000)
    data = catalog_dict()
    data["concerts"][0]["schedules"][0]["starts_at"] = ms
    with concert.open("memory:") as db:
        with pytest.raises(concert.InvalidArgument,
                           match=r"concerts\[0\]\.schedules\[0\]\.starts_at: must be a string"):
            db.load_catalog(data)
        assert db.users() == [] and db.all_concerts() == []
        db.load_catalog(concert.Catalog(
            users=[concert.CatalogUser(5, "Yoon", 900)],
            concerts=[concert.CatalogConcert(50, "Source Night", "OPEN", [
                concert.CatalogSchedule(500, ms, [concert.SeatRange(1, 3, "A", 70)])],
                max_per_user=2)]))
        assert state(db) == expected("memory:")
