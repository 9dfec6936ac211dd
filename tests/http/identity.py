"""Identities for concertd's --auth modes in tests: HS256 JWTs made with the
standard library only (hmac, hashlib, base64), and the key files the
servers read."""
import base64
import hashlib
import hmac
import json
import os
import time

JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
SERVICE_KEY = "test-service-key-0123456789abcdef"
USER_HEADER = "X-User-Id"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def sign(signing_input, secret=JWT_SECRET, digest=hashlib.sha256):
    return b64url(hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"),
                           digest).digest())


def make_jwt(sub, exp_in=3600, secret=JWT_SECRET, header=None, claims=None, now=None):
    """An HS256 JWT for user sub (an int is sent as a decimal string, as
    login services usually do), valid for exp_in seconds."""
    now = int(time.time()) if now is None else now
    payload = {"sub": str(sub) if isinstance(sub, int) else sub, "iat": now,
               "exp": now + exp_in}
    if claims is not None:
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
    head = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    signing_input = b64url_json(head) + "." + b64url_json(payload)
    return signing_input + "." + sign(signing_input, secret)


def user_headers(user_id, **kw):
    return {"X-User-Token": make_jwt(user_id, **kw)}


def write_file(workdir, name, content):
    path = os.path.join(workdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(path, 0o600)
    return path


def jwt_args(workdir, service_key=True, extra=()):
    """concertd flags for --auth jwt with JWT_SECRET (and SERVICE_KEY)."""
    args = ["--auth", "jwt", "--jwt-secret-file",
            write_file(workdir, "jwt.secret", JWT_SECRET + "\n")]
    if service_key:
        args += ["--service-key-file", write_file(workdir, "service.key", SERVICE_KEY + "\n")]
    return args + list(extra)


def header_args(workdir, service_key=True, extra=()):
    args = ["--auth", "header", "--auth-header", USER_HEADER]
    if service_key:
        args += ["--service-key-file", write_file(workdir, "service.key", SERVICE_KEY + "\n")]
    return args + list(extra)
