"""The access log (--log-format text|json|off) and X-Request-Id."""
import json
import re
import subprocess
import time

import pytest

from harness import FUTURE_SCHEDULE

JSON_KEYS = {"ts", "method", "route", "path", "status", "duration_ms", "bytes", "request_id"}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def request_lines(server, count, fmt):
    """The first count request lines once they are all written (a line is
    written when its request completes, just after the client read it)."""
    deadline = time.monotonic() + 10
    while True:
        lines = server.log().splitlines()
        if fmt == "json":
            lines = [l for l in lines if l.startswith("{")]
        else:
            lines = [l for l in lines if re.match(r"^\d{4}-", l)]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_json_lines_parse_with_stable_keys(start_server):
    server = start_server("memory", args=["--log-format", "json"])
    token = server.active_token(1)
    r = server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats", token=token,
                    headers={"X-Request-Id": "client-id.1_x"})
    assert r.status == 200
    assert r.header("X-Request-Id") == "client-id.1_x"
    server.call("GET", "/no/such\"route\\")
    lines = request_lines(server, 3, "json")
    assert len(lines) == 3, server.log()
    entries = [json.loads(l) for l in lines]  # every line one object
    for e in entries:
        assert JSON_KEYS <= set(e), e
        assert set(e) - JSON_KEYS <= {"closed_early", "detail"}, e
        assert TS.match(e["ts"]), e
        assert isinstance(e["status"], int) and isinstance(e["bytes"], int)
        assert isinstance(e["duration_ms"], (int, float)) and e["duration_ms"] >= 0
    seats = next(e for e in entries if e["path"].endswith("/seats"))
    assert seats["route"] == "/api/v1/schedules/{id}/seats"
    assert seats["path"] == f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats"
    assert seats["method"] == "GET" and seats["status"] == 200
    assert seats["bytes"] == len(r.raw)
    assert seats["request_id"] == "client-id.1_x"
    missing = next(e for e in entries if e["status"] == 404)
    assert missing["route"] == "unmatched"
    assert missing["path"] == "/no/such\"route\\"
    assert GENERATED_ID.match(missing["request_id"]), missing


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_query_string_never_logged(start_server, fmt):
    server = start_server("memory", args=["--log-format", fmt])
    r = server.call("GET", "/api/v1/queue?token=SECRET-TOKEN-VALUE&user_token=SECRET2")
    assert r.status == 200
    server.call("GET", "/healthz?token=SECRET-TOKEN-VALUE")
    lines = request_lines(server, 2, fmt)
    assert len(lines) == 2, server.log()
    log = server.log()
    assert "SECRET" not in log and "token=" not in log, log
    assert any("/api/v1/queue" in l for l in lines)


@pytest.mark.parametrize("given", [
    None, "", "a" * 65, "has space", "semi;colon", "new\u00e9", "tab\tx", "quote\"x"])
def test_request_id_generated_when_absent_or_unsafe(start_server, given):
    server = start_server("memory", args=["--log-format", "json"])
    headers = {} if given is None else {"X-Request-Id": given.encode("utf-8").decode("latin-1")}
    r = server.call("GET", "/healthz", headers=headers)
    assert r.status == 200
    rid = r.header("X-Request-Id")
    assert GENERATED_ID.match(rid), rid
    lines = request_lines(server, 1, "json")
    assert json.loads(lines[0])["request_id"] == rid


def test_request_id_kept_echoed_on_errors_and_304(start_server):
    server = start_server("memory")
    longest = "A-z0._9" * 9 + "x"  # 64 characters
    assert len(longest) == 64
    r = server.call("GET", "/healthz", headers={"X-Request-Id": longest})
    assert r.header("X-Request-Id") == longest
    r = server.call("GET", "/api/v1/concerts/abc", headers={"X-Request-Id": "err-1"})
    assert r.status == 400 and r.header("X-Request-Id") == "err-1"
    r = server.call("GET", "/api/v1/concerts/1", headers={"X-Request-Id": "err-2"})
    assert r.status == 401 and r.header("X-Request-Id") == "err-2"
    token = server.active_token(1)
    path = f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats"
    first = server.call("GET", path, token=token)
    etag = first.header("ETag")
    r = server.call("GET", path, token=token,
                    headers={"If-None-Match": etag, "X-Request-Id": "cached-1"})
    assert r.status == 304 and r.header("X-Request-Id") == "cached-1"
    # Two requests without one get two different ids.
    a = server.call("GET", "/healthz").header("X-Request-Id")
    b = server.call("GET", "/healthz").header("X-Request-Id")
    assert GENERATED_ID.match(a) and GENERATED_ID.match(b) and a != b
    log = server.wait_log("id=cached-1")
    assert re.search(r" GET /api/v1/schedules/10/seats 304 \d+\.\d{3}ms "
                     r"route=/api/v1/schedules/\{id\}/seats bytes=0 id=cached-1$", log, re.M), log


def test_log_format_off_writes_no_request_lines(start_server):
    server = start_server("memory", args=["--log-format", "off"])
    for _ in range(3):
        assert server.call("GET", "/healthz").status == 200
    # A line after them proves the log was flushed up to here: stop.
    server.stop()
    log = server.log()
    assert "/healthz" not in log, log
    assert "concertd: stopped" in log


@pytest.mark.parametrize("value", ["xml", "", "JSON", "text,json"])
def test_bad_log_format_refused(concertd_path, workdir, value):
    r = subprocess.run([concertd_path, "--log-format", value], capture_output=True, text=True,
                       timeout=30, cwd=workdir)
    assert r.returncode == 2, r
    assert "--log-format" in r.stderr, r.stderr
