"""The web app's files (examples/server/web/, embedded in concertd) and
GET /api/v1/session, which the app asks first."""
import hashlib
import json
import os
import re
import subprocess

import pytest

from harness import assert_error
from identity import USER_HEADER, header_args, jwt_args, make_jwt, user_headers

HERE = os.path.dirname(os.path.abspath(__file__))
WEB_DIR = os.path.join(HERE, "..", "..", "examples", "server", "web")
# Path -> (file in web/, Content-Type). The route table's static routes must
# be exactly these (test_static_routes_are_these_files).
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/i18n.js": ("i18n.js", "text/javascript; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


def fetch(server, path, method="GET", headers=None):
    """A request whose body is not parsed as JSON (harness.Response does)."""
    c = server.connection()
    try:
        c.request(method, path, headers=dict(headers or {}))
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def repo_bytes(name):
    with open(os.path.join(WEB_DIR, name), "rb") as f:
        return f.read()


def csp_directives(value):
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = set(words[1:])
    return out


@pytest.fixture
def web(start_server):
    return start_server("memory")


@pytest.mark.parametrize("path", sorted(ASSETS))
def test_each_file_is_served_as_kept_in_the_repository(web, path):
    name, content_type = ASSETS[path]
    status, headers, body = fetch(web, path)
    assert status == 200, (path, body[:200])
    assert body == repo_bytes(name), "the binary must embed the file byte for byte"
    assert headers["content-type"] == content_type
    assert headers["cache-control"] == "no-cache"
    assert headers["x-content-type-options"] == "nosniff"
    # A strong tag made from the content: equal files, equal tags.
    assert re.fullmatch(r'"[0-9a-f]{32}"', headers["etag"]), headers["etag"]
    assert headers["etag"] == '"' + hashlib.sha256(repo_bytes(name)).hexdigest()[:32] + '"'


@pytest.mark.parametrize("path", sorted(ASSETS))
def test_if_none_match_gives_304_without_a_body(web, path):
    _, first, _ = fetch(web, path)
    tag = first["etag"]
    for value in (tag, "W/" + tag, '"nope", ' + tag, "*"):
        status, headers, body = fetch(web, path, headers={"If-None-Match": value})
        assert status == 304, value
        assert body == b""
        assert headers["etag"] == tag
        assert headers["cache-control"] == "no-cache"
    # A tag of another file (or a stale build) gets the file.
    status, _, body = fetch(web, path, headers={"If-None-Match": '"0123456789abcdef0123456789abcdef"'})
    assert status == 200 and body == repo_bytes(ASSETS[path][0])


def test_head_has_the_headers_and_no_body(web):
    status, headers, body = fetch(web, "/", method="HEAD")
    assert status == 200 and body == b""
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "etag" in headers


def test_csp_allows_only_this_server_and_no_inline_code(web):
    status, headers, _ = fetch(web, "/")
    assert status == 200
    csp = csp_directives(headers["content-security-policy"])
    assert csp["default-src"] == {"'none'"}
    for directive in ("script-src", "style-src", "connect-src"):
        assert csp[directive] == {"'self'"}, (directive, csp)
    assert csp["frame-ancestors"] == {"'none'"}
    # Every asset carries the same policy.
    for path in ASSETS:
        assert fetch(web, path)[1]["content-security-policy"] == headers["content-security-policy"]


def test_the_page_has_no_inline_script_or_style():
    """The CSP would block them: the app must not depend on any."""
    html = repo_bytes("index.html").decode("utf-8")
    for m in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
        assert "src=" in m.group(1) and m.group(2).strip() == "", m.group(0)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are inline script"


def test_json_replies_keep_their_type_and_no_page_headers(web):
    status, headers, _ = fetch(web, "/healthz")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert "content-security-policy" not in headers


@pytest.mark.parametrize("path", ["/nope.js", "/app.js/", "/index.html/x", "/web/app.js",
                                  "/APP.JS", "/../app.js"])
def test_unknown_asset_is_a_json_404(web, path):
    r = web.call("GET", path)
    assert_error(r, 404, "NOT_FOUND")


def test_assets_take_only_get_and_head(web):
    r = web.call("POST", "/app.js", body={})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in r.header("Allow").split(",")} == {"GET", "HEAD"}


def test_static_routes_are_these_files(request):
    tool = request.config.getoption("--routes-dump")
    if not tool:
        pytest.fail("give the concertd_routes tool with --routes-dump PATH or CONCERTD_ROUTES")
    out = subprocess.run([tool], check=True, capture_output=True, text=True, timeout=30).stdout
    routes = {tuple(line.split(" ")[:2]) for line in out.splitlines() if line}
    non_api = {(m, p) for m, p in routes if not p.startswith("/api/")} - {
        ("GET", "/healthz"), ("GET", "/openapi.json"), ("GET", "/metrics")}
    assert non_api == {("GET", p) for p in ASSETS}


def test_index_refers_to_the_served_assets():
    html = repo_bytes("index.html").decode("utf-8")
    for ref in re.findall(r'(?:src|href)="(/[^"]*)"', html):
        assert ref in ASSETS, ref


def test_every_error_code_has_a_sentence_in_each_language():
    """The app shows a sentence, never a code: i18n.js has one per code the
    API documents, in Korean and in English."""
    with open(os.path.join(HERE, "..", "..", "examples", "server", "openapi.json"),
              encoding="utf-8") as f:
        doc = json.load(f)
    codes = set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
                ["code"]["enum"])
    text = repo_bytes("i18n.js").decode("utf-8")
    ko, en = text.split("\n  en: {", 1)
    for name, part in (("ko", ko), ("en", en)):
        have = set(re.findall(r'"error\.([A-Z_]+)":\s*"[^"]+"', part))
        assert codes <= have, (name, sorted(codes - have))


# ---- GET /api/v1/session ----

def session(server, headers=None):
    r = server.call("GET", "/api/v1/session", headers=headers)
    return r


def test_session_auth_none(start_server):
    server = start_server("memory")
    r = session(server)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    assert r.header("Cache-Control") == "no-store"
    assert r.json == {"auth": "none", "user_id": None}
    # With --auth none nobody is identified, whatever the request says.
    r = session(server, headers={"X-User-Token": make_jwt(3), USER_HEADER: "3"})
    assert r.json == {"auth": "none", "user_id": None}


def test_session_auth_jwt(start_server, workdir):
    server = start_server("memory", args=jwt_args(workdir))
    assert session(server).json == {"auth": "jwt", "user_id": None}
    r = session(server, headers=user_headers(7))
    assert r.status == 200 and r.json == {"auth": "jwt", "user_id": 7}, r
    # A sign-in that no longer verifies is said so, not taken for "signed out".
    for bad in (make_jwt(7, exp_in=-10), make_jwt(7, secret="x" * 40), "not.a.jwt"):
        r = session(server, headers={"X-User-Token": bad})
        assert_error(r, 401, "AUTH_INVALID")
        assert r.header("WWW-Authenticate").startswith("X-User-Token")


def test_session_auth_header(start_server, workdir):
    server = start_server("memory", args=header_args(workdir))
    assert session(server).json == {"auth": "header", "user_id": None}
    r = session(server, headers={USER_HEADER: "12"})
    assert r.status == 200 and r.json == {"auth": "header", "user_id": 12}, r
    assert_error(session(server, headers={USER_HEADER: "twelve"}), 401, "AUTH_INVALID")


def test_session_needs_no_store(start_server):
    """It answers from the flags alone: a server whose store is empty (no
    catalog) answers the same."""
    server = start_server("memory", catalog=None)
    assert session(server).json == {"auth": "none", "user_id": None}
