"""Issue 11 over HTTP: orders, releasing a hold, the per-buyer limit, paged
history, and max_per_user in the catalog."""
from harness import FUTURE_SCHEDULE, RICH_POINTS, SEAT_PRICE_R, SEAT_PRICE_S, assert_error


def order(server, token, ids, key=None):
    headers = {"Idempotency-Key": key} if key is not None else None
    return server.call("POST", "/api/v1/payments", {"reservation_ids": ids}, token=token,
                       headers=headers)


def history(server, user, query=""):
    return server.call("GET", f"/api/v1/users/{user}/points/history{query}")


def test_an_order_pays_several_holds_once(server):
    token = server.active_token(1)
    ids = [server.reserve(token, seat).json["id"] for seat in (3, 25, 4)]
    before = history(server, 1).json["entries"]
    paid = order(server, token, [ids[2], ids[0], ids[1]], key="party-1")
    assert paid.status == 201, paid
    assert paid.json["reservation_ids"] == sorted(ids)
    assert paid.json["reservation_id"] == min(ids)
    assert paid.json["amount"] == 2 * SEAT_PRICE_R + SEAT_PRICE_S
    assert paid.json["balance"] == RICH_POINTS - paid.json["amount"]
    after = history(server, 1).json["entries"]
    assert len(after) == len(before) + 1, "one ledger entry for the whole order"
    assert after[0]["amount"] == -paid.json["amount"]
    # The same key and set replays, after the token ended, in any order.
    again = order(server, token, list(reversed(ids)), key="party-1")
    assert again.status == 201, again
    assert again.json == paid.json
    # Another set under the same key is a reuse.
    assert_error(order(server, token, ids[:2], key="party-1"), 409, "IDEMPOTENCY_KEY_REUSED")
    fresh = server.active_token(1)
    for rid in ids:
        r = server.call("GET", f"/api/v1/reservations/{rid}", token=fresh)
        assert r.json["status"] == "CONFIRMED", r


def test_a_bad_order_changes_nothing(server):
    token = server.active_token(2)
    other = server.active_token(3)
    mine = server.reserve(token, 5).json["id"]
    theirs = server.reserve(other, 6).json["id"]
    assert_error(order(server, token, [mine, theirs]), 403, "FORBIDDEN")
    assert_error(order(server, token, [mine, mine]), 422, "INVALID_ARGUMENT")
    assert_error(order(server, token, []), 422, "INVALID_ARGUMENT")
    assert_error(order(server, token, list(range(1, 66))), 422, "INVALID_ARGUMENT")
    assert_error(order(server, token, [mine, "7"]), 400, "MALFORMED_REQUEST")
    assert_error(server.call("POST", "/api/v1/payments", {"reservation_ids": mine},
                             token=token), 400, "MALFORMED_REQUEST")
    both = server.call("POST", "/api/v1/payments",
                       {"reservation_id": mine, "reservation_ids": [mine]}, token=token)
    assert_error(both, 400, "MALFORMED_REQUEST")
    assert server.call("GET", "/api/v1/users/2/points").json["balance"] == RICH_POINTS
    # The token is still good: the hold can be paid on its own.
    assert server.pay(token, mine).status == 201


def test_releasing_a_hold_frees_the_seat_at_once(server):
    owner = server.active_token(4)
    other = server.active_token(5)
    rid = server.reserve(owner, 7).json["id"]
    assert_error(server.reserve(other, 7), 409, "SEAT_TAKEN")
    assert_error(server.call("DELETE", f"/api/v1/reservations/{rid}", token=other),
                 403, "FORBIDDEN")
    gone = server.call("DELETE", f"/api/v1/reservations/{rid}", token=owner)
    assert gone.status == 204, gone
    assert gone.raw == b""
    assert server.reserve(other, 7).status == 201
    read = server.call("GET", f"/api/v1/reservations/{rid}", token=owner)
    assert read.json["status"] == "RELEASED", read
    assert server.call("DELETE", f"/api/v1/reservations/{rid}", token=owner).status == 204
    assert_error(server.pay(owner, rid), 409, "HOLD_EXPIRED")
    assert_error(server.call("DELETE", "/api/v1/reservations/987654", token=owner),
                 404, "RESERVATION_NOT_FOUND")
    paid = server.reserve(owner, 8).json["id"]
    assert server.pay(owner, paid).status == 201
    owner = server.active_token(4)
    assert_error(server.call("DELETE", f"/api/v1/reservations/{paid}", token=owner),
                 409, "ALREADY_PAID")


def test_the_fifth_hold_is_refused_with_the_limit(server):
    token = server.active_token(6)
    for seat in range(9, 13):
        assert server.reserve(token, seat).status == 201
    refused = server.reserve(token, 13)
    assert_error(refused, 409, "HOLD_LIMIT")
    assert "4" in refused.json["error"]["message"], refused


def test_a_concert_limit_from_the_catalog(start_server, store):
    from harness import make_catalog
    catalog = make_catalog()
    catalog["concerts"][0]["max_per_user"] = 2
    server = start_server(store, catalog=catalog)
    token = server.active_token(1)
    concert = server.call("GET", "/api/v1/concerts/1", token=token)
    assert concert.json["max_per_user"] == 2, concert
    listed = server.call("GET", "/api/v1/concerts", token=token).json["concerts"]
    assert [c["max_per_user"] for c in listed if c["id"] != 1] == [None] * (len(listed) - 1)
    assert server.reserve(token, 1).status == 201
    assert server.reserve(token, 2).status == 201
    refused = server.reserve(token, 3)
    assert_error(refused, 409, "HOLD_LIMIT")
    assert "concert 1" in refused.json["error"]["message"], refused


def test_history_comes_in_pages_with_a_cursor(server):
    for amount in range(1, 8):
        assert server.call("POST", "/api/v1/users/7/points/charge", {"amount": amount}).status \
            == 200
    whole = history(server, 7)
    assert whole.status == 200, whole
    assert whole.json["next_cursor"] is None
    assert len(whole.json["entries"]) == 8  # the opening balance and seven charges
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = history(server, 7, query)
        assert page.status == 200, page
        seen += page.json["entries"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert len(page.json["entries"]) == 3
    assert seen == whole.json["entries"]
    for bad in ("?limit=0", "?limit=501", "?limit=abc", "?limit=-1", "?limit=1&limit=2",
                "?cursor=0", "?cursor=x", "?limit=%201"):
        assert_error(history(server, 7, bad), 422, "INVALID_ARGUMENT")
    assert history(server, 7, "?limit=500").status == 200


def test_history_defaults_to_a_hundred_entries(server):
    for _ in range(120):
        server.call("POST", "/api/v1/users/8/points/charge", {"amount": 1})
    first = history(server, 8).json
    assert len(first["entries"]) == 100
    rest = history(server, 8, f"?cursor={first['next_cursor']}").json
    assert len(rest["entries"]) == 21
    assert rest["next_cursor"] is None


def test_the_limit_is_a_flag(start_server):
    one = start_server("memory", args=["--max-holds-per-user", "1"])
    token = one.active_token(1)
    assert one.reserve(token, 1).status == 201
    assert_error(one.reserve(token, 2), 409, "HOLD_LIMIT")
    none = start_server("memory", args=["--max-holds-per-user", "0"])
    token = none.active_token(1)
    for seat in range(1, 11):
        assert none.reserve(token, seat).status == 201
