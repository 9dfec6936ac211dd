/*
 * The waiting room for a real on-sale (issue 10), on every store: polls
 * served from the db's cache, the shared settings and states, the
 * admit_per_minute pacer, the scheduled opening with its lottery, bad input.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "counting.h"
#include "harness.h"
#include "internal.h"

TestSuite(waiting_room, .init = setup_store_with_catalog, .fini = teardown_store);

/* Users 4..67 of the standard catalog are plain buyers. */
#define FIRST_BUYER 4
#define BUYERS 64

/* The db's cache lifetime for open_store(); tests that need every read fresh
 * set it to 0 first (each Criterion test runs in its own process). */
static int64_t refresh_ms = CONCERT_DEFAULT_QUEUE_REFRESH_MS;

static void open_store(int64_t max_active, int64_t per_minute, int counted)
{
    concert_options o = test_options();
    o.queue_refresh_ms = refresh_ms;
    o.max_active = max_active;
    o.admit_per_minute = per_minute;
    o.active_ttl_ms = 6 * HOUR; /* nothing ends by itself during a test */
    o.wait_ttl_ms = 5 * MINUTE;
    if (counted)
        store_open_counted(&o);
    else
        store_open(&o);
    standard_catalog_load();
}

static concert_queue_stats fresh_stats(void)
{
    concert_queue_stats s;
    /* The view is at most queue_refresh_ms old: step past it. */
    clock_advance(SECOND);
    expect_ok(concert_queue_stats_get(&s, db));
    return s;
}

/* The store's own answer for token, bypassing the core's cache. */
static concert_storage_token truth(const char *token)
{
    concert_storage_token t;
    concert_storage *s = store_inner();
    memset(&t, 0, sizeof(t));
    expect_ok(s->queue_status(s, &db->queue, token, clock_now(), &t));
    return t;
}

Test(waiting_room, polls_skip_the_store_and_positions_never_run_ahead)
{
    concert_token_info tok[BUYERS], now_info;
    int64_t last[BUYERS];
    long polls = 0, store_during_polls = 0;

    open_store(4, 0, 1);
    for (int i = 0; i < BUYERS; i++) {
        expect_ok(concert_queue_issue(&tok[i], db, FIRST_BUYER + i));
        last[i] = tok[i].state == CONCERT_TOKEN_WAITING ? tok[i].position : 0;
    }
    cr_assert_eq(tok[BUYERS - 1].state, CONCERT_TOKEN_WAITING);

    /* Two fake minutes: every waiting buyer polls every 2 s; now and then an
     * active buyer gives its place back, so the horizon moves. */
    for (int round = 0; round < 60; round++) {
        clock_advance(2 * SECOND);
        if (round % 5 == 4) {
            for (int i = 0; i < BUYERS; i++) {
                if (last[i] == 0 && tok[i].token[0]) {
                    expect_ok(concert_queue_leave(db, tok[i].token));
                    tok[i].token[0] = '\0';
                    break;
                }
            }
        }
        for (int i = 0; i < BUYERS; i++) {
            long before;
            if (!tok[i].token[0] || last[i] == 0)
                continue;
            before = store_calls();
            expect_ok(concert_queue_status_get(&now_info, db, tok[i].token));
            store_during_polls += store_calls() - before;
            polls++;
            if (now_info.state == CONCERT_TOKEN_ACTIVE) {
                last[i] = 0;
                continue;
            }
            cr_assert_eq(now_info.state, CONCERT_TOKEN_WAITING);
            cr_assert_leq(now_info.position, last[i], "position went up: %lld -> %lld",
                          (long long)last[i], (long long)now_info.position);
            {
                concert_storage_token t = truth(tok[i].token);
                if (t.info.state == CONCERT_TOKEN_WAITING)
                    cr_assert_geq(now_info.position, t.info.position,
                                  "position %lld runs ahead of the store's %lld",
                                  (long long)now_info.position, (long long)t.info.position);
            }
            last[i] = now_info.position;
        }
    }
    cr_assert_gt(polls, 1000);
    cr_assert_leq(store_during_polls * 10, polls,
                  "%ld of %ld polls reached the store (at most 1 in 10 may)", store_during_polls,
                  polls);
    /* Admissions happened through the refreshes alone. */
    cr_assert_gt(fresh_stats().admitted_through, 4);
}

Test(waiting_room, refresh_zero_always_reads_the_store)
{
    concert_options o = test_options();
    concert_token_info a, b;
    long before;

    o.max_active = 1;
    o.queue_refresh_ms = 0;
    store_open_counted(&o);
    standard_catalog_load();
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&b, db, 2));
    before = store_calls();
    for (int i = 0; i < 5; i++)
        expect_ok(concert_queue_status_get(&b, db, b.token));
    cr_assert_eq(store_calls() - before, 5);
}

Test(waiting_room, cached_poll_writes_the_idle_clock_through)
{
    concert_token_info a, b;
    open_store(1, 0, 1);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&b, db, 2));
    /* Polled every 10 s for 20 minutes (wait_ttl 5 min): never dropped, and
     * the deadline reported is always the store's own. */
    for (int i = 0; i < 120; i++) {
        clock_advance(10 * SECOND);
        expect_ok(concert_queue_status_get(&b, db, b.token));
        cr_assert_eq(b.state, CONCERT_TOKEN_WAITING);
        /* The store's deadline, written through every quarter of wait_ttl:
         * always at least three quarters of it ahead, never more than all. */
        cr_assert_geq(b.expires_at - clock_now(), 3 * MINUTE);
        cr_assert_leq(b.expires_at - clock_now(), 5 * MINUTE);
    }
    /* Silence for wait_ttl: dropped. */
    clock_advance(5 * MINUTE);
    expect_rc(concert_queue_status_get(&b, db, b.token), CONCERT_ETOKEN_INVALID);
}

Test(waiting_room, a_left_token_is_never_answered_from_the_cache)
{
    concert_token_info a, b;
    open_store(1, 0, 0);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&b, db, 2));
    expect_ok(concert_queue_status_get(&b, db, b.token));
    expect_ok(concert_queue_leave(db, b.token));
    expect_rc(concert_queue_status_get(&b, db, b.token), CONCERT_ETOKEN_INVALID);
}

Test(waiting_room, new_store_takes_settings_from_options)
{
    concert_queue_settings s;
    open_store(7, 30, 0);
    expect_ok(concert_queue_settings_get(&s, db));
    cr_assert_eq(s.max_active, 7);
    cr_assert_eq(s.admit_per_minute, 30);
    cr_assert_eq(s.state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(s.opens_at, 0);
}

Test(waiting_room, reopening_keeps_the_store_settings)
{
    concert_options o = test_options();
    concert_queue_settings s;
    concert_db *other;

    open_store(7, 30, 0);
    expect_ok(concert_queue_limits_set(db, 3, 12));
    o.max_active = 500;
    o.admit_per_minute = 1000;
    other = store_open_again(&o);
    if (!other)
        return; /* memory: a store lives in one handle */
    expect_ok(concert_queue_settings_get(&s, other));
    cr_assert_eq(s.max_active, 3, "options at open only seed a new store");
    cr_assert_eq(s.admit_per_minute, 12);
    /* A change through one handle is obeyed by the other. */
    expect_ok(concert_queue_pause(other));
    clock_advance(SECOND);
    expect_ok(concert_queue_settings_get(&s, db));
    cr_assert_eq(s.state, CONCERT_QUEUE_PAUSED);
    concert_db_close(other);
}

Test(waiting_room, limits_change_admission_at_once)
{
    concert_token_info t[6];
    open_store(2, 0, 0);
    for (int i = 0; i < 6; i++)
        expect_ok(concert_queue_issue(&t[i], db, FIRST_BUYER + i));
    cr_assert_eq(fresh_stats().active, 2);
    expect_ok(concert_queue_limits_set(db, 5, CONCERT_UNCHANGED));
    cr_assert_eq(fresh_stats().active, 5);
    cr_assert_eq(fresh_stats().max_active, 5);
    /* Lowering evicts nobody; it only stops admissions. */
    expect_ok(concert_queue_limits_set(db, 1, CONCERT_UNCHANGED));
    cr_assert_eq(fresh_stats().active, 5);
}

Test(waiting_room, admit_per_minute_spreads_admissions_and_caps_every_window)
{
    enum {
        STEPS = 6000
    }; /* 100 ms steps: ten fake minutes */
    static int64_t active_at[STEPS + 1];
    concert_token_info t;
    int64_t per_minute = 5; /* ten minutes of it: fewer than the catalog's 64 buyers */

    refresh_ms = 0; /* every sample exact: a lagging one could stretch a window */
    open_store(1000, per_minute, 0);
    for (int i = 0; i < BUYERS; i++)
        expect_ok(concert_queue_issue(&t, db, FIRST_BUYER + i));
    active_at[0] = fresh_stats().active;
    for (int s = 1; s <= STEPS; s++) {
        concert_queue_stats st;
        clock_advance(100);
        expect_ok(concert_queue_stats_get(&st, db));
        active_at[s] = st.active;
        /* Keep the waiting buyers in line. */
        if (s % 600 == 0) {
            for (int i = 0; i < BUYERS; i++)
                expect_ok(concert_queue_issue(&t, db, FIRST_BUYER + i));
        }
    }
    for (int s = 0; s + 600 <= STEPS; s++)
        cr_assert_leq(active_at[s + 600] - active_at[s], per_minute,
                      "%lld admitted in the minute after %d ms",
                      (long long)(active_at[s + 600] - active_at[s]), s * 100);
    /* Spread, not a burst: the first 12 s admit about a sixth of a minute's worth. */
    cr_assert_leq(active_at[120] - active_at[0], 2);
    /* And the rate is really used: 10 minutes at 5/min, less the pacer's 0.8 %. */
    cr_assert_geq(active_at[STEPS], 49, "only %lld admitted", (long long)active_at[STEPS]);
}

Test(waiting_room, paused_queues_everyone_and_admits_nobody)
{
    concert_token_info a, b, c;
    open_store(2, 0, 0);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_pause(db));
    expect_ok(concert_queue_issue(&b, db, 2));
    cr_assert_eq(b.state, CONCERT_TOKEN_WAITING, "room, but paused");
    cr_assert_eq(b.eta_ms, -1);
    clock_advance(MINUTE);
    expect_ok(concert_queue_status_get(&b, db, b.token));
    cr_assert_eq(b.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(b.eta_ms, -1);
    /* The buyer already inside keeps going. */
    expect_ok(concert_queue_status_get(&c, db, a.token));
    cr_assert_eq(c.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(fresh_stats().state, CONCERT_QUEUE_PAUSED);
    expect_ok(concert_queue_resume(db));
    clock_advance(SECOND);
    expect_ok(concert_queue_status_get(&b, db, b.token));
    cr_assert_eq(b.state, CONCERT_TOKEN_ACTIVE);
    /* resume is only for a paused queue */
    expect_rc(concert_queue_resume(db), CONCERT_ECONFLICT);
}

Test(waiting_room, closed_refuses_joins_and_keeps_the_line)
{
    concert_token_info a, b, again;
    open_store(1, 0, 0);
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&b, db, 2));
    expect_ok(concert_queue_close(db));
    expect_rc(concert_queue_issue(&again, db, 3), CONCERT_EQUEUE_CLOSED);
    cr_assert_str_eq(concert_error_name(CONCERT_EQUEUE_CLOSED), "QUEUE_CLOSED");
    /* Those in line keep their place and their token. */
    expect_ok(concert_queue_issue(&again, db, 2));
    cr_assert_str_eq(again.token, b.token);
    cr_assert_eq(again.position, 1);
    expect_ok(concert_queue_leave(db, a.token));
    clock_advance(SECOND);
    expect_ok(concert_queue_status_get(&b, db, b.token));
    cr_assert_eq(b.state, CONCERT_TOKEN_ACTIVE, "the line still drains while CLOSED");
    expect_ok(concert_queue_open(db));
    expect_ok(concert_queue_issue(&again, db, 3));
}

Test(waiting_room, scheduled_opening_prequeues_then_orders_everyone_once)
{
    enum {
        EARLY = 20
    };
    concert_token_info t[EARLY], late, info;
    int seen[EARLY + 1] = { 0 };
    concert_queue_stats st;

    open_store(1, 0, 0);
    /* Within wait_ttl (5 min) of the joins: pre-queued tokens that stop
     * polling are dropped like any waiting token. */
    expect_ok(concert_queue_schedule(db, T0 + 2 * MINUTE));
    for (int i = 0; i < EARLY; i++) {
        clock_advance(SECOND);
        expect_ok(concert_queue_issue(&t[i], db, FIRST_BUYER + i));
        cr_assert_eq(t[i].state, CONCERT_TOKEN_WAITING);
        cr_assert_eq(t[i].position, CONCERT_POSITION_PREQUEUE);
        cr_assert_eq(t[i].eta_ms, -1);
    }
    st = fresh_stats();
    cr_assert_eq(st.state, CONCERT_QUEUE_SCHEDULED);
    cr_assert_eq(st.opens_at, T0 + 2 * MINUTE);
    cr_assert_eq(st.prequeued, EARLY);
    cr_assert_eq(st.active, 0, "nobody is admitted before the opening");

    clock_set(T0 + 2 * MINUTE);
    expect_ok(concert_queue_issue(&late, db, FIRST_BUYER + EARLY));
    cr_assert_eq(late.position, EARLY, "a join after opens_at queues behind the lottery: %lld",
                 (long long)late.position);
    for (int i = 0; i < EARLY; i++) {
        int64_t rank;
        expect_ok(concert_queue_status_get(&info, db, t[i].token));
        rank = info.state == CONCERT_TOKEN_ACTIVE ? 0 : info.position;
        cr_assert(rank >= 0 && rank < EARLY, "rank %lld", (long long)rank);
        cr_assert_eq(seen[rank], 0, "two buyers at rank %lld", (long long)rank);
        seen[rank] = 1;
    }
    st = fresh_stats();
    cr_assert_eq(st.state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(st.prequeued, 0);
    cr_assert_eq(st.active, 1);
}

Test(waiting_room, open_now_runs_the_lottery_of_a_scheduled_queue)
{
    concert_token_info a, b;
    open_store(5, 0, 0);
    expect_ok(concert_queue_schedule(db, T0 + HOUR));
    expect_ok(concert_queue_issue(&a, db, 1));
    expect_ok(concert_queue_issue(&b, db, 2));
    cr_assert_eq(b.position, CONCERT_POSITION_PREQUEUE);
    expect_ok(concert_queue_open(db));
    expect_ok(concert_queue_status_get(&a, db, a.token));
    expect_ok(concert_queue_status_get(&b, db, b.token));
    cr_assert_eq(a.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(b.state, CONCERT_TOKEN_ACTIVE);
}

Test(waiting_room, bad_updates_are_refused_and_change_nothing)
{
    concert_queue_update u;
    concert_queue_settings before, after;

    open_store(7, 30, 0);
    expect_ok(concert_queue_settings_get(&before, db));
    expect_rc(concert_queue_limits_set(db, 0, CONCERT_UNCHANGED), CONCERT_EINVAL);
    expect_rc(concert_queue_limits_set(db, -5, CONCERT_UNCHANGED), CONCERT_EINVAL);
    expect_rc(concert_queue_limits_set(db, CONCERT_MAX_ACTIVE_LIMIT + 1, 5), CONCERT_EINVAL);
    expect_rc(concert_queue_limits_set(db, 5, -2), CONCERT_EINVAL);
    expect_rc(concert_queue_limits_set(db, 5, CONCERT_ADMIT_PER_MINUTE_LIMIT + 1), CONCERT_EINVAL);
    expect_rc(concert_queue_limits_set(db, CONCERT_UNCHANGED, CONCERT_UNCHANGED), CONCERT_EINVAL);
    expect_rc(concert_queue_schedule(db, T0 - 1), CONCERT_EINVAL);
    expect_rc(concert_queue_schedule(db, T0), CONCERT_EINVAL);
    expect_ok(concert_queue_update_init(&u, CONCERT_QUEUE_UPDATE_VERSION));
    u.fields = CONCERT_QUEUE_SET_STATE;
    u.state = CONCERT_QUEUE_SCHEDULED;
    expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_EINVAL);
    u.state = 99;
    expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_EINVAL);
    u.state = CONCERT_QUEUE_PAUSED;
    u.expect_state = 42;
    expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_EINVAL);
    u.expect_state = CONCERT_QUEUE_CLOSED;
    expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_ECONFLICT);
    u.fields = 64;
    expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_EINVAL);
    u.version = 99;
    u.fields = CONCERT_QUEUE_SET_STATE;
    expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_EINVAL);
    expect_rc(concert_queue_update_apply(NULL, db, NULL), CONCERT_EINVAL);
    expect_rc(concert_queue_update_init(&u, 7), CONCERT_EINVAL);

    expect_ok(concert_queue_settings_get(&after, db));
    cr_assert_eq(memcmp(&before, &after, sizeof(before)), 0, "a refused update changed the store");
}

Test(waiting_room, state_names_round_trip)
{
    for (int s = CONCERT_QUEUE_OPEN; s <= CONCERT_QUEUE_SCHEDULED; s++)
        cr_assert_eq(concert_queue_state_from_name(concert_queue_state_name(s)), s);
    cr_assert_str_eq(concert_queue_state_name(0), "UNKNOWN");
    cr_assert_str_eq(concert_queue_state_name(5), "UNKNOWN");
    cr_assert_eq(concert_queue_state_from_name("open"), 0, "names are exact");
    cr_assert_eq(concert_queue_state_from_name(NULL), 0);
}

Test(waiting_room, version_1_options_are_still_accepted)
{
    concert_options o;
    concert_db *old = NULL;
    memset(&o, 0, sizeof(o));
    expect_ok(concert_options_init(&o, 1));
    cr_assert_eq(o.queue_refresh_ms, 0, "version 1 has no such field: left alone");
    o.max_active = 3;
    expect_ok(concert_db_open(&old, "memory:", &o));
    concert_db_close(old);
    expect_ok(concert_options_init(&o, CONCERT_OPTIONS_VERSION));
    cr_assert_eq(o.queue_refresh_ms, CONCERT_DEFAULT_QUEUE_REFRESH_MS);
    o.queue_refresh_ms = -1;
    expect_rc(concert_db_open(&old, "memory:", &o), CONCERT_EINVAL);
    o.queue_refresh_ms = 0;
    o.admit_per_minute = -1;
    expect_rc(concert_db_open(&old, "memory:", &o), CONCERT_EINVAL);
}

/* ---- fairness of the lottery ---- */

/* splitmix64: a seeded random source, so the chi-square test is fixed. */
static int seeded_random(void *ctx, unsigned char *buf, size_t len)
{
    uint64_t *state = ctx;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        buf[i] = (unsigned char)(z ^ (z >> 31));
    }
    return 0;
}

enum {
    LOTTERY_BUYERS = 8,
    LOTTERY_RUNS = 800
};

/* Pearson's statistic of a buyer x rank table whose cells all expect
 * runs / buyers; (buyers - 1)^2 = 49 degrees of freedom. */
static double chi_square(long counts[LOTTERY_BUYERS][LOTTERY_BUYERS], long runs)
{
    double expected = (double)runs / LOTTERY_BUYERS, chi = 0;
    for (int b = 0; b < LOTTERY_BUYERS; b++) {
        for (int r = 0; r < LOTTERY_BUYERS; r++) {
            double d = (double)counts[b][r] - expected;
            chi += d * d / expected;
        }
    }
    return chi;
}
/* chi-square with 49 degrees of freedom: P(X > 85.35) = 0.001. */
#define CHI2_49_P001 85.35

/* A classic bug: Sattolo's algorithm draws j from [0, i-1), so it only
 * makes cyclic permutations and nobody ever keeps their place. */
static int biased_shuffle(void *ctx, int64_t *items, size_t n)
{
    uint64_t *state = ctx;
    for (size_t i = n; i > 1; i--) {
        unsigned char raw[8];
        uint64_t x, j;
        int64_t tmp;
        seeded_random(state, raw, sizeof(raw));
        memcpy(&x, raw, sizeof(x));
        j = x % (i - 1);
        tmp = items[i - 1];
        items[i - 1] = items[j];
        items[j] = tmp;
    }
    return 0;
}

/* Each run: a fresh memory store, LOTTERY_BUYERS pre-queued in id order,
 * the opening; a buyer's rank is 0 when admitted first, else its position. */
static void lottery_runs(int biased, long counts[LOTTERY_BUYERS][LOTTERY_BUYERS])
{
    memset(counts, 0, sizeof(long) * LOTTERY_BUYERS * LOTTERY_BUYERS);
    for (uint64_t run = 0; run < LOTTERY_RUNS; run++) {
        uint64_t seed = UINT64_C(0x5EED) + run;
        concert_options o = test_options();
        concert_token_info t[LOTTERY_BUYERS];

        o.max_active = 1;
        o.random = seeded_random;
        o.random_ctx = &seed;
        clock_set(T0);
        store_open(&o);
        standard_catalog_load();
        if (biased) {
            db->queue.shuffle = biased_shuffle;
            db->queue.shuffle_ctx = &seed;
        }
        expect_ok(concert_queue_schedule(db, T0 + MINUTE));
        for (int b = 0; b < LOTTERY_BUYERS; b++)
            expect_ok(concert_queue_issue(&t[b], db, FIRST_BUYER + b));
        clock_set(T0 + MINUTE);
        for (int b = 0; b < LOTTERY_BUYERS; b++) {
            concert_token_info info;
            int64_t rank;
            expect_ok(concert_queue_status_get(&info, db, t[b].token));
            rank = info.state == CONCERT_TOKEN_ACTIVE ? 0 : info.position;
            cr_assert(rank >= 0 && rank < LOTTERY_BUYERS);
            counts[b][rank]++;
        }
    }
}

Test(waiting_room, lottery_places_every_buyer_uniformly)
{
    long counts[LOTTERY_BUYERS][LOTTERY_BUYERS];
    double fair, biased;

    if (strcmp(store_kind(), "memory") != 0)
        cr_skip_test("800 fresh stores: run on memory (the lottery's shuffle is the core's; the "
                     "exactly-once opening is tested on every store)");
    lottery_runs(0, counts);
    fair = chi_square(counts, LOTTERY_RUNS);
    cr_assert_lt(fair, CHI2_49_P001, "the lottery is not uniform: chi-square %.1f", fair);
    /* The same test must catch a biased shuffle. */
    lottery_runs(1, counts);
    biased = chi_square(counts, LOTTERY_RUNS);
    cr_assert_gt(biased, CHI2_49_P001, "a biased shuffle passed: chi-square %.1f", biased);
}
