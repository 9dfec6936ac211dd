#!/usr/bin/python3
"""Check that a program's --help and its man page say the same.

Usage: check_man_flags.py PROGRAM MANPAGE

A flag in --help is an option that starts a help line ("  --store URI",
"  -h, --help"). A flag in the man page is one that starts the tag line of
an option paragraph (the .B/.BI/.BR line right after .TP); flags named in
running text do not count. Checked, each difference printed and
the exit status 1:
- the program's own flags (`PROGRAM --help`) equal the man page's flags
  outside its COMMANDS section;
- when --help lists "Commands:", the COMMANDS section has one subsection
  (.SS) per command and per subcommand (`  queue pause ...` lines of a
  command's --help), none other, and each subsection's flags equal those
  of `PROGRAM COMMAND [SUBCOMMAND] --help`;
- the version in .TH ("libconcert X.Y.Z") is the one `PROGRAM --version`
  prints, so a version bump cannot leave a stale page behind.
"""
import re
import subprocess
import sys

HELP_LINE = re.compile(r"^\s+(-[A-Za-z0-9](?:,\s+)?)?(--[a-z][a-z0-9-]*)?")
MAN_LINE = re.compile(r"^\.B[IR]?\s+(.*)$")
MAN_FLAG = re.compile(r"^(?:\\-\\-[a-z][a-z0-9\\-]*|\\-[A-Za-z0-9])(?![a-z0-9\\-])")
VERSION = re.compile(r"libconcert (\d+\.\d+\.\d+)")


def run(program, args):
    return subprocess.run([program] + args, check=True, capture_output=True,
                          text=True, timeout=60).stdout


def help_flags(text):
    flags = set()
    for line in text.splitlines():
        m = HELP_LINE.match(line)
        if not m:
            continue
        for group in m.groups():
            if group:
                flags.add(group.rstrip(", ").strip())
    return flags


def help_commands(text):
    """Names listed under "Commands:" in a --help text."""
    names, inside = [], False
    for line in text.splitlines():
        if line.strip() == "Commands:":
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            m = re.match(r"^\s+([a-z][a-z0-9-]*)\s", line)
            if m:
                names.append(m.group(1))
    return names


def help_subcommands(command, text):
    """'queue pause' for each "  queue pause ..." line of `command --help`."""
    pattern = re.compile(r"^\s+%s ([a-z][a-z0-9-]*)\b" % re.escape(command))
    found = []
    for line in text.splitlines():
        m = pattern.match(line)
        if m and "%s %s" % (command, m.group(1)) not in found:
            found.append("%s %s" % (command, m.group(1)))
    return found


def read_man(path):
    """({section: flags}, .TH line); section None is everything outside the
    .SS subsections of COMMANDS."""
    sections, th = {None: set()}, ""
    current, in_commands, tag = None, False, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            after_tp, tag = tag, line.startswith(".TP")
            if line.startswith(".TH "):
                th = line
            if line.startswith(".SH"):
                in_commands = line[3:].strip().strip('"') == "COMMANDS"
                current = None
                continue
            if line.startswith(".SS") and in_commands:
                current = line[3:].strip().strip('"')
                sections.setdefault(current, set())
                continue
            m = MAN_LINE.match(line)
            if not m or not after_tp:
                continue
            # ".BR \-h ", " \-\-help": every quoted/space-separated word.
            for word in re.split(r'[\s",]+', m.group(1)):
                fm = MAN_FLAG.match(word)
                if fm:
                    sections[current].add(fm.group(0).replace("\\", ""))
    return sections, th


def compare(manpage, what, in_help, in_man):
    ok = True
    for flag in sorted(in_help - in_man):
        print(f"{manpage}: {what}: missing {flag} (in --help)")
        ok = False
    for flag in sorted(in_man - in_help):
        print(f"{manpage}: {what}: lists {flag}, which --help does not")
        ok = False
    return ok


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, manpage = sys.argv[1], sys.argv[2]
    top_help = run(program, ["--help"])
    sections, th = read_man(manpage)
    in_help = help_flags(top_help)
    if not in_help:
        print(f"no flags found in {program} --help", file=sys.stderr)
        return 1
    ok = compare(manpage, "options", in_help, sections[None])
    checked = [f"{len(in_help)} flags"]

    commands = help_commands(top_help)
    expected = []
    for command in commands:
        expected.append(command)
        expected += help_subcommands(command, run(program, command.split() + ["--help"]))
    man_commands = [s for s in sections if s is not None]
    for name in expected:
        if name not in sections:
            print(f"{manpage}: no COMMANDS subsection for '{name}' (in {program} --help)")
            ok = False
            continue
        sub_help = help_flags(run(program, name.split() + ["--help"]))
        ok = compare(manpage, f"'{name}'", sub_help, sections[name]) and ok
    for name in man_commands:
        if name not in expected:
            print(f"{manpage}: COMMANDS subsection '{name}' is not a command of {program}")
            ok = False
    if commands:
        checked.append(f"{len(expected)} commands")

    version = VERSION.search(run(program, ["--version"]))
    in_th = VERSION.search(th)
    if not version or not in_th or version.group(1) != in_th.group(1):
        print(f"{manpage}: .TH says {in_th.group(1) if in_th else 'no version'}, "
              f"{program} --version says {version.group(1) if version else 'no version'}")
        ok = False
    else:
        checked.append(f"version {version.group(1)}")
    if ok:
        print(f"{manpage}: same as --help ({', '.join(checked)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
