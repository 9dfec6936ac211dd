#!/usr/bin/env python3
"""Every public function, type, field and macro of the headers is documented.

Usage: check_doxygen.py DOXYGEN DOXYFILE WORKDIR

Runs doxygen with the project's Doxyfile (docs/Doxyfile.in, configured) and
warnings as errors, and fails naming each warning (an undocumented item, a
parameter without @param). Doxygen skips, without a warning, every function
of a header that has no `@file` block, so the script also reads doxygen's
XML: every header must have its file documentation, and every
CONCERT_EXTERN function found in the headers a description. Exit 0: clean; 1: something undocumented; 77: no doxygen.
"""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET


def doxyfile_value(text, key):
    """Last assignment of key in a Doxyfile (later ones override)."""
    value = None
    for line in text.splitlines():
        m = re.match(r"\s*%s\s*=(.*)$" % re.escape(key), line)
        if m:
            value = m.group(1).strip()
    return value


def exported_functions(input_dir):
    """{name: header} for every CONCERT_EXTERN function declared under input_dir."""
    found = {}
    decl = re.compile(r"CONCERT_EXTERN\b[^;{]*?\b(\w+)\s*\(", re.S)
    for root, _, files in os.walk(input_dir):
        for f in sorted(files):
            if not f.endswith(".h"):
                continue
            path = os.path.join(root, f)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            # Comments may mention CONCERT_EXTERN; only code counts.
            text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
            text = re.sub(r"#\s*define[^\n]*(\\\n[^\n]*)*", " ", text)
            for m in decl.finditer(text):
                found[m.group(1)] = os.path.relpath(path, input_dir)
    return found


def described(element):
    """Text of an element's brief and detailed description."""
    text = ""
    for tag in ("briefdescription", "detaileddescription"):
        node = element.find(tag)
        if node is not None:
            text += "".join(node.itertext()).strip()
    return text


def doxygen_view(xml_dir):
    """({header: has a file doc}, {function names with a doc}) from doxygen's XML."""
    files, functions = {}, set()
    index = ET.parse(os.path.join(xml_dir, "index.xml")).getroot()
    for compound in index.findall("compound"):
        if compound.get("kind") != "file":
            continue
        root = ET.parse(os.path.join(xml_dir, compound.get("refid") + ".xml")).getroot()
        cdef = root.find("compounddef")
        location = cdef.find("location")
        name = location.get("file") if location is not None else compound.findtext("name")
        files[os.path.normpath(name)] = bool(described(cdef))
        for member in cdef.iter("memberdef"):
            if member.get("kind") == "function" and described(member):
                functions.add(member.findtext("name"))
    return files, functions


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    doxygen, doxyfile, workdir = sys.argv[1:]
    workdir = os.path.abspath(workdir)
    if not shutil.which(doxygen):
        print("SKIP: doxygen not found (%s)" % doxygen)
        return 77
    with open(doxyfile, encoding="utf-8") as fh:
        base = fh.read()
    input_dir = doxyfile_value(base, "INPUT")
    # doxygen's XML names files relative to STRIP_FROM_PATH.
    strip = doxyfile_value(base, "STRIP_FROM_PATH") or input_dir
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    log = os.path.join(workdir, "warnings.log")
    # Later assignments override the configured ones: same inputs and
    # warning switches as the docs target, plus XML (the function list below
    # reads it), warnings always fatal. HTML stays on: doxygen 1.9.4 without
    # HTML reports documented parameters as undocumented.
    overrides = "\n".join([
        "OUTPUT_DIRECTORY = %s" % workdir,
        "WARN_LOGFILE = %s" % log,
        "WARN_AS_ERROR = FAIL_ON_WARNINGS",
        "GENERATE_HTML = YES",
        "GENERATE_XML = YES",
        "XML_OUTPUT = xml",
        "QUIET = YES",
    ])
    test_doxyfile = os.path.join(workdir, "Doxyfile")
    with open(test_doxyfile, "w", encoding="utf-8") as fh:
        fh.write(base + "\n# check_doxygen.py\n" + overrides + "\n")
    run = subprocess.run([doxygen, test_doxyfile], cwd=workdir,
                         capture_output=True, text=True)
    warnings = []
    if os.path.exists(log):
        with open(log, encoding="utf-8") as fh:
            warnings = [l.rstrip() for l in fh if l.strip()]
    failed = False
    for w in warnings:
        print("doxygen: " + w.replace(input_dir + "/", ""))
        failed = True
    if run.returncode != 0 and not warnings:
        print("doxygen exited %d:\n%s" % (run.returncode, run.stderr))
        return 1

    declared = exported_functions(input_dir)
    xml_dir = os.path.join(workdir, "xml")
    files, documented = ({}, set())
    if os.path.isdir(xml_dir):
        files, documented = doxygen_view(xml_dir)
    for root, _, names in os.walk(input_dir):
        for f in sorted(names):
            path = os.path.relpath(os.path.join(root, f), strip)
            if f.endswith(".h") and not files.get(os.path.normpath(path)):
                print("no @file block (doxygen then skips its functions without a "
                      "warning): %s" % path)
                failed = True
    missing = sorted(n for n in declared if n not in documented)
    for n in missing:
        print("undocumented function: %s in %s" % (n, declared[n]))
        failed = True
    if len(declared) < 50:
        # The header scan itself must not pass by finding nothing.
        print("only %d CONCERT_EXTERN functions found under %s" % (len(declared), input_dir))
        failed = True
    print("%d public functions, %d documented, %d doxygen warnings"
          % (len(declared), len(declared) - len(missing), len(warnings)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
