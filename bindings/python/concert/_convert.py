"""Argument marshalling shared by the modules: Python values -> C values.

Only type and representation checks live here (ctypes would otherwise
silently truncate an oversized int or cut a string at an embedded NUL);
every rule about what a value may mean is left to the library.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional, Union

from .errors import InvalidArgument
from .results import to_ms

INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
INT32_MAX = 2 ** 31 - 1

Duration = Union[int, float, timedelta]


def int64(value: object, what: str) -> int:
    """An int that fits int64_t. bool is refused (True is not a user id)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgument(f"{what}: {value} does not fit in a 64-bit integer")
    return value


def text(value: object, what: str) -> bytes:
    """A str as NUL-terminated UTF-8; embedded NULs are refused."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    data = value.encode("utf-8")
    if b"\0" in data:
        raise InvalidArgument(f"{what} contains a NUL character")
    return data


def optional_text(value: object, what: str) -> Optional[bytes]:
    """None (passed as NULL) or :func:`text`."""
    return None if value is None else text(value, what)


def duration_ms(value: object, what: str, limit: int = INT64_MAX) -> int:
    """Seconds (int or float) or a timedelta -> whole milliseconds."""
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be seconds (int or float) or a timedelta, "
                        f"not {type(value).__name__}")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidArgument(f"{what} must be a finite number of seconds")
        ms = round(value * 1000)
    else:
        ms = value * 1000
    if not -limit - 1 <= ms <= limit:
        raise InvalidArgument(f"{what}: {value!r} is out of range")
    return ms


def time_ms(value: object, what: str) -> int:
    """An aware datetime, an RFC 3339 string or int milliseconds -> ms."""
    if isinstance(value, datetime):
        try:
            return to_ms(value)
        except ValueError as exc:
            raise InvalidArgument(f"{what}: {exc}") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidArgument(f"{what}: {value!r} is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            raise InvalidArgument(f"{what}: {value!r} has no UTC offset")
        return to_ms(parsed)
    return int64(value, what)
