"""GET /metrics: the Prometheus text exposition format 0.0.4, read by a
strict parser written here, and counters that match what the test did."""
import collections
import math
import os
import re
import subprocess
import time

import pytest

from harness import FUTURE_SCHEDULE, SEAT_PRICE_R

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_TOKEN = "metrics-token-0123456789abcdef"

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


class FormatError(AssertionError):
    pass


def parse_value(text, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not FLOAT.match(text):
        raise FormatError(f"{where}: bad value {text!r}")
    return float(text)


def parse_labels(text, where):
    """'{a="x",b="y"}' body (without braces) -> list of (name, value)."""
    labels = []
    i = 0
    while i < len(text):
        m = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(text, i)
        if not m:
            raise FormatError(f"{where}: bad label at {text[i:]!r}")
        name = m.group(1)
        if name.startswith("__"):
            raise FormatError(f"{where}: reserved label name {name}")
        i = m.end()
        value = []
        while True:
            if i >= len(text):
                raise FormatError(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", "\"", "n"):
                    raise FormatError(f"{where}: bad escape \\{nxt}")
                value.append({"\\": "\\", "\"": "\"", "n": "\n"}[nxt])
                i += 2
            elif c == "\"":
                i += 1
                break
            elif c == "\n":
                raise FormatError(f"{where}: raw newline in a label value")
            else:
                value.append(c)
                i += 1
        labels.append((name, "".join(value)))
        if i < len(text):
            if text[i] != ",":
                raise FormatError(f"{where}: expected ',' at {text[i:]!r}")
            i += 1
    names = [n for n, _ in labels]
    if len(names) != len(set(names)):
        raise FormatError(f"{where}: a label given twice")
    return labels


def parse_exposition(text):
    """Parse strictly; return {family: {"type", "help", "samples": [(name,
    labels dict, value)]}}. Raises FormatError on anything the format
    does not allow (or that we never emit: blank lines, timestamps)."""
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    families = collections.OrderedDict()
    current = None          # the family whose lines we are in
    finished = set()        # families whose group of lines has ended
    series = set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n} {line!r}"
        if line == "":
            raise FormatError(f"{where}: blank line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC_NAME.match(name):
                    raise FormatError(f"{where}: bad metric name")
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if name != current:
                    if name in finished or fam["samples"]:
                        raise FormatError(f"{where}: family {name} is not contiguous")
                    if current is not None:
                        finished.add(current)
                    current = name
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise FormatError(f"{where}: second HELP")
                    help_text = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", help_text.replace("\\\\", "")):
                        raise FormatError(f"{where}: bad escape in HELP")
                    fam["help"] = help_text
                else:
                    if fam["type"] is not None:
                        raise FormatError(f"{where}: second TYPE")
                    if fam["samples"]:
                        raise FormatError(f"{where}: TYPE after samples")
                    if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram",
                                                           "summary", "untyped"):
                        raise FormatError(f"{where}: bad TYPE")
                    fam["type"] = parts[3]
            continue  # any other comment is allowed
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)\Z", line)
        if not m:
            raise FormatError(f"{where}: not a sample line (or it carries a timestamp)")
        name, labels_text, value_text = m.group(1), m.group(3), m.group(4)
        labels = parse_labels(labels_text, where) if labels_text else []
        value = parse_value(value_text, where)
        family = current
        if family is None:
            raise FormatError(f"{where}: sample before any TYPE")
        ftype = families[family]["type"]
        if ftype is None:
            raise FormatError(f"{where}: sample before its family's TYPE")
        allowed = {family}
        if ftype == "histogram":
            allowed = {family + "_bucket", family + "_sum", family + "_count"}
        if name not in allowed:
            raise FormatError(f"{where}: sample {name} outside its family {family}")
        if ftype == "counter" and (value < 0 or math.isnan(value)):
            raise FormatError(f"{where}: negative counter")
        key = (name, tuple(sorted(labels)))
        if key in series:
            raise FormatError(f"{where}: duplicate series")
        series.add(key)
        families[family]["samples"].append((name, dict(labels), value))
    for name, fam in families.items():
        if fam["type"] is None:
            raise FormatError(f"family {name} has no TYPE")
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    groups = collections.defaultdict(lambda: {"buckets": [], "sum": None, "count": None})
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups[rest]
        if sname == name + "_bucket":
            if "le" not in labels:
                raise FormatError(f"{name}: bucket without le")
            g["buckets"].append((parse_value(labels["le"], name), value))
        elif "le" in labels:
            raise FormatError(f"{name}: le outside a bucket")
        elif sname == name + "_sum":
            g["sum"] = value
        else:
            g["count"] = value
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        if les != sorted(les) or len(set(les)) != len(les):
            raise FormatError(f"{name}{rest}: buckets not in increasing le order")
        if not les or les[-1] != math.inf:
            raise FormatError(f"{name}{rest}: no +Inf bucket")
        counts = [c for _, c in g["buckets"]]
        if counts != sorted(counts):
            raise FormatError(f"{name}{rest}: buckets not cumulative")
        if g["count"] is None or g["sum"] is None:
            raise FormatError(f"{name}{rest}: _sum or _count missing")
        if counts[-1] != g["count"]:
            raise FormatError(f"{name}{rest}: +Inf {counts[-1]} != _count {g['count']}")


# ---- the parser refuses what it must (a parser that accepts anything
# would make every test below pass) ----

GOOD = ("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
        "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
        "h_sum 0.5\nh_count 2\n")


@pytest.mark.parametrize("bad", [
    GOOD.replace("a_total{x=\"1\"} 2", "a_total{x=\"1\"} 2\na_total{x=\"1\"} 3"),  # duplicate
    GOOD.replace("# TYPE a_total counter\na_total{x=\"1\"} 2",
                 "a_total{x=\"1\"} 2\n# TYPE a_total counter"),                 # TYPE after
    GOOD.replace("h_bucket{le=\"+Inf\"} 2", "h_bucket{le=\"+Inf\"} 3"),        # +Inf != count
    GOOD.replace("h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2",
                 "h_bucket{le=\"+Inf\"} 2\nh_bucket{le=\"0.1\"} 1"),           # le order
    GOOD.replace("h_bucket{le=\"0.1\"} 1", "h_bucket{le=\"0.1\"} 3"),          # not cumulative
    GOOD.replace("x=\"1\"", "x=\"a\\q\""),                                     # bad escape
    GOOD.replace("x=\"1\"", "1x=\"1\""),                                       # bad label name
    GOOD.replace("a_total{x=\"1\"} 2", "a_total{x=\"1\"} two"),                # bad value
    GOOD.replace("a_total{x=\"1\"} 2", "a-total 2"),                           # bad name
    GOOD.replace("h_sum 0.5\n", ""),                                           # no _sum
    GOOD.replace("a_total{x=\"1\"} 2", "a_total{x=\"1\"} -2"),                 # negative counter
    GOOD[:-1],                                                                 # no final newline
    GOOD + "\n",                                                               # blank line
    GOOD + "a_total{x=\"2\"} 1\n",                                             # not contiguous
])
def test_strict_parser_refuses(bad):
    parse_exposition(GOOD)
    with pytest.raises(FormatError):
        parse_exposition(bad)


# ---- the server ----

class Tally:
    """Requests sent, counted the way the server should count them."""

    def __init__(self, server):
        self.server = server
        self.requests = collections.Counter()

    def call(self, route, method, path, **kw):
        r = self.server.call(method, path, **kw)
        self.requests[(route, method, str(r.status))] += 1
        return r


def scrape(server, token=None):
    """GET /metrics, parsed (the harness's Response expects JSON bodies)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    c = server.connection()
    try:
        c.request("GET", "/metrics", headers=headers)
        r = c.getresponse()
        raw = r.read()
        assert r.status == 200, (r.status, raw)
        assert r.getheader("Content-Type") == CONTENT_TYPE
    finally:
        c.close()
    return parse_exposition(raw.decode("utf-8"))


def value(families, name, **labels):
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    family = families[name] if name in families else families[base]
    for sname, slabels, v in family["samples"]:
        if sname == name and slabels == labels:
            return v
    return None


def request_counts(families):
    return {(l["route"], l["method"], l["code"]): v
            for _, l, v in families["concert_http_requests_total"]["samples"]}


def test_exposition_counts_exactly_what_the_test_did(start_server, store):
    server = start_server(store)
    t = Tally(server)
    for _ in range(3):
        assert t.call("/healthz", "GET", "/healthz").status == 200
    for _ in range(2):
        assert t.call("/api/v1/concerts/{id}", "GET", "/api/v1/concerts/abc").status == 400
    assert t.call("unmatched", "GET", "/no/such/route").status == 404
    assert t.call("unmatched", "DELETE", "/healthz").status == 405
    assert t.call("/healthz", "HEAD", "/healthz").status == 200

    r = t.call("/api/v1/queue/tokens", "POST", "/api/v1/queue/tokens", body={"user_id": 1})
    token = r.json["token"]
    hold = {"schedule_id": FUTURE_SCHEDULE, "seat_number": 1}
    r1 = t.call("/api/v1/reservations", "POST", "/api/v1/reservations", body=hold, token=token)
    assert r1.status == 201, r1
    # The same seat again: the same hold, not a new one.
    again = t.call("/api/v1/reservations", "POST", "/api/v1/reservations", body=hold, token=token)
    assert again.status == 200, again
    r2 = t.call("/api/v1/reservations", "POST", "/api/v1/reservations",
                body={"schedule_id": FUTURE_SCHEDULE, "seat_number": 21}, token=token)
    assert r2.status == 201, r2
    # Released twice: one release.
    for _ in range(2):
        r = t.call("/api/v1/reservations/{id}", "DELETE",
                   f"/api/v1/reservations/{r2.json['id']}", token=token)
        assert r.status == 204, r
    # Paid, then the same Idempotency-Key replayed: one payment.
    pay = {"reservation_id": r1.json["id"]}
    for _ in range(2):
        r = t.call("/api/v1/payments", "POST", "/api/v1/payments", body=pay, token=token,
                   headers={"Idempotency-Key": "pay-1"})
        assert r.status == 201, r
    # Charged with a key (replayed once) and without: 300 + 200 points.
    for _ in range(2):
        r = t.call("/api/v1/users/{id}/points/charge", "POST", "/api/v1/users/2/points/charge",
                   body={"amount": 300}, headers={"Idempotency-Key": "charge-1"})
        assert r.status == 200, r
    r = t.call("/api/v1/users/{id}/points/charge", "POST", "/api/v1/users/2/points/charge",
               body={"amount": 200})
    assert r.status == 200, r

    # Request series are recorded when a request completes, which may be
    # just after the client read the reply: scrape until they are all in.
    deadline = time.monotonic() + 10
    while True:
        families = scrape(server)
        got = request_counts(families)
        got.pop(("/metrics", "GET", "200"), None)  # this loop's own scrapes
        if sum(got.values()) >= sum(t.requests.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got == dict(t.requests)

    # One histogram per route, _count the route's requests; bytes counted.
    families = scrape(server)  # histograms of the same requests, complete by now
    per_route = collections.Counter()
    for (route, _, _), n in t.requests.items():
        per_route[route] += n
    for route, n in per_route.items():
        assert value(families, "concert_http_request_duration_seconds_count", route=route) == n
    assert value(families, "concert_http_response_bytes_total", route="/healthz") == \
        3 * len(b'{"status":"ok"}\n')  # HEAD sends no body

    assert value(families, "concert_holds_made_total") == 2
    assert value(families, "concert_holds_released_total") == 1
    assert value(families, "concert_payments_total") == 1
    assert value(families, "concert_points_paid_total") == SEAT_PRICE_R
    assert value(families, "concert_points_charged_total") == 500
    assert value(families, "concert_holds_expired_total") == 0

    # The queue's gauges (the payment ended the only token) and state.
    assert value(families, "concert_queue_active") == 0
    assert value(families, "concert_queue_waiting") == 0
    assert value(families, "concert_queue_admitted_total") == 1
    assert value(families, "concert_queue_state", state="OPEN") == 1
    assert value(families, "concert_queue_state", state="PAUSED") == 0
    assert families["concert_queue_state"]["type"] == "gauge"
    # Storage: the library's calls were counted, none failed.
    assert value(families, "concert_storage_calls_total") > 10
    assert value(families, "concert_storage_errors_total") == 0
    for name in ("concert_storage_retries_total", "concert_storage_reconnects_total"):
        assert value(families, name) is not None, name
    # The process.
    assert value(families, "process_resident_memory_bytes") > 1 << 20
    assert value(families, "process_open_fds") > 3
    assert abs(value(families, "process_start_time_seconds") - time.time()) < 3600
    assert value(families, "process_cpu_seconds_total") >= 0


def test_scrape_counts_itself_once_completed(start_server):
    server = start_server("memory")
    scrape(server)
    deadline = time.monotonic() + 10
    while True:
        got = request_counts(scrape(server))
        if got.get(("/metrics", "GET", "200"), 0) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got.get(("/metrics", "GET", "200"), 0) >= 1, got


def wait_until_counted(server, expired, timeout_s=10):
    """Poll (bounded) until the hold watcher, a thread that looks at least once
    a second, has counted this many expired holds."""
    deadline = time.monotonic() + timeout_s
    while value(scrape(server), "concert_holds_expired_total") < expired:
        assert time.monotonic() < deadline, f"{expired} expired holds were not counted"
        time.sleep(0.05)


def test_expired_holds_are_counted_once(start_server):
    """Holds made here that ran out unpaid and unreleased: one whose token a
    payment ended (its read fails: counted, nothing here paid it) and one
    read back EXPIRED; a released and a paid hold are not. On concertd-test's
    clock: the watcher decides a hold a second after it ran out by the store's
    clock (hold_watch.c); it looks at least once a second, so the test polls."""
    server = start_server("memory", args=["--hold-ttl", "60"], clock=True)
    a = server.active_token(1)
    paid = server.reserve(a, 1)
    left = server.reserve(a, 2)
    assert paid.status == 201 and left.status == 201
    b = server.active_token(2)
    released = server.reserve(b, 3)
    assert released.status == 201
    assert server.call("DELETE", f"/api/v1/reservations/{released.json['id']}",
                       token=b).status == 204
    c = server.active_token(3)
    assert server.reserve(c, 4).status == 201
    assert server.pay(a, paid.json["id"]).status == 201  # ends token a
    families = scrape(server)
    assert value(families, "concert_holds_made_total") == 4
    assert value(families, "concert_holds_expired_total") == 0
    server.advance(60_000 + 1000)
    wait_until_counted(server, 2)
    # A later hold, decided after every one above (decisions go in hold
    # order): once it is counted the watcher is past them all, and nothing
    # was counted twice.
    d = server.active_token(4)
    assert server.reserve(d, 5).status == 201
    server.advance(60_000 + 1000)
    wait_until_counted(server, 3)
    families = scrape(server)
    assert value(families, "concert_holds_expired_total") == 3
    assert value(families, "concert_holds_released_total") == 1
    assert value(families, "concert_payments_total") == 1


@pytest.fixture
def metrics_token_file(workdir):
    path = os.path.join(workdir, "metrics.token")
    with open(path, "w", encoding="utf-8") as f:
        f.write(METRICS_TOKEN + "\n")
    return path


def test_token_file_guards_metrics(start_server, metrics_token_file):
    server = start_server("memory", args=["--metrics-token-file", metrics_token_file])
    for headers in (None, {"Authorization": "Bearer wrong-token-0123456789abcdef"},
                    {"Authorization": f"Basic {METRICS_TOKEN}"},
                    {"Authorization": f"Bearer {METRICS_TOKEN}x"},
                    {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"}):
        r = server.call("GET", "/metrics", headers=headers)
        assert r.status == 401, (headers, r)
        assert r.header("WWW-Authenticate").startswith("Bearer"), r.headers
        assert r.error_code in ("AUTH_REQUIRED", "AUTH_INVALID")
        assert b"concert_" not in r.raw
    families = scrape(server, token=METRICS_TOKEN)
    assert "concert_http_requests_total" in families
    # Other routes do not care about the metrics token.
    assert server.call("GET", "/healthz").status == 200


@pytest.mark.parametrize("content", [None, "", "\n", "short"])
def test_token_file_must_exist_and_hold_a_token(concertd_path, workdir, content):
    path = os.path.join(workdir, "metrics.token")
    if content is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
    r = subprocess.run([concertd_path, "--store", "memory:", "--listen", "127.0.0.1:0",
                        "--metrics-token-file", path], capture_output=True, text=True,
                       timeout=30, cwd=workdir)
    assert r.returncode != 0
    assert "--metrics-token-file" in r.stderr, r.stderr


def test_no_metrics(start_server, concertd_path, workdir, metrics_token_file):
    server = start_server("memory", args=["--no-metrics"])
    r = server.call("GET", "/metrics")
    assert r.status == 404, r
    assert r.error_code == "NOT_FOUND"
    assert "metrics off" in server.log()
    r = subprocess.run([concertd_path, "--no-metrics", "--metrics-token-file",
                        metrics_token_file], capture_output=True, text=True, timeout=30,
                       cwd=workdir)
    assert r.returncode == 2, r.stderr


def test_invented_methods_count_as_other(start_server):
    server = start_server("memory")
    # Invented methods do not make new series: they count as "other".
    for method in ("BREW", "WHEN"):
        assert server.call(method, "/healthz").status in (400, 405, 501)
    deadline = time.monotonic() + 10
    while True:
        got = request_counts(scrape(server))
        others = sum(v for (_, m, _), v in got.items() if m == "other")
        if others >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert others == 2, got
    assert {m for (_, m, _) in got} <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS", "other"}


def test_seat_listing_counted_by_pattern(server):
    token = server.active_token(5)
    for _ in range(4):
        assert server.call("GET", f"/api/v1/schedules/{FUTURE_SCHEDULE}/seats",
                           token=token).status == 200
    deadline = time.monotonic() + 10
    while True:
        got = request_counts(scrape(server))
        n = got.get(("/api/v1/schedules/{id}/seats", "GET", "200"), 0)
        if n >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert n == 4, got
    assert not any("/10/" in route for route, _, _ in got), got
