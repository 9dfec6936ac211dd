/*
 * A refused token says why in the same words on every store (issue 15):
 * which payment used it, else unknown, else expired or ended. The code stays
 * CONCERT_ETOKEN_INVALID (the HTTP contract and every binding map it).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

TestSuite(token_refusal, .init = setup_store_with_catalog, .fini = teardown_store);

/* The call's code is CONCERT_ETOKEN_INVALID and its message exactly text. */
#define expect_refusal(call, text)                                                                 \
    do {                                                                                           \
        expect_rc(call, CONCERT_ETOKEN_INVALID);                                                   \
        cr_assert_str_eq(concert_error_last()->message, (text), "%s on %s", #call, store_kind());  \
    } while (0)

/* A well-formed token that no store ever issued (32 base64url characters). */
static const char NEVER_ISSUED[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

Test(token_refusal, a_token_spent_by_a_payment_names_the_reservation)
{
    concert_token_info t, s;
    concert_reservation r, r2;
    concert_payment p;
    char used[96];

    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    expect_ok(concert_pay(&p, db, t.token, r.id, NULL));
    snprintf(used, sizeof(used), "token was used by the payment of reservation %lld",
             (long long)r.id);
    /* Paying twice, with or without a (fresh) key, holding, releasing,
     * polling, leaving: every use of the spent token says the same. */
    expect_refusal(concert_pay(&p, db, t.token, r.id, NULL), used);
    expect_refusal(concert_pay(&p, db, t.token, r.id, "fresh-key"), used);
    expect_refusal(concert_reserve_seat(&r2, db, t.token, 10, 3), used);
    expect_refusal(concert_reservation_release(NULL, db, t.token, r.id), used);
    expect_refusal(concert_queue_status_get(&s, db, t.token), used);
    expect_refusal(concert_queue_leave(db, t.token), used);
    /* Still true much later, after the token would have expired anyway. */
    clock_advance(HOUR);
    expect_refusal(concert_pay(&p, db, t.token, r.id, NULL), used);
}

Test(token_refusal, an_order_names_its_first_reservation)
{
    concert_token_info t;
    concert_reservation a, b;
    concert_payment p;
    int64_t ids[2];
    char used[96];

    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&a, db, t.token, 10, 12));
    expect_ok(concert_reserve_seat(&b, db, t.token, 10, 11));
    ids[0] = a.id;
    ids[1] = b.id;
    expect_ok(concert_order_pay(&p, db, t.token, ids, 2, NULL));
    snprintf(used, sizeof(used), "token was used by the payment of reservation %lld",
             (long long)(a.id < b.id ? a.id : b.id));
    expect_refusal(concert_order_pay(&p, db, t.token, ids, 2, NULL), used);
}

Test(token_refusal, the_other_reasons_read_the_same_everywhere)
{
    concert_token_info t, s;
    concert_reservation r;
    concert_payment p;

    expect_refusal(concert_reserve_seat(&r, db, NEVER_ISSUED, 10, 2),
                   "token invalid: unknown token");
    expect_refusal(concert_pay(&p, db, NEVER_ISSUED, 1, NULL), "token invalid: unknown token");
    expect_refusal(concert_queue_status_get(&s, db, NEVER_ISSUED), "token invalid: unknown token");
    expect_refusal(concert_queue_leave(db, NEVER_ISSUED), "token invalid: unknown token");

    /* Left: ended, not by a payment. */
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 2));
    expect_ok(concert_queue_leave(db, t.token));
    expect_refusal(concert_pay(&p, db, t.token, r.id, NULL), "token invalid: expired or ended");
    expect_refusal(concert_queue_status_get(&s, db, t.token), "token invalid: expired or ended");

    /* Expired: an ACTIVE token past its lifetime (10 minutes by default). */
    issue_active(3, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 4));
    clock_advance(HOUR);
    expect_refusal(concert_pay(&p, db, t.token, r.id, NULL), "token invalid: expired or ended");
    expect_refusal(concert_reserve_seat(&r, db, t.token, 10, 5), "token invalid: expired or ended");
    expect_refusal(concert_queue_status_get(&s, db, t.token), "token invalid: expired or ended");
}
