"""Error codes map to the right exception class, with the library's message."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import concert
from concert import _native

from conftest import make_catalog

ERRORS_H = Path(__file__).resolve().parents[3] / "include" / "concert" / "errors.h"


def header_codes() -> dict:
    """Every code the C header declares, parsed from the header itself."""
    text = ERRORS_H.read_text()
    return {int(v): n for n, v in re.findall(r"\b(CONCERT_E[A-Z_]+)\s*=\s*(-\d+)", text)}


def test_every_code_in_errors_h_has_its_own_class() -> None:
    codes = header_codes()
    assert len(codes) >= 24
    seen = set()
    for code in codes:
        cls = concert.error_class(code)
        assert cls is not concert.Error and issubclass(cls, concert.Error)
        assert cls.CODE == code
        seen.add(cls)
        assert getattr(concert, cls.__name__) is cls     # exported at top level
    assert len(seen) == len(codes)                       # one class per code
    assert concert.error_class(-999) is concert.Error


def test_class_names_agree_with_the_library() -> None:
    lib = _native.lib()
    for code in header_codes():
        name = lib.concert_error_name(code).decode()
        assert name != "UNKNOWN"
        exc = concert.error_class(code)("detail")
        assert exc.name == name, code   # the binding's fallback names match


def expect(exc_type: type, call, *args, **kwargs) -> concert.Error:
    with pytest.raises(exc_type) as info:
        call(*args, **kwargs)
    err = info.value
    assert type(err) is exc_type
    assert isinstance(err, concert.Error)
    assert err.code == exc_type.CODE
    assert err.name == _native.lib().concert_error_name(err.code).decode()
    assert err.message and err.message in str(err) and err.name in str(err)
    return err


def test_domain_errors(db: concert.Database) -> None:
    expect(concert.UserNotFound, db.queue_issue, 9999)
    expect(concert.TokenInvalid, db.concerts, "not-a-real-token")
    expect(concert.InvalidAmount, db.charge, 1, 0)
    expect(concert.InvalidAmount, db.charge, 1, -5)

    kim = db.queue_issue(1)
    expect(concert.ConcertNotFound, db.concert, kim, 404)
    expect(concert.ConcertNotBookable, db.concert, kim, 2)
    expect(concert.ScheduleNotFound, db.seats, kim, 404)
    expect(concert.SeatNotFound, db.reserve, kim, 10, 61)
    expect(concert.ReservationNotFound, db.reservation, kim, 987654)

    mine = db.reserve(kim, 10, 1)
    lee = db.queue_issue(2)
    expect(concert.SeatTaken, db.reserve, lee, 10, 1)
    expect(concert.Forbidden, db.reservation, lee, mine.id)
    expect(concert.Forbidden, db.pay, lee, mine.id)

    poor = db.reserve(lee, 10, 2)
    expect(concert.InsufficientPoints, db.pay, lee, poor.id)
    assert db.balance(2) == 0                       # nothing changed

    db.charge(1, 10, idempotency_key="k")
    expect(concert.IdempotencyKeyReused, db.charge, 1, 20, idempotency_key="k")

    db.pay(kim, mine.id, idempotency_key="p1")
    kim2 = db.queue_issue(1)
    expect(concert.AlreadyPaid, db.pay, kim2, mine.id)
    again = db.reserve(kim2, 10, 3)
    expect(concert.IdempotencyKeyReused, db.pay, kim2, again.id, idempotency_key="p1")


def test_token_not_active(store_uri: str) -> None:
    with concert.open(store_uri, max_active=1) as db:
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        db.queue_issue(1)
        waiting = db.queue_issue(2)
        expect(concert.TokenNotActive, db.concerts, waiting)
        expect(concert.TokenNotActive, db.reserve, waiting, 10, 1)


def test_catalog_errors_carry_the_library_message(db: concert.Database) -> None:
    # A rule the library checks: its message names the offending place.
    bad = {"concerts": [{"id": 50, "title": "Bad", "status": "OPEN", "schedules": [
        {"id": 500, "starts_at": "2030-01-01T00:00:00Z",
         "seats": [{"from": 5, "to": 1, "grade": "R", "price": 1}]}]}]}
    err = expect(concert.InvalidArgument, db.load_catalog, bad)
    assert "concerts[0].schedules[0].seats[0]" in err.message
    # An id already in the store.
    err = expect(concert.Conflict, db.load_catalog, {"users": [{"id": 1, "name": "Again"}]})
    # All or nothing: the failed loads left nothing behind.
    assert 50 not in [c.id for c in db.all_concerts()]
    assert [u.name for u in db.users() if u.id == 1] == ["Kim"]


def test_catalog_shape_errors_name_the_place(db: concert.Database) -> None:
    cases = [
        ({"users": [{"id": 9}]}, "users[0].name: is required"),
        ({"users": [{"id": 9, "name": "X", "pointz": 1}]}, "users[0].pointz: unknown key"),
        ({"concerts": [{"id": 9, "title": "T", "status": "SOON"}]}, "concerts[0].status"),
        ({"concerts": [{"id": 9, "title": "T", "status": "OPEN",
                        "schedules": [{"id": 1, "starts_at": "tomorrow"}]}]},
         "concerts[0].schedules[0].starts_at"),
        ({"users": [{"id": "9", "name": "X"}]}, "users[0].id: must be an integer"),
        ({"users": [{"id": 2 ** 64, "name": "X"}]}, "users[0].id"),
        ({"user": []}, "user: unknown key"),
    ]
    for data, place in cases:
        err = expect(concert.InvalidArgument, db.load_catalog, data)
        assert place in err.message, (data, err.message)


def test_binding_refuses_values_ctypes_would_mangle(db: concert.Database) -> None:
    # ctypes would truncate these silently; the binding refuses them.
    expect(concert.InvalidArgument, db.balance, 2 ** 64 + 1)
    expect(concert.InvalidArgument, db.concerts, "abc\0def")
    with pytest.raises(TypeError):
        db.balance("1")
    with pytest.raises(TypeError):
        db.balance(True)


def test_open_errors() -> None:
    expect(concert.InvalidArgument, concert.open, "nosuchscheme:x")
    expect(concert.InvalidArgument, concert.open, "memory:", hold_ttl=-1)
