#!/usr/bin/python3
"""Check that a program's --help and its man page list the same flags.

Usage: check_man_flags.py PROGRAM MANPAGE

A flag in --help is an option that starts a help line ("  --store URI",
"  -h, --help"). A flag in the man page is one that a .B/.BI/.BR/.TP-tagged
line starts with (the option paragraphs). Both sets must be equal; the
differences are printed and the exit status is 1.
"""
import re
import subprocess
import sys

HELP_LINE = re.compile(r"^\s+(-[A-Za-z0-9](?:,\s+)?)?(--[a-z][a-z0-9-]*)?")
MAN_LINE = re.compile(r"^\.B[IR]?\s+(.*)$")
MAN_FLAG = re.compile(r"^(?:\\-\\-[a-z][a-z0-9\\-]*|\\-[A-Za-z0-9])(?![a-z0-9\\-])")


def help_flags(program):
    out = subprocess.run([program, "--help"], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    flags = set()
    for line in out.splitlines():
        m = HELP_LINE.match(line)
        if not m:
            continue
        for group in m.groups():
            if group:
                flags.add(group.rstrip(", ").strip())
    return flags


def man_flags(path):
    flags = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = MAN_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            # ".BR \-h ", " \-\-help": every quoted/space-separated word.
            for word in re.split(r'[\s",]+', m.group(1)):
                fm = MAN_FLAG.match(word)
                if fm:
                    flags.add(fm.group(0).replace("\\", ""))
    return flags


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, manpage = sys.argv[1], sys.argv[2]
    in_help, in_man = help_flags(program), man_flags(manpage)
    if not in_help:
        print(f"no flags found in {program} --help", file=sys.stderr)
        return 1
    ok = True
    for flag in sorted(in_help - in_man):
        print(f"{manpage}: missing {flag} (in {program} --help)")
        ok = False
    for flag in sorted(in_man - in_help):
        print(f"{manpage}: lists {flag}, which {program} --help does not")
        ok = False
    if ok:
        print(f"{manpage}: {len(in_help)} flags, same as --help")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
