/*
 * Every versioned public struct, at every version this library ever shipped,
 * as a caller built against that older header would pass it (libgit2's and
 * SQLite's rule): the library reads and writes only that version's bytes,
 * gives the newer fields their defaults, and refuses version 0 and any
 * version newer than its own with CONCERT_EINVAL.
 *
 * The "size at version k" tables below are this test's own, written from the
 * headers' history (offsetof the first field version k+1 appended), not
 * taken from the library, so a library that copies too much or too little
 * disagrees with them. How a test here fails:
 *  - a byte written past the caller's version: the canary after it changes;
 *  - a byte read past it: the bytes there hold values the library refuses
 *    (-1 in every newer int64 field), so the call fails with CONCERT_EINVAL;
 *    under ASan the struct also sits in an allocation of exactly its size;
 *  - an older version refused, or version 0 / current + 1 accepted.
 * Linked against the shared library: what an old binary would load.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <concert/concert.h>

#define CANARY 0xA5
#define T0 INT64_C(1800000000000)

#define expect_rc(call, expected)                                                                  \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        cr_assert_eq(rc__, (expected), "%s returned %s (%d), expected %s: %s", #call,              \
                     concert_error_name(rc__), rc__, concert_error_name(expected),                 \
                     concert_error_last()->message);                                               \
    } while (0)
#define expect_ok(call) expect_rc(call, CONCERT_OK)

static int64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return T0;
}

/* A caller's struct of `size` bytes followed by `slack` canary bytes, in one
 * allocation of exactly size + slack (ASan flags any access past it). */
static unsigned char *caller_struct(size_t size, size_t slack)
{
    unsigned char *p = malloc(size + slack);
    cr_assert_not_null(p);
    memset(p, CANARY, size + slack);
    return p;
}

static void expect_canary(const unsigned char *p, size_t from, size_t to, const char *what)
{
    for (size_t i = from; i < to; i++)
        cr_assert_eq(p[i], CANARY, "%s: byte %zu (past the caller's %zu) was written", what, i,
                     from);
}

/* ---- concert_options: 1 (base), 2 admit_per_minute + queue_refresh_ms,
 * 3 max_holds_per_user, 4 retention_ms ---- */

/* Version 1 exactly as 0.1's header laid it out. */
typedef struct options_v1 {
    unsigned int version;
    int64_t max_active, active_ttl_ms, wait_ttl_ms, hold_ttl_ms, booking_cutoff_ms;
    concert_clock_fn clock;
    void *clock_ctx;
    concert_random_fn random;
    void *random_ctx;
    int32_t pool_size, busy_timeout_ms, connect_timeout_ms, reserved;
} options_v1;

static size_t options_size(unsigned int version)
{
    switch (version) {
    case 1:
        return offsetof(concert_options, admit_per_minute);
    case 2:
        return offsetof(concert_options, max_holds_per_user);
    case 3:
        return offsetof(concert_options, retention_ms);
    case 4:
        return sizeof(concert_options);
    default:
        return 0;
    }
}

Test(options, the_size_table_matches_the_old_layouts)
{
    cr_assert_eq(CONCERT_OPTIONS_VERSION, 4, "a new options version: add it to the tables here");
    cr_assert_eq(sizeof(options_v1), options_size(1));
    cr_assert_eq(offsetof(options_v1, reserved), offsetof(concert_options, reserved));
    cr_assert_lt(options_size(1), options_size(2));
    cr_assert_lt(options_size(2), options_size(3));
    cr_assert_lt(options_size(3), options_size(4));
}

Test(options, init_writes_only_the_callers_version)
{
    const size_t whole = sizeof(concert_options);
    for (unsigned int v = 1; v <= CONCERT_OPTIONS_VERSION; v++) {
        size_t size = options_size(v);
        unsigned char *p = caller_struct(size, whole - size + 16);
        concert_options *o = (concert_options *)p;
        expect_ok(concert_options_init(o, v));
        cr_assert_eq(o->version, v);
        cr_assert_eq(o->max_active, 0);
        cr_assert_eq(o->reserved, 0);
        if (v >= 2)
            cr_assert_eq(o->queue_refresh_ms, CONCERT_DEFAULT_QUEUE_REFRESH_MS);
        if (v >= 3)
            cr_assert_eq(o->max_holds_per_user, CONCERT_DEFAULT_MAX_HOLDS_PER_USER);
        expect_canary(p, size, whole + 16, "concert_options_init");
        free(p);
    }
}

Test(options, open_reads_only_the_callers_version_and_defaults_the_rest)
{
    const size_t whole = sizeof(concert_options);
    for (unsigned int v = 1; v <= CONCERT_OPTIONS_VERSION; v++) {
        size_t size = options_size(v);
        /* The newer fields' place holds -1, which every one of them refuses. */
        concert_options *o = calloc(1, whole);
        concert_queue_settings s;
        concert_db *db = NULL;
        cr_assert_not_null(o);
        memset((unsigned char *)o + size, 0xFF, whole - size);
        o->version = v;
        o->max_active = 7;
        o->clock = fixed_clock;
        if (v >= 2)
            o->admit_per_minute = 60;
        expect_ok(concert_db_open(&db, "memory:", (const concert_options *)o));
        expect_ok(concert_queue_settings_get(&s, db));
        cr_assert_eq(s.max_active, 7);
        cr_assert_eq(s.admit_per_minute, v >= 2 ? 60 : 0, "version %u", v);
        cr_assert_eq(concert_db_now(db), T0);
        concert_db_close(db);
        free(o);
    }
}

Test(options, version_zero_and_newer_than_the_library_are_refused)
{
    concert_options o;
    concert_db *db = (concert_db *)&o;
    const unsigned int bad[] = { 0, CONCERT_OPTIONS_VERSION + 1, 0xFFFFFFFFu };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *p = caller_struct(0, sizeof(concert_options));
        expect_rc(concert_options_init((concert_options *)p, bad[i]), CONCERT_EINVAL);
        cr_assert(strstr(concert_error_last()->message, "unknown version"));
        expect_canary(p, 0, sizeof(concert_options), "refused concert_options_init");
        free(p);
        expect_ok(concert_options_init(&o, CONCERT_OPTIONS_VERSION));
        o.version = bad[i];
        db = (concert_db *)&o;
        expect_rc(concert_db_open(&db, "memory:", &o), CONCERT_EINVAL);
        cr_assert_null(db);
        cr_assert(strstr(concert_error_last()->message, "options.version"));
    }
}

/* ---- concert_db_stats: 1 (base) ---- */

static size_t db_stats_size(unsigned int version)
{
    switch (version) {
    case 1:
        return offsetof(concert_db_stats, storage_reconnects) + sizeof(uint64_t);
    default:
        return 0;
    }
}

static concert_db *open_memory(void)
{
    concert_options o = CONCERT_OPTIONS_INIT;
    concert_db *db = NULL;
    o.clock = fixed_clock;
    expect_ok(concert_db_open(&db, "memory:", &o));
    return db;
}

Test(db_stats, each_version_gets_only_its_bytes)
{
    concert_db *db = open_memory();
    concert_queue_settings s;
    cr_assert_eq(CONCERT_DB_STATS_VERSION, 1, "a new db_stats version: add it to the table here");
    cr_assert_eq(db_stats_size(CONCERT_DB_STATS_VERSION), sizeof(concert_db_stats));
    expect_ok(concert_queue_settings_get(&s, db)); /* one storage call */
    for (unsigned int v = 1; v <= CONCERT_DB_STATS_VERSION; v++) {
        size_t size = db_stats_size(v);
        unsigned char *p = caller_struct(size, 32);
        concert_db_stats *st = (concert_db_stats *)p;
        st->version = v;
        expect_ok(concert_db_stats_get(st, db));
        cr_assert_eq(st->version, v, "the caller's version is left as it was");
        cr_assert_geq(st->storage_calls, 1);
        cr_assert_eq(st->storage_errors, 0);
        expect_canary(p, size, size + 32, "concert_db_stats_get");
        free(p);
    }
    concert_db_close(db);
}

Test(db_stats, version_zero_and_newer_are_refused_and_nothing_is_written)
{
    concert_db *db = open_memory();
    const unsigned int bad[] = { 0, CONCERT_DB_STATS_VERSION + 1 };
    for (size_t i = 0; i < 2; i++) {
        unsigned char *p = caller_struct(sizeof(concert_db_stats), 0);
        unsigned int version = bad[i];
        memcpy(p, &version, sizeof(version));
        expect_rc(concert_db_stats_get((concert_db_stats *)p, db), CONCERT_EINVAL);
        cr_assert(strstr(concert_error_last()->message, "unknown"));
        expect_canary(p, sizeof(version), sizeof(concert_db_stats), "refused db_stats");
        free(p);
    }
    concert_db_close(db);
}

/* ---- concert_queue_update: 1 (base) ---- */

static size_t queue_update_size(unsigned int version)
{
    switch (version) {
    case 1:
        return offsetof(concert_queue_update, opens_at) + sizeof(int64_t);
    default:
        return 0;
    }
}

Test(queue_update, each_version_initialises_and_applies)
{
    concert_db *db = open_memory();
    cr_assert_eq(CONCERT_QUEUE_UPDATE_VERSION, 1,
                 "a new queue_update version: add it to the table here");
    cr_assert_eq(queue_update_size(CONCERT_QUEUE_UPDATE_VERSION), sizeof(concert_queue_update));
    for (unsigned int v = 1; v <= CONCERT_QUEUE_UPDATE_VERSION; v++) {
        size_t size = queue_update_size(v);
        unsigned char *p = caller_struct(size, 32);
        concert_queue_update *u = (concert_queue_update *)p;
        concert_queue_settings after;
        expect_ok(concert_queue_update_init(u, v));
        expect_canary(p, size, size + 32, "concert_queue_update_init");
        cr_assert_eq(u->version, v);
        cr_assert_eq(u->fields, 0);
        u->fields = CONCERT_QUEUE_SET_MAX_ACTIVE;
        u->max_active = 10 + v;
        expect_ok(concert_queue_update_apply(&after, db, u));
        cr_assert_eq(after.max_active, 10 + v);
        free(p);
    }
    concert_db_close(db);
}

Test(queue_update, version_zero_and_newer_are_refused_and_nothing_changes)
{
    concert_db *db = open_memory();
    const unsigned int bad[] = { 0, CONCERT_QUEUE_UPDATE_VERSION + 1 };
    concert_queue_settings before, now;
    expect_ok(concert_queue_settings_get(&before, db));
    for (size_t i = 0; i < 2; i++) {
        concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
        unsigned char *p = caller_struct(0, sizeof(concert_queue_update));
        expect_rc(concert_queue_update_init((concert_queue_update *)p, bad[i]), CONCERT_EINVAL);
        expect_canary(p, 0, sizeof(concert_queue_update), "refused concert_queue_update_init");
        free(p);
        u.version = bad[i];
        u.fields = CONCERT_QUEUE_SET_MAX_ACTIVE;
        u.max_active = before.max_active + 5;
        expect_rc(concert_queue_update_apply(NULL, db, &u), CONCERT_EINVAL);
        cr_assert(strstr(concert_error_last()->message, "version"));
    }
    expect_ok(concert_queue_settings_get(&now, db));
    cr_assert_eq(now.max_active, before.max_active);
    concert_db_close(db);
}

/* ---- concert_catalog: 1 (base), 2 (a nested field: reserved became
 * concert_catalog_concert.max_per_user; this struct's size is unchanged) ---- */

static const concert_catalog_seat_range ranges[] = { { 1, 10, "A", 100 } };
static const concert_catalog_schedule schedules[] = { { 1, T0 + 86400000, ranges, 1 } };
static const concert_catalog_user users[] = { { 1, "Kim", 1000 } };

static concert_catalog catalog_of(unsigned int version, const concert_catalog_concert *c)
{
    concert_catalog cat = { version, users, 1, c, 1 };
    return cat;
}

Test(catalog, version_one_loads_and_its_reserved_field_must_be_zero)
{
    concert_db *db = open_memory();
    const concert_catalog_concert zero[] = { { 1, "Old", CONCERT_STATUS_OPEN, 0, schedules, 1 } };
    const concert_catalog_concert limit[] = { { 1, "Old", CONCERT_STATUS_OPEN, 2, schedules, 1 } };
    concert_catalog cat = catalog_of(1, limit);
    concert_concert_list *list = NULL;

    cr_assert_eq(CONCERT_CATALOG_VERSION, 2, "a new catalog version: add it to the tests here");
    expect_rc(concert_catalog_load(db, &cat), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "reserved"));
    cat = catalog_of(1, zero);
    expect_ok(concert_catalog_load(db, &cat));
    expect_ok(concert_admin_concert_list_get(&list, db));
    cr_assert_eq(list->count, 1);
    cr_assert_eq(list->items[0].max_per_user, 0);
    concert_concert_list_free(list);
    concert_db_close(db);
}

Test(catalog, version_two_carries_max_per_user)
{
    concert_db *db = open_memory();
    const concert_catalog_concert limit[] = { { 1, "New", CONCERT_STATUS_OPEN, 2, schedules, 1 } };
    concert_catalog cat = catalog_of(2, limit);
    concert_concert_list *list = NULL;
    expect_ok(concert_catalog_load(db, &cat));
    expect_ok(concert_admin_concert_list_get(&list, db));
    cr_assert_eq(list->count, 1);
    cr_assert_eq(list->items[0].max_per_user, 2);
    concert_concert_list_free(list);
    concert_db_close(db);
}

Test(catalog, version_zero_and_newer_are_refused_and_nothing_loads)
{
    concert_db *db = open_memory();
    const concert_catalog_concert zero[] = { { 1, "X", CONCERT_STATUS_OPEN, 0, schedules, 1 } };
    const unsigned int bad[] = { 0, CONCERT_CATALOG_VERSION + 1 };
    concert_concert_list *list = NULL;
    for (size_t i = 0; i < 2; i++) {
        concert_catalog cat = catalog_of(bad[i], zero);
        expect_rc(concert_catalog_load(db, &cat), CONCERT_EINVAL);
        cr_assert(strstr(concert_error_last()->message, "catalog.version"));
    }
    expect_ok(concert_admin_concert_list_get(&list, db));
    cr_assert_eq(list->count, 0);
    concert_concert_list_free(list);
    concert_db_close(db);
}
