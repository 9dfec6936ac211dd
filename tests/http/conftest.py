"""Fixtures for the HTTP contract tests: start a real concertd on a free
loopback port (port 0, read back from its first stdout line), talk to it with
http.client, stop it with SIGTERM and check that it exited cleanly.

Run: python3 -m pytest -q tests/http --concertd build/bin/concertd
     (or CONCERTD=build/bin/concertd python3 -m pytest -q tests/http)
"""
import json
import os
import subprocess
import tempfile
import uuid

import pytest

from harness import ADMIN_KEY, Server, make_catalog, real_now_ms

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_addoption(parser):
    parser.addoption("--concertd", default=os.environ.get("CONCERTD"),
                     help="path of the concertd binary (or set CONCERTD)")
    parser.addoption("--concertd-test", default=os.environ.get("CONCERTD_TEST"),
                     help="path of concertd-test, the tests build with an injected clock "
                          "(or set CONCERTD_TEST): tests that move time need it")
    parser.addoption("--routes-dump", default=os.environ.get("CONCERTD_ROUTES"),
                     help="path of the concertd_routes tool (or set CONCERTD_ROUTES)")
    parser.addoption("--pg-conninfo-file",
                     default=os.environ.get("CONCERT_TEST_PG_CONNINFO_FILE"),
                     help="conninfo file of a test PostgreSQL server (tests/pg/start.sh): "
                          "adds PostgreSQL to the stores every contract test runs on")


def pytest_generate_tests(metafunc):
    """Every test that takes `store` runs once per store: the embedded ones
    always, PostgreSQL when a test server is given."""
    if "store" in metafunc.fixturenames:
        stores = ["memory", "sqlite"]
        if metafunc.config.getoption("--pg-conninfo-file"):
            stores.append("postgres")
        metafunc.parametrize("store", stores)


@pytest.fixture(scope="session")
def pg_server(request):
    """The test PostgreSQL server: {"conninfo", "bindir", "ctl"}; skips when
    none was given (the ctest entry http_postgres gives one)."""
    path = request.config.getoption("--pg-conninfo-file")
    if not path:
        pytest.skip("no PostgreSQL test server (--pg-conninfo-file); ctest runs this "
                    "as http_postgres")
    with open(path, encoding="utf-8") as f:
        conninfo = f.read().strip()
    with open(path + ".server", encoding="utf-8") as f:
        state = dict(line.strip().split("=", 1) for line in f if "=" in line)
    ctl = os.path.join(HERE, "..", "pg", "ctl.sh")
    return {"conninfo": conninfo, "bindir": state["bindir"], "ctl": [ctl, path]}


def fresh_pg_database(pg, name):
    """Create database name on the test server; return its conninfo."""
    subprocess.run([os.path.join(pg["bindir"], "psql"), pg["conninfo"], "-v", "ON_ERROR_STOP=1",
                    "-q", "-c", f"CREATE DATABASE {name}"], check=True, timeout=60,
                   capture_output=True)
    return f"{pg['conninfo']} dbname={name}"


@pytest.fixture(scope="session")
def concertd_path(request):
    path = request.config.getoption("--concertd")
    if not path:
        pytest.fail("give the concertd binary with --concertd PATH or CONCERTD=PATH")
    assert os.access(path, os.X_OK), f"{path} is not an executable"
    return os.path.abspath(path)  # servers run in a temporary directory


@pytest.fixture(scope="session")
def concertd_test_path(request):
    """concertd-test (examples/server/CMakeLists.txt): concertd plus the clock
    file of CONCERTD_TEST_CLOCK. The ctest entries always give it."""
    path = request.config.getoption("--concertd-test")
    if not path:
        pytest.skip("this test moves concertd's clock: give --concertd-test PATH "
                    "(or CONCERTD_TEST=PATH); ctest does")
    assert os.access(path, os.X_OK), f"{path} is not an executable"
    return os.path.abspath(path)


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="concertd-test-") as d:
        yield d


@pytest.fixture
def admin_key_file(workdir):
    """A file holding ADMIN_KEY, for --admin-key-file."""
    path = os.path.join(workdir, "admin.key")
    with open(path, "w", encoding="utf-8") as f:
        f.write(ADMIN_KEY + "\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def start_server(concertd_path, workdir, request):
    """start_server(store="memory", catalog=<dict or None>, args=[...],
    clock=False) -> Server.
    store is "memory", "sqlite" (a fresh file in a temp dir) or "postgres"
    (a fresh database on the test server). clock=True starts concertd-test
    with its clock stopped at the real time now: the test moves it with
    server.advance(ms). Every server is stopped with SIGTERM at the end and
    must exit with status 0."""
    started = []

    def start(store="memory", catalog="default", args=(), clock=False):
        if store == "memory":
            uri = "memory:"
        elif store == "sqlite":
            uri = "sqlite:" + os.path.join(workdir, f"store-{len(started)}.db")
        elif store == "postgres":
            pg = request.getfixturevalue("pg_server")
            uri = fresh_pg_database(pg, "http_" + uuid.uuid4().hex[:16])
        else:
            uri = store
        argv = ["--store", uri]
        if catalog is not None:
            data = make_catalog() if catalog == "default" else catalog
            path = os.path.join(workdir, f"catalog-{len(started)}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f)
            argv += ["--import", path]
        if clock:
            binary = request.getfixturevalue("concertd_test_path")
            server = Server(binary, argv + list(args), workdir, clock_ms=real_now_ms())
        else:
            server = Server(concertd_path, argv + list(args), workdir)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.returncode is None:
            code = server.stop()
            assert code == 0, f"concertd exited with {code}: {server.log()[-2000:]}"


@pytest.fixture
def server(start_server, store):
    """A concertd with the test catalog on each store, default limits."""
    return start_server(store)
