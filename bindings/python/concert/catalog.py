"""Catalog loading input: dataclasses and the catalog JSON shape.

A catalog can be given to :meth:`concert.Database.load_catalog` either as
these dataclasses or as a ``dict`` in the JSON shape used by ``concertd
--import`` and ``concert import``::

    {"users":    [{"id": 1, "name": "Kim", "points": 0}],
     "concerts": [{"id": 1, "title": "...", "status": "OPEN", "max_per_user": 2,
                   "schedules": [{"id": 10, "starts_at": "2026-12-24T19:00:00Z",
                                  "seats": [{"from": 1, "to": 50, "grade": "R",
                                             "price": 80000}]}]}]}

or as catalog JSON text (``str`` or ``bytes``) or the path of a JSON file.

Every rule (ranges, duplicates, overlaps) is checked by the library, and
the library's reader (``concert_catalog_load_json``, catalog_json.h) is the
only parser of the JSON shape: a dict, JSON text or file goes to it as JSON
text (:func:`catalog_json`), so a bad field is named in the same words as by
``concertd --import`` and ``concert import``. The dataclasses go through
``concert_catalog_load``.

In a dict, ``starts_at`` is RFC 3339 text or an aware datetime (written as
RFC 3339); an int of milliseconds is refused, as in a JSON file, and stays a
dataclass-only form (:class:`CatalogSchedule`).
"""

from __future__ import annotations

import ctypes
import enum
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, List, Mapping, Sequence, Tuple, Union

from . import _native as N
from ._convert import int64, text, time_ms
from .errors import InvalidArgument
from .results import ConcertStatus

__all__ = ["Catalog", "CatalogUser", "CatalogConcert", "CatalogSchedule", "SeatRange",
           "CatalogSource", "catalog_json"]


@dataclass(frozen=True)
class CatalogUser:
    """A user to create, with an opening balance (written to the ledger)."""
    id: int
    name: str
    points: int = 0


@dataclass(frozen=True)
class SeatRange:
    """Seats ``from_`` .. ``to`` (inclusive) of one grade and price."""
    from_: int
    to: int
    grade: str
    price: int


@dataclass(frozen=True)
class CatalogSchedule:
    """A performance; ``starts_at`` is an aware datetime, RFC 3339 text or ms."""
    id: int
    starts_at: Union[datetime, str, int]
    seats: Sequence[SeatRange] = field(default_factory=tuple)


@dataclass(frozen=True)
class CatalogConcert:
    """A concert; ``status`` is a :class:`ConcertStatus` or its name.

    ``max_per_user`` (optional, 0 = none, else 1 to 64): a buyer's live holds
    plus paid seats of this concert stay at or below it; it replaces the
    store's ``max_holds_per_user`` for holds on this concert."""
    id: int
    title: str
    status: Union[ConcertStatus, str]
    schedules: Sequence[CatalogSchedule] = field(default_factory=tuple)
    max_per_user: int = 0


@dataclass(frozen=True)
class Catalog:
    """Everything one :meth:`concert.Database.load_catalog` call loads."""
    users: Sequence[CatalogUser] = field(default_factory=tuple)
    concerts: Sequence[CatalogConcert] = field(default_factory=tuple)


#: What :meth:`concert.Database.load_catalog` takes besides a :class:`Catalog`:
#: a dict in the JSON shape, JSON text, or the path of a JSON file.
CatalogSource = Union[Mapping[str, Any], str, bytes, "os.PathLike[str]"]


def _plain(value: Any, where: str) -> Any:
    """A dict's values as JSON has them: an enum member by its name
    (json.dumps would write an IntEnum's number), an aware datetime as
    RFC 3339 text. Nothing else is looked at: the library reads the rest."""
    if isinstance(value, Mapping):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgument(f"{where}: datetime {value!r} has no timezone")
        return value.isoformat()
    return value


def catalog_json(source: CatalogSource) -> bytes:
    """The catalog JSON text of ``source``, as the library's reader takes it.

    A dict is serialised (enum members by name, aware datetimes as RFC 3339;
    anything else as json writes it, so an int ``starts_at`` reaches the
    library as a number and is refused there: the JSON format has RFC 3339
    text, milliseconds are for the :class:`Catalog` dataclasses); ``bytes`` are taken as they
    are; a ``str`` whose first non-blank character is ``{`` is JSON text,
    any other ``str`` or a path object names a file, read as it is.

    Raises TypeError for another type, OSError for a file that cannot be read,
    InvalidArgument for a dict json cannot write."""
    if isinstance(source, Mapping):
        try:
            return json.dumps(_plain(source, "catalog"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"catalog: cannot be written as JSON: {exc}") from None
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return text(source, "catalog")
    if isinstance(source, (str, os.PathLike)):
        return Path(source).read_bytes()
    raise TypeError("catalog must be a concert.Catalog, a dict, JSON text or a file path, "
                    f"not {type(source).__name__}")


def _field_int(value: Any, where: str) -> int:
    try:
        return int64(value, where)
    except TypeError as exc:
        raise InvalidArgument(f"{where}: must be an integer") from exc


def _field_int32(value: Any, where: str) -> int:
    number = _field_int(value, where)
    # A ctypes int32 field would silently keep only the low 32 bits.
    if not -2 ** 31 <= number < 2 ** 31:
        raise InvalidArgument(f"{where}: {number} does not fit in a 32-bit integer")
    return number


def _field_text(value: Any, where: str) -> bytes:
    try:
        return text(value, where)
    except TypeError as exc:
        raise InvalidArgument(f"{where}: must be a string") from exc


def _field_time(value: Any, where: str) -> int:
    try:
        return time_ms(value, where)
    except TypeError as exc:
        raise InvalidArgument(f"{where}: must be an RFC 3339 string, an aware "
                              f"datetime or milliseconds") from exc


def _status(value: Any, where: str, lib: ctypes.CDLL) -> int:
    if isinstance(value, ConcertStatus):
        return int(value)
    if isinstance(value, str):
        # The library owns the spelling of status names.
        parsed = lib.concert_concert_status_from_name(_field_text(value, where))
        if parsed == 0:
            raise InvalidArgument(f"{where}: unknown status {value!r} "
                                  f"(OPEN, PENDING or CLOSED)")
        return parsed
    raise InvalidArgument(f"{where}: must be a status name or ConcertStatus")


def to_c(catalog: Catalog, lib: ctypes.CDLL) -> Tuple[N.Catalog, List[Any]]:
    """Build the C concert_catalog. The second value holds every buffer the
    struct points into; keep it alive until the C call returns."""
    keep: List[Any] = []

    def array(ctype: Any, items: list) -> Any:
        arr = (ctype * len(items))(*items) if items else None
        keep.append(arr)
        return arr

    def cstr(value: Any, where: str) -> bytes:
        data = _field_text(value, where)
        keep.append(data)
        return data

    users = []
    for i, u in enumerate(catalog.users):
        where = f"users[{i}]"
        users.append(N.CatalogUser(_field_int(u.id, f"{where}.id"),
                                   cstr(u.name, f"{where}.name"),
                                   _field_int(u.points, f"{where}.points")))
    concerts = []
    for ci, c in enumerate(catalog.concerts):
        where = f"concerts[{ci}]"
        schedules = []
        for si, s in enumerate(c.schedules):
            swhere = f"{where}.schedules[{si}]"
            ranges = []
            for ri, r in enumerate(s.seats):
                rwhere = f"{swhere}.seats[{ri}]"
                ranges.append(N.CatalogSeatRange(
                    _field_int(r.from_, f"{rwhere}.from"), _field_int(r.to, f"{rwhere}.to"),
                    cstr(r.grade, f"{rwhere}.grade"), _field_int(r.price, f"{rwhere}.price")))
            schedules.append(N.CatalogSchedule(
                _field_int(s.id, f"{swhere}.id"),
                _field_time(s.starts_at, f"{swhere}.starts_at"),
                array(N.CatalogSeatRange, ranges), len(ranges)))
        concerts.append(N.CatalogConcert(
            _field_int(c.id, f"{where}.id"), cstr(c.title, f"{where}.title"),
            _status(c.status, f"{where}.status", lib),
            _field_int32(c.max_per_user, f"{where}.max_per_user"),
            array(N.CatalogSchedule, schedules), len(schedules)))
    cat = N.Catalog(N.CATALOG_VERSION, array(N.CatalogUser, users), len(users),
                    array(N.CatalogConcert, concerts), len(concerts))
    return cat, keep
