"""The store handle: :func:`open` and :class:`Database`.

Each method is one C call (plus list conversion and freeing). The error
detail is read with ``concert_error_last()`` right after the failing call, on
the same OS thread, before anything else can call the library on that thread.
"""

from __future__ import annotations

import collections.abc
import ctypes
import threading
import time
import weakref
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, List, Optional, Type, Union

from . import _native as N
from . import options
from ._convert import Duration, int64, optional_text, text, time_ms
from .catalog import Catalog, CatalogSource, catalog_json, to_c
from .errors import DatabaseClosed, InternalError, InvalidArgument, check, raise_last
from .results import (Concert, ConcertStatus, HistoryPage, LedgerEntry, LedgerType,
                      ListVersion, Payment, PruneReport, QueueSettings, QueueState, QueueStats,
                      Reservation, ReservationStatus, Schedule, Seat, SeatState, SeatStatus,
                      DBStats, Token, TokenState, User, VerifyReport, from_ms, to_ms)

__all__ = ["open", "Database", "Clock"]

#: A clock for tests: returns now as an aware datetime or as int milliseconds
#: since the epoch (UTC).
Clock = Callable[[], Union[datetime, int]]

TokenLike = Union[str, Token]

#: A queue state: a :class:`QueueState`, its name ("PAUSED") or its value.
QueueStateLike = Union[QueueState, str, int]

#: A point in time: an aware datetime, an RFC 3339 string or int ms since the epoch.
TimeLike = Union[datetime, str, int]


def _enum(cls: Type[Any], value: int) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise InternalError(f"library returned unknown {cls.__name__} value {value}") from None


def _str(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class _ClockAdapter:
    """Calls the user's clock from inside the library.

    An exception cannot cross the C frames, so it is parked per thread, the
    system time is returned for that reading, and the Database re-raises the
    exception once the C call returned. Holds no reference to the Database,
    so the finalizer that keeps this alive does not keep the Database alive.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending = threading.local()
        self.c_function = N.CLOCK_FN(self._read)

    def _read(self, _ctx: Optional[int]) -> int:
        try:
            value = self.clock()
            if isinstance(value, datetime):
                return to_ms(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"clock returned {type(value).__name__}; "
                                "expected an aware datetime or int milliseconds")
            return value
        except BaseException as exc:  # noqa: B902 (must not unwind into C)
            self.pending.exc = exc
            return time.time_ns() // 1_000_000

    def raise_pending(self) -> None:
        exc = getattr(self.pending, "exc", None)
        if exc is not None:
            self.pending.exc = None
            raise exc


def _close_handle(lib: ctypes.CDLL, handle: int, _keepalive: Any) -> None:
    # _keepalive (the clock's C function) must outlive concert_db_close.
    lib.concert_db_close(handle)


def open(uri: str, *,
         max_active: Optional[int] = None,
         active_ttl: Optional[Duration] = None,
         wait_ttl: Optional[Duration] = None,
         hold_ttl: Optional[Duration] = None,
         booking_cutoff: Optional[Duration] = None,
         pool_size: Optional[int] = None,
         busy_timeout: Optional[Duration] = None,
         connect_timeout: Optional[Duration] = None,
         admit_per_minute: Optional[int] = None,
         queue_refresh: Optional[Duration] = None,
         max_holds_per_user: Optional[int] = None,
         retention: Optional[Duration] = None,
         clock: Optional[Clock] = None) -> "Database":
    """Open a store and return a :class:`Database` (also a context manager).

    Args:
        uri: ``"memory:"``, ``"sqlite:PATH"``, ``"postgresql://..."`` or a
            libpq conninfo string.
        max_active, admit_per_minute, pool_size, max_holds_per_user:
            counts (int).
        active_ttl, wait_ttl, hold_ttl, booking_cutoff, busy_timeout,
            connect_timeout, queue_refresh, retention: durations in seconds
            (int or float) or :class:`datetime.timedelta`, passed to the
            library in milliseconds.
            What each option means, its default, its range and what 0 means
            (the default, or its own meaning such as "unlimited") come from
            the library's table: see :func:`concert.options_info`. None keeps
            the library's default. A value out of range raises
            InvalidArgument with the library's message, before anything is
            opened. max_active and admit_per_minute only SEED a store that
            has no queue settings yet; after that use
            :meth:`Database.queue_update`.
        clock: for tests, a callable returning "now" as an aware datetime or
            int milliseconds since the epoch. It is called from inside library
            calls, possibly from several threads; it must not call the library.

    Raises:
        concert.InvalidArgument: unknown scheme or bad options.
        concert.StorageUnavailable, concert.NotSupported, concert.SchemaTooNew, ...
        concert.LibraryError: libconcert cannot be loaded.
    """
    lib = N.lib()
    opts = N.Options()
    _check_init(lib, lib.concert_options_init(ctypes.byref(opts), N.OPTIONS_VERSION))
    # Ranges and defaults are the library's (concert_options_info): each
    # value is checked by concert_options_check before it is stored.
    options.fill(opts, {
        "max_active": max_active, "active_ttl": active_ttl, "wait_ttl": wait_ttl,
        "hold_ttl": hold_ttl, "booking_cutoff": booking_cutoff, "pool_size": pool_size,
        "busy_timeout": busy_timeout, "connect_timeout": connect_timeout,
        "admit_per_minute": admit_per_minute, "queue_refresh": queue_refresh,
        "max_holds_per_user": max_holds_per_user, "retention": retention})
    adapter = None
    if clock is not None:
        if not callable(clock):
            raise TypeError("clock must be callable")
        adapter = _ClockAdapter(clock)
        opts.clock = adapter.c_function
    handle = ctypes.c_void_p()
    rc = lib.concert_db_open(ctypes.byref(handle), text(uri, "uri"), ctypes.byref(opts))
    _check_init(lib, rc)
    db = Database(lib, handle.value, adapter)
    if adapter is not None:
        try:
            adapter.raise_pending()
        except BaseException:
            db.close()
            raise
    return db


_raise_last = raise_last
_check_init = check


class Database:
    """An open libconcert store. Create with :func:`concert.open`.

    Safe to share between threads: every method may be called concurrently.
    :meth:`close` waits for calls in progress, then closes; later calls raise
    :class:`concert.DatabaseClosed`. Tokens may be given as ``str`` or as the
    :class:`Token` returned by :meth:`queue_issue`.
    """

    def __init__(self, lib: ctypes.CDLL, handle: int, clock: Optional[_ClockAdapter]) -> None:
        """Internal: use :func:`concert.open`."""
        self._lib = lib
        self._handle: Optional[int] = handle
        self._clock = clock
        self._inflight = 0
        self._cond = threading.Condition()
        keepalive = clock.c_function if clock is not None else None
        # Closes the handle if the object is dropped without close().
        self._finalizer = weakref.finalize(self, _close_handle, lib, handle, keepalive)

    # ---- lifetime ----

    def close(self) -> None:
        """Close the store. Idempotent. Waits for calls in progress on other
        threads to finish; calls made afterwards raise DatabaseClosed."""
        with self._cond:
            if self._handle is None:
                return
            self._handle = None
            self._cond.wait_for(lambda: self._inflight == 0)
        self._finalizer()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._handle is None

    def __enter__(self) -> "Database":
        """Use as ``with concert.open(...) as db:``; closes on exit."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Close the store (exceptions propagate)."""
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.backend
        return f"<concert.Database {state}>"

    # ---- calling the library ----

    def _acquire(self) -> int:
        with self._cond:
            if self._handle is None:
                raise DatabaseClosed("database is closed")
            self._inflight += 1
            return self._handle

    def _release(self) -> None:
        with self._cond:
            self._inflight -= 1
            if self._inflight == 0:
                self._cond.notify_all()

    def _call(self, fn: Callable[..., int], *args: Any) -> None:
        """Call fn(*args) where one arg is the placeholder _HANDLE; raise on < 0."""
        handle = self._acquire()
        try:
            rc = fn(*[handle if a is _HANDLE else a for a in args])
            if rc < 0:
                try:
                    _raise_last(self._lib, rc)
                finally:
                    if self._clock is not None:
                        self._clock.raise_pending()
        finally:
            self._release()
        if self._clock is not None:
            self._clock.raise_pending()

    @staticmethod
    def _token(token: TokenLike) -> bytes:
        if isinstance(token, Token):
            token = token.token
        return text(token, "token")

    @property
    def backend(self) -> str:
        """The backend's name: "memory", "sqlite" or "postgresql"."""
        handle = self._acquire()
        try:
            return _str(self._lib.concert_db_backend_name(handle))
        finally:
            self._release()

    def now(self) -> datetime:
        """The current time as this store's clock (maybe injected) sees it."""
        handle = self._acquire()
        try:
            ms = self._lib.concert_db_now(handle)
        finally:
            self._release()
        if self._clock is not None:
            self._clock.raise_pending()
        return from_ms(ms)

    # ---- queue ----

    @staticmethod
    def _token_info(t: N.TokenInfo) -> Token:
        return Token(token=_str(t.token), user_id=t.user_id,
                     state=_enum(TokenState, t.state), is_new=bool(t.is_new),
                     position=None if t.position == N.POSITION_PREQUEUE else t.position,
                     eta=None if t.eta_ms < 0 else timedelta(milliseconds=t.eta_ms),
                     expires_at=from_ms(t.expires_at))

    def queue_issue(self, user_id: int) -> Token:
        """Join the queue for user_id, or get the user's live token (is_new False).

        While the queue is SCHEDULED a new token is pre-queued (position None)
        until the opening lottery. Raises UserNotFound, QueueClosed (the queue
        is CLOSED and the user has no live token), storage errors."""
        out = N.TokenInfo()
        self._call(self._lib.concert_queue_issue, ctypes.byref(out), _HANDLE,
                   int64(user_id, "user_id"))
        return self._token_info(out)

    def queue_status(self, token: TokenLike) -> Token:
        """Where the token stands now; polling keeps a WAITING token in line.

        Raises TokenInvalid (unknown, expired, dropped or ended)."""
        out = N.TokenInfo()
        self._call(self._lib.concert_queue_status_get, ctypes.byref(out), _HANDLE,
                   self._token(token))
        return self._token_info(out)

    def queue_leave(self, token: TokenLike) -> None:
        """Leave the queue or give back the active slot. Raises TokenInvalid."""
        self._call(self._lib.concert_queue_leave, _HANDLE, self._token(token))

    def token_owner(self, token: TokenLike) -> int:
        """The user id a token was issued to, whatever its state (also after
        it ended): for a server checking that the caller it authenticated
        owns the token presented. A pure read: it neither polls the token
        nor runs admission.

        Raises TokenInvalid (malformed or unknown)."""
        user = ctypes.c_int64()
        self._call(self._lib.concert_queue_token_owner_get, ctypes.byref(user), _HANDLE,
                   self._token(token))
        return user.value

    def queue_stats(self) -> QueueStats:
        """Queue counts and settings. Served from this handle's cached view
        when it is younger than queue_refresh (a refresh runs admission)."""
        out = N.QueueStats()
        self._call(self._lib.concert_queue_stats_get, ctypes.byref(out), _HANDLE)
        return QueueStats(
            active=out.active, waiting=out.waiting, max_active=out.max_active,
            admitted_through=out.admitted_through, last_ticket=out.last_ticket,
            admit_per_minute=out.admit_per_minute, state=_enum(QueueState, out.state),
            opens_at=from_ms(out.opens_at) if out.opens_at else None,
            prequeued=out.prequeued,
            # admit_rate_mps counts admissions per 1000 s.
            admit_rate=out.admit_rate_mps * 60 / 1000 if out.admit_rate_mps > 0 else None,
            eta=None if out.eta_ms < 0 else timedelta(milliseconds=out.eta_ms))

    # ---- queue settings (shared by every process on the store) ----

    @staticmethod
    def _settings(s: N.QueueSettings) -> QueueSettings:
        return QueueSettings(max_active=s.max_active, admit_per_minute=s.admit_per_minute,
                             state=_enum(QueueState, s.state),
                             opens_at=from_ms(s.opens_at) if s.opens_at else None)

    def _queue_state(self, value: QueueStateLike, what: str) -> int:
        if isinstance(value, str):
            state = self._lib.concert_queue_state_from_name(text(value, what))
            if state == 0:
                raise InvalidArgument(f"{what}: {value!r} is not a queue state "
                                      "(OPEN, PAUSED, CLOSED or SCHEDULED)")
            return state
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} must be a QueueState or its name, "
                            f"not {type(value).__name__}")
        if not -2 ** 31 <= value < 2 ** 31:
            raise InvalidArgument(f"{what}: {value} is not a queue state")
        return int(value)   # the library refuses values it does not know

    def queue_settings(self) -> QueueSettings:
        """The shared settings, read from the store (no cache)."""
        out = N.QueueSettings()
        self._call(self._lib.concert_queue_settings_get, ctypes.byref(out), _HANDLE)
        return self._settings(out)

    def queue_update(self, *,
                     max_active: Optional[int] = None,
                     admit_per_minute: Optional[int] = None,
                     state: Optional[QueueStateLike] = None,
                     opens_at: Optional[TimeLike] = None,
                     expect_state: Optional[QueueStateLike] = None) -> QueueSettings:
        """Change the shared settings atomically; returns them as they are after.

        Give at least one of max_active, admit_per_minute (0 = unlimited;
        ranges as in :func:`concert.options_info`), state (OPEN, PAUSED or CLOSED, as a
        :class:`QueueState` or its name) or opens_at (in the future: the queue
        becomes SCHEDULED; a datetime, RFC 3339 string or int ms). With
        expect_state the change is refused with Conflict unless the queue is
        in that state. Every process sharing the store obeys the change
        within its queue_refresh; this handle at once.

        Raises InvalidArgument (no field, a value out of range, opens_at not
        in the future, SCHEDULED given as a state), Conflict; nothing changes
        on error."""
        update = N.QueueUpdate()
        _check_init(self._lib, self._lib.concert_queue_update_init(
            ctypes.byref(update), N.QUEUE_UPDATE_VERSION))
        if max_active is not None:
            update.fields |= N.QUEUE_SET_MAX_ACTIVE
            update.max_active = int64(max_active, "max_active")
        if admit_per_minute is not None:
            update.fields |= N.QUEUE_SET_ADMIT_PER_MINUTE
            update.admit_per_minute = int64(admit_per_minute, "admit_per_minute")
        if state is not None:
            update.fields |= N.QUEUE_SET_STATE
            update.state = self._queue_state(state, "state")
        if opens_at is not None:
            update.fields |= N.QUEUE_SET_OPENS_AT
            update.opens_at = time_ms(opens_at, "opens_at")
        if expect_state is not None:
            update.expect_state = self._queue_state(expect_state, "expect_state")
        out = N.QueueSettings()
        self._call(self._lib.concert_queue_update_apply, ctypes.byref(out), _HANDLE,
                   ctypes.byref(update))
        return self._settings(out)

    def pause(self) -> None:
        """Pause admission ("queue all"): joins still queue, nobody is admitted,
        ACTIVE tokens keep going."""
        self._call(self._lib.concert_queue_pause, _HANDLE)

    def resume(self) -> None:
        """Resume a PAUSED queue. Raises Conflict from any other state."""
        self._call(self._lib.concert_queue_resume, _HANDLE)

    def close_queue(self) -> None:
        """Refuse new joins (QueueClosed); tokens in line keep their place.
        (Not :meth:`close`, which closes this handle.)"""
        self._call(self._lib.concert_queue_close, _HANDLE)

    def open_queue(self) -> None:
        """Open the queue now, from any state; a SCHEDULED queue runs its
        opening lottery at once."""
        self._call(self._lib.concert_queue_open, _HANDLE)

    def schedule(self, opens_at: TimeLike) -> None:
        """Open the sale at opens_at (in the future): joins before it are
        pre-queued and put in line in a uniformly random order at opens_at.
        Raises InvalidArgument when opens_at is not in the future."""
        self._call(self._lib.concert_queue_schedule, _HANDLE, time_ms(opens_at, "opens_at"))

    # ---- catalog ----

    @staticmethod
    def _concert(c: N.Concert) -> Concert:
        return Concert(id=c.id, title=_str(c.title), status=_enum(ConcertStatus, c.status),
                       max_per_user=c.max_per_user)

    def _concert_list(self, fn: Callable[..., int], *args: Any) -> List[Concert]:
        out = ctypes.POINTER(N.ConcertList)()
        try:
            self._call(fn, ctypes.byref(out), _HANDLE, *args)
            lst = out.contents
            return [self._concert(lst.items[i]) for i in range(lst.count)]
        finally:
            if out:
                self._lib.concert_concert_list_free(out)

    def concerts(self, token: TokenLike) -> List[Concert]:
        """The OPEN concerts, in id order. The token must be ACTIVE.

        Raises TokenInvalid, TokenNotActive."""
        return self._concert_list(self._lib.concert_concert_list_get, self._token(token))

    def all_concerts(self) -> List[Concert]:
        """Every concert whatever its status, in id order (administration; no token)."""
        return self._concert_list(self._lib.concert_admin_concert_list_get)

    def concert(self, token: TokenLike, concert_id: int) -> Concert:
        """One OPEN concert. Raises ConcertNotFound, ConcertNotBookable, token errors."""
        out = N.Concert()
        self._call(self._lib.concert_concert_get, ctypes.byref(out), _HANDLE,
                   self._token(token), int64(concert_id, "concert_id"))
        return self._concert(out)

    def schedules(self, token: TokenLike, concert_id: int) -> List[Schedule]:
        """The bookable schedules of an OPEN concert with their free-seat counts,
        in start-time order. Raises BookingClosed when all have closed, and the
        errors of :meth:`concert`."""
        out = ctypes.POINTER(N.ScheduleList)()
        try:
            self._call(self._lib.concert_schedule_list_get, ctypes.byref(out), _HANDLE,
                       self._token(token), int64(concert_id, "concert_id"))
            lst = out.contents
            return [Schedule(id=s.id, concert_id=s.concert_id, starts_at=from_ms(s.starts_at),
                             available_seats=s.available_seats)
                    for s in (lst.items[i] for i in range(lst.count))]
        finally:
            if out:
                self._lib.concert_schedule_list_free(out)

    def seats(self, token: TokenLike, schedule_id: int) -> List[Seat]:
        """The free seats of a bookable schedule, in seat-number order.

        Raises ScheduleNotFound, ConcertNotBookable, BookingClosed, token errors."""
        out = ctypes.POINTER(N.SeatList)()
        try:
            self._call(self._lib.concert_seats_available, ctypes.byref(out), _HANDLE,
                       self._token(token), int64(schedule_id, "schedule_id"))
            lst = out.contents
            return [Seat(number=s.number, grade=_str(s.grade), price=s.price)
                    for s in (lst.items[i] for i in range(lst.count))]
        finally:
            if out:
                self._lib.concert_seat_list_free(out)

    def seat_map(self, token: TokenLike, schedule_id: int) -> List[SeatState]:
        """Every seat of a bookable schedule with its state, in seat-number
        order, for drawing a seat map: the FREE ones are exactly what
        :meth:`seats` lists at the same moment, so :meth:`seats_version`
        labels the map too. It never says whose a hold is.

        Raises as :meth:`seats` does, in the same order."""
        out = ctypes.POINTER(N.SeatMap)()
        try:
            self._call(self._lib.concert_seat_map_get, ctypes.byref(out), _HANDLE,
                       self._token(token), int64(schedule_id, "schedule_id"))
            m = out.contents
            return [SeatState(number=s.seat.number, grade=_str(s.seat.grade),
                              price=s.seat.price, status=SeatStatus(s.status),
                              held_until=(from_ms(s.held_until)
                                          if s.status == SeatStatus.HELD else None))
                    for s in (m.items[i] for i in range(m.count))]
        finally:
            if out:
                self._lib.concert_seat_map_free(out)

    def db_stats(self) -> DBStats:
        """What this handle did with its store since it was opened: storage
        calls, those that failed for the store's own trouble (unavailable,
        busy, schema, internal), and the backend's own retries and replaced
        connections. Cheap (no store access): for metrics."""
        out = N.DBStats()
        out.version = N.DB_STATS_VERSION
        self._call(self._lib.concert_db_stats_get, ctypes.byref(out), _HANDLE)
        return DBStats(storage_calls=out.storage_calls, storage_errors=out.storage_errors,
                       storage_retries=out.storage_retries,
                       storage_reconnects=out.storage_reconnects)

    def _list_version(self, fn: Callable[..., int], token: TokenLike, what: str,
                      scope_id: int) -> ListVersion:
        out = N.ListVersion()
        self._call(fn, ctypes.byref(out), _HANDLE, self._token(token), int64(scope_id, what))
        return ListVersion(epoch=out.epoch, changes=out.changes,
                           expired_through=out.expired_through, past=out.past)

    def seats_version(self, token: TokenLike, schedule_id: int) -> ListVersion:
        """The version of :meth:`seats`' list, in a few index reads. Equal
        versions mean equal lists; any hold, release, sale or hold expiry on
        the schedule gives a new one. Read it BEFORE the list it labels.

        Raises as :meth:`seats` does, in the same order."""
        return self._list_version(self._lib.concert_seat_list_version_get, token, "schedule_id",
                                  schedule_id)

    def schedules_version(self, token: TokenLike, concert_id: int) -> ListVersion:
        """The version of :meth:`schedules`' list (free counts included), as
        :meth:`seats_version`. Raises as :meth:`concert` does (BookingClosed is
        left to :meth:`schedules`)."""
        return self._list_version(self._lib.concert_schedule_list_version_get, token, "concert_id",
                                  concert_id)

    def load_catalog(self, catalog: Union[Catalog, CatalogSource]) -> None:
        """Load users, concerts, schedules and seats, all or nothing.

        ``catalog`` is a :class:`concert.Catalog`, a dict in the catalog
        JSON shape, JSON text (str or bytes) or the path of a JSON file (see
        :mod:`concert.catalog`). Raises InvalidArgument (message names the
        offending place) or Conflict (an id already in the store); on any
        error the store is unchanged. OSError: the file cannot be read."""
        if not isinstance(catalog, Catalog):
            # The library's reader is the one parser of the JSON shape.
            data = catalog_json(catalog)
            self._call(self._lib.concert_catalog_load_json, _HANDLE, data, len(data))
            return
        c_catalog, keepalive = to_c(catalog, self._lib)
        self._call(self._lib.concert_catalog_load, _HANDLE, ctypes.byref(c_catalog))
        del keepalive  # the library keeps nothing of the catalog

    # ---- booking ----

    @staticmethod
    def _reservation(r: N.Reservation) -> Reservation:
        return Reservation(id=r.id, user_id=r.user_id, schedule_id=r.schedule_id,
                           seat_number=r.seat_number, price=r.price,
                           status=_enum(ReservationStatus, r.status), is_new=bool(r.is_new),
                           held_until=from_ms(r.held_until))

    def reserve(self, token: TokenLike, schedule_id: int, seat: int) -> Reservation:
        """Hold a seat for the token's user for hold_ttl.

        Reserving a seat the user already holds returns the same reservation
        with is_new False. A new hold past the per-buyer limit (the concert's
        max_per_user counting holds plus paid seats of that concert, else the
        store's max_holds_per_user counting live holds) raises HoldLimit.
        Raises SeatTaken, SeatNotFound, ScheduleNotFound, ConcertNotBookable,
        BookingClosed, HoldLimit, token errors."""
        out = N.Reservation()
        self._call(self._lib.concert_reserve_seat, ctypes.byref(out), _HANDLE,
                   self._token(token), int64(schedule_id, "schedule_id"), int64(seat, "seat"))
        return self._reservation(out)

    def reservation(self, token: TokenLike, reservation_id: int) -> Reservation:
        """Read one of the token's user's reservations (an expired hold reads EXPIRED).

        Raises ReservationNotFound, Forbidden, token errors."""
        out = N.Reservation()
        self._call(self._lib.concert_reservation_get, ctypes.byref(out), _HANDLE,
                   self._token(token), int64(reservation_id, "reservation_id"))
        return self._reservation(out)

    @staticmethod
    def _payment(p: N.Payment) -> Payment:
        return Payment(id=p.id, reservation_id=p.reservation_id, user_id=p.user_id,
                       amount=p.amount, balance=p.balance, paid_at=from_ms(p.paid_at))

    def pay(self, token: TokenLike, reservation_id: int,
            idempotency_key: Optional[str] = None) -> Payment:
        """Pay for a held reservation with points, atomically; ends the token.

        idempotency_key: None for none, else 1 to 255 printable ASCII
        characters without spaces ("" and anything else raise
        InvalidArgument). A repeat with the same key returns the first
        payment. Raises HoldExpired, AlreadyPaid, InsufficientPoints,
        IdempotencyKeyReused, ReservationNotFound, Forbidden, token errors."""
        out = N.Payment()
        self._call(self._lib.concert_pay, ctypes.byref(out), _HANDLE, self._token(token),
                   int64(reservation_id, "reservation_id"),
                   optional_text(idempotency_key, "idempotency_key"))
        return self._payment(out)

    def pay_order(self, token: TokenLike, reservation_ids: Iterable[int],
                  idempotency_key: Optional[str] = None) -> Payment:
        """Pay for several of the token's live holds at once, atomically: one
        debit of the total, one ledger entry, one payment covering them all,
        every seat sold, the token ended. All or nothing: one expired,
        released, paid or foreign reservation fails the whole order (the
        first in ascending id order decides the error) and changes nothing.

        reservation_ids: 1 to 64 distinct ids, in any order. The returned
        payment's amount is the total and its reservation_id the lowest id.
        idempotency_key as for :meth:`pay`; it covers the set of ids, so a
        repeat with the same ids in another order replays.
        Raises InvalidArgument (no ids, too many, a repeated id), and the
        errors of :meth:`pay`."""
        if isinstance(reservation_ids, (str, bytes)) or not isinstance(reservation_ids, collections.abc.Iterable):
            raise TypeError("reservation_ids must be an iterable of ints, "
                            f"not {type(reservation_ids).__name__}")
        ids = [int64(rid, f"reservation_ids[{i}]") for i, rid in enumerate(reservation_ids)]
        array = (ctypes.c_int64 * len(ids))(*ids) if ids else None
        out = N.Payment()
        self._call(self._lib.concert_order_pay, ctypes.byref(out), _HANDLE, self._token(token),
                   array, len(ids), optional_text(idempotency_key, "idempotency_key"))
        return self._payment(out)

    def release(self, token: TokenLike, reservation_id: int) -> Reservation:
        """Let a hold go before it expires: the reservation becomes RELEASED
        and its seat is free for everyone at once. Releasing one that is
        already released, or whose hold has run out, succeeds and leaves the
        seat alone. Returns the reservation as it is after the call.

        Raises ReservationNotFound, Forbidden (another user's), AlreadyPaid,
        token errors; nothing changes on error."""
        out = N.Reservation()
        self._call(self._lib.concert_reservation_release, ctypes.byref(out), _HANDLE,
                   self._token(token), int64(reservation_id, "reservation_id"))
        return self._reservation(out)

    # ---- points ----

    def charge(self, user_id: int, amount: int, idempotency_key: Optional[str] = None) -> int:
        """Add points to a user; returns the new balance.

        idempotency_key as for :meth:`pay` (None for none; "" is refused).
        Raises UserNotFound, InvalidAmount, IdempotencyKeyReused, InvalidArgument."""
        balance = ctypes.c_int64()
        self._call(self._lib.concert_charge_points, ctypes.byref(balance), _HANDLE,
                   int64(user_id, "user_id"), int64(amount, "amount"),
                   optional_text(idempotency_key, "idempotency_key"))
        return balance.value

    def balance(self, user_id: int) -> int:
        """The user's points balance. Raises UserNotFound."""
        balance = ctypes.c_int64()
        self._call(self._lib.concert_points_balance_get, ctypes.byref(balance), _HANDLE,
                   int64(user_id, "user_id"))
        return balance.value

    @staticmethod
    def _ledger(lst: N.LedgerList) -> List[LedgerEntry]:
        return [LedgerEntry(id=e.id, user_id=e.user_id, type=_enum(LedgerType, e.type),
                            amount=e.amount, balance_after=e.balance_after, at=from_ms(e.at),
                            reservation_id=e.reservation_id or None)
                for e in (lst.items[i] for i in range(lst.count))]

    def history(self, user_id: int) -> List[LedgerEntry]:
        """The user's whole ledger, newest first, in one list. For a long
        ledger prefer :meth:`points_history_page` or :meth:`iter_history`.
        Raises UserNotFound."""
        out = ctypes.POINTER(N.LedgerList)()
        try:
            self._call(self._lib.concert_ledger_list_get, ctypes.byref(out), _HANDLE,
                       int64(user_id, "user_id"))
            return self._ledger(out.contents)
        finally:
            if out:
                self._lib.concert_ledger_list_free(out)

    def points_history_page(self, user_id: int, before: Optional[int] = 0,
                            limit: int = 100) -> HistoryPage:
        """One page of the user's ledger, newest first: at most limit (1 to
        1000) entries with an id below ``before`` (0 or None: from the newest).
        Pass the page's ``next_before`` as ``before`` for the next page; it is
        None after the last page. Entries never change and ids only grow, so
        paging while new entries arrive neither skips nor repeats one.

        Raises InvalidArgument (limit or before out of range), UserNotFound."""
        cursor = 0 if before is None else int64(before, "before")
        count = int64(limit, "limit")
        if count < 0:   # a negative int would wrap around in size_t
            raise InvalidArgument(f"limit: {count} is negative")
        out = ctypes.POINTER(N.LedgerList)()
        try:
            self._call(self._lib.concert_ledger_list_get_page, ctypes.byref(out), _HANDLE,
                       int64(user_id, "user_id"), cursor, count)
            lst = out.contents
            return HistoryPage(entries=tuple(self._ledger(lst)),
                               next_before=lst.next_before_id or None)
        finally:
            if out:
                self._lib.concert_ledger_list_free(out)

    def iter_history(self, user_id: int, page_size: int = 100) -> Iterator[LedgerEntry]:
        """Every ledger entry of the user, newest first, fetched page_size
        (1 to 1000) at a time with :meth:`points_history_page` as the
        iteration proceeds. Raises as that method does (from the first
        ``next()`` on, since it is a generator)."""
        before: Optional[int] = None
        while True:
            page = self.points_history_page(user_id, before=before, limit=page_size)
            yield from page.entries
            if page.next_before is None:
                return
            before = page.next_before

    # ---- administration ----

    def users(self) -> List[User]:
        """Every user with their balance, in id order."""
        out = ctypes.POINTER(N.UserList)()
        try:
            self._call(self._lib.concert_admin_user_list_get, ctypes.byref(out), _HANDLE)
            lst = out.contents
            return [User(id=u.id, name=_str(u.name), balance=u.balance)
                    for u in (lst.items[i] for i in range(lst.count))]
        finally:
            if out:
                self._lib.concert_user_list_free(out)

    def verify(self) -> VerifyReport:
        """Check the store's invariants; see :attr:`VerifyReport.ok`.

        Raises NotSupported when the backend cannot verify."""
        out = ctypes.POINTER(N.VerifyReport)()
        try:
            self._call(self._lib.concert_admin_verify, ctypes.byref(out), _HANDLE)
            r = out.contents
            violations = tuple(_str(r.violations[i]) for i in range(r.violation_count))
            return VerifyReport(r.users, r.ledger_entries, r.seats, r.seats_sold,
                                r.reservations, r.payments, r.active_tokens, violations)
        finally:
            if out:
                self._lib.concert_verify_report_free(out)

    def prune(self, limit: int = 0) -> PruneReport:
        """Delete what the ``retention`` option allows: idempotency records
        older than it (a retry with such a key is then a new request) and
        tokens that ended longer ago than it (then TokenInvalid). Never a
        user, a live token, a reservation, a payment or a ledger entry.
        At most ``limit`` rows, oldest first (0: all that are due). Stores
        also prune a little inside normal calls, so this is never required;
        it is for a quiet hour.

        Raises InvalidArgument (a negative limit), storage errors."""
        count = int64(limit, "limit")
        if count < 0:   # a negative int would wrap around in size_t
            raise InvalidArgument(f"limit: {count} is negative")
        out = N.PruneReport()
        self._call(self._lib.concert_admin_prune, ctypes.byref(out), _HANDLE, count)
        return PruneReport(tokens=out.tokens, idempotency=out.idempotency, more=bool(out.more))


class _HandlePlaceholder:
    """Marks where :meth:`Database._call` puts the live handle."""


_HANDLE = _HandlePlaceholder()
