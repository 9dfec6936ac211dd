/*
 * Retention (issue 12): idempotency records and ended tokens are kept for
 * options.retention_ms so that retries replay, then pruned, by
 * concert_admin_prune() and a little inside normal calls, so that no store grows
 * without bound. Nothing a live token, a live hold or the books need is ever
 * pruned.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define RETENTION (10 * MINUTE)

static void setup_retention(void)
{
    concert_options o = test_options();
    o.retention_ms = RETENTION;
    o.max_holds_per_user = 0;
    store_open(&o);
    standard_catalog_load();
    limits_catalog_load();
}

TestSuite(retention, .init = setup_retention, .fini = teardown_store);

static size_t history_count(int64_t user)
{
    concert_ledger_list *list = NULL;
    size_t n;
    expect_ok(concert_ledger_list_get(&list, db, user));
    n = list->count;
    concert_ledger_list_free(list);
    return n;
}

static void expect_verify_clean(void)
{
    concert_verify_report *report = NULL;
    expect_ok(concert_admin_verify(&report, db));
    cr_assert_eq(report->violation_count, 0, "verify: %s",
                 report->violation_count ? report->violations[0] : "");
    concert_verify_report_free(report);
}

Test(retention, a_keyed_payment_replays_inside_retention_and_is_new_after)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p, again;
    concert_prune_report report;

    issue_active(100, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 1));
    expect_ok(concert_pay(&p, db, t.token, r.id, "order-1"));
    clock_advance(RETENTION - 1);
    expect_ok(concert_admin_prune(&report, db, 0));
    expect_ok(concert_pay(&again, db, t.token, r.id, "order-1"));
    cr_assert_eq(again.id, p.id, "a replay inside retention gives the same payment");

    clock_advance(1);
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_geq(report.tokens, 1, "the paid token is pruned");
    cr_assert_geq(report.idempotency, 1, "the payment's key is pruned");
    cr_assert_eq(report.more, 0);
    /* The ended token is gone: a retry is a new request, and the token is unknown. */
    expect_rc(concert_pay(&again, db, t.token, r.id, "order-1"), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_status_get(&t, db, t.token), CONCERT_ETOKEN_INVALID);
    /* The sale itself is a record: never pruned. */
    issue_active(100, &t);
    expect_ok(concert_reservation_get(&r, db, t.token, r.id));
    cr_assert_eq(r.status, CONCERT_RESERVATION_CONFIRMED);
    expect_verify_clean();
}

Test(retention, a_keyed_charge_replays_inside_retention_and_charges_again_after)
{
    concert_prune_report report;
    int64_t b0, b1, b2, b3;
    expect_ok(concert_points_balance_get(&b0, db, 2));
    expect_ok(concert_charge_points(&b1, db, 2, 700, "topup-1"));
    cr_assert_eq(b1, b0 + 700);
    clock_advance(RETENTION - 1);
    expect_ok(concert_charge_points(&b2, db, 2, 700, "topup-1"));
    cr_assert_eq(b2, b1, "a replay inside retention does not credit again");
    clock_advance(1);
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_geq(report.idempotency, 1);
    expect_ok(concert_charge_points(&b3, db, 2, 700, "topup-1"));
    cr_assert_eq(b3, b1 + 700, "after retention the key is a new request");
    cr_assert_eq(history_count(2), 2, "both charges are in the ledger, nothing pruned from it");
    expect_verify_clean();
}

Test(retention, live_tokens_and_live_holds_are_never_pruned)
{
    concert_options o = test_options();
    concert_token_info waiting, active, holder, t;
    concert_reservation held;
    concert_payment p;
    concert_prune_report report;

    /* One ACTIVE place, so that the second and third tokens wait. */
    o.retention_ms = 1000;
    o.max_active = 1;
    o.hold_ttl_ms = 5 * MINUTE;
    o.wait_ttl_ms = 2 * MINUTE;
    o.active_ttl_ms = 6 * MINUTE;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &holder);
    expect_ok(concert_reserve_seat(&held, db, holder.token, 10, 11));
    expect_ok(concert_queue_issue(&waiting, db, 3));
    cr_assert_eq(waiting.state, CONCERT_TOKEN_WAITING);

    /* The waiting buyer keeps polling for four minutes (past wait_ttl and
     * retention many times over); the holder's hold is still live. */
    int64_t pruned = 0;
    for (int i = 0; i < 8; i++) {
        clock_advance(30 * SECOND);
        expect_ok(concert_queue_status_get(&t, db, waiting.token));
        expect_ok(concert_admin_prune(&report, db, 0));
        pruned += report.tokens;
    }
    cr_assert_eq(t.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(pruned, 0);
    expect_ok(concert_queue_status_get(&active, db, holder.token));
    cr_assert_eq(active.state, CONCERT_TOKEN_ACTIVE);
    expect_ok(concert_pay(&p, db, holder.token, held.id, NULL));

    /* Now admitted, the waiting buyer's token stays usable while ACTIVE. */
    expect_ok(concert_queue_status_get(&t, db, waiting.token));
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    clock_advance(4 * MINUTE);
    expect_ok(concert_admin_prune(&report, db, 0));
    expect_ok(concert_queue_status_get(&t, db, waiting.token));
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    expect_verify_clean();
}

Test(retention, an_idle_waiting_token_goes_after_wait_ttl_plus_retention)
{
    concert_options o = test_options();
    concert_token_info a, w, t;
    concert_prune_report report;
    o.retention_ms = 1000;
    o.max_active = 1;
    o.wait_ttl_ms = MINUTE;
    o.active_ttl_ms = HOUR;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &a);
    expect_ok(concert_queue_issue(&w, db, 3));
    cr_assert_eq(w.state, CONCERT_TOKEN_WAITING);
    clock_advance(MINUTE + 999); /* idle since issue: ended at +1 min, retained 1 s */
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_eq(report.tokens, 0);
    clock_advance(1);
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_eq(report.tokens, 1);
    expect_rc(concert_queue_status_get(&t, db, w.token), CONCERT_ETOKEN_INVALID);
    /* The same buyer simply joins again, at the back. */
    expect_ok(concert_queue_issue(&t, db, 3));
    cr_assert_eq(t.state, CONCERT_TOKEN_WAITING);
    expect_verify_clean();
}

Test(retention, the_limit_bounds_one_call)
{
    concert_prune_report report;
    int64_t balance;
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        expect_ok(concert_charge_points(&balance, db, 2, 1, key));
    }
    clock_advance(RETENTION);
    expect_ok(concert_admin_prune(&report, db, 2));
    cr_assert_eq(report.tokens + report.idempotency, 2);
    cr_assert_eq(report.more, 1);
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_eq(report.idempotency, 3);
    cr_assert_eq(report.more, 0);
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_eq(report.tokens + report.idempotency, 0, "nothing left to prune");
    expect_rc(concert_admin_prune(NULL, db, 0), CONCERT_EINVAL);
    expect_rc(concert_admin_prune(&report, NULL, 0), CONCERT_EINVAL);
}

/*
 * Nobody calls concert_admin_prune(): the calls that create these rows prune as
 * they go, so what is due never piles up. 300 keyed sales and charges with
 * the clock moving a thirtieth of retention each: without pruning inside
 * the calls, about 270 tokens and 540 keys would be due at the end.
 */
Test(retention, normal_calls_prune_as_they_go)
{
    concert_prune_report report;
    for (int i = 0; i < 300; i++) {
        concert_token_info t;
        concert_reservation r;
        concert_payment p;
        char key[32];
        int64_t balance;
        issue_active(100 + i % 2, &t);
        expect_ok(concert_reserve_seat(&r, db, t.token, 80, 1 + i));
        snprintf(key, sizeof(key), "sale-%d", i);
        expect_ok(concert_pay(&p, db, t.token, r.id, key));
        snprintf(key, sizeof(key), "topup-%d", i);
        expect_ok(concert_charge_points(&balance, db, 2, 1, key));
        clock_advance(RETENTION / 30);
    }
    expect_ok(concert_admin_prune(&report, db, 0));
    cr_assert_leq(report.tokens, 8, "%lld ended tokens were left for prune()",
                  (long long)report.tokens);
    cr_assert_leq(report.idempotency, 16, "%lld keys were left for prune()",
                  (long long)report.idempotency);
    expect_verify_clean();
}

Test(retention, options_check_the_range)
{
    concert_options o = test_options();
    concert_db *other = NULL;
    o.retention_ms = 999;
    expect_rc(concert_db_open(&other, "memory:", &o), CONCERT_EINVAL);
    o.retention_ms = -1;
    expect_rc(concert_db_open(&other, "memory:", &o), CONCERT_EINVAL);
    o.retention_ms = 0; /* the default */
    expect_ok(concert_db_open(&other, "memory:", &o));
    concert_db_close(other);
}
