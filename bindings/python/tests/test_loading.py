"""Finding the library, in the documented order, and refusing a wrong one.

Each case runs in a fresh interpreter: a process loads libconcert once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import concert
from concert import _native

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def run(code: str, env_library: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CONCERT_LIBRARY"}
    env["PYTHONPATH"] = PACKAGE_ROOT
    if env_library is not None:
        env["CONCERT_LIBRARY"] = env_library
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def real_library() -> str:
    return os.path.abspath(concert.library_path())


def test_version_matches_binding() -> None:
    major, minor, _ = concert.BINDING_VERSION
    assert concert.library_version().startswith(f"{major}.")
    number = _native.lib().concert_version_number()
    assert number // 10000 == major and (number // 100) % 100 >= minor


def test_env_variable_is_used(real_library: str) -> None:
    proc = run("import concert; print(concert.library_path())", real_library)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == real_library


def test_explicit_path_wins_over_env(real_library: str) -> None:
    code = ("import concert; print(concert.load_library(%r)); "
            "print(concert.open('memory:').backend)" % real_library)
    proc = run(code, "/nonexistent/libconcert.so")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [real_library, "memory"]


def test_missing_env_library_fails_clearly_without_falling_back() -> None:
    code = ("import concert\n"
            "try:\n    concert.open('memory:')\n"
            "except concert.LibraryError as e:\n    print('LibraryError:', e)\n")
    proc = run(code, "/nonexistent/libconcert.so")
    assert proc.returncode == 0, proc.stderr
    assert "LibraryError: cannot load libconcert" in proc.stdout
    assert "CONCERT_LIBRARY: /nonexistent/libconcert.so" in proc.stdout
    assert "build tree" not in proc.stdout      # an explicit choice does not fall back


def test_switching_library_in_one_process_is_refused(real_library: str, tmp_path) -> None:
    with pytest.raises(concert.LibraryError, match="already loaded"):
        concert.load_library(str(tmp_path / "other.so"))
    assert concert.load_library(real_library) == concert.library_path()


def compile_stub(tmp_path: Path, version_number: int, version_string: str,
                 omit: str = "") -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a stub library")
    lines = []
    for name in _native.PROTOTYPES:
        if name == omit:
            continue
        if name == "concert_version_number":
            lines.append(f"int {name}(void) {{ return {version_number}; }}")
        elif name == "concert_version_string":
            lines.append(f'const char *{name}(void) {{ return "{version_string}"; }}')
        else:
            lines.append(f"int {name}(void) {{ return -7; }}")
    src = tmp_path / "stub.c"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "libconcert-stub.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return str(out)


@pytest.mark.parametrize("number,text", [(10000, "1.0.0"), (100, "0.1.0"), (200, "0.2.0"), (300, "0.3.0")])
def test_incompatible_version_is_refused(tmp_path: Path, number: int, text: str) -> None:
    stub = compile_stub(tmp_path, number, text)
    code = ("import concert\n"
            "try:\n    concert.open('memory:')\n"
            "except concert.LibraryError as e:\n    print('LibraryError:', e)\n")
    proc = run(code, stub)
    assert proc.returncode == 0, proc.stderr
    major, minor, _ = _native.BINDING_VERSION
    assert f"is libconcert {text}, but this binding needs {major}.{minor}" in proc.stdout


def test_library_without_the_api_is_refused(tmp_path: Path) -> None:
    stub = compile_stub(tmp_path, 400, "0.4.0", omit="concert_order_pay")
    proc = run("import concert\n"
               "try:\n    concert.open('memory:')\n"
               "except concert.LibraryError as e:\n    print('LibraryError:', e)\n", stub)
    assert "missing symbols concert_order_pay" in proc.stdout, proc.stdout + proc.stderr


def test_pkg_config_libdir_is_used(real_library: str, tmp_path: Path) -> None:
    """With no CONCERT_LIBRARY, an installed prefix is found through the
    libdir of libconcert.pc on PKG_CONFIG_PATH."""
    if shutil.which("pkg-config") is None:
        pytest.skip("no pkg-config")
    if _native._build_tree_candidates():
        pytest.skip("this checkout's build/lib comes first")
    libdir = os.path.dirname(real_library)
    (tmp_path / "libconcert.pc").write_text(
        f"libdir={libdir}\nName: libconcert\nDescription: test\nVersion: 0.3.0\n"
        "Libs: -L${libdir} -lconcert\n")
    code = "import concert; print(concert.library_path())"
    env = {k: v for k, v in os.environ.items() if k != "CONCERT_LIBRARY"}
    env.update(PYTHONPATH=PACKAGE_ROOT, PKG_CONFIG_PATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert os.path.dirname(proc.stdout.strip()) == libdir
    env["PKG_CONFIG_PATH"] = str(tmp_path / "empty")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    if proc.returncode == 0:      # the system loader has one of its own
        assert os.path.dirname(proc.stdout.strip()) != libdir
    else:
        assert "pkg-config: libconcert not found" in proc.stderr
