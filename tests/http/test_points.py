"""Points routes: charge (idempotent), balance, history."""
from harness import MISSING_USER, RICH_POINTS, SEAT_PRICE_R, assert_error, parse_time


def test_charge_balance_and_history(server):
    r = server.call("POST", "/api/v1/users/1/points/charge", {"amount": 2500})
    assert r.status == 200, r
    assert r.json == {"user_id": 1, "balance": RICH_POINTS + 2500}
    b = server.call("GET", "/api/v1/users/1/points")
    assert b.status == 200, b
    assert b.json == {"user_id": 1, "balance": RICH_POINTS + 2500}

    token = server.active_token(1)
    rid = server.reserve(token, 1).json["id"]
    assert server.pay(token, rid).status == 201

    h = server.call("GET", "/api/v1/users/1/points/history")
    assert h.status == 200, h
    assert h.json["user_id"] == 1
    entries = h.json["entries"]
    for e in entries:
        assert set(e) == {"id", "type", "amount", "balance_after", "at"}
        parse_time(e["at"])
    # Newest first: the payment, the charge, the opening balance.
    assert [e["type"] for e in entries] == ["PAYMENT", "CHARGE", "CHARGE"]
    assert entries[0]["amount"] == -SEAT_PRICE_R
    assert entries[0]["balance_after"] == RICH_POINTS + 2500 - SEAT_PRICE_R
    assert entries[1]["amount"] == 2500
    assert entries[2]["balance_after"] == RICH_POINTS


def test_charge_is_idempotent_with_a_key(server):
    headers = {"Idempotency-Key": "charge-7"}
    first = server.call("POST", "/api/v1/users/2/points/charge", {"amount": 300},
                        headers=headers)
    again = server.call("POST", "/api/v1/users/2/points/charge", {"amount": 300},
                        headers=headers)
    assert first.status == again.status == 200
    assert first.json == again.json == {"user_id": 2, "balance": RICH_POINTS + 300}
    history = server.call("GET", "/api/v1/users/2/points/history").json["entries"]
    assert len(history) == 2, "the retry must not add a second entry"
    assert_error(server.call("POST", "/api/v1/users/2/points/charge", {"amount": 301},
                             headers=headers), 409, "IDEMPOTENCY_KEY_REUSED")
    # Without a key, every charge counts.
    server.call("POST", "/api/v1/users/2/points/charge", {"amount": 300})
    r = server.call("POST", "/api/v1/users/2/points/charge", {"amount": 300})
    assert r.json["balance"] == RICH_POINTS + 900


def test_invalid_amounts(server):
    for amount in (0, -5, 1000000001, 2 ** 62):
        assert_error(server.call("POST", "/api/v1/users/1/points/charge", {"amount": amount}),
                     422, "INVALID_AMOUNT")
    # None of them changed anything.
    assert server.call("GET", "/api/v1/users/1/points").json["balance"] == RICH_POINTS


def test_unknown_user(server):
    path = f"/api/v1/users/{MISSING_USER}/points"
    assert_error(server.call("GET", path), 404, "USER_NOT_FOUND")
    assert_error(server.call("GET", path + "/history"), 404, "USER_NOT_FOUND")
    assert_error(server.call("POST", path + "/charge", {"amount": 1}), 404, "USER_NOT_FOUND")


def test_hostile_idempotency_keys_are_just_keys(server):
    """Printable ASCII keys, however hostile to SQL or printf, are plain keys."""
    for i, key in enumerate(["';DROP_TABLE_users;--", "\"OR'1'='1'--", "%s%n%x", "\\x00",
                             "a" * 255]):
        headers = {"Idempotency-Key": key}
        first = server.call("POST", "/api/v1/users/3/points/charge", {"amount": 10 + i},
                            headers=headers)
        again = server.call("POST", "/api/v1/users/3/points/charge", {"amount": 10 + i},
                            headers=headers)
        assert first.status == again.status == 200, (key, first, again)
        assert first.json == again.json
    balance = server.call("GET", "/api/v1/users/3/points").json["balance"]
    assert balance == RICH_POINTS + sum(10 + i for i in range(5))
    assert len(server.call("GET", "/api/v1/users/3/points/history").json["entries"]) == 6
