"""Python binding for libconcert: fair, safe concert ticket sales.

A thin ctypes layer over the shared library: every rule lives in the C core.

    import concert
    with concert.open("sqlite:app.db", hold_ttl=300) as db:
        token = db.queue_issue(1)
        ...

See bindings/python/README.md for loading order, errors and threading.
"""

from ._native import BINDING_VERSION, LibraryError, load_library
from .catalog import (Catalog, CatalogConcert, CatalogSchedule, CatalogSource, CatalogUser,
                      SeatRange, catalog_json)
from .db import Clock, Database, open
from .options import OptionInfo, option_info, options_info
from .errors import (AlreadyPaid, BookingClosed, ConcertNotBookable, ConcertNotFound, Conflict,
                     DatabaseClosed, Error, Forbidden, HoldExpired, HoldLimit, HoldLimitError,
                     IdempotencyKeyReused,
                     InsufficientPoints, InternalError, InvalidAmount, InvalidArgument,
                     NotSupported, OutOfMemory, QueueClosed, ReservationNotFound,
                     ScheduleNotFound, SchemaTooNew, SeatNotFound, SeatTaken, StorageBusy,
                     StorageUnavailable, TokenInvalid, TokenNotActive, UserNotFound,
                     error_class)
from .results import (Concert, ConcertStatus, HistoryPage, LedgerEntry, LedgerType,
                      ListVersion, NamedIntEnum, Payment, PruneReport, QueueSettings,
                      QueueState, QueueStats,
                      Reservation, ReservationStatus, Schedule, Seat, SeatState, SeatStatus,
                      DBStats, Token, TokenState, User, VerifyReport)

__version__ = "0.4.0"


def library_version() -> str:
    """The loaded libconcert's version string (loads the library if needed)."""
    from ._native import lib
    return lib().concert_version_string().decode("ascii")


def library_path() -> str:
    """Where libconcert was loaded from (loads it with the default order if needed)."""
    return load_library()


__all__ = [
    "open", "Database", "Clock", "OptionInfo", "options_info", "option_info",
    "load_library", "library_version", "library_path",
    "BINDING_VERSION", "LibraryError",
    "Catalog", "CatalogConcert", "CatalogSchedule", "CatalogSource", "CatalogUser", "SeatRange",
    "catalog_json",
    "Concert", "ConcertStatus", "HistoryPage", "LedgerEntry", "LedgerType", "ListVersion",
    "NamedIntEnum", "Payment", "PruneReport", "QueueSettings",
    "QueueState", "QueueStats",
    "Reservation", "ReservationStatus", "Schedule", "Seat", "SeatState", "SeatStatus", "DBStats",
    "Token", "TokenState", "User", "VerifyReport",
    "Error", "error_class", "DatabaseClosed", "InvalidArgument", "OutOfMemory",
    "StorageUnavailable", "StorageBusy", "NotSupported", "SchemaTooNew", "InternalError",
    "Conflict", "UserNotFound", "TokenInvalid", "TokenNotActive", "ConcertNotFound",
    "ConcertNotBookable", "ScheduleNotFound", "BookingClosed", "SeatNotFound", "SeatTaken",
    "ReservationNotFound", "Forbidden", "HoldExpired", "AlreadyPaid", "InsufficientPoints",
    "InvalidAmount", "IdempotencyKeyReused", "QueueClosed", "HoldLimit", "HoldLimitError",
]
