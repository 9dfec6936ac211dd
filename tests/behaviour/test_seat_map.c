/*
 * The seat map (issue 13): every seat of a schedule with its state, for
 * drawing. The promises under test: every seat once, in order, with its
 * grade and price; its FREE seats are exactly the free list at the same
 * moment; holds, expiry, release and payment show at the instant they
 * happen; it refuses exactly what the free list refuses. Also the db's
 * storage statistics (concert_db_stats_get), which count the same calls.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "counting.h"
#include "harness.h"
#include "fault_storage.h"

TestSuite(seat_map, .init = setup_store_with_catalog, .fini = teardown_store);

static concert_seat_map *map_get(const char *token, int64_t schedule_id)
{
    concert_seat_map *map = NULL;
    expect_ok(concert_seat_map_get(&map, db, token, schedule_id));
    cr_assert_not_null(map);
    cr_assert_eq(map->schedule_id, schedule_id);
    return map;
}

/* The state of one seat (the map's items are in seat-number order, every
 * seat of the standard catalog's schedules from 1 up). */
static concert_seat_state seat_of(const concert_seat_map *map, int64_t number)
{
    cr_assert(number >= 1 && (size_t)number <= map->count, "no seat %lld in the map",
              (long long)number);
    cr_assert_eq(map->items[number - 1].seat.number, number);
    return map->items[number - 1];
}

static concert_seat_state seat_now(const char *token, int64_t schedule_id, int64_t number)
{
    concert_seat_map *map = map_get(token, schedule_id);
    concert_seat_state st = seat_of(map, number);
    concert_seat_map_free(map);
    return st;
}

/* The map's FREE seats against the free list, field by field. */
static void expect_free_is_the_list(const char *token, int64_t schedule_id)
{
    concert_seat_list *list = NULL;
    concert_seat_map *map = map_get(token, schedule_id);
    size_t k = 0;
    expect_ok(concert_seats_available(&list, db, token, schedule_id));
    for (size_t i = 0; i < map->count; i++) {
        const concert_seat_state *st = &map->items[i];
        if (st->status != CONCERT_SEAT_FREE)
            continue;
        cr_assert(k < list->count, "seat %lld is FREE in the map but not in the list",
                  (long long)st->seat.number);
        cr_assert_eq(st->seat.number, list->items[k].number);
        cr_assert_str_eq(st->seat.grade, list->items[k].grade);
        cr_assert_eq(st->seat.price, list->items[k].price);
        k++;
    }
    cr_assert_eq(k, list->count, "the list has %zu seats, the map %zu FREE ones", list->count, k);
    concert_seat_list_free(list);
    concert_seat_map_free(map);
}

Test(seat_map, lists_every_seat_in_order_with_grade_and_price)
{
    concert_token_info t;
    issue_active(1, &t);
    concert_seat_map *map = map_get(t.token, 10);
    cr_assert_eq(map->count, 50);
    for (size_t i = 0; i < map->count; i++) {
        const concert_seat_state *st = &map->items[i];
        cr_assert_eq(st->seat.number, (int64_t)i + 1);
        cr_assert_str_eq(st->seat.grade, i < 10 ? "VIP" : "R");
        cr_assert_eq(st->seat.price, i < 10 ? 30000 : 10000);
        cr_assert_eq(st->status, CONCERT_SEAT_FREE);
        cr_assert_eq(st->held_until, 0);
        cr_assert_eq(st->reserved, 0);
    }
    concert_seat_map_free(map);

    map = map_get(t.token, 12);
    cr_assert_eq(map->count, 5);
    for (size_t i = 0; i < map->count; i++) {
        cr_assert_eq(map->items[i].seat.number, (int64_t)i + 1);
        cr_assert_str_eq(map->items[i].seat.grade, "S");
        cr_assert_eq(map->items[i].seat.price, 5000);
    }
    concert_seat_map_free(map);
    concert_seat_map_free(NULL); /* accepts NULL */
}

Test(seat_map, a_hold_shows_held_until_it_runs_out)
{
    concert_options o = test_options();
    concert_token_info a, b;
    concert_reservation r;
    o.hold_ttl_ms = 2 * MINUTE;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 11));

    /* Anyone sees it held (not whose), with the hold's end. */
    concert_seat_state st = seat_now(b.token, 10, 11);
    cr_assert_eq(st.status, CONCERT_SEAT_HELD);
    cr_assert_eq(st.held_until, r.held_until);
    cr_assert_eq(st.held_until, T0 + 2 * MINUTE);
    cr_assert_eq(seat_now(a.token, 10, 11).status, CONCERT_SEAT_HELD);
    cr_assert_eq(seat_now(b.token, 10, 10).status, CONCERT_SEAT_FREE);
    cr_assert_eq(seat_now(b.token, 10, 12).status, CONCERT_SEAT_FREE);
    expect_free_is_the_list(b.token, 10);

    clock_set(r.held_until - 1);
    cr_assert_eq(seat_now(b.token, 10, 11).status, CONCERT_SEAT_HELD);
    expect_free_is_the_list(b.token, 10);

    clock_set(r.held_until);
    st = seat_now(b.token, 10, 11);
    cr_assert_eq(st.status, CONCERT_SEAT_FREE, "the seat is free at held_until");
    cr_assert_eq(st.held_until, 0);
    expect_free_is_the_list(b.token, 10);
}

Test(seat_map, release_frees_and_payment_sells)
{
    concert_token_info a, b;
    concert_reservation r1, r2;
    concert_payment p;
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r1, db, a.token, 10, 3));
    expect_ok(concert_reserve_seat(&r2, db, b.token, 10, 4));
    cr_assert_eq(seat_now(a.token, 10, 3).status, CONCERT_SEAT_HELD);
    cr_assert_eq(seat_now(a.token, 10, 4).status, CONCERT_SEAT_HELD);

    expect_ok(concert_reservation_release(NULL, db, a.token, r1.id));
    concert_seat_state st = seat_now(b.token, 10, 3);
    cr_assert_eq(st.status, CONCERT_SEAT_FREE);
    cr_assert_eq(st.held_until, 0);

    expect_ok(concert_pay(&p, db, b.token, r2.id, NULL));
    st = seat_now(a.token, 10, 4);
    cr_assert_eq(st.status, CONCERT_SEAT_SOLD);
    cr_assert_eq(st.held_until, 0);
    cr_assert_str_eq(st.seat.grade, "VIP");
    cr_assert_eq(st.seat.price, 30000);
    expect_free_is_the_list(a.token, 10);

    /* A sale stays a sale when its hold's time has long passed. */
    clock_advance(9 * MINUTE);
    cr_assert_eq(seat_now(a.token, 10, 4).status, CONCERT_SEAT_SOLD);
    expect_free_is_the_list(a.token, 10);
}

Test(seat_map, free_seats_are_the_free_list_in_a_mixed_schedule)
{
    concert_options o = test_options();
    concert_token_info t[4];
    concert_reservation r;
    concert_payment p;
    int64_t sold[] = { 1, 25, 50 }, held[] = { 2, 10, 11, 49 }, released = 30, expired = 40;
    o.hold_ttl_ms = 2 * MINUTE;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &t[0]);
    issue_active(3, &t[1]);
    for (size_t i = 0; i < 3; i++) {
        expect_ok(concert_reserve_seat(&r, db, t[1].token, 10, sold[i]));
        expect_ok(concert_pay(&p, db, t[1].token, r.id, NULL));
        issue_active(3, &t[1]); /* a payment ends the token */
    }
    expect_ok(concert_reserve_seat(&r, db, t[0].token, 10, expired));
    clock_advance(2 * MINUTE); /* that hold runs out */
    issue_active(1, &t[0]);
    expect_ok(concert_reserve_seat(&r, db, t[0].token, 10, released));
    expect_ok(concert_reservation_release(NULL, db, t[0].token, r.id));
    for (size_t i = 0; i < 4; i++)
        expect_ok(concert_reserve_seat(&r, db, i % 2 ? t[0].token : t[1].token, 10, held[i]));

    concert_seat_map *map = map_get(t[0].token, 10);
    cr_assert_eq(map->count, 50);
    size_t n_sold = 0, n_held = 0;
    for (size_t i = 0; i < map->count; i++) {
        const concert_seat_state *st = &map->items[i];
        n_sold += st->status == CONCERT_SEAT_SOLD;
        n_held += st->status == CONCERT_SEAT_HELD;
        if (st->status == CONCERT_SEAT_HELD)
            cr_assert_eq(st->held_until, clock_now() + 2 * MINUTE);
        else
            cr_assert_eq(st->held_until, 0);
    }
    cr_assert_eq(n_sold, 3);
    cr_assert_eq(n_held, 4);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(seat_of(map, sold[i]).status, CONCERT_SEAT_SOLD);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(seat_of(map, held[i]).status, CONCERT_SEAT_HELD);
    cr_assert_eq(seat_of(map, released).status, CONCERT_SEAT_FREE);
    cr_assert_eq(seat_of(map, expired).status, CONCERT_SEAT_FREE);
    concert_seat_map_free(map);
    expect_free_is_the_list(t[0].token, 10);
}

static int version_equal(const concert_list_version *a, const concert_list_version *b)
{
    return a->epoch == b->epoch && a->changes == b->changes &&
           a->expired_through == b->expired_through && a->past == b->past;
}

static int map_equal(const concert_seat_map *a, const concert_seat_map *b)
{
    return a->count == b->count &&
           (a->count == 0 || memcmp(a->items, b->items, a->count * sizeof(*a->items)) == 0);
}

Test(seat_map, the_seats_version_labels_the_map)
{
    concert_token_info a;
    concert_reservation r;
    concert_list_version v0, v1, v2;
    issue_active(1, &a);
    expect_ok(concert_seat_list_version_get(&v0, db, a.token, 10));
    concert_seat_map *m0 = map_get(a.token, 10);
    expect_ok(concert_seat_list_version_get(&v1, db, a.token, 10));
    concert_seat_map *m1 = map_get(a.token, 10);
    cr_assert(version_equal(&v0, &v1), "reading the map changed the version");
    cr_assert(map_equal(m0, m1), "equal versions, different maps");

    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 7));
    expect_ok(concert_seat_list_version_get(&v2, db, a.token, 10));
    concert_seat_map *m2 = map_get(a.token, 10);
    cr_assert(!version_equal(&v1, &v2), "the map changed, the version stayed");
    cr_assert(!map_equal(m1, m2));
    concert_seat_map_free(m0);
    concert_seat_map_free(m1);
    concert_seat_map_free(m2);
}

/* The map's answer and the free list's for the same request. */
static void expect_refused_alike(const char *token, int64_t schedule_id, int expected)
{
    concert_seat_map *map = (concert_seat_map *)0x1;
    concert_seat_list *list = (concert_seat_list *)0x1;
    expect_rc(concert_seat_map_get(&map, db, token, schedule_id), expected);
    cr_assert_null(map, "*out is NULL on error");
    expect_rc(concert_seats_available(&list, db, token, schedule_id), expected);
    cr_assert_null(list);
}

Test(seat_map, refuses_exactly_what_the_seat_list_refuses)
{
    concert_token_info a;
    concert_seat_map *map = NULL;
    issue_active(1, &a);
    expect_refused_alike("not-a-token", 10, CONCERT_ETOKEN_INVALID);
    expect_refused_alike(NULL, 10, CONCERT_ETOKEN_INVALID);
    expect_refused_alike("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 10, CONCERT_ETOKEN_INVALID);
    expect_refused_alike(a.token, 999, CONCERT_ESCHEDULE_NOT_FOUND);
    expect_refused_alike(a.token, 0, CONCERT_ESCHEDULE_NOT_FOUND);
    expect_refused_alike(a.token, -5, CONCERT_ESCHEDULE_NOT_FOUND);
    expect_refused_alike(a.token, 11, CONCERT_EBOOKING_CLOSED);
    expect_refused_alike(a.token, 40, CONCERT_EBOOKING_CLOSED);
    expect_refused_alike(a.token, 20, CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_refused_alike(a.token, 30, CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_seat_map_get(NULL, db, a.token, 10), CONCERT_EINVAL);
    expect_rc(concert_seat_map_get(&map, NULL, a.token, 10), CONCERT_EINVAL);
    cr_assert_null(map);

    /* An ended token: this db paid with it. */
    concert_reservation r;
    concert_payment p;
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 1));
    expect_ok(concert_pay(&p, db, a.token, r.id, NULL));
    expect_refused_alike(a.token, 10, CONCERT_ETOKEN_INVALID);
}

Test(seat_map, a_waiting_token_is_refused_like_the_list)
{
    concert_options o = test_options();
    concert_token_info a, w;
    o.max_active = 1;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &a);
    expect_ok(concert_queue_issue(&w, db, 3));
    cr_assert_eq(w.state, CONCERT_TOKEN_WAITING);
    expect_refused_alike(w.token, 10, CONCERT_ETOKEN_NOT_ACTIVE);
}

Test(seat_map, status_names)
{
    cr_assert_str_eq(concert_seat_status_name(CONCERT_SEAT_FREE), "FREE");
    cr_assert_str_eq(concert_seat_status_name(CONCERT_SEAT_HELD), "HELD");
    cr_assert_str_eq(concert_seat_status_name(CONCERT_SEAT_SOLD), "SOLD");
    cr_assert_str_eq(concert_seat_status_name(0), "UNKNOWN");
    cr_assert_str_eq(concert_seat_status_name(4), "UNKNOWN");
    cr_assert_str_eq(concert_seat_status_name(-1), "UNKNOWN");
}

/* ---- concert_db_stats_get ---- */

static concert_db_stats stats_of(concert_db *d)
{
    concert_db_stats s;
    memset(&s, 0xAB, sizeof(s));
    s.version = CONCERT_DB_STATS_VERSION;
    expect_ok(concert_db_stats_get(&s, d));
    cr_assert_eq(s.version, CONCERT_DB_STATS_VERSION);
    return s;
}

Test(seat_map, db_stats_refuses_bad_arguments)
{
    concert_db_stats s;
    memset(&s, 0, sizeof(s));
    s.version = 0;
    expect_rc(concert_db_stats_get(&s, db), CONCERT_EINVAL);
    s.version = CONCERT_DB_STATS_VERSION + 1;
    expect_rc(concert_db_stats_get(&s, db), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "version"));
    cr_assert_eq(s.storage_calls, 0, "a refused call writes nothing");
    s.version = CONCERT_DB_STATS_VERSION;
    expect_rc(concert_db_stats_get(NULL, db), CONCERT_EINVAL);
    expect_rc(concert_db_stats_get(&s, NULL), CONCERT_EINVAL);
}

/* Under the counting wrapper: the db's count is every call the backend got. */
Test(seat_map, db_stats_count_every_storage_call)
{
    concert_token_info a;
    concert_reservation r;
    concert_seat_map *map = NULL;
    store_open_counted(NULL);
    concert_db_stats s0 = stats_of(db);
    cr_assert_eq(s0.storage_calls, (uint64_t)store_calls());
    cr_assert_eq(s0.storage_errors, 0);
    standard_catalog_load();
    issue_active(1, &a);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 5));
    expect_ok(concert_seat_map_get(&map, db, a.token, 10));
    concert_seat_map_free(map);
    const long before = store_calls();
    concert_db_stats s1 = stats_of(db);
    cr_assert_eq(store_calls(), before, "reading the stats asks the store nothing");
    cr_assert_eq(s1.storage_calls, (uint64_t)before);
    cr_assert_gt(s1.storage_calls, s0.storage_calls + 3);

    /* One more map: exactly one more call (the token and schedule are
     * known to this db by now). */
    expect_ok(concert_seat_map_get(&map, db, a.token, 10));
    concert_seat_map_free(map);
    concert_db_stats s2 = stats_of(db);
    cr_assert_eq(s2.storage_calls, (uint64_t)store_calls());
    cr_assert_eq(s2.storage_calls, s1.storage_calls + 1);

    /* A caller's mistake that the store answers is a call, not an error. */
    concert_reservation got;
    expect_rc(concert_reservation_get(&got, db, a.token, 999999), CONCERT_ERESERVATION_NOT_FOUND);
    concert_db_stats s3 = stats_of(db);
    cr_assert_eq(s3.storage_calls, (uint64_t)store_calls());
    cr_assert_gt(s3.storage_calls, s2.storage_calls);
    cr_assert_eq(s3.storage_errors, 0);
    cr_assert_eq(s3.storage_retries, 0);
    cr_assert_eq(s3.storage_reconnects, 0);
}

static int fault_rc;

static int fail_seat_map(void *ctx, const char *method, int phase)
{
    (void)ctx;
    (void)phase;
    return strcmp(method, "seat_map") == 0 ? fault_rc : 0;
}

Test(seat_map, db_stats_count_the_stores_failures)
{
    concert_options o = test_options();
    fault_storage *fs = NULL;
    concert_token_info a;
    concert_seat_map *map = NULL;
    const int trouble[] = { CONCERT_ESTORAGE, CONCERT_EBUSY, CONCERT_ESCHEMA, CONCERT_EINTERNAL };
    /* The same store, now behind the fault wrapper. */
    store_prepare();
    expect_ok(fault_storage_open(&db, &fs, store_uri_get(), &o));
    standard_catalog_load();
    issue_active(1, &a);
    expect_ok(concert_seat_map_get(&map, db, a.token, 10)); /* token and schedule known */
    concert_seat_map_free(map);
    concert_db_stats prev = stats_of(db);

    fault_storage_set_callback(fs, fail_seat_map, NULL);
    for (size_t i = 0; i < sizeof(trouble) / sizeof(trouble[0]); i++) {
        fault_rc = trouble[i];
        expect_rc(concert_seat_map_get(&map, db, a.token, 10), trouble[i]);
        cr_assert_null(map);
        concert_db_stats s = stats_of(db);
        cr_assert_eq(s.storage_calls, prev.storage_calls + 1, "%s", concert_error_name(trouble[i]));
        cr_assert_eq(s.storage_errors, prev.storage_errors + 1, "%s",
                     concert_error_name(trouble[i]));
        prev = s;
    }
    /* Not the store's trouble: counted as a call only. */
    fault_rc = CONCERT_ESCHEDULE_NOT_FOUND;
    expect_rc(concert_seat_map_get(&map, db, a.token, 10), CONCERT_ESCHEDULE_NOT_FOUND);
    concert_db_stats s = stats_of(db);
    cr_assert_eq(s.storage_calls, prev.storage_calls + 1);
    cr_assert_eq(s.storage_errors, prev.storage_errors);
    fault_storage_off(fs);

    expect_ok(concert_seat_map_get(&map, db, a.token, 10));
    concert_seat_map_free(map);
    concert_db_stats after = stats_of(db);
    cr_assert_eq(after.storage_calls, s.storage_calls + 1);
    cr_assert_eq(after.storage_errors, s.storage_errors, "a success is no error");
}

Test(seat_map, db_stats_are_per_handle)
{
    concert_token_info a;
    concert_seat_map *map = NULL;
    concert_db *other = store_open_again(NULL);
    if (!other) {
        cr_skip_test("the memory store cannot be opened twice");
        return;
    }
    concert_db_stats o0 = stats_of(other);
    issue_active(1, &a);
    expect_ok(concert_seat_map_get(&map, db, a.token, 10));
    concert_seat_map_free(map);
    concert_db_stats o1 = stats_of(other);
    cr_assert_eq(o1.storage_calls, o0.storage_calls, "the other handle did nothing");
    cr_assert_gt(stats_of(db).storage_calls, 0);
    concert_db_close(other);
}

/* ---- the backend's own counters, through a table that has them ---- */

typedef struct with_counters {
    concert_storage base; /* first member: the table */
    concert_storage *inner;
    concert_storage_counters counters;
    int counters_rc; /* what counters returns, 0 = the values above */
    int balance_rc;  /* what balance_get returns, 0 = pass through */
} with_counters;

static void with_counters_free(concert_storage *self)
{
    with_counters *w = (with_counters *)self;
    w->inner->free(w->inner);
    free(w);
}

static int with_counters_read(concert_storage *self, concert_storage_counters *out)
{
    with_counters *w = (with_counters *)self;
    if (w->counters_rc)
        return w->counters_rc;
    *out = w->counters;
    return 0;
}

static int with_counters_catalog_load(concert_storage *self, const concert_catalog *c, int64_t now)
{
    with_counters *w = (with_counters *)self;
    return w->inner->catalog_load(w->inner, c, now);
}

static int with_counters_balance(concert_storage *self, int64_t user_id, int64_t *out)
{
    with_counters *w = (with_counters *)self;
    if (w->balance_rc)
        return w->balance_rc;
    return w->inner->balance_get(w->inner, user_id, out);
}

Test(seat_map, db_stats_report_the_backends_counters_and_failures)
{
    concert_options o = test_options();
    concert_db *d = NULL;
    with_counters *w = calloc(1, sizeof(*w));
    concert_catalog_user u[] = { { 1, "Kim", 10 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, u, 1, NULL, 0 };
    int64_t bal;
    cr_assert_not_null(w);
    expect_ok(concert_storage_memory_open(&w->inner, "", &o));
    cr_assert_null(w->inner->counters, "memory has no counters: reported as 0");
    w->base = *w->inner;
    w->base.name = "with-counters";
    w->base.free = with_counters_free;
    w->base.counters = with_counters_read;
    w->base.catalog_load = with_counters_catalog_load;
    w->base.balance_get = with_counters_balance;
    w->counters.retries = 7;
    w->counters.reconnects = 3;
    expect_ok(concert_db_open_storage(&d, &w->base, &o));

    concert_db_stats s = stats_of(d);
    cr_assert_eq(s.storage_retries, 7);
    cr_assert_eq(s.storage_reconnects, 3);
    cr_assert_eq(s.storage_calls, 0, "a fresh handle has asked nothing");
    expect_ok(concert_catalog_load(d, &c));
    expect_ok(concert_points_balance_get(&bal, d, 1));
    w->counters.retries = 9;
    s = stats_of(d);
    cr_assert_eq(s.storage_retries, 9);
    cr_assert_eq(s.storage_calls, 2);
    cr_assert_eq(s.storage_errors, 0);

    /* Failures the backend itself returns (not injected): a lost store, and
     * an unknown code, which the core reports as INTERNAL. */
    w->balance_rc = CONCERT_ESTORAGE;
    expect_rc(concert_points_balance_get(&bal, d, 1), CONCERT_ESTORAGE);
    w->balance_rc = 17;
    expect_rc(concert_points_balance_get(&bal, d, 1), CONCERT_EINTERNAL);
    w->balance_rc = CONCERT_EUSER_NOT_FOUND;
    expect_rc(concert_points_balance_get(&bal, d, 1), CONCERT_EUSER_NOT_FOUND);
    s = stats_of(d);
    cr_assert_eq(s.storage_calls, 5);
    cr_assert_eq(s.storage_errors, 2);

    /* The backend cannot read its counters: said, not hidden as zeros. */
    w->counters_rc = CONCERT_ESTORAGE;
    s.version = CONCERT_DB_STATS_VERSION;
    expect_rc(concert_db_stats_get(&s, d), CONCERT_ESTORAGE);
    concert_db_close(d);
}
