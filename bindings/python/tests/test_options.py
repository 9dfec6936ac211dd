"""open()'s options take their ranges and defaults from the library's table.

For every row of concert_options_info: the ends of the range open, one past
either end (and -1) is refused with InvalidArgument whose message is the
library's own (compared with concert_options_check and, where the value fits
the C field, with concert_db_open given the raw struct). The binding's source
holds none of the table's numbers.
"""

from __future__ import annotations

import ctypes
import inspect
import re
from datetime import timedelta
from pathlib import Path
from typing import Optional

import pytest

import concert
from concert import _native as N

TABLE = concert.options_info()
PACKAGE = Path(concert.__file__).resolve().parent


def user_value(info: concert.OptionInfo, raw: int) -> object:
    """raw (in the table's unit) as open() takes it: a timedelta for ms."""
    return timedelta(milliseconds=raw) if info.unit == "ms" else raw


def last_message() -> str:
    err = N.lib().concert_error_last()
    return err.contents.message.decode() if err and err.contents.message else ""


def c_open_message(info: concert.OptionInfo, raw: int) -> Optional[str]:
    """What concert_db_open() says about the raw value, with no binding check in
    between; None when the value does not fit the C field."""
    opts = N.Options()
    assert N.lib().concert_options_init(ctypes.byref(opts), N.OPTIONS_VERSION) == 0
    setattr(opts, info.name, raw)
    if getattr(opts, info.name) != raw:     # an int32_t field: ctypes truncated it
        return None
    handle = ctypes.c_void_p()
    rc = N.lib().concert_db_open(ctypes.byref(handle), b"memory:", ctypes.byref(opts))
    if rc == 0:
        N.lib().concert_db_close(handle)
    assert rc == concert.InvalidArgument.CODE
    return last_message()


def test_table_matches_open() -> None:
    params = set(inspect.signature(concert.open).parameters) - {"uri", "clock"}
    assert TABLE and {info.keyword for info in TABLE} == params
    fields = {name for name, _ in N.Options._fields_}
    for info in TABLE:
        assert info.name in fields and info.unit in ("ms", "count")
        assert 0 < info.min <= info.max and info.zero_means and info.summary
        assert info.zero_means != "default" or info.min <= info.default <= info.max
        assert concert.option_info(info.keyword) is info is concert.option_info(info.name)
    with pytest.raises(concert.InvalidArgument):
        concert.option_info("no_such_option")


@pytest.mark.parametrize("info", TABLE, ids=lambda info: info.keyword)
def test_out_of_range_is_refused_with_the_librarys_message(info: concert.OptionInfo) -> None:
    bad = {-1, info.max + 1} | ({info.min - 1} if info.min - 1 != 0 else set())
    for raw in sorted(bad):
        with pytest.raises(concert.InvalidArgument) as caught:
            concert.open("memory:", **{info.keyword: user_value(info, raw)})
        message = caught.value.message
        assert f"options.{info.name}: {raw}" in message and info.keyword in message
        assert N.lib().concert_options_check(info.name.encode(), raw) == caught.value.code
        assert last_message() == message
        from_c = c_open_message(info, raw)
        assert from_c is None or from_c == message


@pytest.mark.parametrize("info", TABLE, ids=lambda info: info.keyword)
def test_range_ends_and_zero_are_accepted(info: concert.OptionInfo) -> None:
    for raw in (info.min, info.max, 0):
        with concert.open("memory:", **{info.keyword: user_value(info, raw)}) as db:
            assert db.backend == "memory"


def test_durations_take_seconds_and_counts_refuse_other_types() -> None:
    hold = concert.option_info("hold_ttl")
    with pytest.raises(concert.InvalidArgument, match=r"options\.hold_ttl_ms: "
                       + str((hold.max // 1000 + 1) * 1000)):
        concert.open("memory:", hold_ttl=hold.max // 1000 + 1)       # seconds
    with concert.open("memory:", hold_ttl=hold.max // 1000):
        pass
    with pytest.raises(TypeError):
        concert.open("memory:", pool_size=True)
    with pytest.raises(TypeError):
        concert.open("memory:", hold_ttl="300")


def test_the_binding_writes_no_range_or_default() -> None:
    source = "\n".join(p.read_text() for p in PACKAGE.glob("*.py"))
    # Powers of 1000 are left out: they are unit conversions (ns -> ms) too.
    numbers = {n for info in TABLE for n in (info.default, info.max)
               if n > 1000 and n not in (10 ** 6, 10 ** 9)}
    for n in sorted(numbers):
        for spelled in {str(n), f"{n:_}", f"{n:,}"}:
            assert not re.search(rf"(?<![\w.]){re.escape(spelled)}(?![\w.])", source), spelled
