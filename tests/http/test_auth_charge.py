"""Charging points with --auth jwt/header is the operator's act: the
service key (X-Service-Key) charges anyone; without it, 401
SERVICE_KEY_REQUIRED; a wrong one, 403 SERVICE_KEY_INVALID; with
--allow-self-charge an identified user may charge their own points only."""
import pytest

from harness import RICH_POINTS, assert_error
from identity import SERVICE_KEY, header_args, jwt_args, user_headers

CHARGE = "/api/v1/users/{}/points/charge"


def balance(server, user_id, headers):
    r = server.call("GET", f"/api/v1/users/{user_id}/points", headers=headers)
    assert r.status == 200, r
    return r.json["balance"]


@pytest.mark.parametrize("mode", ["jwt", "header"])
def test_service_key_is_needed(start_server, workdir, mode):
    server = start_server("memory", args=(jwt_args if mode == "jwt" else header_args)(workdir))
    me = user_headers(1) if mode == "jwt" else {"X-User-Id": "1"}
    r = server.call("POST", CHARGE.format(1), {"amount": 100}, headers=me)
    assert_error(r, 401, "SERVICE_KEY_REQUIRED")
    assert r.header("WWW-Authenticate").startswith("X-Service-Key realm=")
    r = server.call("POST", CHARGE.format(1), {"amount": 100},
                    headers={**me, "X-Service-Key": SERVICE_KEY + "x"})
    assert_error(r, 403, "SERVICE_KEY_INVALID")
    r = server.call("POST", CHARGE.format(1), {"amount": 100},
                    headers={"X-Service-Key": SERVICE_KEY[:-1]})
    assert_error(r, 403, "SERVICE_KEY_INVALID")
    assert balance(server, 1, me) == RICH_POINTS, "a refused charge changed the balance"

    # The payment service needs no user identity, only its key, for anyone.
    r = server.call("POST", CHARGE.format(2), {"amount": 250},
                    headers={"X-Service-Key": SERVICE_KEY, "Idempotency-Key": "topup-2"})
    assert r.status == 200 and r.json == {"user_id": 2, "balance": RICH_POINTS + 250}, r
    again = server.call("POST", CHARGE.format(2), {"amount": 250},
                        headers={"X-Service-Key": SERVICE_KEY, "Idempotency-Key": "topup-2"})
    assert again.status == 200 and again.json == r.json, again


def test_self_charge_only_for_oneself(start_server, workdir):
    server = start_server("memory", args=jwt_args(workdir, service_key=False,
                                                  extra=["--allow-self-charge"]))
    r = server.call("POST", CHARGE.format(3), {"amount": 40}, headers=user_headers(3))
    assert r.status == 200 and r.json["balance"] == RICH_POINTS + 40, r
    assert_error(server.call("POST", CHARGE.format(4), {"amount": 40}, headers=user_headers(3)),
                 403, "FORBIDDEN")
    r = server.call("POST", CHARGE.format(3), {"amount": 40})
    assert_error(r, 401, "AUTH_REQUIRED")
    assert_error(server.call("POST", CHARGE.format(3), {"amount": 40},
                             headers=user_headers(3, exp_in=-5)), 401, "AUTH_INVALID")
    assert balance(server, 4, user_headers(4)) == RICH_POINTS
    # No service key was configured: sending one is refused, not ignored.
    assert_error(server.call("POST", CHARGE.format(3), {"amount": 40},
                             headers={**user_headers(3), "X-Service-Key": SERVICE_KEY}),
                 403, "SERVICE_KEY_INVALID")


def test_without_self_charge_a_user_cannot_top_up(start_server, workdir):
    server = start_server("memory", args=jwt_args(workdir))
    assert_error(server.call("POST", CHARGE.format(5), {"amount": 40}, headers=user_headers(5)),
                 401, "SERVICE_KEY_REQUIRED")
    assert "charging points is refused" not in server.log()
    plain = start_server("memory", args=jwt_args(workdir, service_key=False))
    assert "charging points is refused" in plain.wait_log("charging points")


def test_auth_none_charges_as_before(start_server):
    server = start_server("memory")
    r = server.call("POST", CHARGE.format(6), {"amount": 7})
    assert r.status == 200 and r.json["balance"] == RICH_POINTS + 7, r
