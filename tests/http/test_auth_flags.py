"""Starting concertd with --auth: what it refuses and why (exit 2 for flags
that do not fit together or an unsafe address, 1 for unusable key files)."""
import os
import subprocess

import pytest

from harness import Server
from identity import JWT_SECRET, SERVICE_KEY, write_file


def run(concertd_path, *args):
    return subprocess.run([concertd_path, "--store", "memory:", *args], capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "203.0.113.1:0"])
def test_auth_none_is_refused_off_loopback(concertd_path, listen):
    for args in ([], ["--auth", "none"]):
        r = run(concertd_path, "--listen", listen, *args)
        assert r.returncode == 2, r
        assert "refusing to serve --auth none" in r.stderr, r.stderr
        assert "--insecure-demo" in r.stderr and "any user" in r.stderr, r.stderr
        assert "listening" not in r.stdout


def test_insecure_demo_lets_it_start_and_warns(concertd_path, workdir):
    server = Server(concertd_path, ["--store", "memory:", "--listen", "0.0.0.0:0",
                                    "--insecure-demo"], workdir)
    try:
        assert server.call("GET", "/healthz").status == 200
        assert "--insecure-demo" in server.wait_log("WARNING")
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "127.8.9.10:0", "[::1]:0", "localhost:0"])
def test_auth_none_on_loopback_is_the_default(concertd_path, workdir, listen):
    try:
        server = Server(concertd_path, ["--store", "memory:", "--listen", listen], workdir)
    except AssertionError as e:
        if "cannot listen" in str(e) or "cannot resolve" in str(e):
            pytest.skip(f"{listen} is not usable on this machine")
        raise
    server.host = server.host.strip("[]")  # http.client wants a bare IPv6 address
    try:
        assert server.call("GET", "/healthz").status == 200
        assert "--auth none" in server.wait_log("--auth none")
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("args, complaint", [
    (["--auth", "basic"], "--auth: expected none, jwt or header"),
    (["--auth", "jwt"], "--auth jwt needs --jwt-secret-file"),
    (["--auth", "header"], "--auth header needs --auth-header"),
    (["--auth", "header", "--auth-header", "Authorization"], "--auth-header"),
    (["--auth", "header", "--auth-header", "X-User-Token"], "--auth-header"),
    (["--auth", "header", "--auth-header", "X User"], "--auth-header"),
    (["--auth", "header", "--auth-header="], "--auth-header: the value must not be empty"),
    (["--jwt-secret-file", "x"], "--jwt-secret-file is only for --auth jwt"),
    (["--auth-header", "X-User-Id"], "--auth-header is only for --auth header"),
    (["--service-key-file", "x"], "need --auth jwt or --auth header"),
    (["--allow-self-charge"], "need --auth jwt or --auth header"),
    (["--auth", "header", "--auth-header", "X-User-Id", "--insecure-demo"],
     "--insecure-demo is only for --auth none"),
    (["--allow-self-charge=yes"], "--allow-self-charge takes no value"),
])
def test_auth_flags_that_do_not_fit_exit_2(concertd_path, args, complaint):
    r = run(concertd_path, "--listen", "127.0.0.1:0", *args)
    assert r.returncode == 2, (args, r)
    assert complaint in r.stderr, r.stderr


@pytest.mark.parametrize("content, complaint", [
    (None, "cannot read"),
    ("", "is empty"),
    ("\n", "is empty"),
    ("short-secret\n", "shorter than 32"),
    ("a secret with spaces in it 0123456789\n", "printable ASCII"),
])
def test_bad_jwt_secret_file_refuses_to_start(concertd_path, workdir, content, complaint):
    path = os.path.join(workdir, "jwt.secret")
    if content is not None:
        write_file(workdir, "jwt.secret", content)
    r = run(concertd_path, "--listen", "127.0.0.1:0", "--auth", "jwt", "--jwt-secret-file", path)
    assert r.returncode == 1, r
    assert "--jwt-secret-file" in r.stderr and complaint in r.stderr, r.stderr
    assert "listening" not in r.stdout


def test_bad_service_key_file_refuses_to_start(concertd_path, workdir):
    secret = write_file(workdir, "jwt.secret", JWT_SECRET)
    key = write_file(workdir, "service.key", "")
    r = run(concertd_path, "--listen", "127.0.0.1:0", "--auth", "jwt", "--jwt-secret-file",
            secret, "--service-key-file", key)
    assert r.returncode == 1, r
    assert "--service-key-file" in r.stderr and "is empty" in r.stderr, r.stderr


def test_jwt_and_header_modes_start_anywhere(concertd_path, workdir):
    """Authenticated modes may listen off loopback (a gateway in front)."""
    secret = write_file(workdir, "jwt.secret", JWT_SECRET + "\n")
    key = write_file(workdir, "service.key", SERVICE_KEY + "\n")
    for args in (["--auth", "jwt", "--jwt-secret-file", secret, "--service-key-file", key],
                 ["--auth", "header", "--auth-header", "X-User-Id"]):
        server = Server(concertd_path, ["--store", "memory:", "--listen", "0.0.0.0:0", *args],
                        workdir)
        try:
            assert server.call("GET", "/healthz").status == 200
        finally:
            assert server.stop() == 0


def test_help_explains_the_modes(concertd_path):
    r = subprocess.run([concertd_path, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    assert "--auth MODE" in r.stdout and "(default none)" in r.stdout
    assert "MUST strip" in r.stdout
    assert "X-User-Token" in r.stdout and "X-Service-Key" in r.stdout
