/* Holds and payment: rules 11-13. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

TestSuite(booking, .init = setup_store_with_catalog, .fini = teardown_store);

Test(booking, reserving_a_free_seat_holds_it_for_hold_ttl)
{
    concert_token_info t;
    concert_reservation r, again;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 5));
    cr_assert_gt(r.id, 0);
    cr_assert_eq(r.user_id, 1);
    cr_assert_eq(r.schedule_id, 10);
    cr_assert_eq(r.seat_number, 5);
    cr_assert_eq(r.price, 30000);
    cr_assert_eq(r.status, CONCERT_RESERVATION_HELD);
    cr_assert_eq(r.is_new, 1);
    cr_assert_eq(r.held_until, T0 + 300 * SECOND);
    expect_ok(concert_reservation_get(&again, db, t.token, r.id));
    cr_assert_eq(again.id, r.id);
    cr_assert_eq(again.status, CONCERT_RESERVATION_HELD);
    cr_assert_eq(again.is_new, 0);
}

Test(booking, reserving_your_own_held_seat_returns_the_same_reservation)
{
    concert_token_info t;
    concert_reservation a, b;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&a, db, t.token, 10, 5));
    clock_advance(SECOND);
    expect_ok(concert_reserve_seat(&b, db, t.token, 10, 5));
    cr_assert_eq(a.id, b.id);
    cr_assert_eq(b.is_new, 0);
    cr_assert_eq(b.held_until, a.held_until, "a repeat does not extend the hold");
}

Test(booking, seat_held_by_another_or_sold_is_taken)
{
    concert_token_info a, b;
    concert_reservation r;
    concert_payment p;
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 5));
    expect_rc(concert_reserve_seat(&r, db, b.token, 10, 5), CONCERT_ESEAT_TAKEN);
    expect_ok(concert_reserve_seat(&r, db, b.token, 12, 1));
    expect_ok(concert_pay(&p, db, b.token, r.id, NULL));
    issue_active(3, &b);
    expect_rc(concert_reserve_seat(&r, db, b.token, 12, 1), CONCERT_ESEAT_TAKEN);
    expect_rc(concert_reserve_seat(&r, db, a.token, 12, 1), CONCERT_ESEAT_TAKEN);
}

Test(booking, missing_seat_or_schedule_and_closed_ones)
{
    concert_token_info t;
    concert_reservation r;
    issue_active(1, &t);
    expect_rc(concert_reserve_seat(&r, db, t.token, 10, 51), CONCERT_ESEAT_NOT_FOUND);
    expect_rc(concert_reserve_seat(&r, db, t.token, 10, 0), CONCERT_ESEAT_NOT_FOUND);
    expect_rc(concert_reserve_seat(&r, db, t.token, 10, -3), CONCERT_ESEAT_NOT_FOUND);
    expect_rc(concert_reserve_seat(&r, db, t.token, 999, 1), CONCERT_ESCHEDULE_NOT_FOUND);
    expect_rc(concert_reserve_seat(&r, db, t.token, 11, 1), CONCERT_EBOOKING_CLOSED);
    expect_rc(concert_reserve_seat(&r, db, t.token, 20, 1), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_reserve_seat(&r, db, t.token, 30, 1), CONCERT_ECONCERT_NOT_BOOKABLE);
}

Test(booking, expired_hold_frees_the_seat_at_once_and_reads_expired)
{
    concert_token_info a, b;
    concert_reservation r, mine, theirs;
    concert_payment p;
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 7));
    clock_advance(300 * SECOND - 1);
    expect_rc(concert_reserve_seat(&theirs, db, b.token, 10, 7), CONCERT_ESEAT_TAKEN);
    clock_advance(1);
    expect_ok(concert_reservation_get(&mine, db, a.token, r.id));
    cr_assert_eq(mine.status, CONCERT_RESERVATION_EXPIRED);
    expect_ok(concert_reserve_seat(&theirs, db, b.token, 10, 7));
    cr_assert_eq(theirs.status, CONCERT_RESERVATION_HELD);
    /* The late payment can never take the seat the other buyer holds now. */
    expect_rc(concert_pay(&p, db, a.token, r.id, NULL), CONCERT_EHOLD_EXPIRED);
    expect_ok(concert_pay(&p, db, b.token, theirs.id, NULL));
}

Test(booking, expired_hold_cannot_be_paid_even_when_nobody_took_the_seat)
{
    concert_token_info a;
    concert_reservation r;
    concert_payment p;
    int64_t bal;
    issue_active(1, &a);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 7));
    clock_advance(301 * SECOND);
    expect_rc(concert_pay(&p, db, a.token, r.id, NULL), CONCERT_EHOLD_EXPIRED);
    expect_ok(concert_points_balance_get(&bal, db, 1));
    cr_assert_eq(bal, 100000);
}

Test(booking, re_reserving_after_expiry_makes_a_new_hold)
{
    concert_token_info a;
    concert_reservation r1, r2;
    issue_active(1, &a);
    expect_ok(concert_reserve_seat(&r1, db, a.token, 10, 7));
    clock_advance(301 * SECOND);
    expect_ok(concert_reserve_seat(&r2, db, a.token, 10, 7));
    cr_assert_neq(r1.id, r2.id);
    cr_assert_eq(r2.is_new, 1);
}

Test(booking, paying_debits_ledgers_sells_confirms_and_ends_the_token)
{
    concert_token_info t, s, next;
    concert_reservation r, after;
    concert_payment p;
    concert_ledger_list *h = NULL;
    concert_seat_list *seats = NULL;
    int64_t bal;

    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    clock_advance(10 * SECOND);
    expect_ok(concert_pay(&p, db, t.token, r.id, NULL));
    cr_assert_gt(p.id, 0);
    cr_assert_eq(p.reservation_id, r.id);
    cr_assert_eq(p.user_id, 1);
    cr_assert_eq(p.amount, 30000);
    cr_assert_eq(p.balance, 70000);
    cr_assert_eq(p.paid_at, T0 + 10 * SECOND);
    expect_ok(concert_points_balance_get(&bal, db, 1));
    cr_assert_eq(bal, 70000);
    expect_ok(concert_ledger_list_get(&h, db, 1));
    cr_assert_eq(h->count, 2);
    cr_assert_eq(h->items[0].type, CONCERT_LEDGER_PAYMENT, "newest first");
    cr_assert_eq(h->items[0].amount, -30000);
    cr_assert_eq(h->items[0].balance_after, 70000);
    cr_assert_eq(h->items[0].reservation_id, r.id);
    cr_assert_eq(h->items[1].type, CONCERT_LEDGER_CHARGE);
    concert_ledger_list_free(h);

    /* Token ended; the reservation stays readable with the user's next token. */
    expect_rc(concert_queue_status_get(&s, db, t.token), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_reservation_get(&after, db, t.token, r.id), CONCERT_ETOKEN_INVALID);
    issue_active(1, &next);
    cr_assert_eq(next.is_new, 1);
    expect_ok(concert_reservation_get(&after, db, next.token, r.id));
    cr_assert_eq(after.status, CONCERT_RESERVATION_CONFIRMED);
    clock_advance(DAY / 2);
    issue_active(1, &next);
    expect_ok(concert_reservation_get(&after, db, next.token, r.id));
    cr_assert_eq(after.status, CONCERT_RESERVATION_CONFIRMED, "confirmed never expires");
    expect_ok(concert_seats_available(&seats, db, next.token, 10));
    for (size_t i = 0; i < seats->count; i++)
        cr_assert_neq(seats->items[i].number, 2, "seat 2 is sold for good");
    concert_seat_list_free(seats);
}

Test(booking, payment_frees_the_active_slot_for_the_next_in_line)
{
    concert_options o = test_options();
    concert_token_info a, w;
    concert_reservation r;
    concert_payment p;
    o.max_active = 1;
    store_open(&o);
    standard_catalog_load();
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&w, db, 3));
    cr_assert_eq(w.state, CONCERT_TOKEN_WAITING);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 2));
    expect_ok(concert_pay(&p, db, a.token, r.id, NULL));
    expect_ok(concert_queue_status_get(&w, db, w.token));
    cr_assert_eq(w.state, CONCERT_TOKEN_ACTIVE);
}

Test(booking, someone_elses_or_missing_reservation)
{
    concert_token_info a, b;
    concert_reservation r, got;
    concert_payment p;
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 2));
    expect_rc(concert_reservation_get(&got, db, b.token, r.id), CONCERT_EFORBIDDEN);
    expect_rc(concert_pay(&p, db, b.token, r.id, NULL), CONCERT_EFORBIDDEN);
    expect_rc(concert_reservation_get(&got, db, a.token, 424242), CONCERT_ERESERVATION_NOT_FOUND);
    expect_rc(concert_pay(&p, db, a.token, 424242, NULL), CONCERT_ERESERVATION_NOT_FOUND);
    expect_rc(concert_pay(&p, db, a.token, 0, NULL), CONCERT_ERESERVATION_NOT_FOUND);
}

Test(booking, insufficient_points_changes_nothing)
{
    concert_token_info t;
    concert_reservation r, got;
    concert_payment p;
    concert_ledger_list *h = NULL;
    int64_t bal;
    issue_active(2, &t); /* Lee has 0 points */
    expect_ok(concert_reserve_seat(&r, db, t.token, 12, 3));
    expect_rc(concert_pay(&p, db, t.token, r.id, NULL), CONCERT_EINSUFFICIENT_POINTS);
    expect_ok(concert_points_balance_get(&bal, db, 2));
    cr_assert_eq(bal, 0);
    expect_ok(concert_ledger_list_get(&h, db, 2));
    cr_assert_eq(h->count, 0);
    concert_ledger_list_free(h);
    expect_ok(concert_reservation_get(&got, db, t.token, r.id));
    cr_assert_eq(got.status, CONCERT_RESERVATION_HELD, "the hold and the token survive");
    /* Charge, then pay with the same token. */
    expect_ok(concert_charge_points(NULL, db, 2, 5000, NULL));
    expect_ok(concert_pay(&p, db, t.token, r.id, NULL));
    cr_assert_eq(p.balance, 0);
}

Test(booking, paying_twice_is_already_paid_or_token_invalid)
{
    concert_token_info t, next;
    concert_reservation r;
    concert_payment p;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    expect_ok(concert_pay(&p, db, t.token, r.id, NULL));
    expect_rc(concert_pay(&p, db, t.token, r.id, NULL), CONCERT_ETOKEN_INVALID);
    issue_active(1, &next);
    expect_rc(concert_pay(&p, db, next.token, r.id, NULL), CONCERT_EALREADY_PAID);
}

Test(booking, idempotent_payment_replays_even_after_the_token_ended)
{
    concert_token_info t, next;
    concert_reservation r, r2;
    concert_payment p, again;
    int64_t bal;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    expect_ok(concert_pay(&p, db, t.token, r.id, "order-42"));
    clock_advance(MINUTE);
    expect_ok(concert_pay(&again, db, t.token, r.id, "order-42"));
    cr_assert_eq(memcmp(&p, &again, sizeof(p)), 0, "the replay returns the original payment");
    expect_ok(concert_points_balance_get(&bal, db, 1));
    cr_assert_eq(bal, 70000, "charged once");
    /* Same key, other arguments: reused. */
    issue_active(1, &next);
    expect_ok(concert_reserve_seat(&r2, db, next.token, 10, 3));
    expect_rc(concert_pay(&again, db, next.token, r2.id, "order-42"),
              CONCERT_EIDEMPOTENCY_KEY_REUSED);
    expect_ok(concert_pay(&again, db, next.token, r2.id, "order-43"));
    /* A replay a day later still works (keys are kept at least 24 h). */
    clock_advance(DAY);
    expect_ok(concert_pay(&again, db, t.token, r.id, "order-42"));
    cr_assert_eq(again.id, p.id);
}

Test(booking, idempotency_key_limits)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    char key[300];
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    memset(key, 'k', sizeof(key));
    key[256] = '\0';
    expect_rc(concert_pay(&p, db, t.token, r.id, key), CONCERT_EINVAL);
    key[255] = '\0';
    expect_ok(concert_pay(&p, db, t.token, r.id, key));
}

Test(booking, ended_token_without_key_cannot_pay)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    expect_ok(concert_queue_leave(db, t.token));
    expect_rc(concert_pay(&p, db, t.token, r.id, NULL), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_pay(&p, db, t.token, r.id, "fresh-key"), CONCERT_ETOKEN_INVALID);
}

Test(booking, verify_is_clean_after_a_day_of_sales)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    concert_verify_report *rep = NULL;
    for (int u = 4; u < 20; u++) {
        issue_active(u, &t);
        expect_ok(concert_charge_points(NULL, db, u, 10000, NULL));
        expect_ok(concert_reserve_seat(&r, db, t.token, 10, 20 + u));
        if (u % 2 == 0)
            expect_ok(concert_pay(&p, db, t.token, r.id, NULL));
        clock_advance(MINUTE);
    }
    int rc = concert_admin_verify(&rep, db);
    if (rc == CONCERT_ENOTSUP)
        cr_skip_test("backend cannot verify");
    expect_ok(rc);
    cr_assert_eq(rep->violation_count, 0, "first violation: %s",
                 rep->violation_count ? rep->violations[0] : "");
    cr_assert_gt(rep->users, 0);
    cr_assert_eq(rep->seats_sold, 8);
    cr_assert_eq(rep->payments, 8);
    concert_verify_report_free(rep);
}
