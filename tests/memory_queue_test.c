/*
 * The in-memory backend's queue under storage table version 2, driven
 * through the table directly: shared settings seeded at open and changed by
 * queue_configure, the states (PAUSED, CLOSED, SCHEDULED), the pre-queue
 * block and its opening lottery (tokens move in the window, so the token
 * index and users' newest tickets must follow, also after retention has
 * pruned), and the admit_per_minute budget. The behaviour suite checks the
 * rules on every store; this checks the memory store's own shapes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <concert/concert.h>
#include <concert/sys/storage.h>

#define T0 INT64_C(1800000000000)
#define SECOND INT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

#define expect_rc(call, expected)                                                                  \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        cr_assert_eq(rc__, (expected), "%s returned %s (%d), expected %s: %s", #call,              \
                     concert_error_name(rc__), rc__, concert_error_name(expected),                 \
                     concert_error_last()->message);                                               \
    } while (0)
#define expect_ok(call) expect_rc(call, CONCERT_OK)

static concert_storage *st;

static void close_store(void)
{
    if (st)
        st->free(st);
    st = NULL;
}

/* A store seeded with these limits. */
static void open_with(int64_t max_active, int64_t admit_per_minute)
{
    concert_options o = CONCERT_OPTIONS_INIT;
    o.max_active = max_active;
    o.admit_per_minute = admit_per_minute;
    close_store();
    expect_ok(concert_storage_memory_open(&st, "", &o));
}

static void open_default(void)
{
    open_with(10, 0);
}

TestSuite(memory_queue, .init = open_default, .fini = close_store);

/* ---- the lottery's shuffle, recorded ---- */

enum {
    LOTTERY_MAX = 4096
};

typedef struct lottery_log {
    int calls;
    int fail_with; /* non-zero: return it (once per setting) */
    int repeat;    /* 1: hand back a wrong "permutation" */
    size_t n;
    int64_t given[LOTTERY_MAX];  /* the ids as the store gave them */
    int64_t result[LOTTERY_MAX]; /* the order handed back */
} lottery_log;

static lottery_log lottery;

/* A seeded Fisher-Yates (xorshift64*): a fixed, non-trivial order. */
static int recording_shuffle(void *ctx, int64_t *items, size_t n)
{
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    (void)ctx;
    lottery.calls++;
    if (lottery.fail_with) {
        int rc = lottery.fail_with;
        lottery.fail_with = 0;
        items[0] = -5; /* a failing shuffle may leave garbage: it must not matter */
        return rc;
    }
    cr_assert_leq(n, LOTTERY_MAX);
    lottery.n = n;
    memcpy(lottery.given, items, n * sizeof(*items));
    for (size_t i = n; i > 1; i--) {
        size_t j;
        int64_t t;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        j = (size_t)((x * UINT64_C(2685821657736338717)) % i);
        t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
    if (lottery.repeat && n > 1)
        items[1] = items[0];
    memcpy(lottery.result, items, n * sizeof(*items));
    return CONCERT_OK;
}

static concert_queue_params rules(int64_t active_ttl_ms, int64_t wait_ttl_ms)
{
    concert_queue_params p = { active_ttl_ms, wait_ttl_ms, recording_shuffle, NULL, DAY };
    memset(&lottery, 0, sizeof(lottery));
    return p;
}

/* ---- helpers ---- */

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

/* Users 1..n. */
static void load_users(size_t n)
{
    concert_catalog_user *users = calloc(n, sizeof(*users));
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, n, NULL, 0 };
    cr_assert_not_null(users);
    for (size_t i = 0; i < n; i++) {
        users[i].id = (int64_t)i + 1;
        users[i].name = "buyer";
    }
    expect_ok(st->catalog_load(st, &c, T0));
    free(users);
}

/* User u's token text: the compact shape, except every 7th user's, which
 * is kept verbatim (another hash path through the index). */
static void text_of(int64_t u, char out[CONCERT_TOKEN_SIZE])
{
    if (u % 7 == 0)
        snprintf(out, CONCERT_TOKEN_SIZE, "odd-token-%lld", (long long)u);
    else
        token_for((uint64_t)u, out);
}

static concert_storage_token issue(const concert_queue_params *p, int64_t u, int64_t now)
{
    char text[CONCERT_TOKEN_SIZE];
    concert_storage_token t;
    text_of(u, text);
    expect_ok(st->queue_issue(st, p, u, text, now, &t));
    return t;
}

static concert_storage_token status(const concert_queue_params *p, int64_t u, int64_t now)
{
    char text[CONCERT_TOKEN_SIZE];
    concert_storage_token t;
    text_of(u, text);
    expect_ok(st->queue_status(st, p, text, now, &t));
    cr_assert_eq(t.info.user_id, u);
    return t;
}

static concert_queue_stats stats_at(const concert_queue_params *p, int64_t now)
{
    concert_queue_stats s;
    expect_ok(st->queue_stats(st, p, now, &s));
    return s;
}

static int configure(const concert_queue_params *p, int32_t fields, int64_t value,
                     int32_t expect_state, int64_t now, concert_queue_settings *out)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings ignored;
    u.fields = fields;
    u.expect_state = expect_state;
    if (fields & CONCERT_QUEUE_SET_MAX_ACTIVE)
        u.max_active = value;
    if (fields & CONCERT_QUEUE_SET_ADMIT_PER_MINUTE)
        u.admit_per_minute = value;
    if (fields & CONCERT_QUEUE_SET_STATE)
        u.state = (int32_t)value;
    if (fields & CONCERT_QUEUE_SET_OPENS_AT)
        u.opens_at = value;
    return st->queue_configure(st, p, &u, now, out ? out : &ignored);
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

static void expect_verify_clean(const concert_queue_params *p, int64_t now)
{
    concert_verify_report report;
    texts_seen v = { 0 };
    memset(&report, 0, sizeof(report));
    expect_ok(st->verify(st, p, now, collect_text, &v, &report));
    cr_assert_eq(v.count, 0, "verify: %s", v.first);
}

/* ---- settings ---- */

Test(memory_queue, settings_are_seeded_from_the_options_at_open)
{
    concert_queue_params p = rules(MINUTE, MINUTE);
    concert_options v1 = CONCERT_OPTIONS_INIT, bad = CONCERT_OPTIONS_INIT;
    concert_storage placeholder, *other = &placeholder;
    concert_queue_stats s;

    open_with(7, 30);
    s = stats_at(&p, T0);
    cr_assert_eq(s.max_active, 7);
    cr_assert_eq(s.admit_per_minute, 30);
    cr_assert_eq(s.state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(s.opens_at, 0);
    cr_assert_eq(s.prequeued, 0);
    cr_assert_eq(s.eta_ms, -1, "the ETA is the core's");

    /* without options: the documented defaults */
    close_store();
    expect_ok(concert_storage_memory_open(&st, "", NULL));
    s = stats_at(&p, T0);
    cr_assert_eq(s.max_active, 1000);
    cr_assert_eq(s.admit_per_minute, 0);

    /* a version-1 struct has no admit_per_minute: whatever follows it is
     * not read */
    close_store();
    v1.version = 1;
    v1.max_active = 3;
    v1.admit_per_minute = 99;
    expect_ok(concert_storage_memory_open(&st, "", &v1));
    s = stats_at(&p, T0);
    cr_assert_eq(s.max_active, 3);
    cr_assert_eq(s.admit_per_minute, 0);

    bad.max_active = CONCERT_MAX_ACTIVE_LIMIT + 1;
    expect_rc(concert_storage_memory_open(&other, "", &bad), CONCERT_EINVAL);
    cr_assert_null(other);
    bad.max_active = 1;
    bad.admit_per_minute = -1;
    other = &placeholder;
    expect_rc(concert_storage_memory_open(&other, "", &bad), CONCERT_EINVAL);
    cr_assert_null(other);
}

Test(memory_queue, configure_reports_settings_and_a_conflict_changes_nothing)
{
    concert_queue_params p = rules(MINUTE, MINUTE);
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings out;
    concert_queue_stats s;

    u.fields = CONCERT_QUEUE_SET_MAX_ACTIVE | CONCERT_QUEUE_SET_ADMIT_PER_MINUTE;
    u.max_active = 4;
    u.admit_per_minute = 120;
    expect_ok(st->queue_configure(st, &p, &u, T0, &out));
    cr_assert_eq(out.max_active, 4);
    cr_assert_eq(out.admit_per_minute, 120);
    cr_assert_eq(out.state, CONCERT_QUEUE_OPEN);

    u.max_active = 9;
    u.expect_state = CONCERT_QUEUE_PAUSED;
    expect_rc(st->queue_configure(st, &p, &u, T0, &out), CONCERT_ECONFLICT);
    cr_assert(strstr(concert_error_last()->message, "OPEN"), "%s", concert_error_last()->message);
    s = stats_at(&p, T0);
    cr_assert_eq(s.max_active, 4, "a refused update changes nothing");
    u.expect_state = CONCERT_QUEUE_OPEN;
    expect_ok(st->queue_configure(st, &p, &u, T0, &out));
    cr_assert_eq(out.max_active, 9);

    /* what would break the store is refused even without the core */
    u.expect_state = 0;
    u.max_active = 0;
    expect_rc(st->queue_configure(st, &p, &u, T0, &out), CONCERT_EINVAL);
    expect_rc(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_SCHEDULED, 0, T0, NULL),
              CONCERT_EINVAL);
    expect_rc(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0, 0, T0, NULL), CONCERT_EINVAL);
    expect_rc(configure(&p, 0, 0, 0, T0, NULL), CONCERT_EINVAL);
    s = stats_at(&p, T0);
    cr_assert_eq(s.max_active, 9);
    cr_assert_eq(s.state, CONCERT_QUEUE_OPEN);
}

/* ---- states ---- */

Test(memory_queue, paused_admits_nobody_and_resume_admits_in_order)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * MINUTE);
    concert_storage_token t;

    load_users(3);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_PAUSED, 0, T0, NULL));
    for (int64_t u = 1; u <= 3; u++) {
        t = issue(&p, u, T0);
        cr_assert_eq(t.info.state, CONCERT_TOKEN_WAITING, "PAUSED: joins queue, nobody enters");
        cr_assert_eq(t.info.position, u);
        cr_assert_eq(t.ticket, u);
        cr_assert_eq(t.queue_state, CONCERT_QUEUE_PAUSED);
    }
    cr_assert_eq(stats_at(&p, T0 + MINUTE).active, 0);
    /* resume only from PAUSED */
    expect_rc(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_OPEN, CONCERT_QUEUE_OPEN,
                        T0 + MINUTE, NULL),
              CONCERT_ECONFLICT);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_OPEN, CONCERT_QUEUE_PAUSED,
                        T0 + MINUTE, NULL));
    t = status(&p, 3, T0 + MINUTE);
    cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(t.queue_state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(stats_at(&p, T0 + MINUTE).active, 3);
}

Test(memory_queue, closed_refuses_new_tokens_but_keeps_and_admits_the_line)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * MINUTE);
    concert_storage_token a, b, again;
    concert_queue_stats s;
    char text[CONCERT_TOKEN_SIZE];

    open_with(1, 0);
    load_users(3);
    a = issue(&p, 1, T0);
    b = issue(&p, 2, T0);
    cr_assert_eq(a.info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(b.info.position, 1);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_CLOSED, 0, T0, NULL));

    text_of(3, text);
    expect_rc(st->queue_issue(st, &p, 3, text, T0, &again), CONCERT_EQUEUE_CLOSED);
    s = stats_at(&p, T0);
    cr_assert_eq(s.last_ticket, 2, "a refused join takes no ticket");
    cr_assert_eq(s.state, CONCERT_QUEUE_CLOSED);
    /* a user already in line gets their token back */
    again = issue(&p, 2, T0 + SECOND);
    cr_assert_eq(again.info.is_new, 0);
    cr_assert_str_eq(again.info.token, b.info.token);
    cr_assert_eq(again.queue_state, CONCERT_QUEUE_CLOSED);
    /* and the line is still admitted */
    expect_ok(st->queue_leave(st, &p, a.info.token, T0 + 2 * SECOND));
    again = status(&p, 2, T0 + 2 * SECOND);
    cr_assert_eq(again.info.state, CONCERT_TOKEN_ACTIVE);
    /* once their token ended, even they cannot join again */
    expect_ok(st->queue_leave(st, &p, b.info.token, T0 + 3 * SECOND));
    text_of(2, text);
    text[0] = text[0] == 'Z' ? 'Y' : 'Z';
    expect_rc(st->queue_issue(st, &p, 2, text, T0 + 3 * SECOND, &again), CONCERT_EQUEUE_CLOSED);
}

Test(memory_queue, lowering_max_active_evicts_nobody_and_admission_waits)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * MINUTE);
    concert_storage_token t[8];
    concert_queue_stats s;

    open_with(5, 0);
    load_users(7);
    for (int64_t u = 1; u <= 7; u++)
        t[u] = issue(&p, u, T0);
    cr_assert_eq(stats_at(&p, T0).active, 5);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_MAX_ACTIVE, 2, 0, T0, NULL));
    s = stats_at(&p, T0);
    cr_assert_eq(s.active, 5, "nobody is evicted");
    cr_assert_eq(s.max_active, 2);
    expect_verify_clean(&p, T0);
    for (int64_t u = 1; u <= 3; u++)
        expect_ok(st->queue_leave(st, &p, t[u].info.token, T0 + SECOND));
    s = stats_at(&p, T0 + SECOND);
    cr_assert_eq(s.active, 2, "nobody enters while at or over the new limit");
    cr_assert_eq(s.waiting, 2);
    expect_verify_clean(&p, T0 + SECOND);
    expect_ok(st->queue_leave(st, &p, t[4].info.token, T0 + 2 * SECOND));
    cr_assert_eq(status(&p, 6, T0 + 2 * SECOND).info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(status(&p, 7, T0 + 2 * SECOND).info.position, 1);
    cr_assert_eq(stats_at(&p, T0 + 2 * SECOND).active, 2);
    expect_verify_clean(&p, T0 + 2 * SECOND);
}

/* ---- the pre-queue and its lottery ---- */

Test(memory_queue, prequeue_lottery_moves_every_token_and_the_index_follows)
{
    enum {
        N = 3000
    };
    concert_queue_params p = rules(10 * MINUTE, 2 * HOUR);
    const int64_t opens = T0 + HOUR;
    int64_t ticket_of_user[N + 2];
    concert_storage_token t;
    concert_queue_stats s;

    open_with(1, 0);
    load_users(N + 1);
    /* two in line before the schedule: one ACTIVE, one waiting */
    cr_assert_eq(issue(&p, 1, T0).info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(issue(&p, 2, T0).info.position, 1);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, opens, 0, T0, NULL));
    for (int64_t u = 3; u <= N; u++) {
        t = issue(&p, u, T0 + u);
        cr_assert_eq(t.info.state, CONCERT_TOKEN_WAITING);
        cr_assert_eq(t.info.position, CONCERT_POSITION_PREQUEUE);
        cr_assert_eq(t.ticket, 0);
        cr_assert_eq(t.queue_state, CONCERT_QUEUE_SCHEDULED);
    }
    /* user 1 leaves: user 2 is NOT admitted while SCHEDULED */
    expect_ok(st->queue_leave(st, &p, issue(&p, 1, T0 + N).info.token, T0 + N));
    s = stats_at(&p, opens - 1);
    cr_assert_eq(s.state, CONCERT_QUEUE_SCHEDULED);
    cr_assert_eq(s.opens_at, opens);
    cr_assert_eq(s.prequeued, N - 2);
    cr_assert_eq(s.waiting, 1, "pre-queued tokens are not waiting yet");
    cr_assert_eq(s.last_ticket, 2);
    cr_assert_eq(s.active, 0);
    cr_assert_eq(status(&p, 2, opens - 1).info.position, 1);
    cr_assert_eq(status(&p, 5, opens - 1).info.position, CONCERT_POSITION_PREQUEUE);
    expect_verify_clean(&p, opens - 1);
    cr_assert_eq(lottery.calls, 0);

    /* the opening: any step at opens_at runs the lottery, once */
    t = status(&p, 3, opens);
    cr_assert_eq(lottery.calls, 1);
    cr_assert_eq(lottery.n, N - 2);
    for (size_t i = 0; i < lottery.n; i++)
        cr_assert_eq(lottery.given[i], (int64_t)i + 2, "the ids come in join order");
    /* the token that was at index result[i] now holds ticket 3 + i: users
     * joined in order, so index k was user k + 1 */
    for (size_t i = 0; i < lottery.n; i++)
        ticket_of_user[lottery.result[i] + 1] = 3 + (int64_t)i;
    cr_assert_eq(t.ticket, ticket_of_user[3]);
    cr_assert_eq(t.queue_state, CONCERT_QUEUE_OPEN);
    s = stats_at(&p, opens);
    cr_assert_eq(s.state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(s.opens_at, 0);
    cr_assert_eq(s.prequeued, 0);
    cr_assert_eq(s.last_ticket, N);
    cr_assert_eq(s.active, 1, "user 2, ahead of the pre-queue, went in first");
    cr_assert_eq(s.admitted_through, 2);

    /* every token is found under its text, with its user and new ticket,
     * and each user's issue returns that same token */
    for (int64_t u = 3; u <= N; u++) {
        char text[CONCERT_TOKEN_SIZE];
        t = status(&p, u, opens + SECOND);
        text_of(u, text);
        cr_assert_str_eq(t.info.token, text);
        cr_assert_eq(t.ticket, ticket_of_user[u], "user %lld", (long long)u);
        cr_assert_eq(t.info.position, ticket_of_user[u] - 2);
        t = issue(&p, u, opens + SECOND);
        cr_assert_eq(t.info.is_new, 0, "user %lld lost their token to the lottery", (long long)u);
        cr_assert_str_eq(t.info.token, text);
    }
    /* a join after the opening queues behind all of them */
    t = issue(&p, N + 1, opens + 2 * SECOND);
    cr_assert_eq(t.ticket, N + 1);
    cr_assert_eq(t.info.position, N - 1);
    cr_assert_eq(lottery.calls, 1, "the lottery ran exactly once");
    expect_verify_clean(&p, opens + 2 * SECOND);
}

/* The lottery after retention has pruned: tickets no longer start at the
 * ring's first slot (the window's front moved on, 4,000 tokens in), the
 * pre-queue block wraps past the ring's end as the ring grows under it, and
 * pruned pre-queued tokens are holes inside it. Every remaining token is
 * found under its text with its new ticket, every pruned one is unknown,
 * and verify agrees. */
Test(memory_queue, lottery_after_pruning_moves_every_token_and_the_index_follows)
{
    enum {
        EARLY = 4000,
        N = 3000
    };
    static int64_t ticket_of_user[N + 1];
    concert_queue_params p = rules(10 * MINUTE, 2 * HOUR);
    const int64_t opens = T0 + 3 * HOUR;
    char text[CONCERT_TOKEN_SIZE];
    concert_prune_request prune;
    concert_prune_report report;
    concert_storage_token t;
    concert_queue_stats s;
    int64_t now = T0, from;

    p.retention_ms = SECOND;
    open_with(10, 0);
    load_users(N + 1);
    /* user N + 1 joins and leaves EARLY times, a second apart: each join
     * prunes the token left a second before (every 5th kept verbatim) */
    for (int k = 0; k < EARLY; k++, now += SECOND) {
        if (k % 5 == 0)
            snprintf(text, sizeof(text), "early-%d", k);
        else
            token_for(1000000 + (uint64_t)k, text);
        expect_ok(st->queue_issue(st, &p, N + 1, text, now, &t));
        cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
        expect_ok(st->queue_leave(st, &p, text, now));
    }
    expect_rc(st->queue_status(st, &p, "early-0", now, &t), CONCERT_ETOKEN_INVALID);
    s = stats_at(&p, now);
    cr_assert_eq(s.last_ticket, EARLY);
    cr_assert_eq(s.admitted_through, EARLY);

    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, opens, 0, now, NULL));
    for (int64_t u = 1; u <= N; u++)
        cr_assert_eq(issue(&p, u, now).info.position, CONCERT_POSITION_PREQUEUE);
    for (int64_t u = 4; u <= N; u += 4) {
        text_of(u, text);
        expect_ok(st->queue_leave(st, &p, text, now));
    }
    now += MINUTE;
    memset(&prune, 0, sizeof(prune));
    prune.now = now;
    prune.queue = p;
    expect_ok(st->prune(st, &prune, &report));
    /* the last early token went with the first join */
    cr_assert_eq(report.tokens, N / 4, "the leavers: %lld", (long long)report.tokens);
    cr_assert_eq(stats_at(&p, now).prequeued, N - N / 4);
    expect_verify_clean(&p, now);
    cr_assert_eq(lottery.calls, 0);

    /* the opening */
    status(&p, 1, opens);
    cr_assert_eq(lottery.calls, 1);
    cr_assert_eq(lottery.n, N, "holes included: they keep their place in the block");
    from = lottery.given[0];
    cr_assert_eq(from, EARLY);
    for (size_t i = 0; i < lottery.n; i++) {
        cr_assert_eq(lottery.given[i], from + (int64_t)i);
        /* the token that joined k-th (user k + 1) gets ticket from + i + 1 */
        ticket_of_user[lottery.result[i] - from + 1] = from + (int64_t)i + 1;
    }
    for (int64_t u = 1; u <= N; u++) {
        text_of(u, text);
        if (u % 4 == 0) {
            expect_rc(st->queue_status(st, &p, text, opens, &t), CONCERT_ETOKEN_INVALID);
            continue;
        }
        t = status(&p, u, opens);
        cr_assert_str_eq(t.info.token, text);
        cr_assert_eq(t.ticket, ticket_of_user[u], "user %lld", (long long)u);
        t = issue(&p, u, opens);
        cr_assert_eq(t.info.is_new, 0, "user %lld lost their token to the lottery", (long long)u);
    }
    s = stats_at(&p, opens);
    cr_assert_eq(s.last_ticket, EARLY + N);
    cr_assert_eq(s.active, 10);
    expect_verify_clean(&p, opens);
}

Test(memory_queue, a_join_after_opens_at_queues_behind_the_lottery)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * MINUTE);
    concert_storage_token t;

    load_users(6);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + SECOND, 0, T0, NULL));
    for (int64_t u = 1; u <= 5; u++)
        issue(&p, u, T0);
    /* the first step after opens_at is this join: the opening comes first */
    t = issue(&p, 6, T0 + SECOND);
    cr_assert_eq(lottery.calls, 1);
    cr_assert_eq(t.ticket, 6);
    cr_assert_eq(t.info.is_new, 1);
    cr_assert_eq(t.queue_state, CONCERT_QUEUE_OPEN);
    /* max_active 10: all of them are in */
    cr_assert_eq(t.info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(stats_at(&p, T0 + SECOND).active, 6);
}

Test(memory_queue, a_prequeued_token_that_leaves_is_skipped_after_the_opening)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * MINUTE);
    concert_storage_token t[4];
    concert_queue_stats s;

    load_users(3);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + HOUR, 0, T0, NULL));
    for (int64_t u = 1; u <= 3; u++)
        t[u] = issue(&p, u, T0);
    cr_assert_eq(stats_at(&p, T0).prequeued, 3);
    expect_ok(st->queue_leave(st, &p, t[2].info.token, T0 + SECOND));
    expect_rc(st->queue_leave(st, &p, t[2].info.token, T0 + SECOND), CONCERT_ETOKEN_INVALID);
    cr_assert_eq(status(&p, 2, T0 + SECOND).info.state, CONCERT_TOKEN_ENDED);
    cr_assert_eq(stats_at(&p, T0 + SECOND).prequeued, 2, "the one that left is out");
    expect_verify_clean(&p, T0 + SECOND);
    /* opening early by setting OPEN runs the lottery at once */
    expect_ok(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_OPEN, CONCERT_QUEUE_SCHEDULED,
                        T0 + 2 * SECOND, NULL));
    cr_assert_eq(lottery.calls, 1);
    s = stats_at(&p, T0 + 2 * SECOND);
    cr_assert_eq(s.active, 2);
    cr_assert_eq(s.admitted_through, 3);
    cr_assert_eq(status(&p, 1, T0 + 2 * SECOND).info.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(status(&p, 2, T0 + 2 * SECOND).info.state, CONCERT_TOKEN_ENDED);
    cr_assert_eq(status(&p, 3, T0 + 2 * SECOND).info.state, CONCERT_TOKEN_ACTIVE);
    expect_verify_clean(&p, T0 + 2 * SECOND);
}

Test(memory_queue, pausing_a_scheduled_queue_runs_the_lottery_and_admits_nobody)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * MINUTE);
    concert_storage_token t;
    concert_queue_settings after;

    load_users(3);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + HOUR, 0, T0, NULL));
    for (int64_t u = 1; u <= 3; u++)
        issue(&p, u, T0);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_STATE, CONCERT_QUEUE_PAUSED, 0, T0, &after));
    cr_assert_eq(after.state, CONCERT_QUEUE_PAUSED);
    cr_assert_eq(after.opens_at, 0);
    cr_assert_eq(lottery.calls, 1);
    for (int64_t u = 1; u <= 3; u++) {
        t = status(&p, u, T0 + SECOND);
        cr_assert_eq(t.info.state, CONCERT_TOKEN_WAITING);
        cr_assert_eq(t.info.position, t.ticket, "a ticket now, nobody admitted");
        cr_assert(t.ticket >= 1 && t.ticket <= 3);
    }
    /* opens_at passing means nothing now */
    cr_assert_eq(stats_at(&p, T0 + 2 * HOUR).active, 0);
    cr_assert_eq(lottery.calls, 1);
}

Test(memory_queue, rescheduling_keeps_the_prequeue_and_a_due_opening_happens_first)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * HOUR);
    concert_queue_settings after;
    concert_queue_stats s;

    open_with(1, 0);
    load_users(4);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + HOUR, 0, T0, NULL));
    issue(&p, 1, T0);
    issue(&p, 2, T0);
    /* moved later before it opened: the same pre-queue waits for the new time */
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + 2 * HOUR, CONCERT_QUEUE_SCHEDULED,
                        T0 + MINUTE, &after));
    cr_assert_eq(after.state, CONCERT_QUEUE_SCHEDULED);
    cr_assert_eq(after.opens_at, T0 + 2 * HOUR);
    issue(&p, 3, T0 + MINUTE);
    s = stats_at(&p, T0 + HOUR);
    cr_assert_eq(s.prequeued, 3);
    cr_assert_eq(lottery.calls, 0);

    /* past opens_at but nobody has called since: the queue is OPEN to
     * anyone who looks, so expect_state SCHEDULED conflicts and nothing
     * changes ... */
    expect_rc(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + 4 * HOUR, CONCERT_QUEUE_SCHEDULED,
                        T0 + 3 * HOUR, NULL),
              CONCERT_ECONFLICT);
    cr_assert_eq(lottery.calls, 0);
    /* ... and a new schedule first opens the old one (its three get
     * tickets), then starts a new, empty pre-queue */
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + 4 * HOUR, CONCERT_QUEUE_OPEN,
                        T0 + 3 * HOUR, &after));
    cr_assert_eq(lottery.calls, 1);
    cr_assert_eq(lottery.n, 3);
    cr_assert_eq(after.state, CONCERT_QUEUE_SCHEDULED);
    cr_assert_eq(after.opens_at, T0 + 4 * HOUR);
    s = stats_at(&p, T0 + 3 * HOUR);
    cr_assert_eq(s.prequeued, 0);
    cr_assert_eq(s.last_ticket, 3);
    cr_assert_eq(s.active, 0, "SCHEDULED again: nobody is admitted");
    cr_assert_eq(issue(&p, 4, T0 + 3 * HOUR).info.position, CONCERT_POSITION_PREQUEUE);
    s = stats_at(&p, T0 + 4 * HOUR);
    cr_assert_eq(lottery.calls, 2);
    cr_assert_eq(lottery.n, 1);
    cr_assert_eq(s.active, 1);
    cr_assert_eq(s.last_ticket, 4);
    expect_verify_clean(&p, T0 + 4 * HOUR);
}

Test(memory_queue, a_failing_or_wrong_shuffle_changes_nothing)
{
    concert_queue_params p = rules(10 * MINUTE, 10 * HOUR);
    concert_storage_token t;
    concert_queue_stats s;

    load_users(4);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + HOUR, 0, T0, NULL));
    for (int64_t u = 1; u <= 4; u++)
        issue(&p, u, T0);

    lottery.fail_with = CONCERT_EINTERNAL;
    expect_rc(st->queue_status(st, &p, issue(&p, 1, T0).info.token, T0 + HOUR, &t),
              CONCERT_EINTERNAL);
    lottery.repeat = 1;
    expect_rc(st->queue_stats(st, &p, T0 + HOUR, &s), CONCERT_EINTERNAL);
    cr_assert_eq(lottery.calls, 2);
    /* looked at before opens_at, the store is as it was */
    s = stats_at(&p, T0 + 1);
    cr_assert_eq(s.state, CONCERT_QUEUE_SCHEDULED);
    cr_assert_eq(s.prequeued, 4);
    cr_assert_eq(s.last_ticket, 0);
    for (int64_t u = 1; u <= 4; u++)
        cr_assert_eq(status(&p, u, T0 + 1).info.position, CONCERT_POSITION_PREQUEUE);
    expect_verify_clean(&p, T0 + 1);
    /* and the opening succeeds once the shuffle does */
    lottery.repeat = 0;
    s = stats_at(&p, T0 + HOUR);
    cr_assert_eq(s.state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(s.active, 4);
}

/* ---- the admit_per_minute budget ---- */

Test(memory_queue, admissions_obey_admit_per_minute_in_every_window)
{
    enum {
        USERS = 400,
        STEP_MS = 100,
        STEPS = 5 * 600
    };
    concert_queue_params p = rules(10 * HOUR, 10 * HOUR);
    static int64_t admitted_at[STEPS + 1];
    int64_t prev;

    open_with(100000, 60);
    load_users(USERS);
    for (int64_t u = 1; u <= USERS; u++)
        issue(&p, u, T0);
    /* a step every 100 ms for five minutes; admitted_through counts
     * admissions (nobody is skipped: every token is live) */
    for (int i = 0; i <= STEPS; i++)
        admitted_at[i] = stats_at(&p, T0 + (int64_t)i * STEP_MS).active;
    /* the joins themselves ran admission at T0: count from an empty store */
    cr_assert_leq(admitted_at[0], 1, "a burst when the line formed");
    cr_assert_leq(admitted_at[600], 60, "%lld admitted in the first minute",
                  (long long)admitted_at[600]);
    for (int i = 0; i + 600 <= STEPS; i++)
        cr_assert_leq(admitted_at[i + 600] - admitted_at[i], 60,
                      "%lld admitted in the minute after step %d",
                      (long long)(admitted_at[i + 600] - admitted_at[i]), i);
    /* spread over the minute, not a burst at its start */
    for (int i = 0; i + 10 <= STEPS; i++)
        cr_assert_leq(admitted_at[i + 10] - admitted_at[i], 2, "a burst after step %d", i);
    /* and the rate is reached (within the pacer's half-second of slack) */
    cr_assert_geq(admitted_at[STEPS], 5 * 60 - 5, "only %lld in five minutes",
                  (long long)admitted_at[STEPS]);

    /* a long quiet spell saves up no burst */
    prev = stats_at(&p, T0 + 10 * MINUTE).active;
    cr_assert_leq(stats_at(&p, T0 + 10 * MINUTE + 1).active - prev, 0);
    prev = stats_at(&p, T0 + HOUR).active;
    cr_assert_leq(prev - admitted_at[STEPS], 2, "an hour later: one step, at most the slack");
    expect_verify_clean(&p, T0 + HOUR);
}

Test(memory_queue, raising_admit_per_minute_to_unlimited_admits_up_to_max_active)
{
    concert_queue_params p = rules(10 * HOUR, 10 * HOUR);

    open_with(50, 1);
    load_users(80);
    for (int64_t u = 1; u <= 80; u++)
        issue(&p, u, T0);
    cr_assert_eq(stats_at(&p, T0).active, 1);
    cr_assert_eq(stats_at(&p, T0 + 30 * SECOND).active, 1, "one a minute");
    expect_ok(configure(&p, CONCERT_QUEUE_SET_ADMIT_PER_MINUTE, 0, 0, T0 + 31 * SECOND, NULL));
    cr_assert_eq(stats_at(&p, T0 + 31 * SECOND).active, 50);
    expect_verify_clean(&p, T0 + 31 * SECOND);
}

/* ---- figures (printed, not asserted) ---- */

/* CPU time of this thread: the machine may be shared, wall time would
 * count the other tenants. */
static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A Fisher-Yates as cheap as the core's, for a big pre-queue. */
static int big_shuffle(void *ctx, int64_t *items, size_t n)
{
    uint64_t x = UINT64_C(88172645463325252);
    (void)ctx;
    for (size_t i = n; i > 1; i--) {
        size_t j;
        int64_t t;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        j = (size_t)(x % i);
        t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
    return 0;
}

Test(memory_queue, opening_lottery_of_a_million_prequeued)
{
    enum {
        N = 1000000
    };
    concert_queue_params p = { 10 * MINUTE, 2 * HOUR, big_shuffle, NULL, DAY };
    concert_queue_stats s;
    char text[CONCERT_TOKEN_SIZE];
    concert_storage_token t;
    double start, took;

    open_with(1000, 0);
    load_users(N);
    expect_ok(configure(&p, CONCERT_QUEUE_SET_OPENS_AT, T0 + HOUR, 0, T0, NULL));
    for (int64_t u = 1; u <= N; u++) {
        token_for((uint64_t)u, text);
        expect_ok(st->queue_issue(st, &p, u, text, T0, &t));
    }
    start = seconds_now();
    s = stats_at(&p, T0 + HOUR);
    took = seconds_now() - start;
    cr_assert_eq(s.prequeued, 0);
    cr_assert_eq(s.last_ticket, N);
    cr_assert_eq(s.active, 1000);
    fprintf(stderr,
            "LOTTERY-FIGURES opening with %d pre-queued: %.1f ms CPU (one step, lock held)\n", N,
            took * 1000);
    /* spot checks: the index follows */
    for (int64_t u = 1; u <= N; u += 9973) {
        token_for((uint64_t)u, text);
        expect_ok(st->queue_status(st, &p, text, T0 + HOUR, &t));
        cr_assert_eq(t.info.user_id, u);
        cr_assert_gt(t.ticket, 0);
    }
}
