"""Low-level ctypes view of libconcert: struct layouts, prototypes, loading.

Nothing here is public API. The layouts mirror include/concert/*.h for the
library version in :data:`BINDING_VERSION`; tests/test_layout.py checks them
against the C compiler's view of the headers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import threading
from pathlib import Path
from typing import Optional

# The library version this binding was written against (CONCERT_VERSION_*).
BINDING_VERSION = (0, 4, 0)
OPTIONS_VERSION = 4   # CONCERT_OPTIONS_VERSION
CATALOG_VERSION = 2   # CONCERT_CATALOG_VERSION
QUEUE_UPDATE_VERSION = 1        # CONCERT_QUEUE_UPDATE_VERSION
DB_STATS_VERSION = 1            # CONCERT_DB_STATS_VERSION
POSITION_PREQUEUE = -1          # CONCERT_POSITION_PREQUEUE
ORDER_MAX = 64                  # CONCERT_ORDER_MAX
HISTORY_PAGE_MAX = 1000         # CONCERT_HISTORY_PAGE_MAX

# CONCERT_QUEUE_SET_* (concert_queue_update.fields)
QUEUE_SET_MAX_ACTIVE = 1
QUEUE_SET_ADMIT_PER_MINUTE = 2
QUEUE_SET_STATE = 4
QUEUE_SET_OPENS_AT = 8

TOKEN_SIZE = 64
TITLE_SIZE = 256
NAME_SIZE = 128
GRADE_SIZE = 16

i64 = ctypes.c_int64
i32 = ctypes.c_int32
size_t = ctypes.c_size_t

CLOCK_FN = ctypes.CFUNCTYPE(i64, ctypes.c_void_p)
RANDOM_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                             ctypes.POINTER(ctypes.c_ubyte), size_t)


class ConcertError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char_p)]


class OptionInfo(ctypes.Structure):
    """concert_option_info: one row of the library's table of option ranges
    and defaults. Only ever read through the pointer the library returns
    (fields may be appended; never copied or indexed as an array)."""
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("unit", ctypes.c_char_p),
        ("default_value", i64),
        ("min", i64),
        ("max", i64),
        ("zero_means", ctypes.c_char_p),
        ("summary", ctypes.c_char_p),
    ]


class Options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("max_active", i64),
        ("active_ttl_ms", i64),
        ("wait_ttl_ms", i64),
        ("hold_ttl_ms", i64),
        ("booking_cutoff_ms", i64),
        ("clock", CLOCK_FN),
        ("clock_ctx", ctypes.c_void_p),
        ("random", RANDOM_FN),
        ("random_ctx", ctypes.c_void_p),
        ("pool_size", i32),
        ("busy_timeout_ms", i32),
        ("connect_timeout_ms", i32),
        ("reserved", i32),
        # version 2
        ("admit_per_minute", i64),
        ("queue_refresh_ms", i64),
        # version 3
        ("max_holds_per_user", i64),
        # version 4
        ("retention_ms", i64),
    ]


class TokenInfo(ctypes.Structure):
    _fields_ = [
        ("token", ctypes.c_char * TOKEN_SIZE),
        ("user_id", i64),
        ("state", i32),
        ("is_new", i32),
        ("position", i64),
        ("eta_ms", i64),
        ("expires_at", i64),
    ]


class QueueStats(ctypes.Structure):
    _fields_ = [
        ("active", i64),
        ("waiting", i64),
        ("max_active", i64),
        ("admitted_through", i64),
        ("last_ticket", i64),
        # since 0.2
        ("admit_per_minute", i64),
        ("state", i32),
        ("reserved", i32),
        ("opens_at", i64),
        ("prequeued", i64),
        ("admit_rate_mps", i64),
        ("eta_ms", i64),
    ]


class QueueSettings(ctypes.Structure):
    _fields_ = [
        ("max_active", i64),
        ("admit_per_minute", i64),
        ("state", i32),
        ("reserved", i32),
        ("opens_at", i64),
    ]


class QueueUpdate(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("fields", i32),
        ("max_active", i64),
        ("admit_per_minute", i64),
        ("state", i32),
        ("expect_state", i32),
        ("opens_at", i64),
    ]


class Concert(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("status", i32),
        ("max_per_user", i32),
        ("title", ctypes.c_char * TITLE_SIZE),
    ]


class ConcertList(ctypes.Structure):
    _fields_ = [("count", size_t), ("items", ctypes.POINTER(Concert))]


class Schedule(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("concert_id", i64),
        ("starts_at", i64),
        ("available_seats", i64),
    ]


class ScheduleList(ctypes.Structure):
    _fields_ = [("concert_id", i64), ("count", size_t),
                ("items", ctypes.POINTER(Schedule))]


class Seat(ctypes.Structure):
    _fields_ = [("number", i64), ("price", i64),
                ("grade", ctypes.c_char * GRADE_SIZE)]


class SeatList(ctypes.Structure):
    _fields_ = [("schedule_id", i64), ("count", size_t),
                ("items", ctypes.POINTER(Seat))]


class SeatState(ctypes.Structure):
    _fields_ = [("seat", Seat), ("status", i32), ("reserved", i32), ("held_until", i64)]


class SeatMap(ctypes.Structure):
    _fields_ = [("schedule_id", i64), ("count", size_t),
                ("items", ctypes.POINTER(SeatState))]


class DBStats(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("storage_calls", ctypes.c_uint64),
        ("storage_errors", ctypes.c_uint64),
        ("storage_retries", ctypes.c_uint64),
        ("storage_reconnects", ctypes.c_uint64),
    ]


class ListVersion(ctypes.Structure):
    _fields_ = [("epoch", i64), ("changes", i64), ("expired_through", i64), ("past", i64)]


class CatalogUser(ctypes.Structure):
    _fields_ = [("id", i64), ("name", ctypes.c_char_p), ("points", i64)]


class CatalogSeatRange(ctypes.Structure):
    _fields_ = [("from_", i64), ("to", i64), ("grade", ctypes.c_char_p),
                ("price", i64)]


class CatalogSchedule(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("starts_at", i64),
        ("seats", ctypes.POINTER(CatalogSeatRange)),
        ("seat_range_count", size_t),
    ]


class CatalogConcert(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("title", ctypes.c_char_p),
        ("status", i32),
        ("max_per_user", i32),   # catalog version 2 (was reserved)
        ("schedules", ctypes.POINTER(CatalogSchedule)),
        ("schedule_count", size_t),
    ]


class Catalog(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("users", ctypes.POINTER(CatalogUser)),
        ("user_count", size_t),
        ("concerts", ctypes.POINTER(CatalogConcert)),
        ("concert_count", size_t),
    ]


class Reservation(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("user_id", i64),
        ("schedule_id", i64),
        ("seat_number", i64),
        ("price", i64),
        ("status", i32),
        ("is_new", i32),
        ("held_until", i64),
    ]


class Payment(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("reservation_id", i64),
        ("user_id", i64),
        ("amount", i64),
        ("balance", i64),
        ("paid_at", i64),
    ]


class LedgerEntry(ctypes.Structure):
    _fields_ = [
        ("id", i64),
        ("user_id", i64),
        ("type", i32),
        ("reserved", i32),
        ("amount", i64),
        ("balance_after", i64),
        ("at", i64),
        ("reservation_id", i64),
    ]


class LedgerList(ctypes.Structure):
    _fields_ = [("user_id", i64), ("count", size_t),
                ("items", ctypes.POINTER(LedgerEntry)),
                # since 0.3: concert_ledger_list_get_page()'s cursor
                ("next_before_id", i64)]


class User(ctypes.Structure):
    _fields_ = [("id", i64), ("balance", i64),
                ("name", ctypes.c_char * NAME_SIZE)]


class UserList(ctypes.Structure):
    _fields_ = [("count", size_t), ("items", ctypes.POINTER(User))]


class VerifyReport(ctypes.Structure):
    _fields_ = [
        ("users", i64),
        ("ledger_entries", i64),
        ("seats", i64),
        ("seats_sold", i64),
        ("reservations", i64),
        ("payments", i64),
        ("active_tokens", i64),
        ("violation_count", size_t),
        ("violations", ctypes.POINTER(ctypes.c_char_p)),
    ]


class PruneReport(ctypes.Structure):
    _fields_ = [("tokens", i64), ("idempotency", i64), ("more", i32), ("reserved", i32)]


P = ctypes.POINTER
db_p = ctypes.c_void_p  # concert_db * is opaque
c_int = ctypes.c_int
c_char_p = ctypes.c_char_p

# name: (restype, argtypes). Every fallible call returns int.
PROTOTYPES = {
    "concert_version_number": (c_int, []),
    "concert_version_string": (c_char_p, []),
    "concert_error_last": (P(ConcertError), []),
    "concert_error_string": (c_char_p, [c_int]),
    "concert_error_name": (c_char_p, [c_int]),
    "concert_options_init": (c_int, [P(Options), ctypes.c_uint]),
    "concert_options_info": (P(OptionInfo), [size_t]),
    "concert_options_info_find": (P(OptionInfo), [c_char_p]),
    "concert_options_check": (c_int, [c_char_p, i64]),
    "concert_options_validate": (c_int, [P(Options)]),
    "concert_db_open": (c_int, [P(db_p), c_char_p, P(Options)]),
    "concert_db_close": (None, [db_p]),
    "concert_db_backend_name": (c_char_p, [db_p]),
    "concert_db_now": (i64, [db_p]),
    "concert_queue_issue": (c_int, [P(TokenInfo), db_p, i64]),
    "concert_queue_status_get": (c_int, [P(TokenInfo), db_p, c_char_p]),
    "concert_queue_leave": (c_int, [db_p, c_char_p]),
    "concert_queue_stats_get": (c_int, [P(QueueStats), db_p]),
    "concert_queue_settings_get": (c_int, [P(QueueSettings), db_p]),
    "concert_queue_update_init": (c_int, [P(QueueUpdate), ctypes.c_uint]),
    "concert_queue_update_apply": (c_int, [P(QueueSettings), db_p, P(QueueUpdate)]),
    "concert_queue_pause": (c_int, [db_p]),
    "concert_queue_resume": (c_int, [db_p]),
    "concert_queue_close": (c_int, [db_p]),
    "concert_queue_open": (c_int, [db_p]),
    "concert_queue_schedule": (c_int, [db_p, i64]),
    "concert_queue_state_name": (c_char_p, [c_int]),
    "concert_queue_state_from_name": (c_int, [c_char_p]),
    "concert_concert_list_get": (c_int, [P(P(ConcertList)), db_p, c_char_p]),
    "concert_concert_list_free": (None, [P(ConcertList)]),
    "concert_concert_get": (c_int, [P(Concert), db_p, c_char_p, i64]),
    "concert_schedule_list_get": (c_int, [P(P(ScheduleList)), db_p, c_char_p, i64]),
    "concert_schedule_list_free": (None, [P(ScheduleList)]),
    "concert_seats_available": (c_int, [P(P(SeatList)), db_p, c_char_p, i64]),
    "concert_seat_list_free": (None, [P(SeatList)]),
    "concert_seat_list_version_get": (c_int, [P(ListVersion), db_p, c_char_p, i64]),
    "concert_seat_map_get": (c_int, [P(P(SeatMap)), db_p, c_char_p, i64]),
    "concert_seat_map_free": (None, [P(SeatMap)]),
    "concert_seat_status_name": (c_char_p, [c_int]),
    "concert_db_stats_get": (c_int, [P(DBStats), db_p]),
    "concert_schedule_list_version_get": (c_int, [P(ListVersion), db_p, c_char_p, i64]),
    "concert_catalog_load": (c_int, [db_p, P(Catalog)]),
    "concert_admin_concert_list_get": (c_int, [P(P(ConcertList)), db_p]),
    "concert_concert_status_name": (c_char_p, [c_int]),
    "concert_concert_status_from_name": (c_int, [c_char_p]),
    "concert_reserve_seat": (c_int, [P(Reservation), db_p, c_char_p, i64, i64]),
    "concert_reservation_get": (c_int, [P(Reservation), db_p, c_char_p, i64]),
    "concert_pay": (c_int, [P(Payment), db_p, c_char_p, i64, c_char_p]),
    "concert_order_pay": (c_int, [P(Payment), db_p, c_char_p, P(i64), size_t, c_char_p]),
    "concert_reservation_release": (c_int, [P(Reservation), db_p, c_char_p, i64]),
    "concert_queue_token_owner_get": (c_int, [P(i64), db_p, c_char_p]),
    "concert_charge_points": (c_int, [P(i64), db_p, i64, i64, c_char_p]),
    "concert_points_balance_get": (c_int, [P(i64), db_p, i64]),
    "concert_ledger_list_get": (c_int, [P(P(LedgerList)), db_p, i64]),
    "concert_ledger_list_get_page": (c_int, [P(P(LedgerList)), db_p, i64, i64, size_t]),
    "concert_ledger_list_free": (None, [P(LedgerList)]),
    "concert_ledger_type_name": (c_char_p, [c_int]),
    "concert_admin_user_list_get": (c_int, [P(P(UserList)), db_p]),
    "concert_user_list_free": (None, [P(UserList)]),
    "concert_admin_verify": (c_int, [P(P(VerifyReport)), db_p]),
    "concert_verify_report_free": (None, [P(VerifyReport)]),
    "concert_admin_prune": (c_int, [P(PruneReport), db_p, size_t]),
    # catalog_json.h: the library's catalog JSON reader, the only parser of
    # the JSON shape (the binding serialises a dict and hands it over).
    "concert_catalog_load_json": (c_int, [db_p, c_char_p, size_t]),
}


class LibraryError(OSError):
    """libconcert could not be loaded, or its version does not fit this binding.

    Not a :class:`concert.Error`: no library call failed, the library is
    missing or unusable. The message lists every place that was tried.
    """


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None


def _build_tree_candidates() -> list:
    # bindings/python/concert/_native.py -> the repository root is parents[3].
    # Only when this package really sits in a source checkout: an installed
    # copy (site-packages) has no build tree above it.
    root = Path(__file__).resolve().parents[3]
    if not (root / "include" / "concert" / "concert.h").is_file():
        return []
    libdir = root / "build" / "lib"
    return [str(p) for p in (libdir / "libconcert.so.1", libdir / "libconcert.so")
            if p.exists()]


def _pkg_config_candidates(tried: list) -> list:
    # libconcert.pc's libdir: where `cmake --install` (any prefix, found
    # through PKG_CONFIG_PATH) or a -dev package put the library.
    try:
        proc = subprocess.run(["pkg-config", "--variable=libdir", "libconcert"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        tried.append(f"  pkg-config: not usable ({exc})")
        return []
    libdir = proc.stdout.strip()
    if proc.returncode != 0 or not libdir:
        detail = proc.stderr.strip().splitlines()
        tried.append("  pkg-config: libconcert not found"
                     + (f" ({detail[0]})" if detail else "") + "; set PKG_CONFIG_PATH")
        return []
    paths = [os.path.normpath(os.path.join(libdir, name))
             for name in ("libconcert.so.1", "libconcert.so")]
    found = [p for p in paths if os.path.exists(p)]
    if not found:
        tried.append(f"  pkg-config: libdir {libdir} holds no libconcert.so.1")
    return found


def _system_candidates() -> list:
    found = ctypes.util.find_library("concert")
    names = [found] if found else []
    if "libconcert.so.1" not in names:
        names.append("libconcert.so.1")
    return names


def _bind(lib: ctypes.CDLL, path: str) -> None:
    missing = []
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise LibraryError(
            f"{path} is not a usable libconcert: missing symbols {', '.join(missing)}")


def _check_version(lib: ctypes.CDLL, path: str) -> None:
    number = lib.concert_version_number()
    major, minor = number // 10000, (number // 100) % 100
    want_major, want_minor, _ = BINDING_VERSION
    if major != want_major or minor < want_minor:
        have = lib.concert_version_string().decode("ascii", "replace")
        want = ".".join(str(p) for p in BINDING_VERSION)
        raise LibraryError(
            f"{path} is libconcert {have}, but this binding needs "
            f"{want_major}.{want_minor} or a later {want_major}.x "
            f"(written for {want}); set CONCERT_LIBRARY to a matching library")


def _try_load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    _bind(lib, path)
    _check_version(lib, path)
    return lib


def load_library(path: Optional[str] = None) -> str:
    """Load libconcert and return the path or name it was loaded from.

    Order: ``path`` if given (nothing else is tried); then the environment
    variable ``CONCERT_LIBRARY`` (likewise alone); then, when this package
    sits in a source checkout, its ``build/lib`` (for development); then
    the ``libdir`` of ``pkg-config libconcert`` (an install prefix on
    ``PKG_CONFIG_PATH``); then the system loader's search
    (``ctypes.util.find_library("concert")``, then ``libconcert.so.1``:
    ldconfig'd prefixes such as /usr/local, ``LD_LIBRARY_PATH``).

    Calling it again after a successful load returns the loaded path when
    ``path`` is None or the same; loading a second, different library into
    one process is refused.

    Raises :class:`LibraryError` when nothing loads or the version is
    incompatible (same major, minor at least the binding's).
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            if path is None or os.fspath(path) == _lib_path:
                return _lib_path  # type: ignore[return-value]
            raise LibraryError(
                f"libconcert is already loaded from {_lib_path}; "
                f"cannot switch to {os.fspath(path)} in the same process")
        tried: list = []
        env = os.environ.get("CONCERT_LIBRARY")
        if path is not None:
            candidates = [("argument", os.fspath(path))]
        elif env:
            candidates = [("CONCERT_LIBRARY", env)]
        else:
            candidates = [("build tree", p) for p in _build_tree_candidates()]
            candidates += [("pkg-config", p) for p in _pkg_config_candidates(tried)]
            candidates += [("system", p) for p in _system_candidates()]
        for origin, candidate in candidates:
            try:
                lib = _try_load(candidate)
            except LibraryError:
                raise  # found but unusable: say so rather than fall back
            except OSError as exc:
                tried.append(f"  {origin}: {candidate}: {exc}")
                # An explicit choice that fails must not silently fall back.
                if origin in ("argument", "CONCERT_LIBRARY"):
                    break
                continue
            _lib, _lib_path = lib, candidate
            return candidate
        raise LibraryError(
            "cannot load libconcert; tried:\n" + "\n".join(tried) +
            "\nPass concert.load_library(PATH), set CONCERT_LIBRARY to the library "
            "file, or install libconcert (cmake --install) and put its "
            "lib/pkgconfig on PKG_CONFIG_PATH, or on the loader's path (ldconfig).")


def lib() -> ctypes.CDLL:
    """The loaded library, loading it with the default order on first use."""
    if _lib is None:
        load_library()
    return _lib  # type: ignore[return-value]
