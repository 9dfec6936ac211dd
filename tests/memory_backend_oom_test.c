/*
 * Out of memory in the in-memory backend: every mutating step, with the
 * allocator made to fail from its k-th call on (k = 0, 1, 2, ... until the
 * step succeeds), returns CONCERT_ENOMEM and leaves the store exactly as it
 * was, and the store keeps working afterwards.
 *
 * The allocator is interposed by defining malloc/calloc/realloc in this
 * executable (glibc's own versions stay reachable as __libc_*), so this test
 * is built only without sanitizers, which interpose the allocator themselves.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <concert/concert.h>
#include <concert/sys/storage.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

/* -1: never fail; else the number of allocations still allowed. */
static _Atomic long allowed = -1;

static int allocation_fails(void)
{
    long left = atomic_load(&allowed);
    if (left < 0)
        return 0;
    if (left == 0)
        return 1;
    atomic_store(&allowed, left - 1);
    return 0;
}

void *malloc(size_t size)
{
    return allocation_fails() ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return allocation_fails() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    return allocation_fails() ? NULL : __libc_realloc(p, size);
}

#define T0 INT64_C(1800000000000)
#define MINUTE INT64_C(60000)

/* The lottery's shuffle here: a fixed order (reversed), so that the step
 * that succeeds after a failure gives the same result. */
static int reverse_shuffle(void *ctx, int64_t *items, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n / 2; i++) {
        int64_t t = items[i];
        items[i] = items[n - 1 - i];
        items[n - 1 - i] = t;
    }
    return 0;
}

static concert_storage *st;
static const concert_queue_params QP = { 10 * MINUTE, 5 * MINUTE, reverse_shuffle, NULL,
                                         1440 * MINUTE };
static const char TOKEN_1[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1";
static const char TOKEN_2[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2";

static const concert_catalog_seat_range SEATS[] = { { 1, 10, "A", 100 }, { 20, 29, "B", 50 } };
static const concert_catalog_schedule SCHEDULES[] = { { 10, T0 + 86400000, SEATS, 2 },
                                                      { 11, T0 + 90000000, SEATS, 1 } };
/* Schedule 12's concert limits each buyer to 3 seats (held plus bought). */
static const concert_catalog_schedule LIMITED[] = { { 12, T0 + 86400000, SEATS, 1 } };
static const concert_catalog_concert CONCERTS[] = {
    { 1, "Gala", CONCERT_STATUS_OPEN, 0, SCHEDULES, 2 },
    { 5, "Limited", CONCERT_STATUS_OPEN, 3, LIMITED, 1 }
};
static const concert_catalog_user USERS[] = { { 1, "Kim", 1000 }, { 2, "Lee", 0 } };

static void store_fresh(void)
{
    concert_catalog c = { CONCERT_CATALOG_VERSION, USERS, 2, CONCERTS, 2 };
    concert_options o = CONCERT_OPTIONS_INIT;
    o.max_active = 2;
    if (st)
        st->free(st);
    cr_assert_eq(concert_storage_memory_open(&st, "", &o), CONCERT_OK);
    cr_assert_eq(st->catalog_load(st, &c, T0), CONCERT_OK);
}

static void store_close(void)
{
    if (st)
        st->free(st);
    st = NULL;
}

TestSuite(memory_oom, .fini = store_close);

/* ---- a digest of everything observable ---- */

typedef struct digest {
    int64_t users, balance_sum, ledger, concerts, free_seats, reservations, payments;
    int64_t active, waiting, last_ticket, admitted_through;
    int64_t max_active, state, opens_at, prequeued;
    char text[2048];
} digest;

/* Token texts of the pre-queue setup, whose tickets the digest records. */
enum {
    PREQUEUED = 6
};
static void prequeue_text(int i, char out[CONCERT_TOKEN_SIZE])
{
    snprintf(out, CONCERT_TOKEN_SIZE, "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCC%02d", i);
}

static int add_user(void *ctx, const concert_user *u)
{
    digest *d = ctx;
    size_t n = strlen(d->text);
    d->users++;
    d->balance_sum += u->balance;
    snprintf(d->text + n, sizeof(d->text) - n, "u%lld=%lld;", (long long)u->id,
             (long long)u->balance);
    return 0;
}

static int add_concert(void *ctx, const concert_concert *c)
{
    (void)c;
    ((digest *)ctx)->concerts++;
    return 0;
}

static int add_entry(void *ctx, const concert_ledger_entry *e)
{
    digest *d = ctx;
    size_t n = strlen(d->text);
    snprintf(d->text + n, sizeof(d->text) - n, "e%lld=%lld;", (long long)e->id,
             (long long)e->amount);
    return 0;
}

static int add_seat(void *ctx, const concert_seat *s)
{
    (void)s;
    ((digest *)ctx)->free_seats++;
    return 0;
}

static int add_violation(void *ctx, const char *text)
{
    cr_log_error("violation: %s", text);
    ++*(int *)ctx;
    return 0;
}

static digest digest_take(void)
{
    concert_verify_report report;
    concert_queue_stats stats;
    digest d;
    int violations = 0;

    memset(&d, 0, sizeof(d));
    memset(&report, 0, sizeof(report));
    cr_assert_eq(st->users_list(st, add_user, &d), 0);
    cr_assert_eq(st->concerts_list(st, 0, add_concert, &d), 0);
    cr_assert_eq(st->seats_available(st, 10, T0, add_seat, &d), 0);
    cr_assert_eq(st->seats_available(st, 11, T0, add_seat, &d), 0);
    cr_assert_eq(st->seats_available(st, 12, T0, add_seat, &d), 0);
    cr_assert_eq(st->history_list(st, 1, 0, 0, add_entry, &d), 0);
    cr_assert_eq(st->history_list(st, 2, 0, 0, add_entry, &d), 0);
    cr_assert_eq(st->verify(st, &QP, T0, add_violation, &violations, &report), 0);
    cr_assert_eq(violations, 0);
    d.ledger = report.ledger_entries;
    d.reservations = report.reservations;
    d.payments = report.payments;
    /* every reservation's state */
    for (int64_t id = 1; id <= d.reservations; id++) {
        concert_reservation r;
        size_t n = strlen(d.text);
        cr_assert_eq(st->reservation_get(st, id, &r), 0);
        snprintf(d.text + n, sizeof(d.text) - n, "r%lld=%d;", (long long)id, r.status);
    }
    /* queue_stats runs admission: with nothing to admit or expire at T0 it
     * changes nothing, and the setups below leave nothing to admit */
    cr_assert_eq(st->queue_stats(st, &QP, T0, &stats), 0);
    d.active = stats.active;
    d.waiting = stats.waiting;
    d.last_ticket = stats.last_ticket;
    d.admitted_through = stats.admitted_through;
    d.max_active = stats.max_active;
    d.state = stats.state;
    d.opens_at = stats.opens_at;
    d.prequeued = stats.prequeued;
    /* where each pre-queue token stands (a status at T0 only rewrites
     * last_seen with the T0 it already has) */
    for (int i = 0; i < PREQUEUED; i++) {
        char text[CONCERT_TOKEN_SIZE];
        concert_storage_token t;
        size_t n = strlen(d.text);
        int rc;
        prequeue_text(i, text);
        rc = st->queue_status(st, &QP, text, T0, &t);
        snprintf(d.text + n, sizeof(d.text) - n, "t%d=%d/%lld/%lld/%d;", i, rc,
                 rc ? 0LL : (long long)t.ticket, rc ? 0LL : (long long)t.info.position,
                 rc ? 0 : (int)t.info.state);
    }
    return d;
}

static void digest_expect_same(const digest *a, const digest *b, long k)
{
    cr_assert_str_eq(a->text, b->text, "failing from allocation %ld changed balances", k);
    cr_assert(a->users == b->users && a->ledger == b->ledger && a->concerts == b->concerts &&
                  a->free_seats == b->free_seats && a->reservations == b->reservations &&
                  a->payments == b->payments && a->active == b->active &&
                  a->waiting == b->waiting && a->last_ticket == b->last_ticket &&
                  a->admitted_through == b->admitted_through && a->max_active == b->max_active &&
                  a->state == b->state && a->opens_at == b->opens_at &&
                  a->prequeued == b->prequeued,
              "failing from allocation %ld changed the store", k);
}

typedef void (*setup_fn)(void);
typedef int (*step_fn)(void);

/* For k = 0, 1, ...: set up, fail allocations from the k-th on during the
 * step, expect ENOMEM and no change, then the same step succeeds unhindered.
 * Returns how many failure points were exercised. */
static long run_until_it_fits(setup_fn setup, step_fn step)
{
    for (long k = 0; k < 10000; k++) {
        digest before, after;
        int rc;

        store_fresh();
        setup();
        before = digest_take();
        atomic_store(&allowed, k);
        rc = step();
        atomic_store(&allowed, -1);
        if (rc == CONCERT_OK)
            return k;
        cr_assert_eq(rc, CONCERT_ENOMEM, "allocation %ld failing gave %s", k,
                     concert_error_name(rc));
        after = digest_take();
        digest_expect_same(&before, &after, k);
        cr_assert_eq(step(), CONCERT_OK, "the store must work after ENOMEM (k = %ld)", k);
    }
    cr_assert_fail("the step never succeeded");
    return -1;
}

static void nothing(void)
{
}

static concert_storage_token issued;
static concert_reservation held;

static void one_active_token(void)
{
    cr_assert_eq(st->queue_issue(st, &QP, 1, TOKEN_1, T0, &issued), 0);
}

/* A hold by TOKEN_1 under a store-wide limit of max_holds (0: none); the
 * per-concert limit of schedule 12's concert applies there. */
static int hold_seat(int64_t schedule, int64_t seat, int64_t max_holds)
{
    concert_hold_request req;
    memset(&req, 0, sizeof(req));
    req.schedule_id = schedule;
    req.seat_number = seat;
    req.token = TOKEN_1;
    req.now = T0;
    req.hold_until = T0 + 5 * MINUTE;
    req.concert_id = schedule == 12 ? 5 : 1;
    req.max_per_concert = schedule == 12 ? 3 : 0;
    req.max_holds = schedule == 12 ? 0 : max_holds;
    req.queue = QP;
    return st->seat_hold(st, &req, &held);
}

static void token_and_hold(void)
{
    one_active_token();
    cr_assert_eq(hold_seat(10, 3, 4), 0);
}

/* Three holds in the limited concert, to pay as one order. */
static int64_t order_ids[3];
static void token_and_three_limited_holds(void)
{
    static const int64_t seats[] = { 1, 2, 3 };
    one_active_token();
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hold_seat(12, seats[i], 0), 0);
        order_ids[i] = held.id;
    }
}

/* Sixteen tokens fill the arrays' first capacity, so the next one grows them. */
static void sixteen_tokens(void)
{
    concert_catalog_user users[16];
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 16, NULL, 0 };
    concert_storage_token t;
    char text[40];
    for (int i = 0; i < 16; i++) {
        users[i].id = 200 + i;
        users[i].name = "filler";
        users[i].points = 0;
    }
    cr_assert_eq(st->catalog_load(st, &c, T0), 0);
    for (int i = 0; i < 16; i++) {
        snprintf(text, sizeof(text), "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB%02d", i);
        cr_assert_eq(st->queue_issue(st, &QP, 200 + i, text, T0, &t), 0);
    }
}

/* A queue SCHEDULED to open at T0 + 1 s, with six pre-queued tokens (users
 * 300..305). */
static void prequeue_of_six(void)
{
    concert_catalog_user users[PREQUEUED];
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, PREQUEUED, NULL, 0 };
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings after;
    concert_storage_token t;
    char text[CONCERT_TOKEN_SIZE];
    for (int i = 0; i < PREQUEUED; i++) {
        users[i].id = 300 + i;
        users[i].name = "early";
        users[i].points = 0;
    }
    cr_assert_eq(st->catalog_load(st, &c, T0), 0);
    u.fields = CONCERT_QUEUE_SET_OPENS_AT;
    u.opens_at = T0 + 1000;
    cr_assert_eq(st->queue_configure(st, &QP, &u, T0, &after), 0);
    for (int i = 0; i < PREQUEUED; i++) {
        prequeue_text(i, text);
        cr_assert_eq(st->queue_issue(st, &QP, 300 + i, text, T0, &t), 0);
        cr_assert_eq(t.info.position, CONCERT_POSITION_PREQUEUE);
    }
}

/* The opening, run by whichever step comes first after opens_at. */
static int step_opening_by_stats(void)
{
    concert_queue_stats stats;
    int rc = st->queue_stats(st, &QP, T0 + 1000, &stats);
    if (rc == 0)
        cr_assert(stats.state == CONCERT_QUEUE_OPEN && stats.prequeued == 0 &&
                      stats.last_ticket == PREQUEUED && stats.active == 2,
                  "the opening did not happen as it should");
    return rc;
}

static int step_opening_by_a_join(void)
{
    int rc = st->queue_issue(st, &QP, 2, TOKEN_2, T0 + 1000, &issued);
    if (rc == 0)
        cr_assert(issued.ticket == PREQUEUED + 1, "the join must queue behind the lottery");
    return rc;
}

static int step_open_now(void)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings after;
    u.fields = CONCERT_QUEUE_SET_STATE;
    u.state = CONCERT_QUEUE_OPEN;
    return st->queue_configure(st, &QP, &u, T0, &after);
}

static int step_catalog(void)
{
    static const concert_catalog_seat_range seats[] = { { 1, 3000, "R", 10 } };
    static const concert_catalog_schedule schedules[] = { { 30, T0, seats, 1 },
                                                          { 31, T0, seats, 1 } };
    static const concert_catalog_concert concerts[] = {
        { 3, "More", CONCERT_STATUS_OPEN, 0, schedules, 2 },
        { 2, "Empty", CONCERT_STATUS_PENDING, 0, NULL, 0 }
    };
    concert_catalog_user users[40];
    char names[40][16];
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 40, concerts, 2 };
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "user %d", i);
        users[i].id = 100 + i;
        users[i].name = names[i];
        users[i].points = i % 2 ? 5 : 0;
    }
    return st->catalog_load(st, &c, T0);
}

static int step_issue(void)
{
    return st->queue_issue(st, &QP, 2, TOKEN_2, T0, &issued);
}

static int step_issue_verbatim(void)
{
    return st->queue_issue(st, &QP, 2, "not-the-usual-shape", T0, &issued);
}

static int step_hold(void)
{
    return hold_seat(10, 25, 4);
}

static int step_pay_order(void)
{
    concert_pay_request req;
    concert_payment out;
    int rc;
    memset(&req, 0, sizeof(req));
    req.reservation_ids = order_ids;
    req.count = 3;
    req.token = TOKEN_1;
    req.now = T0;
    req.idempotency_key = "order-1";
    req.fingerprint = "reservations=1,2,3";
    req.queue = QP;
    rc = st->pay(st, &req, &out);
    if (rc == 0)
        cr_assert(out.amount == 300 && out.balance == 700, "the order paid %lld",
                  (long long)out.amount);
    return rc;
}

static int step_release(void)
{
    concert_release_request req;
    concert_reservation out;
    memset(&req, 0, sizeof(req));
    req.reservation_id = held.id;
    req.token = TOKEN_1;
    req.now = T0;
    req.queue = QP;
    return st->reservation_release(st, &req, &out);
}

static int step_pay_with_key(void)
{
    concert_pay_request req;
    concert_payment out;
    memset(&req, 0, sizeof(req));
    req.reservation_ids = &held.id;
    req.count = 1;
    req.token = TOKEN_1;
    req.now = T0;
    req.idempotency_key = "pay-1";
    req.fingerprint = "reservation=1";
    req.queue = QP;
    return st->pay(st, &req, &out);
}

static int step_charge_with_key(void)
{
    int32_t replayed;
    concert_charge_request req = { 2,          70,          CONCERT_MAX_BALANCE, T0,
                                   "charge-1", "amount=70", 1440 * MINUTE,       &replayed };
    int64_t balance;
    return st->charge(st, &req, &balance);
}

Test(memory_oom, catalog_load_is_all_or_nothing)
{
    cr_assert_gt(run_until_it_fits(nothing, step_catalog), 5);
}

Test(memory_oom, queue_issue)
{
    cr_assert_gt(run_until_it_fits(sixteen_tokens, step_issue), 0);
    cr_assert_gt(run_until_it_fits(one_active_token, step_issue_verbatim), 0);
}

Test(memory_oom, the_opening_lottery_is_all_or_nothing)
{
    /* the lottery allocates its order, a copy of the block and a check */
    cr_assert_geq(run_until_it_fits(prequeue_of_six, step_opening_by_stats), 3);
    cr_assert_geq(run_until_it_fits(prequeue_of_six, step_opening_by_a_join), 3);
    cr_assert_geq(run_until_it_fits(prequeue_of_six, step_open_now), 3);
}

Test(memory_oom, seat_hold)
{
    cr_assert_gt(run_until_it_fits(one_active_token, step_hold), 0);
}

Test(memory_oom, pay_for_an_order_in_a_limited_concert)
{
    /* the payment record, the purchase count and the idempotency record */
    cr_assert_geq(run_until_it_fits(token_and_three_limited_holds, step_pay_order), 3);
}

Test(memory_oom, release_allocates_nothing)
{
    cr_assert_eq(run_until_it_fits(token_and_hold, step_release), 0);
}

Test(memory_oom, pay_with_an_idempotency_key)
{
    cr_assert_gt(run_until_it_fits(token_and_hold, step_pay_with_key), 0);
}

Test(memory_oom, charge_with_an_idempotency_key)
{
    cr_assert_gt(run_until_it_fits(nothing, step_charge_with_key), 0);
}

static int count_violation(void *ctx, const char *text)
{
    (void)text;
    ++*(int *)ctx;
    return 0;
}

Test(memory_oom, verify_reports_enomem_and_changes_nothing)
{
    concert_verify_report report;
    int violations = 0, rc;
    store_fresh();
    token_and_hold();
    atomic_store(&allowed, 0);
    rc = st->verify(st, &QP, T0, count_violation, &violations, &report);
    atomic_store(&allowed, -1);
    cr_assert_eq(rc, CONCERT_ENOMEM);
    cr_assert_eq(violations, 0);
}
