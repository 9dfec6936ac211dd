/*
 * The memory backend's verify finds what it is meant to find. A store built
 * through the library's own steps never breaks an invariant, so this test
 * compiles the backend into itself (white box) and breaks each invariant by
 * hand, then expects exactly the matching violation.
 *
 * Linking: the backend's sources (lib/storage/memory*.c) are compiled into
 * this test (tests/memory_backend.cmake), so they define
 * concert_storage_memory_open and the memory__ helpers themselves and the
 * static library's copies are never pulled in.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../lib/storage/memory_internal.h"

#define T0 INT64_C(1800000000000)
#define MINUTE INT64_C(60000)

static concert_storage *st;
static memory_store *ms;
static const concert_queue_params QP = { 10 * MINUTE, 5 * MINUTE, NULL, NULL, 86400000 };
static const char TOKEN_1[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1";

typedef struct seen {
    size_t count;
    char text[8][256];
} seen;

static int collect(void *ctx, const char *text)
{
    seen *s = ctx;
    if (s->count < 8)
        snprintf(s->text[s->count], sizeof(s->text[0]), "%s", text);
    s->count++;
    return 0;
}

static int hold(int64_t schedule, int64_t seat, const char *token, concert_reservation *out)
{
    concert_hold_request req;
    memset(&req, 0, sizeof(req));
    req.schedule_id = schedule;
    req.seat_number = seat;
    req.token = token;
    req.now = T0;
    req.hold_until = T0 + 5 * MINUTE;
    req.concert_id = 1;
    req.queue = QP;
    return st->seat_hold(st, &req, out);
}

/* Users 1 (1000 pts) and 2 (0); schedule 10 with seats 1-5 at 100; user 1
 * holds seats 1 and 2 and pays for seat 1 (which ends the token). */
static void setup(void)
{
    static const concert_catalog_seat_range seats[] = { { 1, 5, "R", 100 } };
    static const concert_catalog_schedule schedules[] = { { 10, T0 + 86400000, seats, 1 } };
    static const concert_catalog_concert concerts[] = { { 1, "Gala", CONCERT_STATUS_OPEN, 0,
                                                          schedules, 1 } };
    static const concert_catalog_user users[] = { { 1, "Kim", 1000 }, { 2, "Lee", 0 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 2, concerts, 1 };
    concert_storage_token t;
    concert_reservation r;
    concert_pay_request pay;
    concert_payment out;
    int64_t paid;

    concert_options o = CONCERT_OPTIONS_INIT;

    o.max_active = 10;
    cr_assert_eq(concert_storage_memory_open(&st, "", &o), 0);
    ms = memory__store_of(st);
    cr_assert_eq(st->catalog_load(st, &c, T0), 0);
    cr_assert_eq(st->queue_issue(st, &QP, 1, TOKEN_1, T0, &t), 0);
    cr_assert_eq(hold(10, 1, TOKEN_1, &r), 0);
    paid = r.id;
    cr_assert_eq(hold(10, 2, TOKEN_1, &r), 0);
    memset(&pay, 0, sizeof(pay));
    pay.reservation_ids = &paid;
    pay.count = 1;
    pay.token = TOKEN_1;
    pay.now = T0;
    pay.queue = QP;
    cr_assert_eq(st->pay(st, &pay, &out), 0);
}

static void teardown(void)
{
    st->free(st);
    st = NULL;
    ms = NULL;
}

TestSuite(memory_verify, .init = setup, .fini = teardown);

static seen verify_at(const concert_queue_params *p, int64_t now)
{
    concert_verify_report report;
    seen s;
    memset(&s, 0, sizeof(s));
    memset(&report, 0, sizeof(report));
    cr_assert_eq(st->verify(st, p, now, collect, &s, &report), 0);
    return s;
}

static void expect_one(const seen *s, const char *needle)
{
    cr_assert_eq(s->count, 1, "expected one violation, got %zu (first: %s)", s->count,
                 s->count ? s->text[0] : "-");
    cr_assert(strstr(s->text[0], needle), "violation \"%s\" should mention \"%s\"", s->text[0],
              needle);
}

Test(memory_verify, an_untouched_store_is_clean)
{
    seen s = verify_at(&QP, T0);
    cr_assert_eq(s.count, 0, "%s", s.text[0]);
}

Test(memory_verify, balance_that_is_not_the_sum_of_the_ledger)
{
    seen s;
    ms->users[1].balance = 5; /* user 2 has no ledger entries */
    s = verify_at(&QP, T0);
    expect_one(&s, "user 2: balance 5 but the ledger sums to 0");
}

Test(memory_verify, negative_balance)
{
    seen s;
    /* user 1: opening 1000, payment -100: make the payment -1100 */
    ms->ledger[1].amount = -1100;
    ms->users[0].balance = -100;
    ms->payments[0].amount = 1100;
    ms->reservations[0].price = 1100;
    ms->schedules[0].ranges[0].price = 1100;
    s = verify_at(&QP, T0);
    expect_one(&s, "user 1: negative balance -100");
}

Test(memory_verify, sold_seat_without_its_payment)
{
    seen s;
    ms->reservations[0].payment = 0;
    s = verify_at(&QP, T0);
    cr_assert_eq(s.count, 2, "%s", s.text[0]);
    cr_assert(strstr(s.text[0], "reservation 1: CONFIRMED without a payment"), "%s", s.text[0]);
    cr_assert(strstr(s.text[1], "payment 1: no reservation refers to it"), "%s", s.text[1]);
}

Test(memory_verify, payment_that_names_another_reservation)
{
    seen s;
    ms->payments[0].reservation_id = 2; /* the payment now claims the other reservation */
    s = verify_at(&QP, T0);
    expect_one(&s, "payment 1: names reservation 2, its first is 1");
}

Test(memory_verify, held_reservation_that_refers_to_a_payment)
{
    seen s;
    ms->reservations[1].payment = 1;
    s = verify_at(&QP, T0);
    expect_one(&s, "reservation 2: not CONFIRMED but refers to payment 1");
}

Test(memory_verify, payment_with_no_reservation)
{
    seen s;
    ms->reservations[0].payment = 2;
    ms->payments[1] = ms->payments[0];
    ms->payments_count = 2;
    s = verify_at(&QP, T0);
    expect_one(&s, "payment 1: no reservation refers to it");
}

Test(memory_verify, sold_seat_paid_the_wrong_amount)
{
    seen s;
    ms->payments[0].amount = 99;
    s = verify_at(&QP, T0);
    expect_one(&s, "payment 1: amount 99, its 1 reservations cost 100");
}

Test(memory_verify, sold_seat_sold_at_another_price)
{
    seen s;
    ms->reservations[0].price = 90;
    ms->payments[0].amount = 90;
    s = verify_at(&QP, T0);
    expect_one(&s, "schedule 10 seat 1: sold at 90 points, price is 100");
}

Test(memory_verify, reservation_paid_by_another_users_payment)
{
    seen s;
    ms->payments[0].user_id = 2;
    s = verify_at(&QP, T0);
    expect_one(&s, "reservation 1: user 1's, paid by payment 1 of user 2");
}

Test(memory_verify, released_reservation_still_pointed_at_by_its_seat)
{
    seen s;
    ms->reservations[1].status = CONCERT_RESERVATION_RELEASED;
    s = verify_at(&QP, T0);
    expect_one(&s, "schedule 10 seat 2 points at reservation 2, which was released");
}

Test(memory_verify, live_hold_the_limit_does_not_count)
{
    seen s;
    ms->users[0].hold_head = 0;
    s = verify_at(&QP, T0);
    expect_one(&s, "reservation 2: a live hold its user's limit does not count");
    /* an expired hold needs no counting */
    s = verify_at(&QP, T0 + 5 * MINUTE);
    cr_assert_eq(s.count, 0, "%s", s.text[0]);
}

Test(memory_verify, chain_of_holds_with_a_cycle)
{
    seen s;
    ms->reservations[1].next_hold = 2; /* reservation 2 points at itself */
    s = verify_at(&QP, T0);
    expect_one(&s, "user 1: chain of holds broken at reservation 2");
}

Test(memory_verify, chain_of_holds_with_a_wrong_back_link)
{
    seen s;
    ms->reservations[1].prev_hold = 1;
    s = verify_at(&QP, T0);
    expect_one(&s, "user 1: chain of holds broken at reservation 2");
}

Test(memory_verify, token_whose_user_index_names_another_user)
{
    seen s;
    memory__token(ms, 0)->user = 1;
    s = verify_at(&QP, T0);
    expect_one(&s, "token 1: user 1, but its user index names another");
}

Test(memory_verify, purchase_count_out_of_step)
{
    static const concert_catalog_seat_range seats[] = { { 1, 5, "R", 100 } };
    static const concert_catalog_schedule schedules[] = { { 20, T0 + 86400000, seats, 1 } };
    static const concert_catalog_concert concerts[] = { { 2, "Limited", CONCERT_STATUS_OPEN, 2,
                                                          schedules, 1 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, NULL, 0, concerts, 1 };
    concert_storage_token t;
    concert_reservation r;
    concert_pay_request pay;
    concert_payment out;
    seen s;

    cr_assert_eq(st->catalog_load(st, &c, T0), 0);
    cr_assert_eq(st->queue_issue(st, &QP, 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB1", T0, &t), 0);
    cr_assert_eq(hold(20, 1, t.info.token, &r), 0);
    memset(&pay, 0, sizeof(pay));
    pay.reservation_ids = &r.id;
    pay.count = 1;
    pay.token = t.info.token;
    pay.now = T0;
    pay.queue = QP;
    cr_assert_eq(st->pay(st, &pay, &out), 0);
    s = verify_at(&QP, T0);
    cr_assert_eq(s.count, 0, "%s", s.text[0]);
    cr_assert_eq(ms->users[0].bought_count, 1);
    ms->users[0].bought[0].confirmed = 2;
    s = verify_at(&QP, T0);
    expect_one(&s, "user 1: 2 purchases of concert 2 counted, 1 made");
}

Test(memory_verify, ledger_entry_missing_from_its_users_index)
{
    seen s;
    ms->users[0].ledger_count = 1; /* the payment's entry falls out */
    ms->users[0].balance = 1000;
    s = verify_at(&QP, T0);
    expect_one(&s, "ledger: 2 entries but the users' indexes list 1");
}

Test(memory_verify, confirmed_reservation_whose_seat_is_not_sold_to_it)
{
    seen s;
    ms->reservations[1].status = CONCERT_RESERVATION_CONFIRMED; /* seat 2, never paid */
    ms->reservations[1].seat = 0;                               /* ... and claims seat 1 */
    s = verify_at(&QP, T0);
    cr_assert_geq(s.count, 1);
    cr_assert(strstr(s.text[s.count - 1], "reservation 2: CONFIRMED but seat"), "%s",
              s.text[s.count - 1]);
}

Test(memory_verify, seat_sold_and_under_a_live_hold)
{
    seen s;
    /* the live hold moves onto sold seat 1 */
    ms->schedules[0].seats[1] = 0;
    ms->reservations[1].seat = 0;
    ms->reservations[1].seat_number = 1;
    s = verify_at(&QP, T0);
    expect_one(&s, "seat 1 of schedule 10: sold to reservation 1 and under a live hold by "
                   "reservation 2");
    /* once that hold has run out it is no longer a violation */
    s = verify_at(&QP, T0 + 5 * MINUTE);
    cr_assert_eq(s.count, 0, "%s", s.text[0]);
}

Test(memory_verify, more_live_active_tokens_than_max_active)
{
    concert_storage_token t;
    seen s;
    cr_assert_eq(st->queue_issue(st, &QP, 2, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB2", T0, &t), 0);
    cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
    ms->settings.max_active = 0; /* the limit, not a lowering through configure */
    s = verify_at(&QP, T0);
    expect_one(&s, "queue: 1 live active tokens, max_active is 0");
}

/* Users 3..2+n, each issued a token at T0. */
static void more_tokens(int n)
{
    concert_catalog_user users[16];
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, (size_t)n, NULL, 0 };
    concert_storage_token t;
    char text[40];
    cr_assert_leq(n, 16);
    for (int i = 0; i < n; i++) {
        users[i].id = 3 + i;
        users[i].name = "more";
        users[i].points = 0;
    }
    cr_assert_eq(st->catalog_load(st, &c, T0), 0);
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDD%02d", i % 100);
        cr_assert_eq(st->queue_issue(st, &QP, 3 + i, text, T0, &t), 0);
    }
}

static void lower_max_active(int64_t to)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings after;
    u.fields = CONCERT_QUEUE_SET_MAX_ACTIVE;
    u.max_active = to;
    cr_assert_eq(st->queue_configure(st, &QP, &u, T0, &after), 0);
}

Test(memory_verify, lowering_max_active_below_the_active_count_is_no_violation)
{
    seen s;
    more_tokens(4);
    lower_max_active(2);
    s = verify_at(&QP, T0);
    cr_assert_eq(s.count, 0, "nobody is evicted, and that is fine: %s", s.text[0]);
    /* but one more than were active when it was lowered is */
    ms->active_grace = 3;
    s = verify_at(&QP, T0);
    expect_one(&s, "queue: 4 live active tokens, max_active is 2 and 3 were active when it "
                   "was lowered");
}

static void schedule_with_prequeue(void)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings after;
    u.fields = CONCERT_QUEUE_SET_OPENS_AT;
    u.opens_at = T0 + 60 * MINUTE;
    cr_assert_eq(st->queue_configure(st, &QP, &u, T0, &after), 0);
    more_tokens(3);
    cr_assert_eq(ms->tokens.end - ms->prequeue_from, 3);
}

Test(memory_verify, a_prequeued_token_admitted_before_the_opening)
{
    seen s;
    schedule_with_prequeue();
    s = verify_at(&QP, T0);
    cr_assert_eq(s.count, 0, "%s", s.text[0]);
    /* token 3 of the array: the second to join the pre-queue */
    memory__token(ms, ms->prequeue_from + 1)->state = CONCERT_TOKEN_ACTIVE;
    s = verify_at(&QP, T0);
    expect_one(&s, "queue: pre-queued token 3 is ACTIVE before the opening");
}

Test(memory_verify, a_prequeued_token_ended_behind_the_counts_back)
{
    seen s;
    schedule_with_prequeue();
    memory__token(ms, ms->prequeue_from)->state = CONCERT_TOKEN_ENDED;
    s = verify_at(&QP, T0);
    expect_one(&s, "queue: 1 pre-queued tokens ended but 0 counted");
}

Test(memory_verify, admission_reaching_into_the_prequeue)
{
    seen s;
    schedule_with_prequeue();
    ms->admitted_through = ms->prequeue_from + 1;
    s = verify_at(&QP, T0);
    expect_one(&s, "into the pre-queue");
}

Test(memory_verify, active_count_out_of_step_with_the_tokens)
{
    seen s;
    ms->active_count = 3;
    s = verify_at(&QP, T0);
    expect_one(&s, "queue: active count 3 but 0 tokens are ACTIVE");
}

/* ---- the windows and their indexes agree ---- */

Test(memory_verify, a_kept_token_missing_from_the_index)
{
    seen s;
    cr_assert_eq(mem_index_remove(&ms->token_ix, memory__token_hash(ms, memory__token(ms, 0)),
                                  MEM_WINDOW_LOW(0)),
                 0);
    s = verify_at(&QP, T0);
    expect_one(&s, "token 1: not in the token index under its text");
}

Test(memory_verify, an_index_entry_of_no_kept_token)
{
    seen s;
    cr_assert_eq(mem_index_reserve(&ms->token_ix, 1), 0);
    mem_index_insert(&ms->token_ix, UINT64_C(0x123456789abcdef), MEM_WINDOW_LOW(7));
    s = verify_at(&QP, T0);
    expect_one(&s, "tokens: 2 in the index, 1 kept");
}

Test(memory_verify, an_idempotency_record_missing_from_its_index)
{
    int32_t replayed;
    concert_charge_request req = { 2,        5,        CONCERT_MAX_BALANCE, T0, "key", "amount=5",
                                   86400000, &replayed };
    int64_t balance;
    seen s;
    cr_assert_eq(st->charge(st, &req, &balance), 0);
    s = verify_at(&QP, T0);
    cr_assert_eq(s.count, 0, "%s", s.text[0]);
    cr_assert_eq(
        mem_index_remove(&ms->idem_ix, memory__idem_hash(memory__idem(ms, 0)), MEM_WINDOW_LOW(0)),
        0);
    s = verify_at(&QP, T0);
    expect_one(&s, "idempotency record 1: not in the index under its key");
}

Test(memory_verify, a_live_token_that_is_not_its_users_newest)
{
    concert_storage_token t;
    seen s;
    cr_assert_eq(st->queue_issue(st, &QP, 2, "a-token-of-lee", T0, &t), 0);
    ms->users[1].last_ticket = MEM_WINDOW_LOW(0); /* names Kim's token */
    s = verify_at(&QP, T0);
    expect_one(&s, "token 2: not ended, but not user 2's newest");
}

/* The free counts come from each schedule's held count: one that drifted
 * from the holds it counts (an expiry settled twice, or never) is found. */
Test(memory_verify, held_count_that_drifted_from_its_holds)
{
    seen s;
    ms->schedules[0].held_count++;
    s = verify_at(&QP, T0);
    expect_one(&s, "schedule 10: held count");
}
