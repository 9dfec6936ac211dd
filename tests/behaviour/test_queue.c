/* Queue rules 1-6 of the core issue. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

TestSuite(queue, .init = setup_store_with_catalog, .fini = teardown_store);

static void open_with_max_active(int64_t max_active)
{
    concert_options o = test_options();
    o.max_active = max_active;
    store_open(&o);
    standard_catalog_load();
}

Test(queue, unknown_user_is_user_not_found)
{
    concert_token_info t;
    expect_rc(concert_queue_issue(&t, db, 999), CONCERT_EUSER_NOT_FOUND);
    expect_rc(concert_queue_issue(&t, db, 0), CONCERT_EUSER_NOT_FOUND);
    expect_rc(concert_queue_issue(&t, db, -5), CONCERT_EUSER_NOT_FOUND);
    cr_assert_str_eq(concert_error_name(concert_error_last()->code), "USER_NOT_FOUND");
}

Test(queue, first_token_is_new_and_active_when_room)
{
    concert_token_info t;
    expect_ok(concert_queue_issue(&t, db, 1));
    cr_assert_eq(t.is_new, 1);
    cr_assert_eq(t.user_id, 1);
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(t.position, 0);
    cr_assert_eq(t.eta_ms, -1);
    cr_assert_eq(t.expires_at, T0 + 600 * SECOND, "active_ttl defaults to 600 s");
}

Test(queue, one_live_token_per_user)
{
    concert_token_info a, b;
    expect_ok(concert_queue_issue(&a, db, 1));
    clock_advance(SECOND);
    expect_ok(concert_queue_issue(&b, db, 1));
    cr_assert_str_eq(a.token, b.token);
    cr_assert_eq(b.is_new, 0);
}

Test(queue, tokens_are_url_safe_long_random_and_not_from_user_id)
{
    concert_token_info a, b;
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&b, db, 2));
    cr_assert_str_neq(a.token, b.token);
    cr_assert_geq(strlen(a.token), 22, "128 bits need at least 22 base64 characters");
    cr_assert_eq(
        strspn(a.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        strlen(a.token));
    /* Not derived from the user: the same user gets a different token next time. */
    expect_ok(concert_queue_leave(db, a.token));
    expect_ok(concert_queue_issue(&b, db, 1));
    cr_assert_str_neq(a.token, b.token);
}

Test(queue, after_leaving_a_new_token_goes_to_the_back)
{
    concert_token_info a, b, w, again;
    open_with_max_active(1);
    expect_ok(concert_queue_issue(&a, db, 1)); /* active */
    expect_ok(concert_queue_issue(&w, db, 2)); /* waiting, position 1 */
    cr_assert_eq(w.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(w.position, 1);
    expect_ok(concert_queue_leave(db, a.token));
    expect_ok(concert_queue_issue(&b, db, 1));
    cr_assert_eq(b.is_new, 1);
    cr_assert_str_neq(a.token, b.token);
    cr_assert_eq(b.state, CONCERT_TOKEN_WAITING, "user 2 was admitted first");
    cr_assert_eq(b.position, 1);
    expect_ok(concert_queue_status_get(&again, db, w.token));
    cr_assert_eq(again.state, CONCERT_TOKEN_ACTIVE);
}

Test(queue, at_most_max_active_and_first_come_order)
{
    concert_token_info t[6];
    concert_queue_stats st;
    open_with_max_active(2);
    for (int i = 0; i < 6; i++) {
        expect_ok(concert_queue_issue(&t[i], db, 4 + i));
        clock_advance(1);
    }
    cr_assert_eq(t[0].state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(t[1].state, CONCERT_TOKEN_ACTIVE);
    for (int i = 2; i < 6; i++) {
        cr_assert_eq(t[i].state, CONCERT_TOKEN_WAITING);
        cr_assert_eq(t[i].position, i - 1, "token %d position %lld", i, (long long)t[i].position);
    }
    expect_ok(concert_queue_stats_get(&st, db));
    cr_assert_eq(st.active, 2);
    cr_assert_eq(st.max_active, 2);

    /* One leaves: the oldest waiting one (t[2]) is admitted, not a later one. */
    expect_ok(concert_queue_leave(db, t[0].token));
    expect_ok(concert_queue_status_get(&t[5], db, t[5].token));
    cr_assert_eq(t[5].state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(t[5].position, 3);
    expect_ok(concert_queue_status_get(&t[2], db, t[2].token));
    cr_assert_eq(t[2].state, CONCERT_TOKEN_ACTIVE);
    expect_ok(concert_queue_stats_get(&st, db));
    cr_assert_eq(st.active, 2);
}

Test(queue, expired_active_token_frees_its_slot_without_a_thread)
{
    concert_token_info a, w;
    open_with_max_active(1);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&w, db, 2));
    cr_assert_eq(w.state, CONCERT_TOKEN_WAITING);
    clock_advance(299 * SECOND);
    expect_ok(concert_queue_status_get(&w, db, w.token)); /* keep polling */
    clock_advance(299 * SECOND);
    expect_ok(concert_queue_status_get(&w, db, w.token));
    cr_assert_eq(w.state, CONCERT_TOKEN_WAITING, "598 s: the active token still lives");
    clock_advance(2 * SECOND);
    expect_ok(concert_queue_status_get(&w, db, w.token));
    cr_assert_eq(w.state, CONCERT_TOKEN_ACTIVE, "at 600 s the active token expired");
    cr_assert_eq(w.expires_at, T0 + 600 * SECOND + 600 * SECOND);
    expect_rc(concert_queue_status_get(&a, db, a.token), CONCERT_ETOKEN_INVALID);
}

Test(queue, position_only_decreases_and_is_exact)
{
    concert_token_info t[5], s;
    int64_t last = INT64_MAX;
    open_with_max_active(1);
    for (int i = 0; i < 5; i++)
        expect_ok(concert_queue_issue(&t[i], db, 4 + i));
    expect_ok(concert_queue_status_get(&s, db, t[4].token));
    cr_assert_eq(s.position, 4);
    for (int i = 0; i < 4; i++) {
        expect_ok(concert_queue_leave(db, t[i].token));
        expect_ok(concert_queue_status_get(&s, db, t[4].token));
        cr_assert_leq(s.position, last);
        last = s.position;
    }
    cr_assert_eq(s.state, CONCERT_TOKEN_ACTIVE);
}

Test(queue, waiting_token_leaving_is_skipped_at_admission)
{
    concert_token_info a, w1, w2, s;
    open_with_max_active(1);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&w1, db, 2));
    expect_ok(concert_queue_issue(&w2, db, 3));
    expect_ok(concert_queue_leave(db, w1.token));
    expect_rc(concert_queue_status_get(&s, db, w1.token), CONCERT_ETOKEN_INVALID);
    expect_ok(concert_queue_leave(db, a.token));
    expect_ok(concert_queue_status_get(&s, db, w2.token));
    cr_assert_eq(s.state, CONCERT_TOKEN_ACTIVE, "the dropped ticket ahead was skipped");
}

Test(queue, idle_waiting_token_is_dropped_and_never_takes_a_slot)
{
    concert_token_info a, idle, polite, s;
    concert_queue_stats st;
    open_with_max_active(1);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&idle, db, 2));
    expect_ok(concert_queue_issue(&polite, db, 3));
    for (int i = 0; i < 4; i++) { /* 4 x 100 s: polite polls, idle does not */
        clock_advance(100 * SECOND);
        expect_ok(concert_queue_status_get(&s, db, polite.token));
    }
    expect_ok(concert_queue_leave(db, a.token));
    expect_ok(concert_queue_status_get(&s, db, polite.token));
    cr_assert_eq(s.state, CONCERT_TOKEN_ACTIVE, "the idle ticket ahead was dropped");
    expect_rc(concert_queue_status_get(&s, db, idle.token), CONCERT_ETOKEN_INVALID);
    expect_ok(concert_queue_stats_get(&st, db));
    cr_assert_eq(st.active, 1);
}

Test(queue, waiting_token_reports_its_idle_deadline)
{
    concert_token_info a, w;
    open_with_max_active(1);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&w, db, 2));
    cr_assert_eq(w.expires_at, T0 + 300 * SECOND);
    /* A poll soon after is answered from the db's cache, with the deadline
     * the store holds; once a quarter of wait_ttl has passed, a poll writes
     * the idle clock through and pushes the deadline. */
    clock_advance(10 * SECOND);
    expect_ok(concert_queue_status_get(&w, db, w.token));
    cr_assert_eq(w.expires_at, T0 + 300 * SECOND, "the store's deadline, not a guess");
    clock_advance(70 * SECOND);
    expect_ok(concert_queue_status_get(&w, db, w.token));
    cr_assert_eq(w.expires_at, T0 + 380 * SECOND, "polling pushes the idle deadline");
}

Test(queue, unknown_and_malformed_tokens_are_invalid)
{
    concert_token_info s;
    expect_rc(concert_queue_status_get(&s, db, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
              CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_status_get(&s, db, ""), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_status_get(&s, db, NULL), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_status_get(&s, db, "x' OR '1'='1"), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_leave(db, "nope"), CONCERT_ETOKEN_INVALID);
}

Test(queue, waiting_token_cannot_browse_or_book)
{
    concert_token_info a, w;
    concert_concert_list *list = NULL;
    concert_reservation r;
    open_with_max_active(1);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&w, db, 2));
    expect_rc(concert_concert_list_get(&list, db, w.token), CONCERT_ETOKEN_NOT_ACTIVE);
    cr_assert_null(list);
    expect_rc(concert_reserve_seat(&r, db, w.token, 10, 1), CONCERT_ETOKEN_NOT_ACTIVE);
}

Test(queue, eta_appears_once_admissions_have_a_rate)
{
    concert_token_info t[4], s;
    open_with_max_active(1);
    for (int i = 0; i < 4; i++)
        expect_ok(concert_queue_issue(&t[i], db, 4 + i));
    /* Admit one every 10 s for a while. */
    for (int i = 0; i < 2; i++) {
        clock_advance(10 * SECOND);
        expect_ok(concert_queue_status_get(&s, db, t[i + 1].token));
        expect_ok(concert_queue_leave(db, t[i].token));
        expect_ok(concert_queue_status_get(&s, db, t[3].token));
    }
    cr_assert_eq(s.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(s.position, 1);
    cr_assert_gt(s.eta_ms, 0, "an ETA once the rate is known");
    cr_assert_lt(s.eta_ms, 60 * SECOND, "about 10 s per admission, got %lld ms",
                 (long long)s.eta_ms);
}

Test(queue, leave_twice_is_token_invalid)
{
    concert_token_info a;
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_leave(db, a.token));
    expect_rc(concert_queue_leave(db, a.token), CONCERT_ETOKEN_INVALID);
}
