/*
 * Orders (issue 11): several holds paid at once, all or nothing, with one
 * debit, one ledger entry and one payment record.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static void setup_orders(void)
{
    setup_store_with_catalog();
    limits_catalog_load();
}

TestSuite(orders, .init = setup_orders, .fini = teardown_store);

static void expect_clean_store(void)
{
    concert_verify_report *rep = NULL;
    expect_ok(concert_admin_verify(&rep, db));
    cr_assert_eq(rep->violation_count, 0, "verify: %s",
                 rep->violation_count ? rep->violations[0] : "");
    concert_verify_report_free(rep);
}

static int64_t balance_of(int64_t user)
{
    int64_t b = -1;
    expect_ok(concert_points_balance_get(&b, db, user));
    return b;
}

static size_t ledger_count(int64_t user)
{
    concert_ledger_list *h = NULL;
    size_t n;
    expect_ok(concert_ledger_list_get(&h, db, user));
    n = h->count;
    concert_ledger_list_free(h);
    return n;
}

/* Hold seats 10/1 (30000), 10/11 (10000) and 12/1 (5000) for user 1. */
static void hold_three(const char *token, int64_t ids[3])
{
    concert_reservation r;
    expect_ok(concert_reserve_seat(&r, db, token, 10, 11));
    ids[0] = r.id;
    expect_ok(concert_reserve_seat(&r, db, token, 10, 1));
    ids[1] = r.id;
    expect_ok(concert_reserve_seat(&r, db, token, 12, 1));
    ids[2] = r.id;
}

Test(orders, three_holds_pay_once_with_one_ledger_entry)
{
    concert_token_info t;
    concert_payment p;
    concert_reservation r;
    concert_ledger_list *h = NULL;
    concert_seat_list *seats = NULL;
    int64_t ids[3], unordered[3];
    size_t entries_before;

    issue_active(1, &t);
    hold_three(t.token, ids);
    entries_before = ledger_count(1);
    /* Any order of ids: the payment is the same. */
    unordered[0] = ids[2];
    unordered[1] = ids[0];
    unordered[2] = ids[1];
    expect_ok(concert_order_pay(&p, db, t.token, unordered, 3, NULL));
    cr_assert_eq(p.amount, 45000);
    cr_assert_eq(p.balance, 55000);
    cr_assert_eq(p.user_id, 1);
    cr_assert_eq(p.reservation_id, ids[0] < ids[1] ? (ids[0] < ids[2] ? ids[0] : ids[2])
                                                   : (ids[1] < ids[2] ? ids[1] : ids[2]));
    cr_assert_eq(balance_of(1), 55000);
    cr_assert_eq(ledger_count(1), entries_before + 1, "one ledger entry for the order");
    expect_ok(concert_ledger_list_get(&h, db, 1));
    cr_assert_eq(h->items[0].type, CONCERT_LEDGER_PAYMENT);
    cr_assert_eq(h->items[0].amount, -45000);
    cr_assert_eq(h->items[0].balance_after, 55000);
    cr_assert_eq(h->items[0].reservation_id, p.reservation_id);
    concert_ledger_list_free(h);
    /* The token is spent; every reservation is confirmed. */
    expect_rc(concert_reserve_seat(&r, db, t.token, 10, 2), CONCERT_ETOKEN_INVALID);
    issue_active(1, &t);
    for (int i = 0; i < 3; i++) {
        expect_ok(concert_reservation_get(&r, db, t.token, ids[i]));
        cr_assert_eq(r.status, CONCERT_RESERVATION_CONFIRMED);
    }
    /* Sold for good, even after the holds would have run out. */
    clock_advance(10 * MINUTE);
    issue_active(3, &t);
    expect_ok(concert_seats_available(&seats, db, t.token, 10));
    cr_assert_eq(seats->count, 48);
    concert_seat_list_free(seats);
    expect_clean_store();
}

Test(orders, one_expired_hold_fails_the_order_and_changes_nothing)
{
    concert_token_info t;
    concert_payment p;
    concert_reservation r, late;
    int64_t ids[3];
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 11));
    ids[0] = r.id;
    clock_advance(2 * MINUTE);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 1));
    ids[1] = r.id;
    expect_ok(concert_reserve_seat(&late, db, t.token, 12, 1));
    ids[2] = late.id;
    clock_advance(3 * MINUTE); /* the first hold has just run out */
    expect_rc(concert_order_pay(&p, db, t.token, ids, 3, NULL), CONCERT_EHOLD_EXPIRED);
    cr_assert_eq(balance_of(1), 100000);
    expect_ok(concert_reservation_get(&r, db, t.token, ids[1]));
    cr_assert_eq(r.status, CONCERT_RESERVATION_HELD, "the others are still held");
    /* The token survived the failed order: the live holds can still be paid. */
    expect_ok(concert_order_pay(&p, db, t.token, ids + 1, 2, NULL));
    cr_assert_eq(p.amount, 35000);
    expect_clean_store();
}

Test(orders, a_foreign_or_paid_reservation_fails_the_whole_order)
{
    concert_token_info a, b;
    concert_payment p;
    concert_reservation r;
    int64_t ids[2];
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 11));
    ids[0] = r.id;
    expect_ok(concert_reserve_seat(&r, db, b.token, 10, 12));
    ids[1] = r.id;
    expect_rc(concert_order_pay(&p, db, a.token, ids, 2, NULL), CONCERT_EFORBIDDEN);
    cr_assert_eq(balance_of(1), 100000);
    cr_assert_eq(balance_of(3), 50000);
    /* Paid already: ALREADY_PAID, and the rest stays held. */
    expect_ok(concert_pay(&p, db, b.token, ids[1], NULL));
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, b.token, 10, 13));
    ids[0] = r.id;
    expect_rc(concert_order_pay(&p, db, b.token, ids, 2, NULL), CONCERT_EALREADY_PAID);
    expect_ok(concert_reservation_get(&r, db, b.token, ids[0]));
    cr_assert_eq(r.status, CONCERT_RESERVATION_HELD);
    expect_clean_store();
}

Test(orders, not_enough_points_for_the_total_changes_nothing)
{
    concert_token_info t;
    concert_payment p;
    concert_reservation r;
    int64_t ids[2];
    issue_active(102, &t); /* 150 points; seats of concert 7 cost 100 */
    expect_ok(concert_reserve_seat(&r, db, t.token, 70, 1));
    ids[0] = r.id;
    expect_ok(concert_reserve_seat(&r, db, t.token, 70, 2));
    ids[1] = r.id;
    expect_rc(concert_order_pay(&p, db, t.token, ids, 2, NULL), CONCERT_EINSUFFICIENT_POINTS);
    cr_assert_eq(balance_of(102), 150);
    expect_ok(concert_pay(&p, db, t.token, ids[0], NULL));
    cr_assert_eq(p.balance, 50);
    expect_clean_store();
}

Test(orders, bad_lists_are_refused_before_the_store)
{
    concert_token_info t;
    concert_payment p;
    concert_reservation r;
    int64_t ids[CONCERT_ORDER_MAX + 1];
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 11));
    ids[0] = ids[1] = r.id;
    expect_rc(concert_order_pay(&p, db, t.token, ids, 2, NULL), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "twice"), "%s", concert_error_last()->message);
    expect_rc(concert_order_pay(&p, db, t.token, ids, 0, NULL), CONCERT_EINVAL);
    expect_rc(concert_order_pay(&p, db, t.token, NULL, 1, NULL), CONCERT_EINVAL);
    for (int i = 0; i <= CONCERT_ORDER_MAX; i++)
        ids[i] = i + 1;
    expect_rc(concert_order_pay(&p, db, t.token, ids, CONCERT_ORDER_MAX + 1, NULL), CONCERT_EINVAL);
    cr_assert_eq(balance_of(1), 100000);
}

Test(orders, the_key_covers_the_set_of_ids)
{
    concert_token_info t;
    concert_payment p, again;
    int64_t ids[3], reversed[3], two[2];
    issue_active(1, &t);
    hold_three(t.token, ids);
    expect_ok(concert_order_pay(&p, db, t.token, ids, 3, "order-1"));
    /* A retry after the token was spent, ids in another order: the same payment. */
    reversed[0] = ids[2];
    reversed[1] = ids[1];
    reversed[2] = ids[0];
    expect_ok(concert_order_pay(&again, db, t.token, reversed, 3, "order-1"));
    cr_assert_eq(again.id, p.id);
    cr_assert_eq(again.amount, 45000);
    cr_assert_eq(again.balance, 55000);
    cr_assert_eq(balance_of(1), 55000);
    /* Another set under the same key is a reuse. */
    two[0] = ids[0];
    two[1] = ids[1];
    expect_rc(concert_order_pay(&again, db, t.token, two, 2, "order-1"),
              CONCERT_EIDEMPOTENCY_KEY_REUSED);
    expect_rc(concert_pay(&again, db, t.token, ids[0], "order-1"), CONCERT_EIDEMPOTENCY_KEY_REUSED);
    expect_clean_store();
}

Test(orders, keys_are_scoped_to_their_user)
{
    concert_token_info a, b;
    concert_payment pa, pb;
    concert_reservation r;
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 11));
    expect_ok(concert_pay(&pa, db, a.token, r.id, "same-key"));
    expect_ok(concert_reserve_seat(&r, db, b.token, 10, 12));
    expect_ok(concert_pay(&pb, db, b.token, r.id, "same-key"));
    cr_assert_neq(pa.id, pb.id, "one user's key never replays another's payment");
    cr_assert_eq(pb.user_id, 3);
}

Test(orders, blank_padded_and_non_ascii_keys_are_invalid_everywhere)
{
    concert_token_info t;
    concert_payment p;
    concert_reservation r;
    int64_t bal;
    const char *bad[] = { "", " ", "a ", " a", "a\tb", "caf\xc3\xa9", "\xff", "a\nb" };
    char longest[CONCERT_IDEMPOTENCY_KEY_MAX + 2];
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 11));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_rc(concert_pay(&p, db, t.token, r.id, bad[i]), CONCERT_EINVAL);
        expect_rc(concert_charge_points(&bal, db, 2, 10, bad[i]), CONCERT_EINVAL);
    }
    memset(longest, 'k', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    expect_rc(concert_charge_points(&bal, db, 2, 10, longest), CONCERT_EINVAL);
    longest[sizeof longest - 2] = '\0'; /* exactly the maximum */
    expect_ok(concert_charge_points(&bal, db, 2, 10, longest));
    expect_ok(concert_charge_points(&bal, db, 2, 10, "~!key-with_punctuation.{}"));
    cr_assert_eq(balance_of(2), 20);
    cr_assert_eq(balance_of(1), 100000);
}
