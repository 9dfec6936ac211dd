/*
 * concert_charge_points_ex (issue 15): a keyed charge says whether it
 * replayed an earlier one, so that a caller counting money needs no second
 * read. The same on every store.
 */
#include <criterion/criterion.h>

#include "harness.h"

TestSuite(charge_result, .init = setup_store_with_catalog, .fini = teardown_store);

static concert_charge_result fresh(void)
{
    concert_charge_result r = { .version = CONCERT_CHARGE_RESULT_VERSION };
    return r;
}

Test(charge_result, a_keyed_repeat_reports_replayed_and_charges_once)
{
    concert_charge_result r = fresh();
    int64_t bal;

    expect_ok(concert_charge_points_ex(&r, db, 2, 700, "top-up-1"));
    cr_assert_eq(r.replayed, 0, "the first charge is new");
    cr_assert_eq(r.balance, 700);
    cr_assert_eq(r.version, CONCERT_CHARGE_RESULT_VERSION);
    clock_advance(MINUTE);
    r = fresh();
    expect_ok(concert_charge_points_ex(&r, db, 2, 700, "top-up-1"));
    cr_assert_eq(r.replayed, 1, "the same key and amount replay");
    cr_assert_eq(r.balance, 700, "the first result");
    /* The old call replays the same way, and agrees. */
    expect_ok(concert_charge_points(&bal, db, 2, 700, "top-up-1"));
    cr_assert_eq(bal, 700);
    expect_ok(concert_points_balance_get(&bal, db, 2));
    cr_assert_eq(bal, 700, "charged once");
    /* A new key is new again; no key is always new. */
    r = fresh();
    expect_ok(concert_charge_points_ex(&r, db, 2, 300, "top-up-2"));
    cr_assert_eq(r.replayed, 0);
    cr_assert_eq(r.balance, 1000);
    r = fresh();
    expect_ok(concert_charge_points_ex(&r, db, 2, 5, NULL));
    cr_assert_eq(r.replayed, 0);
    cr_assert_eq(r.balance, 1005);
}

Test(charge_result, refusals_leave_a_zeroed_result)
{
    concert_charge_result r = fresh();

    expect_ok(concert_charge_points_ex(&r, db, 2, 700, "k"));
    r.replayed = 7;
    r.balance = 7;
    expect_rc(concert_charge_points_ex(&r, db, 2, 701, "k"), CONCERT_EIDEMPOTENCY_KEY_REUSED);
    cr_assert_eq(r.replayed, 0);
    cr_assert_eq(r.balance, 0);
    expect_rc(concert_charge_points_ex(&r, db, 999999, 1, NULL), CONCERT_EUSER_NOT_FOUND);
    expect_rc(concert_charge_points_ex(NULL, db, 2, 1, NULL), CONCERT_EINVAL);
    r.version = 0;
    expect_rc(concert_charge_points_ex(&r, db, 2, 1, NULL), CONCERT_EINVAL);
    r.version = CONCERT_CHARGE_RESULT_VERSION + 1;
    expect_rc(concert_charge_points_ex(&r, db, 2, 1, NULL), CONCERT_EINVAL);
}
