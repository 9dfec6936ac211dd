"""The OpenAPI document: served as kept in the repository, and in step with
the routes the server really has."""
import json
import os
import re
import subprocess

import pytest

from harness import ADMIN_KEY, assert_error

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_DOC = os.path.join(HERE, "..", "..", "examples", "server", "openapi.json")
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}

# The routes issues 4, 10 and 13 list; the document and the server must both match it.
CONTRACT = {
    ("POST", "/api/v1/queue/tokens"),
    ("GET", "/api/v1/queue/tokens/current"),
    ("DELETE", "/api/v1/queue/tokens/current"),
    ("GET", "/api/v1/queue"),
    ("GET", "/api/v1/admin/queue"),
    ("PUT", "/api/v1/admin/queue"),
    ("POST", "/api/v1/admin/queue/pause"),
    ("POST", "/api/v1/admin/queue/resume"),
    ("POST", "/api/v1/admin/queue/close"),
    ("POST", "/api/v1/admin/queue/open"),
    ("GET", "/api/v1/concerts"),
    ("GET", "/api/v1/concerts/{id}"),
    ("GET", "/api/v1/concerts/{id}/schedules"),
    ("GET", "/api/v1/schedules/{id}/seats"),
    ("GET", "/api/v1/schedules/{id}/seatmap"),
    # Issue 13: live updates (Server-Sent Events).
    ("GET", "/api/v1/queue/tokens/current/events"),
    ("GET", "/api/v1/schedules/{id}/seats/events"),
    ("POST", "/api/v1/reservations"),
    ("GET", "/api/v1/reservations/{id}"),
    ("DELETE", "/api/v1/reservations/{id}"),
    ("POST", "/api/v1/payments"),
    ("POST", "/api/v1/users/{id}/points/charge"),
    ("GET", "/api/v1/users/{id}/points"),
    ("GET", "/api/v1/users/{id}/points/history"),
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
}
ERROR_CODES = {
    "MALFORMED_REQUEST", "TOKEN_INVALID", "TOKEN_NOT_ACTIVE", "FORBIDDEN", "USER_NOT_FOUND",
    "CONCERT_NOT_FOUND", "SCHEDULE_NOT_FOUND", "SEAT_NOT_FOUND", "RESERVATION_NOT_FOUND",
    "NOT_FOUND", "METHOD_NOT_ALLOWED", "CONCERT_NOT_BOOKABLE", "BOOKING_CLOSED", "SEAT_TAKEN",
    "HOLD_EXPIRED", "ALREADY_PAID", "INSUFFICIENT_POINTS", "IDEMPOTENCY_KEY_REUSED",
    "PAYLOAD_TOO_LARGE", "INVALID_AMOUNT", "INVALID_ARGUMENT", "INTERNAL", "STORAGE_UNAVAILABLE",
    "QUEUE_CLOSED", "CONFLICT", "ADMIN_KEY_REQUIRED", "ADMIN_KEY_INVALID",
    "AUTH_REQUIRED", "AUTH_INVALID", "SERVICE_KEY_REQUIRED", "SERVICE_KEY_INVALID",
    "UNAVAILABLE",
}


def load_repo_doc():
    with open(REPO_DOC, encoding="utf-8") as f:
        return json.load(f)


def doc_operations(doc):
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in item
            if m in METHODS}


@pytest.fixture(scope="module")
def routes(request):
    tool = request.config.getoption("--routes-dump")
    if not tool:
        pytest.fail("give the concertd_routes tool with --routes-dump PATH or CONCERTD_ROUTES")
    out = subprocess.run([tool], check=True, capture_output=True, text=True, timeout=30).stdout
    return {tuple(line.split(" ")[:2]) for line in out.splitlines() if line}


def test_served_document_is_the_repository_file(start_server):
    server = start_server("memory", catalog=None)
    r = server.call("GET", "/openapi.json")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    assert r.json == load_repo_doc()
    with open(REPO_DOC, "rb") as f:
        assert r.raw == f.read(), "the binary must embed the file byte for byte"


def test_document_is_openapi_3_and_refs_resolve():
    doc = load_repo_doc()
    assert doc["openapi"].startswith("3."), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            assert part in node, f"dangling $ref #/{ref}"
            node = node[part]
    codes = set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
                ["code"]["enum"])
    assert codes == ERROR_CODES
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("operationId"), (method, path)
            assert op["responses"], (method, path)
            # Every path id is declared as a parameter.
            for name in re.findall(r"{(\w+)}", path):
                params = [p for p in op.get("parameters", []) if p.get("in") == "path"]
                assert name in {p["name"] for p in params}, (method, path, name)


def test_document_matches_the_contract_and_the_route_table(routes):
    doc_ops = doc_operations(load_repo_doc())
    assert doc_ops == CONTRACT
    assert routes == CONTRACT


def test_server_answers_every_documented_operation(start_server, admin_key_file, routes):
    server = start_server("memory", args=["--admin-key-file", admin_key_file])
    doc = load_repo_doc()
    # The admin routes answer only with the key; sent everywhere, it is ignored elsewhere.
    key = {"X-Admin-Key": ADMIN_KEY}
    for path, item in doc["paths"].items():
        concrete = path.replace("{id}", "1")
        documented = {m.upper() for m in item if m in METHODS}
        # 405's Allow lists exactly the documented methods (plus HEAD with GET).
        r = server.call("PATCH", concrete, headers=key)
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        allowed = {m.strip() for m in r.header("Allow").split(",")}
        expected = documented | ({"HEAD"} if "GET" in documented else set())
        assert allowed == expected, (path, allowed, expected)
        # Each documented method is routed: whatever it answers, it is not
        # "no such route" or "method not allowed".
        for method in documented:
            r = server.call(method, concrete, body={} if method in ("POST", "PUT") else None,
                            headers=key)
            assert r.status not in (404, 405) or r.error_code not in ("NOT_FOUND",
                                                                      "METHOD_NOT_ALLOWED"), \
                (method, path, r)


def test_admin_operations_declare_the_admin_key_and_its_errors():
    doc = load_repo_doc()
    assert doc["components"]["securitySchemes"]["adminKey"] == {
        **doc["components"]["securitySchemes"]["adminKey"],
        "type": "apiKey", "in": "header", "name": "X-Admin-Key"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            admin = path.startswith("/api/v1/admin/")
            assert (op.get("security") == [{"adminKey": []}]) == admin, (method, path)
            if admin:
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_user_operations_declare_the_identity_and_its_errors(routes_with_rules):
    """Every route that acts for a user (by the server's own table) documents
    the identity schemes, 401 with WWW-Authenticate, and 403."""
    doc = load_repo_doc()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["userJwt"]["name"] == "X-User-Token"
    assert schemes["serviceKey"]["name"] == "X-Service-Key"
    assert schemes["userHeader"]["in"] == "header"
    for method, path, rule in routes_with_rules:
        op = doc["paths"][path][method.lower()]
        if rule in ("PUBLIC", "ADMIN"):
            continue
        used = {name for alt in op["security"] for name in alt}
        assert {"userJwt", "userHeader"} <= used, (method, path)
        assert "WWW-Authenticate" in op["responses"]["401"].get("headers", {}), (method, path)
        assert "403" in op["responses"], (method, path)
        if rule == "CHARGE":
            assert "serviceKey" in used, (method, path)


@pytest.fixture(scope="module")
def routes_with_rules(request):
    tool = request.config.getoption("--routes-dump")
    if not tool:
        pytest.fail("give the concertd_routes tool with --routes-dump PATH or CONCERTD_ROUTES")
    out = subprocess.run([tool], check=True, capture_output=True, text=True, timeout=30).stdout
    return [tuple(line.split(" ")) for line in out.splitlines() if line]
