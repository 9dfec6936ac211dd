/* Points: rule 14 and the charge side of rule 15. */
#include <criterion/criterion.h>

#include "harness.h"

TestSuite(points, .init = setup_store_with_catalog, .fini = teardown_store);

Test(points, charge_adds_and_ledgers)
{
    int64_t bal = -1;
    concert_ledger_list *h = NULL;
    expect_ok(concert_charge_points(&bal, db, 2, 2500, NULL));
    cr_assert_eq(bal, 2500);
    clock_advance(SECOND);
    expect_ok(concert_charge_points(&bal, db, 2, 500, NULL));
    cr_assert_eq(bal, 3000);
    expect_ok(concert_ledger_list_get(&h, db, 2));
    cr_assert_eq(h->user_id, 2);
    cr_assert_eq(h->count, 2);
    cr_assert_eq(h->items[0].amount, 500);
    cr_assert_eq(h->items[0].balance_after, 3000);
    cr_assert_eq(h->items[0].at, T0 + SECOND);
    cr_assert_eq(h->items[0].type, CONCERT_LEDGER_CHARGE);
    cr_assert_eq(h->items[1].amount, 2500);
    cr_assert_gt(h->items[0].id, h->items[1].id);
    concert_ledger_list_free(h);
}

Test(points, unknown_user)
{
    int64_t bal;
    concert_ledger_list *h = NULL;
    expect_rc(concert_charge_points(&bal, db, 999, 10, NULL), CONCERT_EUSER_NOT_FOUND);
    expect_rc(concert_points_balance_get(&bal, db, 999), CONCERT_EUSER_NOT_FOUND);
    expect_rc(concert_ledger_list_get(&h, db, 999), CONCERT_EUSER_NOT_FOUND);
    expect_rc(concert_points_balance_get(&bal, db, -1), CONCERT_EUSER_NOT_FOUND);
    cr_assert_null(h);
}

Test(points, amount_must_be_1_to_a_billion)
{
    int64_t bal;
    expect_rc(concert_charge_points(&bal, db, 2, 0, NULL), CONCERT_EINVALID_AMOUNT);
    expect_rc(concert_charge_points(&bal, db, 2, -100, NULL), CONCERT_EINVALID_AMOUNT);
    expect_rc(concert_charge_points(&bal, db, 2, CONCERT_MAX_CHARGE + 1, NULL),
              CONCERT_EINVALID_AMOUNT);
    expect_rc(concert_charge_points(&bal, db, 2, INT64_MAX, NULL), CONCERT_EINVALID_AMOUNT);
    expect_ok(concert_charge_points(&bal, db, 2, CONCERT_MAX_CHARGE, NULL));
    cr_assert_eq(bal, CONCERT_MAX_CHARGE);
    expect_ok(concert_charge_points(&bal, db, 2, 1, NULL));
}

Test(points, balance_may_not_pass_2_pow_53_minus_1)
{
    concert_catalog_user rich[] = { { 500, "Rich", CONCERT_MAX_BALANCE - 10 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, rich, 1, NULL, 0 };
    int64_t bal;
    expect_ok(concert_catalog_load(db, &c));
    expect_rc(concert_charge_points(&bal, db, 500, 11, NULL), CONCERT_EINVALID_AMOUNT);
    expect_ok(concert_points_balance_get(&bal, db, 500));
    cr_assert_eq(bal, CONCERT_MAX_BALANCE - 10);
    expect_ok(concert_charge_points(&bal, db, 500, 10, NULL));
    cr_assert_eq(bal, CONCERT_MAX_BALANCE);
}

Test(points, idempotent_charge)
{
    int64_t a, b;
    concert_ledger_list *h = NULL;
    expect_ok(concert_charge_points(&a, db, 2, 700, "topup-1"));
    clock_advance(HOUR);
    expect_ok(concert_charge_points(&b, db, 2, 700, "topup-1"));
    cr_assert_eq(a, 700);
    cr_assert_eq(b, 700, "the replay reports the original balance");
    expect_rc(concert_charge_points(&b, db, 2, 800, "topup-1"), CONCERT_EIDEMPOTENCY_KEY_REUSED);
    expect_ok(concert_ledger_list_get(&h, db, 2));
    cr_assert_eq(h->count, 1);
    concert_ledger_list_free(h);
    /* Keys belong to a user: another user's same key is independent. */
    expect_ok(concert_charge_points(&b, db, 3, 700, "topup-1"));
    cr_assert_eq(b, 50700);
    /* And they are kept a day later. */
    clock_advance(25 * HOUR);
    expect_ok(concert_charge_points(&b, db, 2, 700, "topup-1"));
    expect_ok(concert_points_balance_get(&b, db, 2));
    cr_assert_eq(b, 700);
}

Test(points, charge_and_pay_keys_do_not_collide)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    expect_ok(concert_charge_points(NULL, db, 1, 10, "same-key"));
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 12, 1));
    expect_ok(concert_pay(&p, db, t.token, r.id, "same-key"));
}
