/*
 * Time going backwards (issue 14, storage.h "Time may go backwards"): the
 * wall clock can be stepped back, and two threads can read it in one order
 * and reach the store in the other. Each test moves the fake clock forward
 * past a deadline, lets a step see it, then moves it back, and checks that
 * nothing was lost or counted twice: seats sold once, free counts equal to
 * the seat map, the active count equal to the tokens that are ACTIVE,
 * admissions kept, positions never going up, payments and charges applied
 * once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include <concert/sys/storage.h>

#include "harness.h"

#define HOLD_TTL (5 * MINUTE)
#define ACTIVE_TTL (10 * MINUTE)
#define WAIT_TTL (5 * MINUTE)

/* refresh_ms: the db's cached view of the queue (0: none, so that counts
 * are exact at each step; the default 250 ms otherwise). */
static void open_with(int64_t max_active, int64_t wait_ttl, int64_t refresh_ms)
{
    concert_options o = test_options();
    o.max_active = max_active;
    o.queue_refresh_ms = refresh_ms;
    o.active_ttl_ms = ACTIVE_TTL;
    o.wait_ttl_ms = wait_ttl;
    o.hold_ttl_ms = HOLD_TTL;
    clock_set(T0);
    store_open(&o);
    standard_catalog_load();
}

static void setup_time(void)
{
    open_with(100, WAIT_TTL, 0);
}

TestSuite(time_backwards, .init = setup_time, .fini = teardown_store);

/* What every listing of schedule 10 (concert 1) says at the current clock:
 * the free count of concert_schedule_list_get, the length of
 * concert_seats_available, and the seat map's FREE, HELD and SOLD counts. */
typedef struct seat_view {
    int64_t available;
    size_t listed;
    size_t free, held, sold;
    int32_t status[51]; /* by seat number */
} seat_view;

/* The listings need a live ACTIVE token: a viewer's (user 60), taken again
 * at each call, so that it is live at whatever instant the clock shows. */
static seat_view view(void)
{
    seat_view v;
    concert_token_info viewer;
    const char *token;
    concert_schedule_list *schedules = NULL;
    concert_seat_list *seats = NULL;
    concert_seat_map *map = NULL;

    issue_active(60, &viewer);
    token = viewer.token;
    memset(&v, 0, sizeof(v));
    v.available = -1;
    expect_ok(concert_schedule_list_get(&schedules, db, token, 1));
    for (size_t i = 0; i < schedules->count; i++)
        if (schedules->items[i].id == 10)
            v.available = schedules->items[i].available_seats;
    concert_schedule_list_free(schedules);
    expect_ok(concert_seats_available(&seats, db, token, 10));
    v.listed = seats->count;
    concert_seat_list_free(seats);
    expect_ok(concert_seat_map_get(&map, db, token, 10));
    cr_assert_eq(map->count, 50);
    for (size_t i = 0; i < map->count; i++) {
        const concert_seat_state *s = &map->items[i];
        v.status[s->seat.number] = s->status;
        v.free += s->status == CONCERT_SEAT_FREE;
        v.held += s->status == CONCERT_SEAT_HELD;
        v.sold += s->status == CONCERT_SEAT_SOLD;
    }
    concert_seat_map_free(map);
    /* the three listings agree with each other at one instant */
    cr_assert_eq(v.available, (int64_t)v.free, "free count %lld, seat map %zu FREE",
                 (long long)v.available, v.free);
    cr_assert_eq(v.listed, v.free, "seat list %zu, seat map %zu FREE", v.listed, v.free);
    return v;
}

static int memory_store(void)
{
    return strcmp(store_kind(), "memory") == 0;
}

Test(time_backwards, an_expired_and_retaken_hold_stays_gone_when_the_clock_goes_back)
{
    concert_token_info kim, park;
    concert_reservation rk, rp, again;
    concert_payment paid;
    seat_view v;

    issue_active(1, &kim);
    issue_active(3, &park);
    expect_ok(concert_reserve_seat(&rk, db, kim.token, 10, 11));
    cr_assert_eq(view().available, 49);

    /* Kim's hold ran out at T0 + 5 min; Park takes the seat at + 6 min */
    clock_set(T0 + 6 * MINUTE);
    cr_assert_eq(view().available, 50);
    expect_ok(concert_reserve_seat(&rp, db, park.token, 10, 11));
    cr_assert_neq(rp.id, rk.id);
    v = view();
    cr_assert_eq(v.available, 49);
    cr_assert_eq(v.held, 1);

    /* back to + 4 min, when Kim's hold had not run out yet */
    clock_set(T0 + 4 * MINUTE);
    v = view();
    cr_assert_eq(v.available, 49, "one seat under one hold, counted once");
    cr_assert_eq(v.held, 1);
    cr_assert_eq(v.status[11], CONCERT_SEAT_HELD);
    expect_rc(concert_reserve_seat(&again, db, kim.token, 10, 11), CONCERT_ESEAT_TAKEN);
    expect_rc(concert_pay(&paid, db, kim.token, rk.id, NULL), CONCERT_EHOLD_EXPIRED);

    /* a new hold of another seat works, and Park's hold is sold once */
    expect_ok(concert_reserve_seat(&again, db, kim.token, 10, 12));
    expect_ok(concert_pay(&paid, db, park.token, rp.id, NULL));
    v = view();
    cr_assert_eq(v.sold, 1);
    cr_assert_eq(v.held, 1);
    cr_assert_eq(v.available, 48);
    cr_assert_eq(v.status[11], CONCERT_SEAT_SOLD);
    cr_assert_eq(v.status[12], CONCERT_SEAT_HELD);

    /* forward again: Kim's second hold (made at + 4 min) runs out at + 9 */
    clock_set(T0 + 9 * MINUTE);
    v = view();
    cr_assert_eq(v.available, 49);
    cr_assert_eq(v.sold, 1);
}

Test(time_backwards, a_hold_seen_expired_is_counted_once_when_the_clock_goes_back)
{
    concert_token_info kim, park;
    concert_reservation rk, rp;
    concert_payment paid;
    seat_view v;

    issue_active(1, &kim);
    issue_active(3, &park);
    expect_ok(concert_reserve_seat(&rk, db, kim.token, 10, 12));
    clock_set(T0 + 6 * MINUTE);
    v = view();
    cr_assert_eq(v.available, 50);
    cr_assert_eq(v.status[12], CONCERT_SEAT_FREE);

    clock_set(T0 + 4 * MINUTE);
    v = view();
    if (memory_store()) {
        /* the memory store settled the hold at + 6 min: settled stays
         * settled */
        cr_assert_eq(v.status[12], CONCERT_SEAT_FREE);
        expect_rc(concert_pay(&paid, db, kim.token, rk.id, NULL), CONCERT_EHOLD_EXPIRED);
    }
    /* every store: the seat is under at most one hold, and whoever gets it
     * gets it once */
    cr_assert(v.held + v.free == 50 && v.sold == 0);
    int kim_paid = concert_pay(&paid, db, kim.token, rk.id, NULL) == CONCERT_OK;
    int park_held = concert_reserve_seat(&rp, db, park.token, 10, 12) == CONCERT_OK;
    cr_assert(kim_paid != park_held, "Kim paid: %d, Park held: %d: exactly one gets the seat",
              kim_paid, park_held);
    v = view();
    cr_assert_eq(v.sold + v.held, 1);
    cr_assert_eq(v.available, 49);
    if (park_held)
        expect_ok(concert_pay(&paid, db, park.token, rp.id, NULL));
    v = view();
    cr_assert_eq(v.sold, 1);
    cr_assert_eq(v.available, 49);
}

/* A hold limit counts live holds: an expired one that lost its seat does
 * not come back into the count when the clock goes back. */
Test(time_backwards, an_expired_hold_does_not_count_against_the_limit_after_the_clock_goes_back)
{
    concert_options o = test_options();
    concert_token_info kim, park;
    concert_reservation r1, r2, rp;

    o.hold_ttl_ms = HOLD_TTL;
    o.max_holds_per_user = 1;
    clock_set(T0);
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &kim);
    issue_active(3, &park);
    expect_ok(concert_reserve_seat(&r1, db, kim.token, 10, 11));
    clock_set(T0 + 6 * MINUTE);
    expect_ok(concert_reserve_seat(&rp, db, park.token, 10, 11));
    clock_set(T0 + 4 * MINUTE);
    /* Kim has no live hold: seat 11 is Park's now */
    expect_ok(concert_reserve_seat(&r2, db, kim.token, 10, 12));
    (void)view();
}

static int64_t active_count(void)
{
    concert_queue_stats st;
    expect_ok(concert_queue_stats_get(&st, db));
    return st.active;
}

static int32_t state_of(const char *token, concert_token_info *out)
{
    int rc = concert_queue_status_get(out, db, token);
    if (rc == CONCERT_ETOKEN_INVALID)
        return CONCERT_TOKEN_ENDED;
    cr_assert_eq(rc, CONCERT_OK, "queue_status: %s", concert_error_last()->message);
    return out->state;
}

Test(time_backwards, active_tokens_admitted_out_of_deadline_order_expire_and_stay_ended)
{
    concert_token_info a, b, c, d, info;
    concert_reservation r;

    open_with(2, 2 * HOUR, 0);
    /* A is admitted at + 30 min (expires + 40), then the clock steps back
     * and B is admitted at T0 (expires + 10): B runs out first */
    clock_set(T0 + 30 * MINUTE);
    issue_active(1, &a);
    clock_set(T0);
    issue_active(3, &b);
    cr_assert_eq(active_count(), 2);
    expect_ok(concert_queue_issue(&c, db, 4));
    cr_assert_eq(c.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(c.position, 1);

    /* + 11 min: B ran out, A has not: C takes B's place */
    clock_set(T0 + 11 * MINUTE);
    cr_assert_eq(state_of(c.token, &info), CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(state_of(b.token, &info), CONCERT_TOKEN_ENDED);
    cr_assert_eq(active_count(), 2);

    /* back to + 5 min: B stays ended, C stays admitted, the count stays 2 */
    clock_set(T0 + 5 * MINUTE);
    cr_assert_eq(state_of(b.token, &info), CONCERT_TOKEN_ENDED);
    expect_rc(concert_reserve_seat(&r, db, b.token, 10, 11), CONCERT_ETOKEN_INVALID);
    cr_assert_eq(state_of(c.token, &info), CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(state_of(a.token, &info), CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(active_count(), 2);
    expect_ok(concert_queue_issue(&d, db, 5));
    cr_assert_eq(d.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(d.position, 1);
    cr_assert_eq(active_count(), 2);

    /* C's lifetime started at + 11 min: it runs to + 21 even seen from + 5 */
    expect_ok(concert_reserve_seat(&r, db, c.token, 10, 11));

    /* + 22 min: C ran out (A has not): D is admitted, the count stays 2 */
    clock_set(T0 + 22 * MINUTE);
    cr_assert_eq(state_of(d.token, &info), CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(state_of(c.token, &info), CONCERT_TOKEN_ENDED);
    cr_assert_eq(active_count(), 2);

    /* + 41 min: A (+ 40) and D (+ 32) ran out; back to + 25, where both
     * would still run: both stay ended, and a new join takes a free slot */
    clock_set(T0 + 41 * MINUTE);
    cr_assert_eq(active_count(), 0);
    clock_set(T0 + 25 * MINUTE);
    cr_assert_eq(state_of(a.token, &info), CONCERT_TOKEN_ENDED);
    cr_assert_eq(state_of(d.token, &info), CONCERT_TOKEN_ENDED);
    cr_assert_eq(active_count(), 0);
    issue_active(6, &info);
    cr_assert_eq(active_count(), 1, "active %lld", (long long)active_count());
}

Test(time_backwards, waiting_positions_never_go_up_when_the_clock_goes_back)
{
    concert_token_info a, w[4], info;
    int64_t last[4];

    open_with(1, 2 * HOUR, 250);
    issue_active(1, &a);
    for (int i = 0; i < 4; i++) {
        expect_ok(concert_queue_issue(&w[i], db, 4 + i));
        cr_assert_eq(w[i].position, i + 1);
        last[i] = w[i].position;
    }
    /* the clock jumps around; admissions only ever move the line forward */
    const int64_t steps[] = { 11 * MINUTE, 3 * MINUTE, 22 * MINUTE, 1 * MINUTE, 33 * MINUTE,
                              15 * MINUTE, 2 * MINUTE, 44 * MINUTE, 30 * MINUTE };
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        clock_set(T0 + steps[k]);
        int64_t active = active_count();
        cr_assert(active <= 1, "active %lld with max_active 1", (long long)active);
        for (int i = 0; i < 4; i++) {
            int32_t st = state_of(w[i].token, &info);
            int64_t pos = st == CONCERT_TOKEN_WAITING ? info.position : 0;
            cr_assert(pos <= last[i], "step %zu: token %d's position went from %lld to %lld", k, i,
                      (long long)last[i], (long long)pos);
            last[i] = pos;
        }
    }
    /* + 44 min saw everyone through (each ACTIVE for 10 min from its
     * admission): nobody is still waiting */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(last[i], 0, "token %d still waits", i);
}

Test(time_backwards, an_idle_waiting_token_dropped_stays_dropped)
{
    concert_token_info a, w, x, info;

    open_with(1, WAIT_TTL, 0);
    issue_active(1, &a);
    expect_ok(concert_queue_issue(&w, db, 4));
    expect_ok(concert_queue_issue(&x, db, 5));
    cr_assert_eq(w.position, 1);
    /* X keeps polling; W does not and idles out at + 5 min */
    clock_set(T0 + 4 * MINUTE);
    cr_assert_eq(state_of(x.token, &info), CONCERT_TOKEN_WAITING);
    clock_set(T0 + 6 * MINUTE);
    cr_assert_eq(state_of(w.token, &info), CONCERT_TOKEN_ENDED);
    cr_assert_eq(state_of(x.token, &info), CONCERT_TOKEN_WAITING);
    clock_set(T0 + 2 * MINUTE);
    cr_assert_eq(state_of(w.token, &info), CONCERT_TOKEN_ENDED, "a dropped token came back");
    cr_assert_eq(state_of(x.token, &info), CONCERT_TOKEN_WAITING);
    /* X polls at + 2 and + 6 (its idle time counts from its last poll, at
     * the clock's word); A's slot frees at + 10 min: X is next, W is
     * skipped */
    clock_set(T0 + 6 * MINUTE);
    cr_assert_eq(state_of(x.token, &info), CONCERT_TOKEN_WAITING);
    clock_set(T0 + 10 * MINUTE);
    cr_assert_eq(state_of(x.token, &info), CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(state_of(w.token, &info), CONCERT_TOKEN_ENDED);
    cr_assert_eq(active_count(), 1);
}

static int version_equal(const concert_list_version *a, const concert_list_version *b)
{
    return a->epoch == b->epoch && a->changes == b->changes &&
           a->expired_through == b->expired_through && a->past == b->past;
}

/* Equal versions mean equal lists, whichever way the clock moved between
 * them. */
Test(time_backwards, list_versions_still_label_lists_when_the_clock_goes_back)
{
    concert_token_info kim;
    concert_reservation r;
    concert_list_version seen[8];
    seat_view views[8];
    const int64_t at[8] = { 0, 4, 6, 3, 7, 2, 12, 1 };

    issue_active(1, &kim);
    expect_ok(concert_reserve_seat(&r, db, kim.token, 10, 11));
    clock_set(T0 + MINUTE);
    expect_ok(concert_reserve_seat(&r, db, kim.token, 10, 12));
    for (int k = 0; k < 8; k++) {
        clock_set(T0 + at[k] * MINUTE);
        concert_token_info viewer;
        issue_active(60, &viewer);
        expect_ok(concert_seat_list_version_get(&seen[k], db, viewer.token, 10));
        views[k] = view();
        for (int j = 0; j < k; j++)
            if (version_equal(&seen[j], &seen[k]))
                cr_assert(memcmp(views[j].status, views[k].status, sizeof(views[k].status)) == 0 &&
                              views[j].available == views[k].available,
                          "steps %d (+%lld min) and %d (+%lld min): one version, two lists", j,
                          (long long)at[j], k, (long long)at[k]);
    }
}

static int64_t balance_of(int64_t user)
{
    int64_t b;
    expect_ok(concert_points_balance_get(&b, db, user));
    return b;
}

static size_t ledger_length(int64_t user)
{
    concert_ledger_list *l = NULL;
    size_t n;
    expect_ok(concert_ledger_list_get(&l, db, user));
    n = l->count;
    concert_ledger_list_free(l);
    return n;
}

Test(time_backwards, charges_and_payments_apply_once_when_the_clock_goes_back)
{
    concert_token_info kim;
    concert_reservation r;
    concert_payment p1, p2;
    int64_t b1, b2;
    const int64_t start = balance_of(2);
    const size_t entries = ledger_length(2);

    clock_set(T0 + HOUR);
    expect_ok(concert_charge_points(&b1, db, 2, 700, "charge-back-1"));
    clock_set(T0);
    expect_ok(concert_charge_points(&b2, db, 2, 700, "charge-back-1"));
    cr_assert_eq(b1, start + 700);
    cr_assert_eq(b2, b1, "a replay at an earlier now charged again");
    cr_assert_eq(balance_of(2), start + 700);
    cr_assert_eq(ledger_length(2), entries + 1);

    issue_active(1, &kim);
    const int64_t kim_start = balance_of(1);
    expect_ok(concert_reserve_seat(&r, db, kim.token, 10, 11));
    clock_set(T0 + 3 * MINUTE);
    expect_ok(concert_pay(&p1, db, kim.token, r.id, "pay-back-1"));
    clock_set(T0 + MINUTE);
    expect_ok(concert_pay(&p2, db, kim.token, r.id, "pay-back-1"));
    cr_assert_eq(p2.id, p1.id);
    cr_assert_eq(p2.paid_at, p1.paid_at);
    cr_assert_eq(balance_of(1), kim_start - r.price);
    expect_rc(concert_pay(&p2, db, kim.token, r.id, NULL), CONCERT_ETOKEN_INVALID);
    seat_view v = view();
    cr_assert_eq(v.sold, 1);
    cr_assert_eq(v.available, 49);
}

/* Two threads whose `now`s reach the store out of order: each reads its own
 * clock (a per-thread value), and the later one runs first, so the store
 * sees its `now` and then the earlier one. */
static _Thread_local int64_t thread_now;

static int64_t thread_clock(void *ctx)
{
    (void)ctx;
    return thread_now;
}

typedef struct step_arg {
    int64_t now;
    const char *token;
    int64_t seat;
    int rc;
    concert_reservation r;
} step_arg;

static void *hold_at(void *p)
{
    step_arg *a = p;
    thread_now = a->now;
    a->rc = concert_reserve_seat(&a->r, db, a->token, 10, a->seat);
    return NULL;
}

Test(time_backwards, two_threads_whose_nows_arrive_out_of_order)
{
    concert_options o = test_options();
    concert_token_info kim, park;
    concert_reservation rk;
    pthread_t th;

    o.clock = thread_clock;
    o.hold_ttl_ms = HOLD_TTL;
    o.active_ttl_ms = ACTIVE_TTL;
    o.queue_refresh_ms = 0;
    clock_set(T0);
    thread_now = T0;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &kim);
    issue_active(3, &park);
    expect_ok(concert_reserve_seat(&rk, db, kim.token, 10, 11));

    /* Park's thread read + 6 min, Kim's read + 4 min; Park's arrives first */
    step_arg late = { T0 + 6 * MINUTE, park.token, 11, 0, { 0 } };
    step_arg early = { T0 + 4 * MINUTE, kim.token, 11, 0, { 0 } };
    cr_assert_eq(pthread_create(&th, NULL, hold_at, &late), 0);
    pthread_join(th, NULL);
    cr_assert_eq(late.rc, CONCERT_OK, "Park's hold at + 6 min");
    cr_assert_eq(pthread_create(&th, NULL, hold_at, &early), 0);
    pthread_join(th, NULL);
    cr_assert_eq(early.rc, CONCERT_ESEAT_TAKEN, "Kim's late-arriving step at + 4 min took it back");

    thread_now = T0 + 4 * MINUTE;
    seat_view v = view();
    cr_assert_eq(v.held, 1);
    cr_assert_eq(v.available, 49);
}

/* A list's callback runs without the store's lock: it may call back into
 * the db (a buyer holding the seat they are looking at). With the lock held
 * the first call back would deadlock (the test would hang until its
 * timeout). The storage's list methods are called directly, with a db open
 * on that storage; memory only (the durable stores read through their own
 * connections). */
typedef struct reenter {
    const char *token;
    int calls;
    int rc;
} reenter;

static void reenter_record(reenter *r, int rc)
{
    r->calls++;
    if (rc != CONCERT_OK && r->rc == CONCERT_OK)
        r->rc = rc;
}

static int stats_from_callback(void)
{
    concert_queue_stats st;
    return concert_queue_stats_get(&st, db);
}

static int on_seat(void *ctx, const concert_seat *seat)
{
    reenter *r = ctx;
    concert_reservation res;
    /* hold the first three seats listed, from inside the listing */
    if (r->calls < 3)
        reenter_record(r, concert_reserve_seat(&res, db, r->token, 10, seat->number));
    else
        r->calls++;
    return 0;
}

static int on_seat_state(void *ctx, const concert_seat_state *seat)
{
    reenter *r = ctx;
    (void)seat;
    reenter_record(r, stats_from_callback());
    return 0;
}

static int on_schedule(void *ctx, const concert_schedule *sc)
{
    reenter *r = ctx;
    (void)sc;
    reenter_record(r, stats_from_callback());
    return 0;
}

static int on_concert(void *ctx, const concert_concert *c)
{
    reenter *r = ctx;
    (void)c;
    reenter_record(r, stats_from_callback());
    return 0;
}

static int on_user(void *ctx, const concert_user *u)
{
    reenter *r = ctx;
    (void)u;
    reenter_record(r, stats_from_callback());
    return 0;
}

static int on_entry(void *ctx, const concert_ledger_entry *e)
{
    reenter *r = ctx;
    int64_t balance;
    reenter_record(r, concert_points_balance_get(&balance, db, e->user_id));
    return 0;
}

#define expect_reentered(r, min_calls)                                                             \
    do {                                                                                           \
        cr_assert_eq((r).rc, CONCERT_OK, "a call from the callback failed: %s",                    \
                     concert_error_name((r).rc));                                                  \
        cr_assert_geq((r).calls, (min_calls));                                                     \
    } while (0)

Test(time_backwards, a_list_callback_may_call_back_into_the_db, .timeout = 60)
{
    concert_options o = test_options();
    concert_storage *st = NULL;
    concert_token_info kim;
    concert_seat_map *map = NULL;
    int64_t total = 0;

    if (!memory_store())
        cr_skip_test("storage-level list methods: memory store only");
    store_close();
    clock_set(T0);
    cr_assert_eq(concert_storage_memory_open(&st, "", &o), CONCERT_OK);
    cr_assert_eq(concert_db_open_storage(&db, st, &o), CONCERT_OK);
    standard_catalog_load();
    issue_active(1, &kim);

    reenter r = { kim.token, 0, CONCERT_OK };
    expect_ok(st->seats_available(st, 10, clock_now(), on_seat, &r));
    expect_reentered(r, 50);
    expect_ok(concert_seat_map_get(&map, db, kim.token, 10));
    cr_assert_eq(map->items[0].status, CONCERT_SEAT_HELD, "the callback's holds took effect");
    cr_assert_eq(map->items[2].status, CONCERT_SEAT_HELD);
    cr_assert_eq(map->items[3].status, CONCERT_SEAT_FREE);
    concert_seat_map_free(map);

    r = (reenter){ kim.token, 0, CONCERT_OK };
    expect_ok(st->seat_map(st, 10, clock_now(), on_seat_state, &r));
    expect_reentered(r, 50);
    r = (reenter){ kim.token, 0, CONCERT_OK };
    expect_ok(st->schedules_list(st, 1, T0, clock_now(), on_schedule, &r, &total));
    expect_reentered(r, 1);
    r = (reenter){ kim.token, 0, CONCERT_OK };
    expect_ok(st->concerts_list(st, 0, on_concert, &r));
    expect_reentered(r, 5);
    r = (reenter){ kim.token, 0, CONCERT_OK };
    expect_ok(st->users_list(st, on_user, &r));
    expect_reentered(r, 67);
    r = (reenter){ kim.token, 0, CONCERT_OK };
    expect_ok(st->history_list(st, 1, 0, 0, on_entry, &r));
    expect_reentered(r, 1);
}
