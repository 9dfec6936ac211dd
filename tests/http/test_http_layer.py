"""What the server adds around the C API: routing, 404/405, bad bodies,
body limits, keep-alive, health, logging, clean shutdown."""
import json
import re
import signal
import socket
import threading
import time

from harness import FUTURE_SCHEDULE, assert_error

LIMIT = 64 * 1024


def test_unknown_routes_are_404(server):
    # "/" is the web app (test_static.py).
    for path in ("/nope", "/api/v1", "/api/v1/concerts/1/seats", "/api/v1/concerts/",
                 "/api/v2/concerts", "/healthz/", "/api/v1/users/1/points/other",
                 "/api/v1/queue/tokens/current/extra"):
        assert_error(server.call("GET", path), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow(server):
    cases = {
        ("PUT", "/api/v1/concerts"): {"GET", "HEAD"},
        ("POST", "/api/v1/concerts/1"): {"GET", "HEAD"},
        ("GET", "/api/v1/queue/tokens"): {"POST"},
        ("PATCH", "/api/v1/queue/tokens/current"): {"GET", "HEAD", "DELETE"},
        ("DELETE", "/api/v1/reservations"): {"POST"},
        ("GET", "/api/v1/payments"): {"POST"},
        ("GET", "/api/v1/users/1/points/charge"): {"POST"},
        ("POST", "/healthz"): {"GET", "HEAD"},
        ("DELETE", "/openapi.json"): {"GET", "HEAD"},
        ("OPTIONS", "/api/v1/schedules/1/seats"): {"GET", "HEAD"},
    }
    for (method, path), allowed in cases.items():
        r = server.call(method, path)
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        allow = r.header("Allow")
        assert allow is not None, (method, path)
        assert {m.strip() for m in allow.split(",")} == allowed, (method, path, allow)


def test_head_is_get_without_a_body(server):
    r = server.call("HEAD", "/healthz")
    assert r.status == 200
    assert r.raw == b""


def test_non_numeric_path_ids_are_400(server):
    token = server.active_token(1)
    for path in ("/api/v1/concerts/abc", "/api/v1/concerts/-1", "/api/v1/concerts/1.5",
                 "/api/v1/concerts/%201", "/api/v1/concerts/99999999999999999999999",
                 "/api/v1/concerts/0x10/schedules", "/api/v1/schedules/x/seats",
                 "/api/v1/reservations/1e3"):
        assert_error(server.call("GET", path, token=token), 400, "MALFORMED_REQUEST")
    for path in ("/api/v1/users/abc/points", "/api/v1/users/%27%20OR%201=1--/points/history"):
        assert_error(server.call("GET", path), 400, "MALFORMED_REQUEST")
    assert_error(server.call("POST", "/api/v1/users/one/points/charge", {"amount": 1}),
                 400, "MALFORMED_REQUEST")


def test_malformed_bodies_are_400_and_change_nothing(server):
    bad_bodies = [
        b"", b"not json", b"{", b"[]", b"null", b"42", b'"user_id"',
        b'{"user_id": "1"}', b'{"user_id": 1.5}', b'{"user_id": 1e2}', b'{"user_id": null}',
        b'{"user_id": true}', b'{"user_id": [1]}', b'{"user_id": {"id": 1}}', b'{"userid": 1}',
        b'{"user_id": 1} {"user_id": 2}', b'{"user_id": 1,}', b'{"user_id": 01}',
        b'{"user_id": 99999999999999999999999}', b'{"user_id": -99999999999999999999999}',
        b'{"user_id": 1, "x": "\xff\xfe"}', b'{"user_id": 1, "x": "\x00"}',
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b"[" * 60000,
    ]
    for body in bad_bodies:
        r = server.call("POST", "/api/v1/queue/tokens", raw=body,
                        headers={"Content-Type": "application/json"})
        assert_error(r, 400, "MALFORMED_REQUEST")
    token = server.active_token(1)
    for body in [{"schedule_id": FUTURE_SCHEDULE}, {"seat_number": 1},
                 {"schedule_id": str(FUTURE_SCHEDULE), "seat_number": 1},
                 {"schedule_id": FUTURE_SCHEDULE, "seat_number": "1; DROP TABLE seats"}]:
        r = server.call("POST", "/api/v1/reservations", body, token=token)
        assert_error(r, 400, "MALFORMED_REQUEST")
    for body in [{}, {"reservation_id": "1"}, {"reservation_id": None}]:
        assert_error(server.call("POST", "/api/v1/payments", body, token=token),
                     400, "MALFORMED_REQUEST")
    for body in [{}, {"amount": "100"}, {"amount": 10.5}]:
        assert_error(server.call("POST", "/api/v1/users/1/points/charge", body),
                     400, "MALFORMED_REQUEST")
    # Nothing was created by any of it.
    seats = server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats", token=token)
    assert len(seats.json["seats"]) == 40
    history = server.call("GET", "/api/v1/users/1/points/history").json["entries"]
    assert len(history) == 1


def test_unknown_members_are_ignored(server):
    r = server.call("POST", "/api/v1/queue/tokens", {"user_id": 4, "note": "x" * 100})
    assert r.status == 201, r


def test_bodies_over_64_kib_are_413(server):
    at_limit = b'{"user_id": 5' + b" " * (LIMIT - 15) + b"}"
    assert len(at_limit) == LIMIT - 1
    assert server.call("POST", "/api/v1/queue/tokens", raw=at_limit).status == 201
    exactly = b'{"user_id": 6' + b" " * (LIMIT - 14) + b"}"
    assert len(exactly) == LIMIT
    assert server.call("POST", "/api/v1/queue/tokens", raw=exactly).status == 201

    over = b'{"user_id": 7' + b" " * (LIMIT - 13) + b"}"
    assert len(over) == LIMIT + 1
    assert_error(server.call("POST", "/api/v1/queue/tokens", raw=over), 413,
                 "PAYLOAD_TOO_LARGE")
    huge = b"x" * (1024 * 1024)
    assert_error(server.call("POST", "/api/v1/users/1/points/charge", raw=huge), 413,
                 "PAYLOAD_TOO_LARGE")
    # Without a Content-Length (chunked), the limit still holds.
    conn = server.connection()
    try:
        conn.putrequest("POST", "/api/v1/queue/tokens")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Content-Type", "application/json")
        conn.endheaders()
        chunk = b" " * 8192
        for _ in range(10):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 413
        assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    finally:
        conn.close()
    # User 7 never got a token.
    assert server.call("POST", "/api/v1/queue/tokens", {"user_id": 7}).status == 201


def test_keep_alive_reuses_one_connection(server):
    conn = server.connection()
    try:
        conn.connect()
        sock = conn.sock
        local = sock.getsockname()
        token = None
        for i in range(5):
            r = server.call("POST", "/api/v1/queue/tokens", {"user_id": 1}, conn=conn)
            assert r.status in (200, 201)
            token = r.json["token"]
            # Errors too must keep the connection open.
            assert server.call("GET", "/nope", conn=conn).status == 404
            assert server.call("PUT", "/healthz", conn=conn).status == 405
            assert server.call("POST", "/api/v1/queue/tokens", raw=b"{", conn=conn).status == 400
            assert server.call("GET", "/api/v1/concerts", token=token, conn=conn).status == 200
            assert conn.sock is sock, f"connection was reopened at round {i}"
            assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_healthz(server):
    r = server.call("GET", "/healthz")
    assert r.status == 200, r
    assert r.json == {"status": "ok"}
    assert r.header("Content-Type") == "application/json"


def test_one_log_line_per_request(server):
    server.call("GET", "/healthz")
    server.call("GET", "/api/v1/concerts/abc")
    server.call("DELETE", "/healthz")
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        lines = [l for l in server.log().splitlines() if " /healthz " in l or "/concerts/abc" in l]
        if len(lines) >= 3:
            break
        time.sleep(0.05)
    assert len(lines) == 3, server.log()
    # time, method, path, status, duration, route, bytes, request id;
    # workers may log in any order.
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (\S+) (\S+) (\d{3}) "
                         r"\d+\.\d{3}ms route=\S+ bytes=\d+ id=[0-9a-f]{32}$")
    seen = set()
    for line in lines:
        m = pattern.match(line)
        assert m, line
        seen.add((m.group(2), m.group(3), m.group(4)))
    assert seen == {("GET", "/healthz", "200"), ("GET", "/api/v1/concerts/abc", "400"),
                    ("DELETE", "/healthz", "405")}


def test_log_lines_cannot_be_forged(server):
    server.call("GET", "/x%0a2026-01-01T00:00:00Z%20GET%20/forged%20200%200.001ms")
    log = server.wait_log("/forged")
    assert "GET /x?2026-01-01T00:00:00Z GET /forged 200 0.001ms 404 " in log, log
    assert not any(l.startswith("2026-01-01T00:00:00Z") for l in log.splitlines())


def test_silent_client_does_not_block_others(server):
    # A client that connects and sends half a request holds one connection,
    # not the server.
    idle = socket.create_connection((server.host, server.port), timeout=5)
    try:
        idle.sendall(b"POST /api/v1/queue/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{")
        for _ in range(20):
            assert server.call("GET", "/healthz").status == 200
    finally:
        idle.close()


def test_sigterm_finishes_requests_in_progress(start_server, store):
    server = start_server(store)
    # A request whose body is still arriving when SIGTERM comes.
    sock = socket.create_connection((server.host, server.port), timeout=10)
    body = json.dumps({"user_id": 1}).encode()
    sock.sendall(b"POST /api/v1/queue/tokens HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                 + body[:5])
    time.sleep(0.2)  # for the server to read the head (nothing shows it)
    server.proc.send_signal(signal.SIGTERM)
    server.wait_log("SIGTERM received")  # the server is stopping now
    sock.sendall(body[5:])
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 201"), reply
    assert server.stop() == 0
    assert "finishing requests in progress" in server.log()
    # New connections are refused once stopped.
    try:
        socket.create_connection((server.host, server.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    assert refused


def read_http_reply(sock):
    reply = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return reply
        reply += chunk
        head, sep, body = reply.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            if m and len(body) >= int(m.group(1)):
                return reply


def test_huge_or_expected_bodies_are_refused_before_they_are_sent(server):
    for extra in (b"", b"Expect: 100-continue\r\n"):
        sock = socket.create_connection((server.host, server.port), timeout=10)
        try:
            sock.sendall(b"POST /api/v1/queue/tokens HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n" + extra +
                         b"Content-Length: " + (b"5000000" if not extra else b"70000") +
                         b"\r\n\r\n")
            reply = read_http_reply(sock)
        finally:
            sock.close()
        assert reply.startswith(b"HTTP/1.1 413"), reply
        assert b'"PAYLOAD_TOO_LARGE"' in reply


def raw_exchange(server, data):
    sock = socket.create_connection((server.host, server.port), timeout=10)
    try:
        sock.sendall(data)
        return read_http_reply(sock)
    finally:
        sock.close()


def test_oversized_headers_and_garbage_are_refused_and_the_server_lives_on(server):
    # Header and URL limits are libmicrohttpd's (32 KiB per connection): it
    # answers them itself, before concertd sees the request, with an HTML body.
    reply = raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " +
                         b"a" * 40000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431"), reply[:100]
    reply = raw_exchange(server, b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 414"), reply[:100]
    reply = raw_exchange(server, b"GARBAGE\r\n\r\n")
    assert not reply.startswith(b"HTTP/1.1 2"), reply[:100]
    # A long token is just an invalid token.
    r = server.call("GET", "/api/v1/concerts", token="a" * 20000)
    assert_error(r, 401, "TOKEN_INVALID")
    # Invalid UTF-8 in the path is a bad id, and the log line stays printable.
    reply = raw_exchange(server, b"GET /api/v1/concerts/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
    assert "GET /api/v1/concerts/?? 400" in server.wait_log("/api/v1/concerts/??")
    # HTTP/1.0 without Host works and closes.
    reply = raw_exchange(server, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and b'{"status":"ok"}' in reply, reply
    assert server.call("GET", "/healthz").status == 200
