"""Options of :func:`concert.open`: ranges and defaults from the library.

libconcert keeps one table of its tunable options (``concert_options_info``):
name, unit, default, range and what 0 means. This module reads it and
checks every value with ``concert_options_check`` before it is stored in
the C struct, so the binding writes no range or default of its own and an
out-of-range value is refused with the library's message (the text
``concert_db_open()`` gives). Checking first also keeps an oversized value out
of an ``int32_t`` field, where ctypes would silently truncate it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from . import _native as N
from ._convert import duration_ms, int64
from .errors import InvalidArgument, check

__all__ = ["OptionInfo", "options_info", "option_info"]


@dataclass(frozen=True)
class OptionInfo:
    """One tunable option, as the library defines it.

    ``name`` is the ``concert_options`` field (``"hold_ttl_ms"``),
    ``keyword`` the :func:`concert.open` argument (``"hold_ttl"``: durations
    drop the ``_ms`` and take seconds or a timedelta there). ``default``,
    ``min`` and ``max`` are in ``unit`` ("ms" or "count"); 0 is always
    accepted and stands for ``zero_means`` ("default", or a meaning of its
    own such as "unlimited").
    """
    name: str
    keyword: str
    unit: str
    default: int
    min: int
    max: int
    zero_means: str
    summary: str


def _text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _row(raw: Any) -> OptionInfo:
    info = raw.contents
    name, unit = _text(info.name), _text(info.unit)
    keyword = name[:-3] if unit == "ms" and name.endswith("_ms") else name
    return OptionInfo(name=name, keyword=keyword, unit=unit, default=info.default_value,
                      min=info.min, max=info.max, zero_means=_text(info.zero_means),
                      summary=_text(info.summary))


_table: Optional[Tuple[OptionInfo, ...]] = None


def options_info() -> Tuple[OptionInfo, ...]:
    """Every tunable option of the loaded library, in the library's order."""
    global _table
    if _table is None:
        lib = N.lib()
        rows = []
        while True:
            raw = lib.concert_options_info(len(rows))
            if not raw:
                break
            rows.append(_row(raw))
        _table = tuple(rows)   # static in the library: read once
    return _table


def option_info(name: str) -> OptionInfo:
    """The option called ``name``: an :func:`concert.open` keyword
    (``"hold_ttl"``) or a C field name (``"hold_ttl_ms"``).

    Raises InvalidArgument for an unknown name."""
    for info in options_info():
        if name in (info.keyword, info.name):
            return info
    raise InvalidArgument(f"options: no option called {name!r}")


def to_c(info: OptionInfo, value: object) -> int:
    """A user's value for ``info`` in the library's unit, checked by the library.

    Durations are seconds (int or float) or a timedelta; counts are ints.
    Raises TypeError for a wrong type, InvalidArgument (the library's
    message, naming the field and its range) for a value out of range."""
    raw = duration_ms(value, info.keyword) if info.unit == "ms" else int64(value, info.keyword)
    lib = N.lib()
    check(lib, lib.concert_options_check(info.name.encode("ascii"), raw))
    return raw


def fill(opts: N.Options, given: Mapping[str, object]) -> None:
    """Store every non-None keyword of ``given`` in ``opts`` after the
    library's check. None leaves the field as concert_options_init() set it
    (the library's default)."""
    by_keyword: Dict[str, OptionInfo] = {info.keyword: info for info in options_info()}
    fields = {name for name, _ in N.Options._fields_}
    for keyword, value in given.items():
        if value is None:
            continue
        info = by_keyword.get(keyword)
        if info is None or info.name not in fields:
            raise InvalidArgument(f"{keyword}: the loaded libconcert ({N.load_library()}) "
                                  "has no such option")
        setattr(opts, info.name, to_c(info, value))

