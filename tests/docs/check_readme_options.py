#!/usr/bin/python3
"""README's options table must say what the library's table says.

  check_readme_options.py README.md path/to/libconcert.so

Every field of concert_options_info() has a row (one row may list several
fields, with one value per field, comma-separated); each row's default,
bounds and meaning of 0 must match the library. Exit 1 naming the first
difference.
"""
import ctypes
import re
import sys

UNITS = {"ms": 1, "s": 1000, "h": 3600 * 1000, "days": 24 * 3600 * 1000}


class Info(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("unit", ctypes.c_char_p),
                ("default_value", ctypes.c_int64), ("min", ctypes.c_int64),
                ("max", ctypes.c_int64), ("zero_means", ctypes.c_char_p),
                ("summary", ctypes.c_char_p)]


def library_table(path):
    lib = ctypes.CDLL(path)
    lib.concert_options_info.restype = ctypes.POINTER(Info)
    lib.concert_options_info.argtypes = [ctypes.c_size_t]
    table, i = {}, 0
    while lib.concert_options_info(i):
        e = lib.concert_options_info(i).contents
        table[e.name.decode()] = e
        i += 1
    return table


def amount(text):
    """'600 s' -> 600000, '100,000,000' -> 100000000, '2^31-1' -> 2147483647."""
    text = text.strip()
    if text == "2^31-1":
        return 2 ** 31 - 1
    m = re.fullmatch(r"([\d,]+)(?:\s*(ms|s|h|days))?", text)
    if not m:
        raise ValueError(f"cannot read '{text}'")
    return int(m.group(1).replace(",", "")) * UNITS.get(m.group(2) or "ms", 1)


def rows(readme):
    text = open(readme, encoding="utf-8").read()
    section = text.split("### Options, their ranges and defaults", 1)[1].split("\n#", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            yield cells


def main():
    readme, libpath = sys.argv[1], sys.argv[2]
    table = library_table(libpath)
    seen = set()
    for names, defaults, accepted, zero in rows(readme):
        fields = re.findall(r"`(\w+)`", names)
        dflts = [d for d in defaults.split(", ")]
        lo_text, hi_text = accepted.split("..")
        for k, name in enumerate(fields):
            if name not in table:
                sys.exit(f"README names option {name}, which the library does not have")
            e = table[name]
            want = (e.default_value, e.min, e.max, e.zero_means.decode())
            got = (amount(dflts[k] if len(dflts) == len(fields) else dflts[0]),
                   amount(lo_text), amount(hi_text), zero)
            if got != want:
                sys.exit(f"README row for {name}: (default, min, max, 0 means) = {got}, "
                         f"the library says {want}")
            seen.add(name)
    missing = sorted(set(table) - seen)
    if missing:
        sys.exit(f"README's options table lacks {', '.join(missing)}")
    print(f"README options table matches the library's {len(table)} options")


if __name__ == "__main__":
    main()
