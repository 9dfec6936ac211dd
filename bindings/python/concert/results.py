"""Result types: frozen dataclasses and enums mirroring the C structs.

Times are timezone-aware ``datetime`` objects in UTC; points and ids are
``int``; states are :class:`enum.IntEnum` members whose values are the C
enum values and which print as their names (``ACTIVE``, not ``2``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple

__all__ = [
    "NamedIntEnum", "TokenState", "QueueState", "ConcertStatus", "ReservationStatus", "LedgerType",
    "Token", "QueueStats", "QueueSettings", "Concert", "Schedule", "Seat", "Reservation",
    "Payment", "LedgerEntry", "HistoryPage", "User", "VerifyReport", "ListVersion",
    "PruneReport", "SeatStatus", "SeatState", "DBStats",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_ms(ms: int) -> datetime:
    """Milliseconds since the epoch -> aware UTC datetime (exact, no float)."""
    return _EPOCH + timedelta(milliseconds=ms)


def to_ms(when: datetime) -> int:
    """Aware datetime -> milliseconds since the epoch (sub-ms truncated)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"datetime {when!r} has no timezone; use an aware datetime (UTC)")
    return (when - _EPOCH) // timedelta(milliseconds=1)


class NamedIntEnum(enum.IntEnum):
    """An IntEnum that prints as its name.

    Members still equal, hash and sort like their C values (``TokenState.ACTIVE
    == 2``), but ``str()``, ``print()`` and f-strings give the name (Python
    3.11's IntEnum gives the number) and ``repr()`` gives ``TokenState.ACTIVE``,
    so a dataclass repr reads ``Token(state=TokenState.ACTIVE, ...)``. A numeric
    format spec still formats the value: ``f"{state:d}"`` is ``"2"``.
    """

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __format__(self, spec: str) -> str:
        try:
            return format(self.name, spec)       # "", ">10", "^8", "s" ...
        except ValueError:
            return int.__format__(self, spec)    # "d", "x", "04d" ...


class TokenState(NamedIntEnum):
    """concert_token_state."""
    WAITING = 1
    ACTIVE = 2


class QueueState(NamedIntEnum):
    """concert_queue_state: the queue's state, shared by every process on a store."""
    OPEN = 1       #: joins queue, admission runs under both limits
    PAUSED = 2     #: joins still queue, nobody is admitted, ETA unknown
    CLOSED = 3     #: joins refused (QueueClosed); the line keeps its place
    SCHEDULED = 4  #: opens at opens_at; joins before it are pre-queued


class ConcertStatus(NamedIntEnum):
    """concert_concert_status."""
    OPEN = 1
    PENDING = 2
    CLOSED = 3


class ReservationStatus(NamedIntEnum):
    """concert_reservation_status."""
    HELD = 1
    CONFIRMED = 2
    EXPIRED = 3
    RELEASED = 4      #: its buyer let the hold go (:meth:`concert.Database.release`)


class SeatStatus(NamedIntEnum):
    """concert_seat_status: a seat's state in a seat map."""
    FREE = 1   #: neither sold nor under a live hold
    HELD = 2   #: under a live hold (anyone's: the map never says whose)
    SOLD = 3   #: paid for


class LedgerType(NamedIntEnum):
    """concert_ledger_type."""
    CHARGE = 1
    PAYMENT = 2


@dataclass(frozen=True)
class Token:
    """A queue token and where it stands (concert_token_info)."""
    token: str
    user_id: int
    state: TokenState
    is_new: bool
    #: 1 = next in line; 0 when ACTIVE; None while pre-queued (joined a
    #: SCHEDULED queue before its opening lottery gave it a place)
    position: Optional[int]
    eta: Optional[timedelta]      #: estimated wait; None when unknown or ACTIVE
    expires_at: datetime          #: ACTIVE: end of lifetime; WAITING: dropped unless polled

    @property
    def active(self) -> bool:
        """True when the token may browse and book."""
        return self.state is TokenState.ACTIVE

    @property
    def prequeued(self) -> bool:
        """True while the token waits for the opening lottery (no position yet)."""
        return self.position is None


@dataclass(frozen=True)
class QueueSettings:
    """The queue settings every process sharing the store obeys
    (concert_queue_settings)."""
    max_active: int               #: ACTIVE tokens at once
    admit_per_minute: int         #: new admissions per minute; 0 = unlimited
    state: QueueState
    opens_at: Optional[datetime]  #: SCHEDULED: when the sale opens; otherwise None


@dataclass(frozen=True)
class QueueStats:
    """Queue counts and settings (concert_queue_stats)."""
    active: int
    waiting: int                  #: tickets not yet admitted (may include dropped ones)
    max_active: int
    admitted_through: int
    last_ticket: int
    admit_per_minute: int         #: 0 = unlimited
    state: QueueState
    opens_at: Optional[datetime]  #: SCHEDULED: when; otherwise None
    prequeued: int                #: tokens waiting for the opening lottery
    admit_rate: Optional[float]   #: recent admissions per minute; None when unknown
    eta: Optional[timedelta]      #: estimated wait at the back of the line; None when unknown


@dataclass(frozen=True)
class Concert:
    """A concert (concert_concert)."""
    id: int
    title: str
    status: ConcertStatus
    #: seats one buyer may hold plus own of this concert; 0: the store's
    #: max_holds_per_user applies instead
    max_per_user: int = 0


@dataclass(frozen=True)
class Schedule:
    """A bookable performance of a concert (concert_schedule)."""
    id: int
    concert_id: int
    starts_at: datetime
    available_seats: int


@dataclass(frozen=True)
class Seat:
    """A free seat of a schedule (concert_seat)."""
    number: int
    grade: str
    price: int


@dataclass(frozen=True)
class SeatState:
    """A seat and its state in a seat map (concert_seat_state), from
    :meth:`concert.Database.seat_map`."""
    number: int
    grade: str
    price: int
    status: SeatStatus
    #: HELD: when the hold runs out (the seat is FREE from then on); else None
    held_until: Optional[datetime] = None


@dataclass(frozen=True)
class DBStats:
    """What one handle did with its store since it was opened
    (concert_db_stats), from :meth:`concert.Database.db_stats`. Counts only
    grow; another handle or process on the same store keeps its own."""
    storage_calls: int       #: steps the library asked the backend for
    storage_errors: int      #: of them, failed for the store's own trouble
    storage_retries: int     #: the backend's own retries (0 if it keeps none)
    storage_reconnects: int  #: connections the backend replaced


@dataclass(frozen=True)
class ListVersion:
    """The version of a free list (concert_list_version), from
    :meth:`concert.Database.seats_version` or
    :meth:`concert.Database.schedules_version`.

    Compare whole values (``==``, or use one as a dict key): equal versions
    mean equal lists, from any process sharing the store; any hold, release,
    sale or hold expiry in scope gives a different one. The fields mean
    nothing else (no ordering)."""
    epoch: int
    changes: int
    expired_through: int
    past: int


@dataclass(frozen=True)
class Reservation:
    """A seat hold or a paid seat (concert_reservation)."""
    id: int
    user_id: int
    schedule_id: int
    seat_number: int
    price: int
    status: ReservationStatus
    is_new: bool                  #: True when this call created the hold
    held_until: datetime


@dataclass(frozen=True)
class Payment:
    """A completed payment (concert_payment); one payment may cover an order
    of several reservations."""
    id: int
    reservation_id: int           #: the one paid for; for an order, the lowest id
    user_id: int
    amount: int                   #: points debited (an order's total)
    balance: int                  #: balance right after the payment
    paid_at: datetime


@dataclass(frozen=True)
class LedgerEntry:
    """One immutable points movement (concert_ledger_entry)."""
    id: int
    user_id: int
    type: LedgerType
    amount: int                   #: + for CHARGE, - for PAYMENT
    balance_after: int
    at: datetime
    reservation_id: Optional[int] #: PAYMENT: what was bought (an order's lowest id); None for CHARGE


@dataclass(frozen=True)
class HistoryPage:
    """One page of a user's ledger (:meth:`concert.Database.points_history_page`)."""
    entries: Tuple[LedgerEntry, ...]   #: newest first
    #: pass as ``before`` for the next page; None after the last page
    next_before: Optional[int]

    @property
    def last(self) -> bool:
        """True when there is no further page."""
        return self.next_before is None


@dataclass(frozen=True)
class User:
    """A user and their balance (concert_user)."""
    id: int
    name: str
    balance: int


@dataclass(frozen=True)
class PruneReport:
    """What :meth:`concert.Database.prune` deleted (concert_prune_report)."""
    tokens: int        #: tokens that had ended more than the retention ago
    idempotency: int   #: idempotency records older than the retention
    more: bool         #: the limit stopped it with more rows still due


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`concert.Database.verify` checked and found."""
    users: int
    ledger_entries: int
    seats: int
    seats_sold: int
    reservations: int
    payments: int
    active_tokens: int
    violations: Tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no invariant was violated."""
        return not self.violations
