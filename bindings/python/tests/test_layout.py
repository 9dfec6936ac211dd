"""The ctypes struct layouts match what the C compiler makes of the headers.

ctypes (like cffi's ABI mode) cannot read headers, so a field added or
reordered in include/concert/*.h would silently corrupt memory. This test
asks the compiler for every size and offset and compares.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from concert import _native as N

INCLUDE = Path(__file__).resolve().parents[3] / "include"

STRUCTS = {
    "concert_error": N.ConcertError,
    "concert_options": N.Options,
    "concert_token_info": N.TokenInfo,
    "concert_queue_stats": N.QueueStats,
    "concert_concert": N.Concert,
    "concert_concert_list": N.ConcertList,
    "concert_schedule": N.Schedule,
    "concert_schedule_list": N.ScheduleList,
    "concert_seat": N.Seat,
    "concert_seat_list": N.SeatList,
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
                         ("CONCERT_VERSION_MAJOR", N.BINDING_VERSION[0]),
                         ("CONCERT_VERSION_MINOR", N.BINDING_VERSION[1])]:
        assert f"#define {macro} {value}\n" in text, macro
