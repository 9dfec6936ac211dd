/*
 * The in-memory backend, exercised through its storage table directly (no
 * core in between), at the data-structure edges the behaviour suite cannot
 * reach: index growth, seat ranges with gaps, admission skipping dead
 * tickets, active-token expiry, all-or-nothing catalog loads, retention
 * (the token and idempotency windows stay bounded; their containers are
 * checked directly, white box), and a million tokens and seats. No figures
 * here: the bytes each costs are measured by concert-bench (footprint).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <concert/concert.h>
#include <concert/sys/storage.h>

/* White box, for the retention tests: the store behind the table is the
 * memory_store of this header (the library is built from the same one). */
#include "../lib/storage/memory_internal.h"

#define T0 INT64_C(1800000000000)
#define SECOND INT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (INT64_C(24) * 60 * MINUTE)

static concert_storage *st;

static void open_store(void)
{
    cr_assert_eq(concert_storage_memory_open(&st, "", NULL), CONCERT_OK);
    cr_assert_not_null(st);
}

static void close_store(void)
{
    if (st)
        st->free(st);
    st = NULL;
}

TestSuite(memory, .init = open_store, .fini = close_store);

#define expect_rc(call, expected)                                                                  \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        cr_assert_eq(rc__, (expected), "%s returned %s (%d), expected %s: %s", #call,              \
                     concert_error_name(rc__), rc__, concert_error_name(expected),                 \
                     concert_error_last()->message);                                               \
    } while (0)
#define expect_ok(call) expect_rc(call, CONCERT_OK)

/* These tests never schedule an opening: a lottery would be a bug here. */
static int no_lottery(void *ctx, int64_t *items, size_t n)
{
    (void)ctx;
    (void)items;
    (void)n;
    cr_assert_fail("no opening lottery was expected");
    return CONCERT_EINTERNAL;
}

/* max_active is the store's shared setting now (storage version 2): set it
 * through queue_configure, and return the queue rules with these TTLs. */
static concert_queue_params queue_rules(int64_t max_active, int64_t active_ttl_ms,
                                        int64_t wait_ttl_ms)
{
    concert_queue_params p = { active_ttl_ms, wait_ttl_ms, no_lottery, NULL, DAY };
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings after;
    u.fields = CONCERT_QUEUE_SET_MAX_ACTIVE;
    u.max_active = max_active;
    expect_ok(st->queue_configure(st, &p, &u, T0, &after));
    cr_assert_eq(after.max_active, max_active);
    cr_assert_eq(after.state, CONCERT_QUEUE_OPEN);
    return p;
}

static concert_queue_params params(int64_t max_active)
{
    return queue_rules(max_active, 10 * MINUTE, 5 * MINUTE);
}

/* A 32-character base64url token whose text encodes n (the core's shape). */
static void token_for(uint64_t n, char out[CONCERT_TOKEN_SIZE])
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[24];
    for (int i = 0; i < 24; i++)
        raw[i] = (unsigned char)((n >> (8 * (i % 8))) ^ (unsigned)(i * 37));
    for (int i = 0, o = 0; i < 24; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = A[(v >> 18) & 63];
        out[o++] = A[(v >> 12) & 63];
        out[o++] = A[(v >> 6) & 63];
        out[o++] = A[v & 63];
    }
    out[32] = '\0';
}

/* n users with ids first_id.., each with points. */
static void load_users(int64_t first_id, size_t n, int64_t points)
{
    concert_catalog_user *users = calloc(n, sizeof(*users));
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, n, NULL, 0 };
    cr_assert_not_null(users);
    for (size_t i = 0; i < n; i++) {
        users[i].id = first_id + (int64_t)i;
        users[i].name = "buyer";
        users[i].points = points;
    }
    expect_ok(st->catalog_load(st, &c, T0));
    free(users);
}

static void issue(const concert_queue_params *p, int64_t user, uint64_t n, int64_t now,
                  concert_storage_token *out)
{
    char text[CONCERT_TOKEN_SIZE];
    token_for(n, text);
    expect_ok(st->queue_issue(st, p, user, text, now, out));
}

/* ---- emit collectors ---- */

typedef struct seats_seen {
    size_t count;
    concert_seat items[64];
} seats_seen;

static int collect_seat(void *ctx, const concert_seat *item)
{
    seats_seen *s = ctx;
    if (s->count < 64)
        s->items[s->count] = *item;
    s->count++;
    return 0;
}

static int count_user(void *ctx, const concert_user *item)
{
    (void)item;
    ++*(size_t *)ctx;
    return 0;
}

typedef struct texts_seen {
    size_t count;
    char first[256];
} texts_seen;

static int collect_text(void *ctx, const char *text)
{
    texts_seen *t = ctx;
    if (t->count++ == 0)
        snprintf(t->first, sizeof(t->first), "%s", text);
    return 0;
}

static int stop_at_first_seat(void *ctx, const concert_seat *item)
{
    (void)item;
    ++*(int *)ctx;
    return CONCERT_ENOMEM;
}

/* ---- the table ---- */

Test(memory, table_is_complete_and_versioned)
{
    cr_assert_eq(st->version, CONCERT_STORAGE_VERSION);
    cr_assert_str_eq(st->name, "memory");
    cr_assert(st->free && st->queue_issue && st->queue_status && st->queue_leave &&
              st->queue_stats && st->queue_configure && st->concerts_list && st->concert_get &&
              st->schedules_list && st->schedule_get && st->seats_available && st->list_version &&
              st->prune && st->catalog_load && st->seat_hold && st->reservation_get && st->pay &&
              st->reservation_release && st->token_owner && st->charge && st->balance_get &&
              st->history_list && st->users_list && st->verify);
}

/* ---- seats: ranges with gaps, given out of order ---- */

static void load_gappy_schedule(void)
{
    static const concert_catalog_seat_range ranges[] = {
        { 20, 25, "B", 200 },
        { 1, 10, "A", 100 },
        { 100, 100, "C", 300 },
        { 1000, 1002, "D", 400 },
    };
    static const concert_catalog_schedule schedules[] = { { 7, T0 + 86400000, ranges, 4 } };
    static const concert_catalog_concert concerts[] = { { 3, "Gaps", CONCERT_STATUS_OPEN, 0,
                                                          schedules, 1 } };
    static const concert_catalog_user users[] = { { 1, "Kim", 100000 }, { 2, "Lee", 0 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 2, concerts, 1 };
    expect_ok(st->catalog_load(st, &c, T0));
}

/* The rules the hold helpers' tokens live by. */
static const concert_queue_params HOLD_RULES = { 10 * MINUTE, 5 * MINUTE, no_lottery, NULL, DAY };

/* Token texts for the helpers, apart from the tests' own (token_for(n)
 * with small n). */
static uint64_t helper_tokens = UINT64_C(1) << 40;

/* The user's live ACTIVE token at now: their live one, else a new one. */
static void active_token(int64_t user, int64_t now, char out[CONCERT_TOKEN_SIZE])
{
    concert_storage_token t;
    char text[CONCERT_TOKEN_SIZE];
    token_for(helper_tokens++, text);
    expect_ok(st->queue_issue(st, &HOLD_RULES, user, text, now, &t));
    cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE, "user %lld's token is not ACTIVE",
                 (long long)user);
    memcpy(out, t.info.token, CONCERT_TOKEN_SIZE);
}

/* A hold by token with the given limits (0: none). */
static int hold_limited(int64_t schedule, int64_t seat, const char *token, int64_t now,
                        int64_t max_holds, int64_t max_per_concert, concert_reservation *out)
{
    concert_storage_schedule sc;
    concert_hold_request req;
    memset(&req, 0, sizeof(req));
    req.schedule_id = schedule;
    req.seat_number = seat;
    req.token = token;
    req.now = now;
    req.hold_until = now + 5 * MINUTE;
    req.concert_id = st->schedule_get(st, schedule, &sc) == 0 ? sc.concert_id : 0;
    req.max_holds = max_holds;
    req.max_per_concert = max_per_concert;
    req.queue = HOLD_RULES;
    return st->seat_hold(st, &req, out);
}

static int hold_by(int64_t schedule, int64_t seat, const char *token, int64_t now,
                   concert_reservation *out)
{
    return hold_limited(schedule, seat, token, now, 0, 0, out);
}

/* A hold by the user, through their ACTIVE token (issued if need be). */
static int hold_in(int64_t schedule, int64_t user, int64_t seat, int64_t now,
                   concert_reservation *out)
{
    char token[CONCERT_TOKEN_SIZE];
    active_token(user, now, token);
    return hold_by(schedule, seat, token, now, out);
}

static int hold(int64_t user, int64_t seat, int64_t now, concert_reservation *out)
{
    return hold_in(7, user, seat, now, out);
}

Test(memory, seats_map_across_ranges_with_gaps)
{
    static const int64_t present[] = { 1, 10, 20, 25, 100, 1000, 1002 };
    static const int64_t prices[] = { 100, 100, 200, 200, 300, 400, 400 };
    static const int64_t absent[] = { 0, -1, 11, 19, 26, 99, 101, 999, 1003, INT64_MAX };
    concert_reservation r;
    seats_seen seen = { 0 };

    load_gappy_schedule();
    for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++) {
        expect_ok(hold(1, present[i], T0, &r));
        cr_assert_eq(r.seat_number, present[i]);
        cr_assert_eq(r.price, prices[i], "seat %lld", (long long)present[i]);
        cr_assert_eq(r.is_new, 1);
        cr_assert_eq(r.status, CONCERT_RESERVATION_HELD);
    }
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        expect_rc(hold(1, absent[i], T0, &r), CONCERT_ESEAT_NOT_FOUND);

    /* 10 + 6 + 1 + 3 seats, 7 held: the rest in number order with grades */
    expect_ok(st->seats_available(st, 7, T0, collect_seat, &seen));
    cr_assert_eq(seen.count, 13);
    cr_assert_eq(seen.items[0].number, 2);
    cr_assert_eq(seen.items[7].number, 9);
    cr_assert_str_eq(seen.items[7].grade, "A");
    cr_assert_eq(seen.items[8].number, 21);
    cr_assert_str_eq(seen.items[8].grade, "B");
    cr_assert_eq(seen.items[8].price, 200);
    cr_assert_eq(seen.items[12].number, 1001);
    cr_assert_str_eq(seen.items[12].grade, "D");

    /* once the holds run out every seat is free again, without a sweeper */
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->seats_available(st, 7, T0 + 5 * MINUTE, collect_seat, &seen));
    cr_assert_eq(seen.count, 20);
}

Test(memory, seat_hold_same_user_other_user_and_expired_hold)
{
    concert_reservation mine, again, theirs;
    load_gappy_schedule();
    expect_ok(hold(1, 21, T0, &mine));
    expect_ok(hold(1, 21, T0 + SECOND, &again));
    cr_assert_eq(again.id, mine.id);
    cr_assert_eq(again.is_new, 0);
    expect_rc(hold(2, 21, T0 + SECOND, &theirs), CONCERT_ESEAT_TAKEN);
    /* the hold ends at T0 + 5 min exactly: free for everyone then */
    expect_ok(hold(2, 21, T0 + 5 * MINUTE, &theirs));
    cr_assert_neq(theirs.id, mine.id);
    cr_assert_eq(theirs.user_id, 2);
}

Test(memory, emit_failure_stops_the_listing_and_is_returned)
{
    int calls = 0;
    load_gappy_schedule();
    expect_rc(st->seats_available(st, 7, T0, stop_at_first_seat, &calls), CONCERT_ENOMEM);
    cr_assert_eq(calls, 1);
}

typedef struct schedule_seen {
    size_t count;
    concert_schedule items[8];
} schedule_seen;

static int collect_schedule(void *ctx, const concert_schedule *item)
{
    schedule_seen *s = ctx;
    if (s->count < 8)
        s->items[s->count] = *item;
    s->count++;
    return 0;
}

static int64_t free_seats_of_schedule_7(int64_t now)
{
    schedule_seen seen = { 0 };
    int64_t total = -1;
    expect_ok(st->schedules_list(st, 3, 0, now, collect_schedule, &seen, &total));
    cr_assert_eq(total, 1);
    cr_assert_eq(seen.count, 1);
    cr_assert_eq(seen.items[0].id, 7);
    return seen.items[0].available_seats;
}

/* ids must outlive the request. */
static concert_pay_request pay_request(const concert_queue_params *p, const int64_t *ids,
                                       size_t count, const char *token, int64_t now,
                                       const char *key, const char *fingerprint)
{
    concert_pay_request req;
    memset(&req, 0, sizeof(req));
    req.reservation_ids = ids;
    req.count = count;
    req.token = token;
    req.now = now;
    req.idempotency_key = key;
    req.fingerprint = fingerprint;
    req.queue = *p;
    return req;
}

Test(memory, schedule_free_counts_follow_holds_sales_and_expiry)
{
    concert_queue_params p = params(10);
    concert_storage_token t;
    concert_reservation r1, r2, r3;
    concert_payment pay;
    concert_pay_request req;

    load_gappy_schedule();
    cr_assert_eq(free_seats_of_schedule_7(T0), 20);
    issue(&p, 1, 1, T0, &t);
    expect_ok(hold(1, 1, T0, &r1));
    expect_ok(hold(1, 2, T0 + SECOND, &r2));
    cr_assert_eq(free_seats_of_schedule_7(T0 + SECOND), 18);
    req = pay_request(&p, &r1.id, 1, t.info.token, T0 + 2 * SECOND, NULL, NULL);
    expect_ok(st->pay(st, &req, &pay));
    cr_assert_eq(free_seats_of_schedule_7(T0 + 2 * SECOND), 18, "one sold, one held");
    /* r2's hold runs out at T0 + 1 s + 5 min */
    cr_assert_eq(free_seats_of_schedule_7(T0 + SECOND + 5 * MINUTE - 1), 18);
    cr_assert_eq(free_seats_of_schedule_7(T0 + SECOND + 5 * MINUTE), 19);
    /* another buyer takes the expired seat: counted once, not twice */
    expect_ok(hold(2, 2, T0 + 6 * MINUTE, &r3));
    cr_assert_eq(free_seats_of_schedule_7(T0 + 6 * MINUTE), 18);
    cr_assert_eq(free_seats_of_schedule_7(T0 + 12 * MINUTE), 19);
}

/* ---- payment and points through the table ---- */

Test(memory, pay_checks_in_order_and_replays_by_key)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, lee;
    concert_reservation r, theirs;
    concert_payment first, again;
    concert_pay_request req;
    const int64_t missing = 999;
    int64_t balance;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    expect_ok(hold(1, 100, T0, &r));
    expect_rc(hold(2, 100, T0, &theirs), CONCERT_ESEAT_TAKEN);

    /* the token names the payer: an unknown one is refused first, and
     * another user's live token cannot pay for this reservation */
    req = pay_request(&p, &r.id, 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", T0, NULL, NULL);
    expect_rc(st->pay(st, &req, &first), CONCERT_ETOKEN_INVALID);
    req = pay_request(&p, &r.id, 1, lee.info.token, T0, NULL, NULL);
    expect_rc(st->pay(st, &req, &first), CONCERT_EFORBIDDEN);
    req = pay_request(&p, &missing, 1, kim.info.token, T0, NULL, NULL);
    expect_rc(st->pay(st, &req, &first), CONCERT_ERESERVATION_NOT_FOUND);
    expect_ok(hold(2, 20, T0, &theirs));
    req = pay_request(&p, &theirs.id, 1, lee.info.token, T0, NULL, NULL);
    expect_rc(st->pay(st, &req, &first), CONCERT_EINSUFFICIENT_POINTS);

    req = pay_request(&p, &r.id, 1, kim.info.token, T0 + SECOND, "k1", "reservation=5");
    expect_ok(st->pay(st, &req, &first));
    cr_assert_eq(first.amount, 300);
    cr_assert_eq(first.balance, 100000 - 300);
    cr_assert_eq(first.reservation_id, r.id);
    /* the token is ended by the payment; the key replays all the same */
    req = pay_request(&p, &r.id, 1, kim.info.token, T0 + 2 * SECOND, "k1", "reservation=5");
    expect_ok(st->pay(st, &req, &again));
    cr_assert_eq(again.id, first.id);
    cr_assert_eq(again.paid_at, first.paid_at);
    req = pay_request(&p, &r.id, 1, kim.info.token, T0 + 2 * SECOND, "k1", "reservation=6");
    expect_rc(st->pay(st, &req, &again), CONCERT_EIDEMPOTENCY_KEY_REUSED);
    req = pay_request(&p, &r.id, 1, kim.info.token, T0 + 2 * SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &again), CONCERT_ETOKEN_INVALID);
    expect_ok(st->balance_get(st, 1, &balance));
    cr_assert_eq(balance, 100000 - 300);
}

Test(memory, a_hold_taken_over_cannot_be_paid_late)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, lee;
    concert_reservation r, theirs, back;
    concert_payment pay;
    concert_pay_request req;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    expect_ok(hold(1, 5, T0, &r));
    expect_ok(hold(2, 5, T0 + 5 * MINUTE, &theirs));
    req = pay_request(&p, &r.id, 1, kim.info.token, T0 + 5 * MINUTE, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EHOLD_EXPIRED);
    /* the reservation reads back HELD as stored (the core derives EXPIRED) */
    expect_ok(st->reservation_get(st, r.id, &back));
    cr_assert_eq(back.status, CONCERT_RESERVATION_HELD);
    cr_assert_eq(back.held_until, T0 + 5 * MINUTE);
    expect_rc(st->reservation_get(st, 0, &back), CONCERT_ERESERVATION_NOT_FOUND);
    expect_rc(st->reservation_get(st, theirs.id + 1, &back), CONCERT_ERESERVATION_NOT_FOUND);
}

typedef struct ledger_seen {
    size_t count;
    concert_ledger_entry items[8];
} ledger_seen;

static int collect_entry(void *ctx, const concert_ledger_entry *item)
{
    ledger_seen *l = ctx;
    if (l->count < 8)
        l->items[l->count] = *item;
    l->count++;
    return 0;
}

Test(memory, charge_limits_replays_and_history_newest_first)
{
    int32_t replayed = -1;
    concert_charge_request req = { 2, 500, 1000, T0, "c1", "amount=500", DAY, &replayed };
    ledger_seen seen = { 0 };
    int64_t balance = 0;

    load_gappy_schedule();
    expect_ok(st->charge(st, &req, &balance));
    cr_assert_eq(balance, 500);
    cr_assert_eq(replayed, 0, "a new charge");
    req.now = T0 + SECOND;
    expect_ok(st->charge(st, &req, &balance));
    cr_assert_eq(balance, 500, "a replay reports the first result");
    cr_assert_eq(replayed, 1, "and says it replayed");
    req.fingerprint = "amount=501";
    expect_rc(st->charge(st, &req, &balance), CONCERT_EIDEMPOTENCY_KEY_REUSED);
    req.idempotency_key = NULL;
    req.fingerprint = NULL;
    req.amount = 501;
    expect_rc(st->charge(st, &req, &balance), CONCERT_EINVALID_AMOUNT);
    req.amount = 500;
    expect_ok(st->charge(st, &req, &balance));
    cr_assert_eq(balance, 1000, "exactly max_balance is allowed");
    /* the same key for another user is another record */
    req.user_id = 1;
    req.idempotency_key = "c1";
    req.fingerprint = "amount=7";
    req.amount = 7;
    req.max_balance = CONCERT_MAX_BALANCE;
    expect_ok(st->charge(st, &req, &balance));
    cr_assert_eq(balance, 100007);
    req.user_id = 3;
    expect_rc(st->charge(st, &req, &balance), CONCERT_EUSER_NOT_FOUND);

    expect_ok(st->history_list(st, 2, 0, 0, collect_entry, &seen));
    cr_assert_eq(seen.count, 2);
    cr_assert(seen.items[0].id > seen.items[1].id);
    cr_assert_eq(seen.items[0].balance_after, 1000);
    cr_assert_eq(seen.items[1].balance_after, 500);
    cr_assert_eq(seen.items[1].type, CONCERT_LEDGER_CHARGE);
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->history_list(st, 1, 0, 0, collect_entry, &seen));
    cr_assert_eq(seen.count, 2, "opening points are a CHARGE entry");
    cr_assert_eq(seen.items[1].amount, 100000);
    cr_assert_eq(seen.items[1].at, T0);
    expect_rc(st->history_list(st, 3, 0, 0, collect_entry, &seen), CONCERT_EUSER_NOT_FOUND);
}

/* ---- tokens: index growth, odd texts ---- */

Test(memory, token_index_grows_past_100k_and_finds_every_token)
{
    enum {
        N = 150000
    };
    concert_queue_params p = params(10);
    concert_storage_token t;
    concert_queue_stats stats;
    char text[CONCERT_TOKEN_SIZE];

    load_users(1, N, 0);
    for (uint64_t i = 0; i < N; i++) {
        issue(&p, (int64_t)i + 1, i, T0, &t);
        cr_assert_eq(t.info.is_new, 1);
    }
    /* every token is found again, with its user and exact position */
    for (uint64_t i = 0; i < N; i++) {
        token_for(i, text);
        expect_ok(st->queue_status(st, &p, text, T0 + SECOND, &t));
        cr_assert_eq(t.info.user_id, (int64_t)i + 1);
        cr_assert_str_eq(t.info.token, text);
        if (i < 10) {
            cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
        } else {
            cr_assert_eq(t.info.state, CONCERT_TOKEN_WAITING);
            cr_assert_eq(t.info.position, (int64_t)i + 1 - 10);
        }
    }
    token_for(N + 1, text);
    expect_rc(st->queue_status(st, &p, text, T0, &t), CONCERT_ETOKEN_INVALID);
    expect_rc(st->queue_status(st, &p, "", T0, &t), CONCERT_ETOKEN_INVALID);
    expect_ok(st->queue_stats(st, &p, T0 + SECOND, &stats));
    cr_assert_eq(stats.last_ticket, N);
    cr_assert_eq(stats.admitted_through, 10);
    cr_assert_eq(stats.waiting, N - 10);
    cr_assert_eq(stats.active, 10);
}

Test(memory, tokens_of_any_shape_are_kept_verbatim)
{
    static const char *const odd[] = {
        "short",
        "with-dash_and_underscore",
        "x", /* 63 characters: */
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789a",
        "not base64url but 32 characters",
        "abcdefghijklmnopqrstuvwxyzABCDE=",
    };
    enum {
        K = sizeof(odd) / sizeof(odd[0])
    };
    concert_queue_params p = params(100);
    concert_storage_token t;

    load_users(1, K, 0);
    for (size_t i = 0; i < K; i++) {
        expect_ok(st->queue_issue(st, &p, (int64_t)i + 1, odd[i], T0, &t));
        cr_assert_str_eq(t.info.token, odd[i]);
    }
    for (size_t i = 0; i < K; i++) {
        expect_ok(st->queue_status(st, &p, odd[i], T0, &t));
        cr_assert_eq(t.info.user_id, (int64_t)i + 1, "%s", odd[i]);
        cr_assert_str_eq(t.info.token, odd[i]);
    }
    /* a prefix or an extension of a token is not that token */
    expect_rc(st->queue_status(st, &p, "shor", T0, &t), CONCERT_ETOKEN_INVALID);
    expect_rc(st->queue_status(st, &p, "shortt", T0, &t), CONCERT_ETOKEN_INVALID);
    /* a new token equal to a stored one is refused, not aliased */
    load_users(100, 1, 0);
    cr_assert_neq(st->queue_issue(st, &p, 100, "short", T0, &t), CONCERT_OK);
}

/* ---- admission ---- */

Test(memory, admission_skips_left_and_idle_tickets_in_one_pass)
{
    concert_queue_params p = params(1);
    concert_storage_token t[6], s;
    concert_queue_stats stats;
    int64_t now = T0;

    load_users(1, 5, 0);
    for (int i = 1; i <= 5; i++)
        issue(&p, i, (uint64_t)i, now, &t[i]);
    cr_assert_eq(t[1].info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(t[5].info.position, 4);

    expect_ok(st->queue_leave(st, &p, t[3].info.token, now));
    /* 4 is never polled again; 2 and 5 are, just before their idle limit */
    now += 4 * MINUTE;
    expect_ok(st->queue_status(st, &p, t[2].info.token, now, &s));
    expect_ok(st->queue_status(st, &p, t[5].info.token, now, &s));
    cr_assert_eq(s.info.position, 4, "over-counts the ones that left: never under");
    now += 2 * MINUTE;
    expect_ok(st->queue_status(st, &p, t[4].info.token, now, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ENDED, "idle past wait_ttl: dropped");
    cr_assert_eq(s.info.user_id, 4, "an ended token still names its user");
    cr_assert_eq(s.info.expires_at, 0);
    expect_rc(st->queue_leave(st, &p, t[4].info.token, now), CONCERT_ETOKEN_INVALID);

    expect_ok(st->queue_leave(st, &p, t[1].info.token, now));
    expect_ok(st->queue_status(st, &p, t[2].info.token, now, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ACTIVE);
    expect_ok(st->queue_leave(st, &p, t[2].info.token, now));
    /* 3 (left) and 4 (idle) are skipped: 5 is next */
    expect_ok(st->queue_status(st, &p, t[5].info.token, now, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(s.info.expires_at, now + p.active_ttl_ms);
    expect_ok(st->queue_stats(st, &p, now, &stats));
    cr_assert_eq(stats.admitted_through, 5);
    cr_assert_eq(stats.waiting, 0);
    cr_assert_eq(stats.active, 1);
    cr_assert(s.admit_rate_mps >= 0);
}

Test(memory, issue_returns_the_live_token_and_replaces_an_ended_one)
{
    concert_queue_params p = params(1);
    concert_storage_token a, b, again, fresh;
    char other[CONCERT_TOKEN_SIZE];

    load_users(1, 2, 0);
    issue(&p, 1, 1, T0, &a);
    issue(&p, 2, 2, T0, &b);
    token_for(99, other);
    expect_ok(st->queue_issue(st, &p, 2, other, T0 + MINUTE, &again));
    cr_assert_eq(again.info.is_new, 0);
    cr_assert_str_eq(again.info.token, b.info.token);
    cr_assert_eq(again.info.expires_at, T0 + MINUTE + p.wait_ttl_ms, "asking counts as a poll");
    /* user 2 goes idle: the next issue is a new token at the back */
    expect_ok(st->queue_issue(st, &p, 2, other, T0 + 7 * MINUTE, &fresh));
    cr_assert_eq(fresh.info.is_new, 1);
    cr_assert_str_eq(fresh.info.token, other);
    cr_assert_eq(fresh.info.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(fresh.info.position, 2, "the dropped ticket ahead is counted until reached");
    expect_rc(st->queue_issue(st, &p, 3, other, T0, &fresh), CONCERT_EUSER_NOT_FOUND);
}

static int64_t live_active_now(const concert_queue_params *p, int64_t now)
{
    concert_verify_report report;
    texts_seen v = { 0 };
    memset(&report, 0, sizeof(report));
    expect_ok(st->verify(st, p, now, collect_text, &v, &report));
    cr_assert_eq(v.count, 0, "verify: %s", v.first);
    return report.active_tokens;
}

Test(memory, active_tokens_expire_in_admission_order_and_free_their_slot_once)
{
    concert_queue_params p = queue_rules(2, 1000, 5 * MINUTE);
    concert_storage_token t[7], s;
    concert_queue_stats stats;

    load_users(1, 6, 0);
    issue(&p, 1, 1, T0, &t[1]);
    issue(&p, 2, 2, T0 + 100, &t[2]);
    for (int i = 3; i <= 6; i++)
        issue(&p, i, (uint64_t)i, T0 + 200, &t[i]);
    cr_assert_eq(t[2].info.expires_at, T0 + 1100);
    cr_assert_eq(live_active_now(&p, T0 + 200), 2);

    /* 1 expires at T0+1000, 2 at T0+1100: exactly one slot opens at 1000 */
    expect_ok(st->queue_stats(st, &p, T0 + 1000, &stats));
    cr_assert_eq(stats.active, 2);
    cr_assert_eq(stats.admitted_through, 3);
    expect_ok(st->queue_status(st, &p, t[1].info.token, T0 + 1000, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ENDED);
    /* 3 leaves early (its slot frees once), then 2 expires */
    expect_ok(st->queue_leave(st, &p, t[3].info.token, T0 + 1050));
    expect_ok(st->queue_stats(st, &p, T0 + 1050, &stats));
    cr_assert_eq(stats.active, 2);
    cr_assert_eq(stats.admitted_through, 4);
    expect_ok(st->queue_stats(st, &p, T0 + 1100, &stats));
    cr_assert_eq(stats.active, 2);
    cr_assert_eq(stats.admitted_through, 5);
    /* 3's FIFO entry is reached after 2 expires; it must not free a slot */
    expect_ok(st->queue_stats(st, &p, T0 + 2049, &stats));
    cr_assert_eq(stats.active, 2);
    cr_assert_eq(live_active_now(&p, T0 + 2049), 2);
    expect_ok(st->queue_stats(st, &p, T0 + 2050, &stats));
    cr_assert_eq(stats.active, 2, "4 expired and 6 took its slot");
    cr_assert_eq(stats.admitted_through, 6);
    expect_ok(st->queue_stats(st, &p, T0 + 2100, &stats));
    cr_assert_eq(stats.active, 1, "5 expired; nobody is waiting");
    expect_ok(st->queue_stats(st, &p, T0 + 9999, &stats));
    cr_assert_eq(stats.active, 0);
    cr_assert_eq(live_active_now(&p, T0 + 9999), 0);
}

/* ---- catalog load: all or nothing ---- */

static size_t users_count(void)
{
    size_t n = 0;
    expect_ok(st->users_list(st, count_user, &n));
    return n;
}

Test(memory, catalog_conflicts_name_the_place_and_change_nothing)
{
    static const concert_catalog_seat_range seats[] = { { 1, 5, "R", 10 } };
    static const concert_catalog_schedule fresh_and_taken[] = { { 50, T0, seats, 1 },
                                                                { 7, T0, seats, 1 } };
    static const concert_catalog_concert concerts[] = { { 4, "New", CONCERT_STATUS_OPEN, 0,
                                                          fresh_and_taken, 2 } };
    static const concert_catalog_concert taken_concert[] = { { 3, "Again", CONCERT_STATUS_OPEN, 0,
                                                               NULL, 0 } };
    static const concert_catalog_user users[] = { { 8, "New", 70 }, { 9, "Also new", 0 } };
    static const concert_catalog_user taken_user[] = { { 8, "New", 70 }, { 2, "Lee", 0 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 2, concerts, 1 };
    concert_concert got;
    concert_storage_schedule sched;
    int64_t balance;

    load_gappy_schedule();
    expect_rc(st->catalog_load(st, &c, T0), CONCERT_ECONFLICT);
    cr_assert_str_eq(concert_error_last()->message,
                     "concerts[0].schedules[1].id: schedule 7 already exists");
    c.users = taken_user;
    expect_rc(st->catalog_load(st, &c, T0), CONCERT_ECONFLICT);
    cr_assert_str_eq(concert_error_last()->message, "users[1].id: user 2 already exists");
    c.users = users;
    c.concerts = taken_concert;
    expect_rc(st->catalog_load(st, &c, T0), CONCERT_ECONFLICT);
    cr_assert_str_eq(concert_error_last()->message, "concerts[0].id: concert 3 already exists");

    /* nothing of the refused catalogs is there */
    cr_assert_eq(users_count(), 2);
    expect_rc(st->balance_get(st, 8, &balance), CONCERT_EUSER_NOT_FOUND);
    expect_rc(st->concert_get(st, 4, &got), CONCERT_ECONCERT_NOT_FOUND);
    expect_rc(st->schedule_get(st, 50, &sched), CONCERT_ESCHEDULE_NOT_FOUND);

    /* and the same ids load once the conflict is gone */
    c.concerts = NULL;
    c.concert_count = 0;
    expect_ok(st->catalog_load(st, &c, T0));
    cr_assert_eq(users_count(), 4);
    expect_ok(st->balance_get(st, 8, &balance));
    cr_assert_eq(balance, 70);
    expect_rc(st->catalog_load(st, &c, T0), CONCERT_ECONFLICT);
    cr_assert_eq(users_count(), 4);
}

static int64_t last_listed_id;
static int check_user_order(void *ctx, const concert_user *item)
{
    (void)ctx;
    cr_assert_gt(item->id, last_listed_id, "users must come in id order");
    last_listed_id = item->id;
    return 0;
}

static int64_t last_concert_id;
static int check_concert_order(void *ctx, const concert_concert *item)
{
    ++*(size_t *)ctx;
    cr_assert_gt(item->id, last_concert_id, "concerts must come in id order");
    last_concert_id = item->id;
    return 0;
}

Test(memory, lists_stay_in_id_order_across_loads)
{
    static const concert_catalog_user a[] = { { 50, "a", 0 }, { 10, "b", 0 }, { 30, "c", 0 } };
    static const concert_catalog_user b[] = { { 40, "d", 0 }, { 5, "e", 0 }, { 60, "f", 0 } };
    static const concert_catalog_concert ca[] = { { 9, "x", CONCERT_STATUS_OPEN, 0, NULL, 0 },
                                                  { 2, "y", CONCERT_STATUS_CLOSED, 0, NULL, 0 } };
    static const concert_catalog_concert cb[] = { { 5, "z", CONCERT_STATUS_OPEN, 0, NULL, 0 } };
    concert_catalog c1 = { CONCERT_CATALOG_VERSION, a, 3, ca, 2 };
    concert_catalog c2 = { CONCERT_CATALOG_VERSION, b, 3, cb, 1 };
    size_t n = 0;

    expect_ok(st->catalog_load(st, &c1, T0));
    expect_ok(st->catalog_load(st, &c2, T0));
    last_listed_id = 0;
    expect_ok(st->users_list(st, check_user_order, NULL));
    cr_assert_eq(last_listed_id, 60);
    last_concert_id = 0;
    expect_ok(st->concerts_list(st, 0, check_concert_order, &n));
    cr_assert_eq(n, 3);
    n = 0;
    last_concert_id = 0;
    expect_ok(st->concerts_list(st, CONCERT_STATUS_OPEN, check_concert_order, &n));
    cr_assert_eq(n, 2);
}

static int count_seat(void *ctx, const concert_seat *item);

/* ---- storage v3: the token fence, the per-buyer limits, orders, release ---- */

static concert_release_request release_request(int64_t reservation, const char *token, int64_t now)
{
    concert_release_request req;
    memset(&req, 0, sizeof(req));
    req.reservation_id = reservation;
    req.token = token;
    req.now = now;
    req.queue = HOLD_RULES;
    return req;
}

static size_t free_seats_in(int64_t schedule, int64_t now)
{
    size_t n = 0;
    expect_ok(st->seats_available(st, schedule, now, count_seat, &n));
    return n;
}

Test(memory, hold_checks_the_token_inside_the_step)
{
    concert_queue_params p = params(1);
    concert_storage_token kim, lee;
    concert_reservation r;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    cr_assert_eq(lee.info.state, CONCERT_TOKEN_WAITING);
    expect_rc(hold_by(7, 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", T0, &r), CONCERT_ETOKEN_INVALID);
    expect_rc(hold_by(7, 1, "not-a-token-at-all", T0, &r), CONCERT_ETOKEN_INVALID);
    expect_rc(hold_by(7, 1, lee.info.token, T0, &r), CONCERT_ETOKEN_NOT_ACTIVE);
    /* the token comes first: a bad token on a missing seat is a token error */
    expect_rc(hold_by(7, 11, lee.info.token, T0, &r), CONCERT_ETOKEN_NOT_ACTIVE);
    /* ACTIVE until expires_at (T0 + 10 min), not at it */
    expect_ok(hold_by(7, 1, kim.info.token, T0 + 10 * MINUTE - 1, &r));
    cr_assert_eq(r.user_id, 1);
    expect_rc(hold_by(7, 2, kim.info.token, T0 + 10 * MINUTE, &r), CONCERT_ETOKEN_INVALID);
    /* a WAITING token idle past wait_ttl is no longer live: invalid */
    expect_rc(hold_by(7, 2, lee.info.token, T0 + 5 * MINUTE, &r), CONCERT_ETOKEN_INVALID);
    /* none of the refused holds took a seat */
    cr_assert_eq(free_seats_in(7, T0 + 10 * MINUTE - 1), 19);
}

Test(memory, a_waiting_token_cannot_pay_or_release)
{
    concert_queue_params p = params(1);
    concert_storage_token kim, lee;
    concert_reservation r, out;
    concert_release_request rr;
    concert_pay_request req;
    concert_payment pay;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    expect_ok(hold_by(7, 1, kim.info.token, T0, &r));
    req = pay_request(&p, &r.id, 1, lee.info.token, T0, "key", "reservation=1");
    expect_rc(st->pay(st, &req, &pay), CONCERT_ETOKEN_NOT_ACTIVE);
    rr = release_request(r.id, lee.info.token, T0);
    expect_rc(st->reservation_release(st, &rr, &out), CONCERT_ETOKEN_NOT_ACTIVE);
    expect_ok(st->reservation_get(st, r.id, &out));
    cr_assert_eq(out.status, CONCERT_RESERVATION_HELD);
}

Test(memory, a_left_token_cannot_hold)
{
    concert_queue_params p = params(10);
    concert_storage_token kim;
    concert_reservation r;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    expect_ok(st->queue_leave(st, &p, kim.info.token, T0));
    expect_rc(hold_by(7, 1, kim.info.token, T0, &r), CONCERT_ETOKEN_INVALID);
    cr_assert_eq(free_seats_in(7, T0), 20);
}

Test(memory, store_wide_limit_counts_live_holds_only)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, again;
    concert_reservation a, b, c, same;
    concert_release_request rel;
    concert_pay_request req;
    concert_payment pay;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    expect_ok(hold_limited(7, 1, kim.info.token, T0, 2, 0, &a));
    expect_ok(hold_limited(7, 2, kim.info.token, T0 + SECOND, 2, 0, &b));
    expect_rc(hold_limited(7, 3, kim.info.token, T0 + SECOND, 2, 0, &c), CONCERT_EHOLD_LIMIT);
    cr_assert_eq(free_seats_in(7, T0 + SECOND), 18, "the refused hold took nothing");
    /* asking again for a seat one holds is never refused */
    expect_ok(hold_limited(7, 2, kim.info.token, T0 + SECOND, 2, 0, &same));
    cr_assert_eq(same.id, b.id);
    cr_assert_eq(same.is_new, 0);
    /* the store-wide limit spans concerts: another user's holds do not count */
    expect_ok(hold_in(7, 2, 20, T0 + SECOND, &c));
    /* a released hold no longer counts */
    rel = release_request(a.id, kim.info.token, T0 + 2 * SECOND);
    expect_ok(st->reservation_release(st, &rel, &same));
    expect_ok(hold_limited(7, 3, kim.info.token, T0 + 2 * SECOND, 2, 0, &c));
    expect_rc(hold_limited(7, 4, kim.info.token, T0 + 2 * SECOND, 2, 0, &same),
              CONCERT_EHOLD_LIMIT);
    /* b expires at T0 + 1 s + 5 min: from then on it does not count */
    expect_rc(hold_limited(7, 4, kim.info.token, T0 + SECOND + 5 * MINUTE - 1, 2, 0, &same),
              CONCERT_EHOLD_LIMIT);
    expect_ok(hold_limited(7, 4, kim.info.token, T0 + SECOND + 5 * MINUTE, 2, 0, &same));
    /* paid seats do not count against the store-wide limit */
    req = pay_request(&p, &same.id, 1, kim.info.token, T0 + SECOND + 5 * MINUTE, NULL, NULL);
    expect_ok(st->pay(st, &req, &pay));
    issue(&p, 1, 3, T0 + 6 * MINUTE, &again);
    expect_ok(hold_limited(7, 5, again.info.token, T0 + 6 * MINUTE, 2, 0, &a));
    expect_ok(hold_limited(7, 6, again.info.token, T0 + 6 * MINUTE, 2, 0, &b));
    expect_rc(hold_limited(7, 7, again.info.token, T0 + 6 * MINUTE, 2, 0, &c), CONCERT_EHOLD_LIMIT);
}

/* Concert 4 limits each buyer to 2 seats (schedules 40 and 41); concert 5
 * has no limit (schedule 50). Users 1 (1000 points) and 2. */
static void load_limited_concerts(void)
{
    static const concert_catalog_seat_range seats[] = { { 1, 10, "A", 10 } };
    static const concert_catalog_schedule limited[] = { { 40, T0 + 86400000, seats, 1 },
                                                        { 41, T0 + 90000000, seats, 1 } };
    static const concert_catalog_schedule open[] = { { 50, T0 + 86400000, seats, 1 } };
    static const concert_catalog_concert concerts[] = {
        { 4, "Limited", CONCERT_STATUS_OPEN, 2, limited, 2 },
        { 5, "Open", CONCERT_STATUS_OPEN, 0, open, 1 }
    };
    static const concert_catalog_user users[] = { { 1, "Kim", 1000 }, { 2, "Lee", 1000 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 2, concerts, 2 };
    expect_ok(st->catalog_load(st, &c, T0));
}

Test(memory, max_per_user_is_stored_and_reported)
{
    concert_storage_schedule sc;
    concert_concert c;

    load_limited_concerts();
    expect_ok(st->concert_get(st, 4, &c));
    cr_assert_eq(c.max_per_user, 2);
    expect_ok(st->concert_get(st, 5, &c));
    cr_assert_eq(c.max_per_user, 0);
    expect_ok(st->schedule_get(st, 41, &sc));
    cr_assert_eq(sc.max_per_user, 2);
    cr_assert_eq(sc.concert_id, 4);
    expect_ok(st->schedule_get(st, 50, &sc));
    cr_assert_eq(sc.max_per_user, 0);
}

Test(memory, per_concert_limit_counts_held_and_bought_seats_of_that_concert)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, again;
    concert_reservation a, b, c;
    concert_pay_request req;
    concert_payment pay;

    load_limited_concerts();
    issue(&p, 1, 1, T0, &kim);
    /* holds in another concert do not count, whatever the store-wide limit */
    expect_ok(hold_limited(50, 1, kim.info.token, T0, 1, 0, &c));
    expect_ok(hold_limited(40, 1, kim.info.token, T0, 1, 2, &a));
    req = pay_request(&p, &a.id, 1, kim.info.token, T0, NULL, NULL);
    expect_ok(st->pay(st, &req, &pay));
    issue(&p, 1, 2, T0 + SECOND, &again);
    /* one bought plus one held, across the concert's two schedules */
    expect_ok(hold_limited(41, 1, again.info.token, T0 + SECOND, 1, 2, &b));
    expect_rc(hold_limited(40, 2, again.info.token, T0 + SECOND, 1, 2, &c), CONCERT_EHOLD_LIMIT);
    expect_rc(hold_limited(41, 2, again.info.token, T0 + SECOND, 1, 2, &c), CONCERT_EHOLD_LIMIT);
    /* another buyer has a limit of their own */
    expect_ok(hold_in(40, 2, 2, T0 + SECOND, &c));
    /* the held one expires: room for one more, never two */
    expect_ok(hold_limited(40, 3, again.info.token, T0 + SECOND + 5 * MINUTE, 1, 2, &c));
    expect_rc(hold_limited(40, 4, again.info.token, T0 + SECOND + 5 * MINUTE, 1, 2, &c),
              CONCERT_EHOLD_LIMIT);
}

enum {
    RACE_THREADS = 8,
    RACE_LIMIT = 3
};
static char race_token[CONCERT_TOKEN_SIZE];
static _Atomic int race_held, race_refused, race_other;

static void *hold_race(void *arg)
{
    concert_reservation r;
    int rc = hold_limited(7, 1 + (int64_t)(intptr_t)arg, race_token, T0, RACE_LIMIT, 0, &r);
    if (rc == 0)
        atomic_fetch_add(&race_held, 1);
    else if (rc == CONCERT_EHOLD_LIMIT)
        atomic_fetch_add(&race_refused, 1);
    else
        atomic_fetch_add(&race_other, 1);
    return NULL;
}

Test(memory, concurrent_holds_of_one_user_never_pass_the_limit)
{
    pthread_t threads[RACE_THREADS];
    load_gappy_schedule();
    active_token(1, T0, race_token);
    for (intptr_t i = 0; i < RACE_THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, hold_race, (void *)i), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(atomic_load(&race_other), 0);
    cr_assert_eq(atomic_load(&race_held), RACE_LIMIT);
    cr_assert_eq(atomic_load(&race_refused), RACE_THREADS - RACE_LIMIT);
    cr_assert_eq(free_seats_in(7, T0), 20 - RACE_LIMIT);
}

static int64_t history_count(int64_t user)
{
    ledger_seen seen = { 0 };
    expect_ok(st->history_list(st, user, 0, 0, collect_entry, &seen));
    return (int64_t)seen.count;
}

Test(memory, an_order_pays_once_for_all_its_holds)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, s;
    concert_reservation r[3], back;
    concert_payment pay, again;
    concert_pay_request req;
    concert_verify_report report;
    texts_seen v = { 0 };
    ledger_seen seen = { 0 };
    int64_t ids[3], balance;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    expect_ok(hold(1, 1, T0, &r[0]));    /* 100 */
    expect_ok(hold(1, 20, T0, &r[1]));   /* 200 */
    expect_ok(hold(1, 1000, T0, &r[2])); /* 400 */
    for (int i = 0; i < 3; i++)
        ids[i] = r[i].id;
    req = pay_request(&p, ids, 3, kim.info.token, T0 + SECOND, "o1", "reservations=1,2,3");
    expect_ok(st->pay(st, &req, &pay));
    cr_assert_eq(pay.amount, 700);
    cr_assert_eq(pay.reservation_id, ids[0], "the payment names the first reservation");
    cr_assert_eq(pay.user_id, 1);
    cr_assert_eq(pay.balance, 100000 - 700);
    cr_assert_eq(pay.paid_at, T0 + SECOND);
    for (int i = 0; i < 3; i++) {
        expect_ok(st->reservation_get(st, ids[i], &back));
        cr_assert_eq(back.status, CONCERT_RESERVATION_CONFIRMED);
    }
    cr_assert_eq(free_seats_in(7, T0 + 10 * MINUTE), 17, "all three seats are sold");
    /* one debit of the sum, one ledger entry */
    expect_ok(st->history_list(st, 1, 0, 0, collect_entry, &seen));
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.items[0].type, CONCERT_LEDGER_PAYMENT);
    cr_assert_eq(seen.items[0].amount, -700);
    cr_assert_eq(seen.items[0].reservation_id, ids[0]);
    expect_ok(st->balance_get(st, 1, &balance));
    cr_assert_eq(balance, 100000 - 700);
    /* the token ended; the key replays the order */
    expect_ok(st->queue_status(st, &p, kim.info.token, T0 + SECOND, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ENDED);
    req.now = T0 + 2 * SECOND;
    expect_ok(st->pay(st, &req, &again));
    cr_assert_eq(again.id, pay.id);
    cr_assert_eq(again.amount, 700);
    req.fingerprint = "reservations=1,2";
    expect_rc(st->pay(st, &req, &again), CONCERT_EIDEMPOTENCY_KEY_REUSED);
    memset(&report, 0, sizeof(report));
    expect_ok(st->verify(st, &p, T0 + SECOND, collect_text, &v, &report));
    cr_assert_eq(v.count, 0, "%s", v.first);
    cr_assert_eq(report.payments, 1);
    cr_assert_eq(report.seats_sold, 3);
}

/* The store as pay would leave it: balances, ledger sizes, free seats,
 * statuses of reservations 1..n, the token's state. */
static void expect_unchanged(int64_t balance1, int64_t entries1, size_t free_seats,
                             const int64_t *ids, size_t n, const char *token)
{
    concert_storage_token s;
    concert_reservation back;
    int64_t balance;
    expect_ok(st->balance_get(st, 1, &balance));
    cr_assert_eq(balance, balance1);
    cr_assert_eq(history_count(1), entries1);
    cr_assert_eq(free_seats_in(7, T0 + SECOND), free_seats);
    for (size_t i = 0; i < n; i++) {
        if (st->reservation_get(st, ids[i], &back) == 0)
            cr_assert_neq(back.status, CONCERT_RESERVATION_CONFIRMED);
    }
    expect_ok(st->queue_status(st, &HOLD_RULES, token, T0 + SECOND, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ACTIVE);
}

Test(memory, an_order_with_one_bad_reservation_changes_nothing)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, lee;
    concert_reservation a, b, late, theirs, rel;
    concert_release_request rr;
    concert_pay_request req;
    concert_payment pay;
    int64_t ids[3];

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    expect_ok(hold(1, 1, T0, &a));
    expect_ok(hold(1, 2, T0, &b));
    expect_ok(hold(2, 3, T0, &theirs));
    expect_ok(hold(1, 4, T0 - 5 * MINUTE + SECOND, &late)); /* runs out at T0 + 1 s */

    /* the core sorts and dedups; the store still refuses an id twice */
    ids[0] = a.id;
    ids[1] = a.id;
    req = pay_request(&p, ids, 2, kim.info.token, T0 + SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EINVAL);
    req = pay_request(&p, ids, 0, kim.info.token, T0 + SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EINVAL);
    expect_unchanged(100000, 1, 17, ids, 1, kim.info.token);

    /* ascending order, first failure wins: a missing id after a foreign one */
    ids[0] = a.id;
    ids[1] = theirs.id;
    ids[2] = 999;
    req = pay_request(&p, ids, 3, kim.info.token, T0 + SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EFORBIDDEN);
    ids[1] = b.id;
    req = pay_request(&p, ids, 3, kim.info.token, T0 + SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_ERESERVATION_NOT_FOUND);
    ids[0] = a.id;
    ids[1] = b.id;
    ids[2] = late.id;
    req = pay_request(&p, ids, 3, kim.info.token, T0 + SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EHOLD_EXPIRED);
    expect_unchanged(100000, 1, 17, ids, 3, kim.info.token);

    /* a released hold is a hold that ended */
    rr = release_request(b.id, kim.info.token, T0 + SECOND);
    expect_ok(st->reservation_release(st, &rr, &rel));
    req = pay_request(&p, ids, 2, kim.info.token, T0 + SECOND, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EHOLD_EXPIRED);
    expect_unchanged(100000, 1, 18, ids, 2, kim.info.token);

    /* an unknown token is refused before any key is looked at */
    req = pay_request(&p, ids, 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", T0 + SECOND, "k", "x");
    expect_rc(st->pay(st, &req, &pay), CONCERT_ETOKEN_INVALID);
}

Test(memory, an_order_is_refused_when_the_sum_passes_the_balance)
{
    static const concert_catalog_seat_range seats[] = { { 1, 10, "A", 600 } };
    static const concert_catalog_schedule schedules[] = { { 60, T0 + 86400000, seats, 1 } };
    static const concert_catalog_concert concerts[] = { { 6, "Dear", CONCERT_STATUS_OPEN, 0,
                                                          schedules, 1 } };
    static const concert_catalog_user users[] = { { 9, "Ann", 1000 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 1, concerts, 1 };
    concert_queue_params p = params(10);
    concert_storage_token ann;
    concert_reservation a, b;
    concert_pay_request req;
    concert_payment pay;
    int64_t ids[2], balance;

    expect_ok(st->catalog_load(st, &c, T0));
    issue(&p, 9, 1, T0, &ann);
    expect_ok(hold_in(60, 9, 1, T0, &a));
    expect_ok(hold_in(60, 9, 2, T0, &b));
    ids[0] = a.id;
    ids[1] = b.id;
    req = pay_request(&p, ids, 2, ann.info.token, T0, NULL, NULL);
    expect_rc(st->pay(st, &req, &pay), CONCERT_EINSUFFICIENT_POINTS);
    expect_ok(st->balance_get(st, 9, &balance));
    cr_assert_eq(balance, 1000);
    req = pay_request(&p, ids, 1, ann.info.token, T0, NULL, NULL);
    expect_ok(st->pay(st, &req, &pay));
    cr_assert_eq(pay.balance, 400);
}

Test(memory, release_frees_the_seat_at_once_and_is_fenced)
{
    concert_queue_params p = params(10);
    concert_storage_token kim, lee;
    concert_reservation mine, theirs, out, paid;
    concert_release_request rr;
    concert_pay_request req;
    concert_payment pay;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    expect_ok(hold(1, 5, T0, &mine));
    cr_assert_eq(free_seats_in(7, T0), 19);
    cr_assert_eq(free_seats_of_schedule_7(T0), 19);

    rr = release_request(mine.id, lee.info.token, T0);
    expect_rc(st->reservation_release(st, &rr, &out), CONCERT_EFORBIDDEN);
    rr = release_request(999, kim.info.token, T0);
    expect_rc(st->reservation_release(st, &rr, &out), CONCERT_ERESERVATION_NOT_FOUND);
    rr = release_request(mine.id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", T0);
    expect_rc(st->reservation_release(st, &rr, &out), CONCERT_ETOKEN_INVALID);
    cr_assert_eq(free_seats_in(7, T0), 19, "refused releases change nothing");

    rr = release_request(mine.id, kim.info.token, T0 + SECOND);
    expect_ok(st->reservation_release(st, &rr, &out));
    cr_assert_eq(out.status, CONCERT_RESERVATION_RELEASED);
    cr_assert_eq(out.id, mine.id);
    cr_assert_eq(free_seats_in(7, T0 + SECOND), 20);
    cr_assert_eq(free_seats_of_schedule_7(T0 + SECOND), 20);
    /* free for everyone at once */
    expect_ok(hold(2, 5, T0 + SECOND, &theirs));
    /* releasing again changes nothing and leaves the new hold alone */
    expect_ok(st->reservation_release(st, &rr, &out));
    cr_assert_eq(out.status, CONCERT_RESERVATION_RELEASED);
    expect_rc(hold(1, 5, T0 + SECOND, &out), CONCERT_ESEAT_TAKEN);
    expect_ok(st->reservation_get(st, mine.id, &out));
    cr_assert_eq(out.status, CONCERT_RESERVATION_RELEASED);

    /* an expired hold whose seat another buyer took since: released, the
     * other hold untouched */
    expect_ok(hold(1, 6, T0, &mine));
    expect_ok(hold(2, 6, T0 + 5 * MINUTE, &theirs));
    rr = release_request(mine.id, kim.info.token, T0 + 5 * MINUTE);
    expect_ok(st->reservation_release(st, &rr, &out));
    cr_assert_eq(out.status, CONCERT_RESERVATION_RELEASED);
    expect_rc(hold(1, 6, T0 + 5 * MINUTE, &out), CONCERT_ESEAT_TAKEN);

    /* a paid reservation is not released */
    expect_ok(hold(1, 7, T0 + 5 * MINUTE, &paid));
    req = pay_request(&p, &paid.id, 1, kim.info.token, T0 + 5 * MINUTE, NULL, NULL);
    expect_ok(st->pay(st, &req, &pay));
    issue(&p, 1, 3, T0 + 5 * MINUTE, &kim);
    rr = release_request(paid.id, kim.info.token, T0 + 5 * MINUTE);
    expect_rc(st->reservation_release(st, &rr, &out), CONCERT_EALREADY_PAID);
}

Test(memory, token_owner_reads_any_state_and_touches_nothing)
{
    concert_queue_params p = params(1);
    concert_storage_token kim, lee, s;
    int64_t user = 0;

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    issue(&p, 2, 2, T0, &lee);
    expect_ok(st->token_owner(st, kim.info.token, &user));
    cr_assert_eq(user, 1);
    /* asked just before its idle limit: the WAITING token still idles out */
    expect_ok(st->token_owner(st, lee.info.token, &user));
    cr_assert_eq(user, 2);
    expect_ok(st->token_owner(st, lee.info.token, &user));
    expect_ok(st->queue_status(st, &p, lee.info.token, T0 + 5 * MINUTE, &s));
    cr_assert_eq(s.info.state, CONCERT_TOKEN_ENDED);
    expect_ok(st->token_owner(st, lee.info.token, &user));
    cr_assert_eq(user, 2, "an ended token still names its user");
    expect_rc(st->token_owner(st, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &user),
              CONCERT_ETOKEN_INVALID);
    expect_rc(st->token_owner(st, "", &user), CONCERT_ETOKEN_INVALID);
}

Test(memory, history_pages_newest_first_by_id)
{
    int32_t replayed;
    concert_charge_request req = { 1, 1, CONCERT_MAX_BALANCE, T0, NULL, NULL, DAY, &replayed };
    ledger_seen seen = { 0 };
    int64_t balance, ids[12];
    size_t n = 0;

    load_gappy_schedule(); /* user 1's opening entry is id 1 */
    /* user 1's entries interleaved with user 2's */
    for (int i = 0; i < 10; i++) {
        req.user_id = 1 + i % 2;
        expect_ok(st->charge(st, &req, &balance));
    }
    /* user 1: ids 1, 2, 4, 6, 8, 10 */
    expect_ok(st->history_list(st, 1, 0, 0, collect_entry, &seen));
    cr_assert_eq(seen.count, 6);
    for (size_t i = 0; i < seen.count; i++)
        ids[n++] = seen.items[i].id;
    cr_assert_eq(ids[0], 10);
    cr_assert_eq(ids[5], 1);
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->history_list(st, 1, 0, 2, collect_entry, &seen));
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.items[0].id, 10);
    cr_assert_eq(seen.items[1].id, 8);
    cr_assert_eq(seen.items[1].user_id, 1);
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->history_list(st, 1, 8, 2, collect_entry, &seen));
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.items[0].id, 6);
    cr_assert_eq(seen.items[1].id, 4);
    /* a cursor between ids, and past the last page */
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->history_list(st, 1, 5, 10, collect_entry, &seen));
    cr_assert_eq(seen.count, 3);
    cr_assert_eq(seen.items[0].id, 4);
    cr_assert_eq(seen.items[2].id, 1);
    cr_assert_eq(seen.items[2].amount, 100000);
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->history_list(st, 1, 1, 10, collect_entry, &seen));
    cr_assert_eq(seen.count, 0);
    memset(&seen, 0, sizeof(seen));
    expect_ok(st->history_list(st, 1, INT64_MAX, 1, collect_entry, &seen));
    cr_assert_eq(seen.count, 1);
    cr_assert_eq(seen.items[0].id, 10);
    expect_rc(st->history_list(st, 3, 0, 1, collect_entry, &seen), CONCERT_EUSER_NOT_FOUND);
}

/* ---- verify ---- */

Test(memory, verify_counts_what_it_checked)
{
    concert_queue_params p = params(10);
    concert_storage_token t;
    concert_reservation r1, r2;
    concert_payment pay;
    concert_pay_request req;
    concert_verify_report report;
    texts_seen v = { 0 };

    load_gappy_schedule();
    issue(&p, 1, 1, T0, &t);
    expect_ok(hold(1, 1, T0, &r1));
    expect_ok(hold(1, 2, T0, &r2));
    req = pay_request(&p, &r1.id, 1, t.info.token, T0, NULL, NULL);
    expect_ok(st->pay(st, &req, &pay));
    memset(&report, 0, sizeof(report));
    expect_ok(st->verify(st, &p, T0, collect_text, &v, &report));
    cr_assert_eq(v.count, 0, "%s", v.first);
    cr_assert_eq(report.users, 2);
    cr_assert_eq(report.ledger_entries, 2);
    cr_assert_eq(report.seats, 20);
    cr_assert_eq(report.seats_sold, 1);
    cr_assert_eq(report.reservations, 2);
    cr_assert_eq(report.payments, 1);
    cr_assert_eq(report.active_tokens, 0, "the payment ended the only token");
}

/* ---- retention: pruning the token and idempotency windows ---- */

static memory_store *store(void)
{
    return (memory_store *)(void *)st;
}

static concert_prune_report prune_at(const concert_queue_params *p, int64_t now, size_t limit)
{
    concert_prune_request req;
    concert_prune_report out;
    memset(&req, 0, sizeof(req));
    req.now = now;
    req.limit = limit;
    req.queue = *p;
    expect_ok(st->prune(st, &req, &out));
    return out;
}

static void expect_store_verified(const concert_queue_params *p, int64_t now)
{
    concert_verify_report report;
    texts_seen v = { 0 };
    memset(&report, 0, sizeof(report));
    expect_ok(st->verify(st, p, now, collect_text, &v, &report));
    cr_assert_eq(v.count, 0, "verify: %s", v.first);
}

static int charge_keyed(int64_t user, int64_t amount, int64_t now, const char *key,
                        int64_t retention_ms, int64_t *balance)
{
    int32_t replayed;
    concert_charge_request req = { user, amount,   CONCERT_MAX_BALANCE, now,
                                   key,  "amount", retention_ms,        &replayed };
    return st->charge(st, &req, balance);
}

Test(memory, a_keyed_payment_replays_inside_retention_and_is_new_after)
{
    concert_queue_params p = params(10);
    const int64_t paid_at = T0 + SECOND;
    concert_storage_token kim, t;
    concert_reservation r, later;
    concert_payment first, again;
    concert_pay_request req;
    concert_prune_report report;
    int64_t owner, balance;

    p.retention_ms = MINUTE;
    load_gappy_schedule();
    issue(&p, 1, 1, T0, &kim);
    cr_assert_eq(kim.info.state, CONCERT_TOKEN_ACTIVE);
    expect_ok(hold(1, 100, T0, &r));
    req = pay_request(&p, &r.id, 1, kim.info.token, paid_at, "k1", "order=a");
    expect_ok(st->pay(st, &req, &first));

    /* the token ended at paid_at: kept, and its key replays, until
     * retention has passed since */
    req = pay_request(&p, &r.id, 1, kim.info.token, paid_at + MINUTE - 1, "k1", "order=a");
    expect_ok(st->pay(st, &req, &again));
    cr_assert_eq(again.id, first.id);
    report = prune_at(&p, paid_at + MINUTE - 1, 0);
    cr_assert_eq(report.tokens + report.idempotency, 0, "nothing is due yet");
    report = prune_at(&p, paid_at + MINUTE, 0);
    cr_assert_eq(report.tokens, 1);
    cr_assert_eq(report.idempotency, 1);
    cr_assert_eq(report.more, 0);

    /* gone: the token is unknown to every step, and the key is new */
    expect_rc(st->pay(st, &req, &again), CONCERT_ETOKEN_INVALID);
    expect_rc(st->queue_status(st, &p, kim.info.token, paid_at + MINUTE, &t),
              CONCERT_ETOKEN_INVALID);
    expect_rc(st->token_owner(st, kim.info.token, &owner), CONCERT_ETOKEN_INVALID);
    issue(&p, 1, 2, paid_at + MINUTE, &t);
    cr_assert_eq(t.info.is_new, 1);
    expect_ok(hold_by(7, 1000, t.info.token, paid_at + MINUTE, &later));
    req = pay_request(&p, &later.id, 1, t.info.token, paid_at + MINUTE, "k1", "order=a");
    expect_ok(st->pay(st, &req, &again));
    cr_assert_neq(again.id, first.id, "after retention the key is a new request");
    expect_ok(st->balance_get(st, 1, &balance));
    cr_assert_eq(balance, 100000 - 300 - 400, "both orders were paid");
    /* the sale of the first is a record: never pruned */
    expect_ok(st->reservation_get(st, r.id, &later));
    cr_assert_eq(later.status, CONCERT_RESERVATION_CONFIRMED);
    cr_assert_eq(store()->token_ix.count, 1, "only the new token is indexed");
    expect_store_verified(&p, paid_at + MINUTE);
}

Test(memory, prune_goes_oldest_first_within_its_limit)
{
    concert_queue_params p = params(10);
    concert_storage_token t;
    concert_prune_report report;
    char text[CONCERT_TOKEN_SIZE];
    int64_t balance;

    p.retention_ms = MINUTE;
    load_users(1, 2, 0);
    /* a key at T0, a token ended at T0 + 1 s, a key at T0 + 2 s */
    expect_ok(charge_keyed(1, 5, T0, "a", p.retention_ms, &balance));
    issue(&p, 2, 7, T0, &t);
    expect_ok(st->queue_leave(st, &p, t.info.token, T0 + SECOND));
    expect_ok(charge_keyed(1, 5, T0 + 2 * SECOND, "b", p.retention_ms, &balance));

    report = prune_at(&p, T0 + HOUR, 1);
    cr_assert_eq(report.idempotency, 1, "the key of T0 first");
    cr_assert_eq(report.tokens, 0);
    cr_assert_eq(report.more, 1);
    report = prune_at(&p, T0 + HOUR, 1);
    cr_assert_eq(report.tokens, 1, "then the token that ended at T0 + 1 s");
    cr_assert_eq(report.more, 1);
    token_for(7, text);
    expect_rc(st->queue_status(st, &p, text, T0 + HOUR, &t), CONCERT_ETOKEN_INVALID);
    expect_ok(charge_keyed(1, 5, T0 + HOUR, "b", p.retention_ms, &balance));
    cr_assert_eq(balance, 10, "key b was not pruned yet: a replay");
    report = prune_at(&p, T0 + HOUR, 0);
    cr_assert_eq(report.idempotency, 1);
    cr_assert_eq(report.more, 0);
    expect_ok(charge_keyed(1, 5, T0 + HOUR, "a", p.retention_ms, &balance));
    cr_assert_eq(balance, 15, "key a is new again");
    /* retention 0 is no retention: a caller that knows none keeps all */
    p.retention_ms = 0;
    report = prune_at(&p, INT64_MAX, 0);
    cr_assert_eq(report.tokens + report.idempotency, 0);
    expect_store_verified(&p, T0 + HOUR);
}

/* A token idling in line (behind an ACTIVE one, above admitted_through)
 * goes from the index at wait_ttl + retention; its record stays a hole
 * until admission passes it, and then the front takes it back. */
Test(memory, an_idle_token_in_line_is_pruned_and_its_slot_reclaimed_later)
{
    concert_queue_params p = queue_rules(1, HOUR, MINUTE);
    concert_storage_token first, idle, t;
    concert_queue_stats stats;
    concert_prune_report report;

    p.retention_ms = SECOND;
    load_users(1, 3, 0);
    issue(&p, 1, 1, T0, &first);
    issue(&p, 2, 2, T0, &idle);
    cr_assert_eq(idle.info.position, 1);
    report = prune_at(&p, T0 + MINUTE + SECOND - 1, 0);
    cr_assert_eq(report.tokens, 0);
    report = prune_at(&p, T0 + MINUTE + SECOND, 0);
    cr_assert_eq(report.tokens, 1);
    expect_rc(st->queue_status(st, &p, idle.info.token, T0 + MINUTE + SECOND, &t),
              CONCERT_ETOKEN_INVALID);
    cr_assert_eq(mem_window_count(&store()->tokens), 2, "a hole until admission passes it");
    cr_assert_eq(store()->token_ix.count, 1);
    expect_store_verified(&p, T0 + MINUTE + SECOND);

    /* the user joins again; the first one leaves, admission skips the hole
     * and admits the new token; the next steps reclaim both slots */
    issue(&p, 2, 3, T0 + 2 * MINUTE, &t);
    cr_assert_eq(t.info.is_new, 1);
    cr_assert_eq(t.info.position, 2, "the hole still counts: positions only over-count");
    expect_ok(st->queue_leave(st, &p, first.info.token, T0 + 2 * MINUTE));
    expect_ok(st->queue_status(st, &p, t.info.token, T0 + 2 * MINUTE, &t));
    cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
    issue(&p, 3, 4, T0 + 3 * MINUTE, &t);
    cr_assert_eq(store()->tokens.base, 2, "the left token and the hole are gone");
    expect_ok(st->queue_stats(st, &p, T0 + 3 * MINUTE, &stats));
    cr_assert_eq(stats.last_ticket, 4);
    cr_assert_eq(stats.admitted_through, 3);
    expect_store_verified(&p, T0 + 3 * MINUTE);
}

/* Nobody calls prune(): issue and pay prune as they go, so over 200,000
 * keyed sales with the clock moving, the token and idempotency windows and
 * their indexes stay at what retention keeps (about 100 of each here),
 * never near the 200,000 issued. Every 13th token is kept verbatim, so its
 * text is freed and its slot reused too. */
Test(memory, steps_alone_keep_tokens_and_keys_bounded_over_200k_sales, .timeout = 120)
{
    enum {
        SALES = 200000,
        USERS = 1000,
        BOUND = 256
    };
    static const concert_catalog_seat_range ranges[] = { { 1, SALES, "A", 1 } };
    static const concert_catalog_schedule schedules[] = { { 9, T0 + DAY, ranges, 1 } };
    static const concert_catalog_concert concerts[] = { { 4, "Season", CONCERT_STATUS_OPEN, 0,
                                                          schedules, 1 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, NULL, 0, concerts, 1 };
    concert_queue_params p = queue_rules(USERS, 10 * MINUTE, 5 * MINUTE);
    const memory_store *s = store();
    size_t most_tokens = 0, most_keys = 0;

    p.retention_ms = SECOND; /* a sale every 10 ms: 100 sales' worth */
    load_users(1, USERS, SALES);
    expect_ok(st->catalog_load(st, &c, T0));
    for (int64_t i = 0; i < SALES; i++) {
        const int64_t now = T0 + i * 10;
        concert_storage_token t;
        concert_reservation r;
        concert_payment paid;
        concert_pay_request req;
        char text[CONCERT_TOKEN_SIZE], key[32];
        if (i % 13 == 0)
            snprintf(text, sizeof(text), "verbatim-%lld", (long long)i);
        else
            token_for((uint64_t)i + 100, text);
        expect_ok(st->queue_issue(st, &p, 1 + i % USERS, text, now, &t));
        cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
        expect_ok(hold_by(9, 1 + i, text, now, &r));
        snprintf(key, sizeof(key), "sale-%lld", (long long)i);
        req = pay_request(&p, &r.id, 1, text, now, key, "order");
        expect_ok(st->pay(st, &req, &paid));
        if (mem_window_count(&s->tokens) > most_tokens)
            most_tokens = (size_t)mem_window_count(&s->tokens);
        if (mem_window_count(&s->idem) > most_keys)
            most_keys = (size_t)mem_window_count(&s->idem);
    }
    cr_assert_leq(most_tokens, BOUND, "%zu tokens kept at once", most_tokens);
    cr_assert_leq(most_keys, BOUND, "%zu keys kept at once", most_keys);
    cr_assert_leq(s->token_ix.count, BOUND);
    cr_assert_leq(s->idem_ix.count, BOUND);
    cr_assert_leq(mem_window_cap(&s->tokens), BOUND);
    cr_assert_leq(mem_window_cap(&s->idem), BOUND);
    cr_assert_leq(s->token_ix.mask + 1, 2 * BOUND);
    cr_assert_leq(s->idem_ix.mask + 1, 2 * BOUND);
    cr_assert_leq(s->verbatim_count, BOUND / 13 + 2, "verbatim slots are reused");
    cr_assert_eq(s->tokens.end, SALES, "every sale had its own token");
    cr_assert_eq(s->payments_count, SALES, "and every sale is kept");
    expect_store_verified(&p, T0 + SALES * 10);
}

/* After a burst (10,000 joined, all left), prune() gives the rings' and the
 * index's memory back, and the store keeps working at the smaller size. */
Test(memory, prune_after_a_burst_shrinks_the_window_and_its_index)
{
    enum {
        N = 10000
    };
    concert_queue_params p = params(N);
    concert_storage_token t;
    concert_prune_report report;
    const memory_store *s = store();

    p.retention_ms = SECOND;
    load_users(1, N + 1, 0);
    for (uint64_t i = 0; i < N; i++)
        issue(&p, (int64_t)i + 1, i, T0, &t);
    for (uint64_t i = 0; i < N; i++) {
        char text[CONCERT_TOKEN_SIZE];
        token_for(i, text);
        expect_ok(st->queue_leave(st, &p, text, T0));
    }
    cr_assert_geq(mem_window_cap(&s->tokens), N);
    report = prune_at(&p, T0 + SECOND, 0);
    cr_assert_eq(report.tokens, N);
    cr_assert_eq(mem_window_count(&s->tokens), 0);
    cr_assert_leq(mem_window_cap(&s->tokens), 16, "ring of %zu", mem_window_cap(&s->tokens));
    cr_assert_leq(s->token_ix.mask + 1, 16);
    issue(&p, N + 1, N, T0 + SECOND, &t);
    cr_assert_eq(t.ticket, N + 1);
    cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
    expect_ok(st->queue_status(st, &p, t.info.token, T0 + SECOND, &t));
    expect_store_verified(&p, T0 + SECOND);
}

/* ---- the containers under retention, directly ---- */

/* Entries whose hashes collide on purpose: few homes (the low bits of the
 * hash's high half) and, among entries of one home, a tag that may repeat
 * (the rest of the high half), so runs are long, wrap past the table's end,
 * and hold equal tags. Deleting must keep every other entry reachable. */
static uint64_t colliding_hash(uint32_t home, uint32_t variant)
{
    return (uint64_t)(variant << 8 | home) << 32 | variant;
}

static int index_has(const mem_index *ix, uint64_t hash, uint32_t value)
{
    mem_probe probe;
    for (uint32_t slot = mem_index_first(ix, hash, &probe); slot; slot = mem_index_next(ix, &probe))
        if (slot - 1 == value)
            return 1;
    return 0;
}

Test(memory, index_deletion_keeps_colliding_runs_reachable)
{
    enum {
        N = 3000,
        HOMES = 5
    };
    static uint64_t hash_of[N];
    static unsigned char present[N];
    mem_index ix = { 0 };
    uint64_t x = UINT64_C(0x2545f4914f6cdd1d);

    cr_assert_eq(mem_index_reserve(&ix, N), 0);
    for (uint32_t v = 0; v < N; v++) {
        /* homes at the table's last slots, so runs wrap to its start */
        hash_of[v] = colliding_hash((uint32_t)(ix.mask - v % HOMES), v % 7);
        mem_index_insert(&ix, hash_of[v], v);
        present[v] = 1;
    }
    /* delete and re-insert at random; after every change, every present
     * entry is found and no deleted one is */
    for (int round = 0; round < 6000; round++) {
        uint32_t v;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v = (uint32_t)(x % N);
        if (present[v]) {
            cr_assert_eq(mem_index_remove(&ix, hash_of[v], v), 0);
            cr_assert_eq(mem_index_remove(&ix, hash_of[v], v), -1, "deleted once only");
        } else {
            mem_index_insert(&ix, hash_of[v], v);
        }
        present[v] ^= 1;
        if (round % 97 == 0 || round > 5990)
            for (uint32_t k = 0; k < N; k++)
                cr_assert_eq(index_has(&ix, hash_of[k], k), present[k], "value %u, round %d", k,
                             round);
    }
    /* emptied entirely: every slot is free again */
    for (uint32_t v = 0; v < N; v++)
        if (present[v])
            cr_assert_eq(mem_index_remove(&ix, hash_of[v], v), 0);
    cr_assert_eq(ix.count, 0);
    for (size_t at = 0; at <= ix.mask; at++)
        cr_assert_eq(ix.slots[at], 0);
    mem_index_free(&ix);
}

/* A window keeps its records and their numbers while its ring grows with
 * the front anywhere in it, and across the 2^31 that MEM_WINDOW_LOW wraps
 * at. */
Test(memory, window_growth_keeps_records_and_numbers)
{
    mem_window w = { 0 };
    const uint64_t start = MEM_WINDOW_MAX - 20;

    w.base = w.end = start;
    for (uint64_t n = start; n < start + 40; n++) {
        if (n % 3 == 0 && w.base < w.end)
            w.base++; /* the front moves too, so the ring wraps */
        cr_assert_eq(mem_window_reserve(&w, 1, sizeof(uint64_t)), 0);
        ((uint64_t *)w.items)[w.end & w.mask] = n;
        w.end++;
        for (uint64_t i = w.base; i < w.end; i++) {
            cr_assert_eq(((uint64_t *)w.items)[i & w.mask], i, "record %llu after %llu",
                         (unsigned long long)i, (unsigned long long)n);
            cr_assert_eq(mem_window_number(&w, MEM_WINDOW_LOW(i)), i);
        }
    }
    cr_assert_geq(mem_window_number(&w, MEM_WINDOW_LOW(w.base - 1)), w.end,
                  "a name from before the front names nothing kept");
    mem_window_free(&w);
}

/* ---- the one lock under churn ---- */

enum {
    CHURN_THREADS = 8,
    CHURN_ROUNDS = 3000,
    CHURN_USERS_PER_THREAD = 20
};
static _Atomic int64_t churn_clock = T0;
static _Atomic int churn_failures;

static void *churn(void *arg)
{
    const int64_t first_user = 1 + (int64_t)(intptr_t)arg * CHURN_USERS_PER_THREAD;
    concert_queue_params p = { 50, 40, no_lottery, NULL, DAY };
    concert_storage_token t, s;
    char text[CONCERT_TOKEN_SIZE];

    for (uint64_t k = 0; k < CHURN_ROUNDS; k++) {
        int64_t user = first_user + (int64_t)(k % CHURN_USERS_PER_THREAD);
        int64_t now = atomic_fetch_add(&churn_clock, 1);
        token_for((uint64_t)user << 32 | k, text);
        if (st->queue_issue(st, &p, user, text, now, &t) != 0 ||
            st->queue_status(st, &p, t.info.token, now, &s) != 0 || s.info.user_id != user) {
            atomic_fetch_add(&churn_failures, 1);
            continue;
        }
        /* leave a third of the time; the rest expire or idle out. Another
         * thread may hold a later `now` and end the token first (as a real
         * clock sampled before a preemption would): then it is invalid. */
        if (k % 3 == 0 && s.info.state != CONCERT_TOKEN_ENDED) {
            int rc = st->queue_leave(st, &p, t.info.token, now);
            if (rc != 0 && rc != CONCERT_ETOKEN_INVALID)
                atomic_fetch_add(&churn_failures, 1);
        }
    }
    return NULL;
}

Test(memory, queue_churn_from_many_threads_keeps_the_active_count_exact)
{
    pthread_t threads[CHURN_THREADS];
    concert_queue_params p = queue_rules(5, 50, 40);
    concert_queue_stats stats;
    int64_t end;

    load_users(1, CHURN_THREADS * CHURN_USERS_PER_THREAD, 0);
    for (intptr_t i = 0; i < CHURN_THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, churn, (void *)i), 0);
    for (int i = 0; i < CHURN_THREADS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(atomic_load(&churn_failures), 0);
    end = atomic_load(&churn_clock);
    expect_ok(st->queue_stats(st, &p, end, &stats));
    cr_assert_leq(stats.active, 5);
    cr_assert_eq(stats.active, live_active_now(&p, end), "every ACTIVE token is live and counted");
    /* once every lifetime is over, nothing is active and nothing waits */
    expect_ok(st->queue_stats(st, &p, end + 1000, &stats));
    cr_assert_eq(stats.active, 0);
    cr_assert_eq(stats.waiting, 0);
    cr_assert_eq(stats.admitted_through, stats.last_ticket);
}

/* ---- a million of each: the figures (bytes each) are the bench's
 * (concert-bench footprint: RSS, VmData and heap in use per seat and per
 * token); here only what must hold at that size ---- */

static int count_seat(void *ctx, const concert_seat *item)
{
    (void)item;
    ++*(size_t *)ctx;
    return 0;
}

Test(memory, a_million_waiting_tokens_each_get_their_place, .timeout = 120)
{
    enum {
        N = 1000000
    };
    concert_queue_params p = params(1000);
    concert_storage_token t;
    concert_queue_stats stats;

    uint64_t misplaced = 0, first_misplaced = 0;

    load_users(1, N, 0);
    for (uint64_t i = 0; i < N; i++) {
        issue(&p, (int64_t)i + 1, i, T0, &t);
        /* one assertion after the loop: a million passing ones cost more
         * than the issues */
        if (i >= 1000 && t.info.position != (int64_t)i - 999 && misplaced++ == 0)
            first_misplaced = i;
    }
    cr_assert_eq(misplaced, 0, "%llu tokens out of place, first the %llu-th",
                 (unsigned long long)misplaced, (unsigned long long)first_misplaced);
    expect_ok(st->queue_stats(st, &p, T0, &stats));
    cr_assert_eq(stats.active, 1000);
    cr_assert_eq(stats.waiting, N - 1000);
}

Test(memory, a_million_seats_list_exactly_the_free_ones, .timeout = 120)
{
    enum {
        N = 1000000
    };
    static const concert_catalog_seat_range ranges[] = { { 1, 500000, "R", 100 },
                                                         { 500001, 1000000, "S", 50 } };
    static const concert_catalog_schedule schedules[] = { { 1, T0 + 86400000, ranges, 2 } };
    static const concert_catalog_concert concerts[] = { { 1, "Stadium", CONCERT_STATUS_OPEN, 0,
                                                          schedules, 1 } };
    static const concert_catalog_user users[] = { { 1, "Kim", 0 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, 1, concerts, 1 };
    concert_reservation r;
    size_t listed = 0;

    expect_ok(st->catalog_load(st, &c, T0));
    /* write to every page of the seat array, as a sale would (a page holds
     * 1024 seats), so that RSS counts all of it */
    for (int64_t n = 1000; n <= N; n += 1000)
        expect_ok(hold_in(1, 1, n, T0, &r));
    expect_ok(st->seats_available(st, 1, T0, count_seat, &listed));
    cr_assert_eq(listed, N - 1000);
}
