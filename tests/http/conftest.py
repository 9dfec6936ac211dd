"""Fixtures for the HTTP contract tests: start a real concertd on a free
loopback port (port 0, read back from its first stdout line), talk to it with
http.client, stop it with SIGTERM and check that it exited cleanly.

Run: python3 -m pytest -q tests/http --concertd build/bin/concertd
     (or CONCERTD=build/bin/concertd python3 -m pytest -q tests/http)
"""
import json
import os
import tempfile

import pytest

from harness import Server, make_catalog


def pytest_addoption(parser):
    parser.addoption("--concertd", default=os.environ.get("CONCERTD"),
                     help="path of the concertd binary (or set CONCERTD)")
    parser.addoption("--routes-dump", default=os.environ.get("CONCERTD_ROUTES"),
                     help="path of the concertd_routes tool (or set CONCERTD_ROUTES)")


@pytest.fixture(scope="session")
def concertd_path(request):
    path = request.config.getoption("--concertd")
    if not path:
        pytest.fail("give the concertd binary with --concertd PATH or CONCERTD=PATH")
    assert os.access(path, os.X_OK), f"{path} is not an executable"
    return os.path.abspath(path)  # servers run in a temporary directory


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="concertd-test-") as d:
        yield d


@pytest.fixture
def start_server(concertd_path, workdir):
    """start_server(store="memory", catalog=<dict or None>, args=[...]) -> Server.
    store is "memory" or "sqlite" (a fresh file in a temp dir). Every server
    is stopped with SIGTERM at the end and must exit with status 0."""
    started = []

    def start(store="memory", catalog="default", args=()):
        if store == "memory":
            uri = "memory:"
        elif store == "sqlite":
            uri = "sqlite:" + os.path.join(workdir, f"store-{len(started)}.db")
        else:
            uri = store
        argv = ["--store", uri]
        if catalog is not None:
            data = make_catalog() if catalog == "default" else catalog
            path = os.path.join(workdir, f"catalog-{len(started)}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f)
            argv += ["--import", path]
        server = Server(concertd_path, argv + list(args), workdir)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.returncode is None:
            code = server.stop()
            assert code == 0, f"concertd exited with {code}: {server.log()[-2000:]}"


@pytest.fixture(params=["memory", "sqlite"])
def store(request):
    """Run a test once per embedded store."""
    return request.param


@pytest.fixture
def server(start_server, store):
    """A concertd with the test catalog on each store, default limits."""
    return start_server(store)
