"""States print as their names, and still compare with the C values.

Every enum the package exports is checked (a new one that forgets the
NamedIntEnum base fails here), and its names are compared with the
library's own *_name() functions, so Python and C cannot drift apart.
"""

from __future__ import annotations

import ctypes
import enum
import subprocess
import sys
from pathlib import Path

import pytest

import concert

EXPORTED = sorted((obj for obj in vars(concert).values()
                   if isinstance(obj, type) and issubclass(obj, enum.Enum)
                   and obj is not concert.NamedIntEnum),
                  key=lambda cls: cls.__name__)

# The library's name function for each enum.
C_NAMES = {
    "TokenState": "concert_token_state_name",
    "QueueState": "concert_queue_state_name",
    "ConcertStatus": "concert_concert_status_name",
    "ReservationStatus": "concert_reservation_status_name",
    "SeatStatus": "concert_seat_status_name",
    "LedgerType": "concert_ledger_type_name",
}


def test_every_exported_enum_is_known() -> None:
    assert {cls.__name__ for cls in EXPORTED} == set(C_NAMES)


@pytest.mark.parametrize("cls", EXPORTED, ids=lambda cls: cls.__name__)
def test_members_print_as_names(cls: type) -> None:
    assert issubclass(cls, concert.NamedIntEnum) and issubclass(cls, int)
    for member in cls:
        name = member.name
        assert str(member) == name
        assert f"{member}" == name and "{}".format(member) == name and "%s" % member == name
        assert repr(member) == f"{cls.__name__}.{name}"
        assert f"{member:>12}" == f"{name:>12}"
        # Still the C value wherever an int is asked for.
        assert member == member.value and int(member) == member.value
        assert f"{member:d}" == str(member.value) and "%d" % member == str(member.value)
        assert cls(member.value) is member and hash(member) == hash(member.value)


@pytest.mark.parametrize("cls", EXPORTED, ids=lambda cls: cls.__name__)
def test_names_are_the_librarys(cls: type) -> None:
    lib = ctypes.CDLL(concert.library_path())
    fn = getattr(lib, C_NAMES[cls.__name__])
    fn.restype, fn.argtypes = ctypes.c_char_p, [ctypes.c_int]
    for member in cls:
        assert fn(member.value).decode() == str(member)


def test_print_and_dataclass_repr_show_names() -> None:
    settings = concert.QueueSettings(10, 0, concert.QueueState.PAUSED, None)
    assert "state=QueueState.PAUSED" in repr(settings)
    code = "import concert; print(concert.TokenState.ACTIVE, concert.QueueState(2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parents[1]), check=True).stdout
    assert out.split() == ["ACTIVE", "PAUSED"]


def test_a_real_token_prints_its_state(db: concert.Database) -> None:
    token = db.queue_issue(1)
    assert f"{token.state}" == "ACTIVE" and "state=TokenState.ACTIVE" in repr(token)
    assert token.state == 2
