"""Helpers for the HTTP contract tests: the test catalog and its ids, a
running concertd (Server) and its responses. The fixtures are in conftest.py.
"""
import datetime
import http.client
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from concertd_proc import ConcertdProcess  # noqa: E402  (one way to start concertd)

STARTUP_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15
# concertd-test reads its clock from the file this names (examples/server/
# test_clock.h); the shipped concertd ignores it.
TEST_CLOCK_ENV = "CONCERTD_TEST_CLOCK"


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    """RFC 3339 UTC as the server writes it ("...Z", optional .mmm)."""
    assert text.endswith("Z"), text
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in text else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)


# Ids the tests rely on; the catalog below is the only data in the store.
OPEN_CONCERT = 1
FUTURE_SCHEDULE = 10        # OPEN concert, starts in 30 days: bookable
PAST_SCHEDULE = 11          # OPEN concert, started 2 days ago: booking closed
PENDING_CONCERT = 2
PENDING_SCHEDULE = 20
CLOSED_CONCERT = 3
ALL_PAST_CONCERT = 4        # OPEN, but its only schedule is over
ALL_PAST_SCHEDULE = 40
EMPTY_CONCERT = 5           # OPEN, no schedules at all
RICH_USERS = list(range(1, 21))  # 100,000 points each
POOR_USER = 21                   # 0 points
MISSING_USER = 999
SEAT_PRICE_R = 1000         # seats 1..20
SEAT_PRICE_S = 500          # seats 21..40
RICH_POINTS = 100000
# The admin key the admin_key_file fixture writes (with a trailing newline,
# as `echo` would, which the server must strip).
ADMIN_KEY = "test-admin-key-0123456789abcdef"


def make_catalog():
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    future = rfc3339(now + datetime.timedelta(days=30))
    past = rfc3339(now - datetime.timedelta(days=2))
    seats = [{"from": 1, "to": 20, "grade": "R", "price": SEAT_PRICE_R},
             {"from": 21, "to": 40, "grade": "S", "price": SEAT_PRICE_S}]
    users = [{"id": u, "name": f"user{u}", "points": RICH_POINTS} for u in RICH_USERS]
    users.append({"id": POOR_USER, "name": "Poor", "points": 0})
    return {
        "users": users,
        "concerts": [
            {"id": OPEN_CONCERT, "title": "Open \"Air\" Night \u2605", "status": "OPEN",
             "schedules": [{"id": FUTURE_SCHEDULE, "starts_at": future, "seats": seats},
                           {"id": PAST_SCHEDULE, "starts_at": past, "seats": seats}]},
            {"id": PENDING_CONCERT, "title": "Soon", "status": "PENDING",
             "schedules": [{"id": PENDING_SCHEDULE, "starts_at": future, "seats": seats}]},
            {"id": CLOSED_CONCERT, "title": "Gone", "status": "CLOSED",
             "schedules": [{"id": 30, "starts_at": future, "seats": seats}]},
            {"id": ALL_PAST_CONCERT, "title": "Over", "status": "OPEN",
             "schedules": [{"id": ALL_PAST_SCHEDULE, "starts_at": past, "seats": seats}]},
            {"id": EMPTY_CONCERT, "title": "Unscheduled", "status": "OPEN", "schedules": []},
        ],
    }


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.json = None
        # Every body is JSON but /metrics (text/plain, the Prometheus format).
        if raw and not (self.header("Content-Type") or "").startswith("text/plain"):
            self.json = json.loads(raw.decode("utf-8"))

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def error_code(self):
        assert isinstance(self.json, dict) and "error" in self.json, self.raw
        return self.json["error"]["code"]

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


def real_now_ms():
    return time.time_ns() // 1_000_000


class Server(ConcertdProcess):
    """One running concertd (tests/support/concertd_proc.py starts it). With
    clock_ms (concertd-test only), its clock is a file holding that time,
    which advance() moves: nothing else moves it."""

    def __init__(self, binary, args, workdir, clock_ms=None):
        self.clock_path = None
        self.clock_ms = None
        env = dict(os.environ)
        env.pop(TEST_CLOCK_ENV, None)
        if clock_ms is not None:
            self.clock_path = os.path.join(workdir, f"clock-{time.monotonic_ns()}.ms")
            self.set_clock(clock_ms)
            env[TEST_CLOCK_ENV] = self.clock_path
        super().__init__([binary] + list(args), workdir, env=env,
                         startup_timeout=STARTUP_TIMEOUT_S)

    def set_clock(self, ms):
        """Set the server's clock to ms since the epoch. The file is replaced
        whole (rename), so the server never reads half a time."""
        assert self.clock_path is not None, "start the server with clock=True (concertd-test)"
        tmp = self.clock_path + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{int(ms)}\n")
        os.replace(tmp, self.clock_path)
        self.clock_ms = int(ms)

    def advance(self, ms):
        """Move the server's clock by ms (negative: back) and return the new
        time; the next clock read in the server sees it."""
        self.set_clock(self.clock_ms + int(ms))
        return self.clock_ms

    def now(self):
        """The server's clock as a UTC datetime."""
        return datetime.datetime.fromtimestamp(self.clock_ms / 1000, datetime.timezone.utc)

    def connection(self, timeout=10):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, method, path, body=None, token=None, headers=None, raw=None, conn=None):
        """One request. body is JSON-encoded; raw is sent as-is (bytes)."""
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            payload = r.read()
            return Response(r.status, r.getheaders(), payload)
        finally:
            if own:
                c.close()

    # Shortcuts for the booking flow.
    def issue(self, user_id):
        r = self.call("POST", "/api/v1/queue/tokens", {"user_id": user_id})
        assert r.status in (200, 201), r
        return r.json

    def active_token(self, user_id):
        t = self.issue(user_id)
        assert t["status"] == "ACTIVE", t
        return t["token"]

    def reserve(self, token, seat, schedule=FUTURE_SCHEDULE):
        return self.call("POST", "/api/v1/reservations",
                         {"schedule_id": schedule, "seat_number": seat}, token=token)

    def pay(self, token, reservation_id, key=None):
        headers = {"Idempotency-Key": key} if key is not None else None
        return self.call("POST", "/api/v1/payments", {"reservation_id": reservation_id},
                         token=token, headers=headers)

    def stop(self, sig=signal.SIGTERM):
        try:
            return super().stop(sig, STOP_TIMEOUT_S)
        except TimeoutError as e:
            raise AssertionError(str(e)) from None


def assert_error(response, status, code):
    assert response.status == status, response
    assert response.header("Content-Type") == "application/json", response.headers
    assert set(response.json) == {"error"}, response.json
    assert set(response.json["error"]) == {"code", "message"}, response.json
    assert response.json["error"]["code"] == code, response.json
    assert isinstance(response.json["error"]["message"], str)
    assert response.json["error"]["message"], "an error message must not be empty"
