"""Exceptions: one class per libconcert error code, all under :class:`Error`.

The class is chosen by the code the C call returned; ``.code``, ``.name``
and ``.message`` come from the library (``concert_error_name`` and
``concert_error_last``), so the text is the same one the C API, the HTTP
server and the CLI report.
"""

from __future__ import annotations

import ctypes
from typing import Dict, Type

from ._native import LibraryError

__all__ = [
    "Error", "LibraryError", "DatabaseClosed",
    "InvalidArgument", "OutOfMemory", "StorageUnavailable", "StorageBusy",
    "NotSupported", "SchemaTooNew", "InternalError", "Conflict",
    "UserNotFound", "TokenInvalid", "TokenNotActive", "ConcertNotFound",
    "ConcertNotBookable", "ScheduleNotFound", "BookingClosed", "SeatNotFound",
    "SeatTaken", "ReservationNotFound", "Forbidden", "HoldExpired",
    "AlreadyPaid", "InsufficientPoints", "InvalidAmount",
    "IdempotencyKeyReused", "QueueClosed", "HoldLimit", "HoldLimitError",
    "error_class", "raise_last", "check",
]


class Error(Exception):
    """A libconcert call failed.

    Attributes:
        code: the negative ``concert_error_code`` (e.g. -28).
        name: its stable name (e.g. ``"SEAT_TAKEN"``).
        message: the library's detail for this failure.
    """

    #: The code this class stands for; subclasses set it.
    CODE: int = 0

    def __init__(self, message: str, code: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(message)
        self.code: int = self.CODE if code is None else code
        self.name: str = name if name is not None else _NAMES.get(self.code, "UNKNOWN")
        self.message: str = message

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, name={self.name!r}, message={self.message!r})"


class InvalidArgument(Error):
    """CONCERT_EINVAL: a bad argument or input."""
    CODE = -1


class DatabaseClosed(InvalidArgument):
    """The handle was used after :meth:`concert.Database.close`.

    Raised by the binding (the C library is not called with a closed handle);
    code is CONCERT_EINVAL, as C would report a NULL handle.
    """


class OutOfMemory(Error):
    """CONCERT_ENOMEM."""
    CODE = -2


class StorageUnavailable(Error):
    """CONCERT_ESTORAGE: the store is unreachable or failed (I/O)."""
    CODE = -3


class StorageBusy(Error):
    """CONCERT_EBUSY: the store stayed busy after bounded retries; retry later."""
    CODE = -4


class NotSupported(Error):
    """CONCERT_ENOTSUP: not supported by this build or backend."""
    CODE = -5


class SchemaTooNew(Error):
    """CONCERT_ESCHEMA: the store was written by a newer libconcert."""
    CODE = -6


class InternalError(Error):
    """CONCERT_EINTERNAL: a bug or broken invariant in the library."""
    CODE = -7


class Conflict(Error):
    """CONCERT_ECONFLICT: a catalog id that already exists in the store, or a
    queue change whose expected state was not met (resume of a queue that is
    not PAUSED)."""
    CODE = -8


class UserNotFound(Error):
    """CONCERT_EUSER_NOT_FOUND."""
    CODE = -20


class TokenInvalid(Error):
    """CONCERT_ETOKEN_INVALID: unknown, expired or ended queue token."""
    CODE = -21


class TokenNotActive(Error):
    """CONCERT_ETOKEN_NOT_ACTIVE: the token is still waiting in the queue."""
    CODE = -22


class ConcertNotFound(Error):
    """CONCERT_ECONCERT_NOT_FOUND."""
    CODE = -23


class ConcertNotBookable(Error):
    """CONCERT_ECONCERT_NOT_BOOKABLE: the concert is PENDING or CLOSED."""
    CODE = -24


class ScheduleNotFound(Error):
    """CONCERT_ESCHEDULE_NOT_FOUND."""
    CODE = -25


class BookingClosed(Error):
    """CONCERT_EBOOKING_CLOSED: past the start time plus the booking cutoff."""
    CODE = -26


class SeatNotFound(Error):
    """CONCERT_ESEAT_NOT_FOUND."""
    CODE = -27


class SeatTaken(Error):
    """CONCERT_ESEAT_TAKEN: sold, or under another buyer's live hold."""
    CODE = -28


class ReservationNotFound(Error):
    """CONCERT_ERESERVATION_NOT_FOUND."""
    CODE = -29


class Forbidden(Error):
    """CONCERT_EFORBIDDEN: another user's reservation (to read, pay or release)."""
    CODE = -30


class HoldExpired(Error):
    """CONCERT_EHOLD_EXPIRED: the hold ran out (or was released) before payment."""
    CODE = -31


class AlreadyPaid(Error):
    """CONCERT_EALREADY_PAID."""
    CODE = -32


class InsufficientPoints(Error):
    """CONCERT_EINSUFFICIENT_POINTS: the balance does not cover the price."""
    CODE = -33


class InvalidAmount(Error):
    """CONCERT_EINVALID_AMOUNT: amount out of range, or the balance would overflow."""
    CODE = -34


class IdempotencyKeyReused(Error):
    """CONCERT_EIDEMPOTENCY_KEY_REUSED: the key was used with other arguments."""
    CODE = -35


class QueueClosed(Error):
    """CONCERT_EQUEUE_CLOSED: the queue is CLOSED to new joins."""
    CODE = -36


class HoldLimit(Error):
    """CONCERT_EHOLD_LIMIT: the buyer already holds as many seats as a limit
    allows (the store's ``max_holds_per_user``, or the concert's
    ``max_per_user``); the message gives the limit. Release or pay a hold
    first."""
    CODE = -37


#: The same class under the name the issue uses (``except concert.HoldLimitError``).
HoldLimitError = HoldLimit


_CLASSES: Dict[int, Type[Error]] = {
    cls.CODE: cls for cls in (
        InvalidArgument, OutOfMemory, StorageUnavailable, StorageBusy,
        NotSupported, SchemaTooNew, InternalError, Conflict, UserNotFound,
        TokenInvalid, TokenNotActive, ConcertNotFound, ConcertNotBookable,
        ScheduleNotFound, BookingClosed, SeatNotFound, SeatTaken,
        ReservationNotFound, Forbidden, HoldExpired, AlreadyPaid,
        InsufficientPoints, InvalidAmount, IdempotencyKeyReused, QueueClosed,
        HoldLimit)
}

# Fallback names for errors raised before or without the library (the
# library's concert_error_name is used whenever a call failed).
_NAMES: Dict[int, str] = {
    -1: "INVALID_ARGUMENT", -2: "OUT_OF_MEMORY", -3: "STORAGE_UNAVAILABLE",
    -4: "STORAGE_BUSY", -5: "NOT_SUPPORTED", -6: "SCHEMA_TOO_NEW",
    -7: "INTERNAL", -8: "CONFLICT", -20: "USER_NOT_FOUND",
    -21: "TOKEN_INVALID", -22: "TOKEN_NOT_ACTIVE", -23: "CONCERT_NOT_FOUND",
    -24: "CONCERT_NOT_BOOKABLE", -25: "SCHEDULE_NOT_FOUND",
    -26: "BOOKING_CLOSED", -27: "SEAT_NOT_FOUND", -28: "SEAT_TAKEN",
    -29: "RESERVATION_NOT_FOUND", -30: "FORBIDDEN", -31: "HOLD_EXPIRED",
    -32: "ALREADY_PAID", -33: "INSUFFICIENT_POINTS", -34: "INVALID_AMOUNT",
    -35: "IDEMPOTENCY_KEY_REUSED", -36: "QUEUE_CLOSED", -37: "HOLD_LIMIT",
}


def error_class(code: int) -> Type[Error]:
    """The exception class for a ``concert_error_code``; :class:`Error` for
    codes this binding does not know (a newer library)."""
    return _CLASSES.get(code, Error)


def raise_last(lib: ctypes.CDLL, rc: int) -> None:
    """Raise the exception for ``rc`` with the library's detail.

    Must run on the failing call's thread, before any other library call
    there: the detail is thread-local and overwritten by the next call.
    """
    err = lib.concert_error_last()
    message = err.contents.message if err else None
    detail = message.decode("utf-8", "replace") if message else ""
    name = lib.concert_error_name(rc).decode("utf-8", "replace")
    raise error_class(rc)(detail or lib.concert_error_string(rc).decode("utf-8", "replace"),
                          rc, name)


def check(lib: ctypes.CDLL, rc: int) -> None:
    """:func:`raise_last` if ``rc`` is an error code."""
    if rc < 0:
        raise_last(lib, rc)
