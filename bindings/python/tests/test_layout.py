"""The ctypes struct layouts match what the C compiler makes of the headers.

ctypes (like cffi's ABI mode) cannot read headers, so a field added or
reordered in include/concert/*.h would silently corrupt memory. This test
asks the compiler for every size and offset and compares.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import concert
from concert import _native as N

INCLUDE = Path(__file__).resolve().parents[3] / "include"

STRUCTS = {
    "concert_error": N.ConcertError,
    "concert_options": N.Options,
    "concert_option_info": N.OptionInfo,
    "concert_token_info": N.TokenInfo,
    "concert_queue_stats": N.QueueStats,
    "concert_queue_settings": N.QueueSettings,
    "concert_queue_update": N.QueueUpdate,
    "concert_concert": N.Concert,
    "concert_concert_list": N.ConcertList,
    "concert_schedule": N.Schedule,
    "concert_schedule_list": N.ScheduleList,
    "concert_seat": N.Seat,
    "concert_seat_list": N.SeatList,
    "concert_list_version": N.ListVersion,
    "concert_seat_state": N.SeatState,
    "concert_seat_map": N.SeatMap,
    "concert_db_stats": N.DBStats,
    "concert_catalog_user": N.CatalogUser,
    "concert_catalog_seat_range": N.CatalogSeatRange,
    "concert_catalog_schedule": N.CatalogSchedule,
    "concert_catalog_concert": N.CatalogConcert,
    "concert_catalog": N.Catalog,
    "concert_reservation": N.Reservation,
    "concert_payment": N.Payment,
    "concert_ledger_entry": N.LedgerEntry,
    "concert_ledger_list": N.LedgerList,
    "concert_user": N.User,
    "concert_user_list": N.UserList,
    "concert_verify_report": N.VerifyReport,
    "concert_prune_report": N.PruneReport,
}

RENAMED = {"from_": "from"}   # Python keyword


def test_struct_layouts_match_the_headers(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <concert/concert.h>",
             "int main(void) {"]
    expected = []
    for cname, pytype in STRUCTS.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof({cname}));')
        expected.append(f"{cname} {ctypes.sizeof(pytype)}")
        for field, _ in pytype._fields_:
            cfield = RENAMED.get(field, field)
            lines.append(f'printf("{cname}.{cfield} %zu\\n", offsetof({cname}, {cfield}));')
            expected.append(f"{cname}.{cfield} {getattr(pytype, field).offset}")
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", f"-I{INCLUDE}", "-o", str(exe), str(src)], check=True)
    actual = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert actual.split("\n")[:-1] == expected


def test_constants_match_the_headers() -> None:
    text = "".join(p.read_text() for p in (INCLUDE / "concert").glob("*.h"))
    for macro, value in [("CONCERT_TOKEN_SIZE", N.TOKEN_SIZE), ("CONCERT_TITLE_SIZE", N.TITLE_SIZE),
                         ("CONCERT_NAME_SIZE", N.NAME_SIZE), ("CONCERT_GRADE_SIZE", N.GRADE_SIZE),
                         ("CONCERT_OPTIONS_VERSION", N.OPTIONS_VERSION),
                         ("CONCERT_CATALOG_VERSION", N.CATALOG_VERSION),
                         ("CONCERT_QUEUE_UPDATE_VERSION", N.QUEUE_UPDATE_VERSION),
                         ("CONCERT_DB_STATS_VERSION", N.DB_STATS_VERSION),
                         ("CONCERT_ORDER_MAX", N.ORDER_MAX),
                         ("CONCERT_HISTORY_PAGE_MAX", N.HISTORY_PAGE_MAX),
                         ("CONCERT_VERSION_MAJOR", N.BINDING_VERSION[0]),
                         ("CONCERT_VERSION_MINOR", N.BINDING_VERSION[1])]:
        assert f"#define {macro} {value}\n" in text, macro
    assert f"#define CONCERT_POSITION_PREQUEUE ({N.POSITION_PREQUEUE})\n" in text
    for macro, value in [("CONCERT_QUEUE_SET_MAX_ACTIVE", N.QUEUE_SET_MAX_ACTIVE),
                         ("CONCERT_QUEUE_SET_ADMIT_PER_MINUTE", N.QUEUE_SET_ADMIT_PER_MINUTE),
                         ("CONCERT_QUEUE_SET_STATE", N.QUEUE_SET_STATE),
                         ("CONCERT_QUEUE_SET_OPENS_AT", N.QUEUE_SET_OPENS_AT)]:
        assert re.search(rf"\b{macro} = {value}\b", text), macro


def test_options_init_matches_the_binding() -> None:
    """concert_options_init() fills exactly what the ctypes struct holds:
    the table's default where 0 has a meaning of its own, else 0."""
    opts = N.Options()
    assert N.lib().concert_options_init(ctypes.byref(opts), N.OPTIONS_VERSION) == 0
    assert opts.version == N.OPTIONS_VERSION
    table = {info.name: info for info in concert.options_info()}
    assert set(table) <= {name for name, _ in N.Options._fields_}
    for info in table.values():
        expect = info.default if info.zero_means != "default" else 0
        assert getattr(opts, info.name) == expect, info.name
    assert opts.queue_refresh_ms == table["queue_refresh_ms"].default > 0
    assert opts.max_holds_per_user == table["max_holds_per_user"].default > 0
    assert opts.retention_ms == 0           # the library's default (24 h)
    update = N.QueueUpdate()
    assert N.lib().concert_queue_update_init(ctypes.byref(update), N.QUEUE_UPDATE_VERSION) == 0
    assert (update.version, update.fields) == (N.QUEUE_UPDATE_VERSION, 0)
