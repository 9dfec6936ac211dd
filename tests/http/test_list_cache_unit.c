/*
 * The rendered-list cache of concertd (issue 12) without sockets: the ETag
 * and If-None-Match rules, the bounded cache itself, and the two list
 * routes and the seat map (issue 13) through api_handle() on a store with the fake clock, so that an
 * expiry is checked at the very millisecond it happens. Runs on the store
 * CONCERT_TEST_STORE names (tests/support/harness.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "api.h"
#include "etag.h"
#include "harness.h"
#include "list_cache.h"

/* ---- ETag ---- */

static concert_list_version version_of(int64_t epoch, int64_t changes, int64_t expired,
                                       int64_t past)
{
    concert_list_version v = { epoch, changes, expired, past };
    return v;
}

Test(etag, every_field_of_the_version_and_the_id_make_a_different_tag)
{
    const concert_list_version base = version_of(77, 5, 1000, 2);
    concert_list_version variants[4];
    for (int i = 0; i < 4; i++)
        variants[i] = base;
    variants[0].epoch++;
    variants[1].changes++;
    variants[2].expired_through++;
    variants[3].past++;

    char tag[ETAG_SIZE], other[ETAG_SIZE];
    etag_format(tag, ETAG_SEATS, 10, &base);
    cr_assert_eq(tag[0], '"');
    cr_assert_eq(tag[strlen(tag) - 1], '"');
    etag_format(other, ETAG_SEATS, 10, &base);
    cr_assert_str_eq(tag, other, "the same version gives the same tag");
    for (int i = 0; i < 4; i++) {
        etag_format(other, ETAG_SEATS, 10, &variants[i]);
        cr_assert_str_neq(tag, other, "field %d", i);
    }
    etag_format(other, ETAG_SEATS, 11, &base);
    cr_assert_str_neq(tag, other, "another id");
    etag_format(other, ETAG_SCHEDULES, 10, &base);
    cr_assert_str_neq(tag, other, "another list");

    /* The longest tag there can be still fits, NUL included. */
    const concert_list_version widest = version_of(-1, -1, -1, -1);
    char big[ETAG_SIZE + 8];
    memset(big, 'x', sizeof big);
    etag_format(big, ETAG_SCHEDULES, INT64_MAX, &widest);
    cr_assert_lt(strlen(big), (size_t)ETAG_SIZE);
}

Test(etag, if_none_match_uses_the_weak_comparison_over_a_list)
{
    const char *tag = "\"s1-a-7-3-0-0\"";
    static const struct {
        const char *value;
        int match;
    } cases[] = {
        { "\"s1-a-7-3-0-0\"", 1 },
        { "W/\"s1-a-7-3-0-0\"", 1 }, /* weak comparison ignores W/ */
        { "\"x\", \"s1-a-7-3-0-0\"", 1 },
        { "\"x\",W/\"s1-a-7-3-0-0\" , \"y\"", 1 },
        { " \t\"s1-a-7-3-0-0\"\t ", 1 },
        { ", ,\"s1-a-7-3-0-0\",,", 1 }, /* empty list elements are allowed */
        { "*", 1 },
        { " * ", 1 },
        { "\"s1-a-7-3-0-1\"", 0 },
        { "\"s1-a-7-3-0-0 \"", 0 },
        { "\"s1-a-7-3-0\"", 0 }, /* a prefix of the tag */
        { "\"1-a-7-3-0-0\"", 0 },
        { "\"x\", \"y\"", 0 },
        { "", 0 },
        { ",", 0 },
        /* Not the syntax: the field is ignored as a whole, even with a match
         * in it (a full answer is always correct). */
        { "s1-a-7-3-0-0", 0 },       /* unquoted */
        { "w/\"s1-a-7-3-0-0\"", 0 }, /* W/ is case-sensitive */
        { "\"s1-a-7-3-0-0\" junk", 0 },
        { "\"s1-a-7-3-0-0\", \"unterminated", 0 },
        { "\"s1-a-7-3-0-0\" \"y\"", 0 }, /* a missing comma */
        { "*, \"s1-a-7-3-0-0\"", 0 },
        { "\"s1-a-7\"3-0-0\"", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(etag_none_match(cases[i].value, tag), cases[i].match, "If-None-Match: %s",
                     cases[i].value);
    cr_expect_eq(etag_none_match(NULL, tag), 0);
}

/* ---- the cache ---- */

static list_body *body_of(const char *text)
{
    const size_t len = strlen(text);
    char *data = malloc(len + 1);
    cr_assert_not_null(data);
    memcpy(data, text, len + 1);
    list_body *body = list_body_new(data, len);
    cr_assert_not_null(body);
    return body;
}

Test(list_cache, hits_only_under_an_equal_version)
{
    list_cache *cache = list_cache_new(16);
    cr_assert_not_null(cache);
    const concert_list_version v = version_of(9, 4, 0, 0);
    cr_assert_null(list_cache_get(cache, 10, &v));

    list_body *body = body_of("list of 10 at 4");
    list_cache_put(cache, 10, &v, body);
    list_body_unref(body); /* the cache keeps its own reference */

    list_body *hit = list_cache_get(cache, 10, &v);
    cr_assert_eq(hit, body, "a hit is the same body, not a copy");
    cr_assert_str_eq(list_body_data(hit), "list of 10 at 4");
    list_body_unref(hit);

    const concert_list_version others[] = { version_of(8, 4, 0, 0), version_of(9, 5, 0, 0),
                                            version_of(9, 4, 1, 0), version_of(9, 4, 0, 1) };
    for (size_t i = 0; i < 4; i++)
        cr_assert_null(list_cache_get(cache, 10, &others[i]), "version %zu", i);
    cr_assert_null(list_cache_get(cache, 11, &v), "another id");

    /* A new version replaces the entry; a response still sending the old
     * body keeps it alive. */
    list_body *held = list_cache_get(cache, 10, &v);
    list_body *next = body_of("list of 10 at 5");
    list_cache_put(cache, 10, &others[1], next);
    list_body_unref(next);
    cr_assert_null(list_cache_get(cache, 10, &v));
    cr_assert_str_eq(list_body_data(held), "list of 10 at 4");
    list_body_unref(held);
    list_body *now = list_cache_get(cache, 10, &others[1]);
    cr_assert_str_eq(list_body_data(now), "list of 10 at 5");

    list_cache_free(cache);
    cr_assert_str_eq(list_body_data(now), "list of 10 at 5", "outlives the cache");
    list_body_unref(now);
}

Test(list_cache, holds_a_fixed_number_of_entries)
{
    list_cache *cache = list_cache_new(10);
    cr_assert_not_null(cache);
    const size_t capacity = list_cache_capacity(cache);
    cr_assert_geq(capacity, 10);
    cr_assert_leq(capacity, 64);
    const concert_list_version v = version_of(1, 1, 0, 0);
    for (int64_t id = 1; id <= 1000; id++) {
        char text[32];
        snprintf(text, sizeof text, "list %lld", (long long)id);
        list_body *body = body_of(text);
        list_cache_put(cache, id, &v, body);
        list_body_unref(body);
    }
    size_t kept = 0;
    for (int64_t id = 1; id <= 1000; id++) {
        list_body *body = list_cache_get(cache, id, &v);
        if (body != NULL) {
            char text[32];
            snprintf(text, sizeof text, "list %lld", (long long)id);
            cr_assert_str_eq(list_body_data(body), text);
            kept++;
            list_body_unref(body);
        }
    }
    cr_assert_gt(kept, 0);
    cr_assert_leq(kept, capacity);
    list_cache_free(cache);
}

/* Threads render "id:changes" under version changes and check every hit:
 * a body served under a version must be the one rendered under it. */
#define RACE_THREADS 4
#define RACE_ROUNDS 20000

typedef struct race_arg {
    list_cache *cache;
    unsigned seed;
    int wrong;
    int hits;
} race_arg;

static void *race_worker(void *opaque)
{
    race_arg *arg = opaque;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        arg->seed = arg->seed * 1103515245u + 12345u;
        const int64_t id = 1 + (arg->seed >> 16) % 8;
        const int64_t changes = (arg->seed >> 8) % 3;
        const concert_list_version v = version_of(1, changes, 0, 0);
        char want[32];
        snprintf(want, sizeof want, "%lld:%lld", (long long)id, (long long)changes);
        list_body *body = list_cache_get(arg->cache, id, &v);
        if (body != NULL) {
            arg->hits++;
            arg->wrong += strcmp(list_body_data(body), want) != 0;
        } else {
            const size_t len = strlen(want);
            char *data = malloc(len + 1);
            if (data == NULL)
                continue;
            memcpy(data, want, len + 1);
            if ((body = list_body_new(data, len)) == NULL)
                continue;
            list_cache_put(arg->cache, id, &v, body);
        }
        list_body_unref(body);
    }
    return NULL;
}

Test(list_cache, is_safe_to_share_between_threads)
{
    list_cache *cache = list_cache_new(4); /* one set: every id contends */
    cr_assert_not_null(cache);
    pthread_t threads[RACE_THREADS];
    race_arg args[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) {
        args[t] = (race_arg){ cache, (unsigned)t * 7919u + 1u, 0, 0 };
        cr_assert_eq(pthread_create(&threads[t], NULL, race_worker, &args[t]), 0);
    }
    int hits = 0;
    for (int t = 0; t < RACE_THREADS; t++) {
        pthread_join(threads[t], NULL);
        cr_expect_eq(args[t].wrong, 0, "thread %d was served another version's body", t);
        hits += args[t].hits;
    }
    cr_expect_gt(hits, 0);
    list_cache_free(cache);
}

/* ---- the routes, through api_handle() ---- */

static api_context ctx;
static list_cache *seat_lists;
static list_cache *schedule_lists;
static list_cache *seat_maps;

static void open_api(void)
{
    setup_store_with_catalog();
    seat_lists = list_cache_new(16);
    schedule_lists = list_cache_new(16);
    seat_maps = list_cache_new(16);
    cr_assert(seat_lists != NULL && schedule_lists != NULL && seat_maps != NULL);
    memset(&ctx, 0, sizeof ctx);
    ctx.db = db;
    ctx.seat_lists = seat_lists;
    ctx.schedule_lists = schedule_lists;
    ctx.seat_maps = seat_maps;
}

static void close_api(void)
{
    list_cache_free(seat_lists);
    list_cache_free(schedule_lists);
    list_cache_free(seat_maps);
    seat_lists = schedule_lists = seat_maps = NULL;
    teardown_store();
}

typedef struct header_pair {
    const char *name;
    const char *value;
} header_pair;

typedef struct request_headers {
    header_pair pairs[4];
} request_headers;

static const char *find_header(void *opaque, const char *name)
{
    const request_headers *h = opaque;
    for (size_t i = 0; i < 4 && h->pairs[i].name != NULL; i++) {
        if (strcasecmp(h->pairs[i].name, name) == 0)
            return h->pairs[i].value;
    }
    return NULL;
}

static unsigned count_header(void *opaque, const char *name)
{
    const request_headers *h = opaque;
    unsigned n = 0;
    for (size_t i = 0; i < 4 && h->pairs[i].name != NULL; i++)
        n += strcasecmp(h->pairs[i].name, name) == 0;
    return n;
}

/* One request with a Bearer token and, if given, If-None-Match. */
static void call(api_response *resp, const char *method, const char *path, const char *token,
                 const char *if_none_match, const char *body)
{
    char authorization[96];
    snprintf(authorization, sizeof authorization, "Bearer %s", token);
    request_headers headers;
    memset(&headers, 0, sizeof headers);
    headers.pairs[0] = (header_pair){ "Authorization", authorization };
    if (if_none_match != NULL)
        headers.pairs[1] = (header_pair){ "If-None-Match", if_none_match };
    api_request req = {
        .method = method,
        .path = path,
        .header = find_header,
        .header_count = count_header,
        .header_ctx = &headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    api_handle(&ctx, &req, resp);
}

/* A GET of a list: its status, ETag and body (a copy, "" for none). */
typedef struct listing {
    int status;
    char etag[ETAG_SIZE];
    char cache_control[48];
    char *body;
} listing;

static listing get(const char *path, const char *token, const char *if_none_match)
{
    api_response resp;
    call(&resp, "GET", path, token, if_none_match, NULL);
    listing out;
    memset(&out, 0, sizeof out);
    out.status = resp.status;
    memcpy(out.etag, resp.etag, sizeof out.etag);
    memcpy(out.cache_control, resp.cache_control, sizeof out.cache_control);
    out.body = strndup(resp.body ? resp.body : "", resp.body_len);
    cr_assert_not_null(out.body);
    api_response_release(&resp);
    return out;
}

static void listing_free(listing *l)
{
    free(l->body);
    l->body = NULL;
}

/* Is seat number in a seat list body? */
static int lists_seat(const char *body, int64_t number)
{
    json_object *doc = json_tokener_parse(body);
    cr_assert_not_null(doc, "not JSON: %s", body);
    json_object *seats = NULL;
    cr_assert(json_object_object_get_ex(doc, "seats", &seats));
    int found = 0;
    for (size_t i = 0; i < json_object_array_length(seats); i++) {
        json_object *n = NULL;
        json_object_object_get_ex(json_object_array_get_idx(seats, i), "number", &n);
        found |= json_object_get_int64(n) == number;
    }
    json_object_put(doc);
    return found;
}

static int64_t post_hold(const char *token, int64_t schedule, int64_t seat, int expect_status)
{
    char body[96];
    snprintf(body, sizeof body, "{\"schedule_id\":%lld,\"seat_number\":%lld}", (long long)schedule,
             (long long)seat);
    api_response resp;
    call(&resp, "POST", "/api/v1/reservations", token, NULL, body);
    cr_assert_eq(resp.status, expect_status, "hold: %d %s", resp.status,
                 resp.body ? resp.body : "");
    int64_t id = 0;
    if (resp.status == 201) {
        json_object *doc = json_tokener_parse(resp.body);
        json_object *v = NULL;
        cr_assert(json_object_object_get_ex(doc, "id", &v));
        id = json_object_get_int64(v);
        json_object_put(doc);
    }
    api_response_release(&resp);
    return id;
}

static const char seats_10[] = "/api/v1/schedules/10/seats";

Test(list_routes, seat_list_carries_a_stable_etag_and_304s_on_it, .init = open_api,
     .fini = close_api)
{
    concert_token_info t;
    issue_active(1, &t);
    listing first = get(seats_10, t.token, NULL);
    cr_assert_eq(first.status, 200, "%s", first.body);
    cr_assert_neq(first.etag[0], '\0', "a 200 carries an ETag");
    cr_assert_str_eq(first.cache_control, "private, no-cache");

    /* Served again, from the cache: the same bytes under the same tag. */
    listing again = get(seats_10, t.token, NULL);
    cr_assert_eq(again.status, 200);
    cr_assert_str_eq(again.etag, first.etag);
    cr_assert_str_eq(again.body, first.body);

    /* The body is what the uncached route renders, byte for byte. */
    ctx.seat_lists = NULL;
    listing uncached = get(seats_10, t.token, NULL);
    ctx.seat_lists = seat_lists;
    cr_assert_str_eq(uncached.body, first.body);
    cr_assert_str_eq(uncached.etag, first.etag);

    char list_value[ETAG_SIZE + 16];
    snprintf(list_value, sizeof list_value, "\"other\", W/%s", first.etag);
    const char *matching[] = { first.etag, list_value, "*" };
    for (size_t i = 0; i < 3; i++) {
        listing same = get(seats_10, t.token, matching[i]);
        cr_assert_eq(same.status, 304, "If-None-Match: %s", matching[i]);
        cr_assert_str_eq(same.body, "", "a 304 has no body");
        cr_assert_str_eq(same.etag, first.etag);
        cr_assert_str_eq(same.cache_control, "private, no-cache");
        listing_free(&same);
    }
    listing other = get(seats_10, t.token, "\"s1-0-0-0-0-0\"");
    cr_assert_eq(other.status, 200);
    cr_assert_str_eq(other.body, first.body);

    listing_free(&first);
    listing_free(&again);
    listing_free(&uncached);
    listing_free(&other);
}

Test(list_routes, hold_release_payment_and_expiry_each_change_the_tag, .init = open_api,
     .fini = close_api)
{
    concert_token_info buyer, viewer;
    issue_active(1, &buyer);
    issue_active(3, &viewer);
    listing before = get(seats_10, viewer.token, NULL);
    cr_assert(lists_seat(before.body, 12));

    /* A hold: the seat leaves the list, the old tag no longer matches. */
    const int64_t rid = post_hold(buyer.token, 10, 12, 201);
    listing held = get(seats_10, viewer.token, before.etag);
    cr_assert_eq(held.status, 200);
    cr_assert_str_neq(held.etag, before.etag);
    cr_assert(!lists_seat(held.body, 12));

    /* A release: back in the list, under yet another tag. */
    char path[64];
    snprintf(path, sizeof path, "/api/v1/reservations/%lld", (long long)rid);
    api_response resp;
    call(&resp, "DELETE", path, buyer.token, NULL, NULL);
    cr_assert_eq(resp.status, 204, "release: %d %s", resp.status, resp.body ? resp.body : "");
    api_response_release(&resp);
    listing released = get(seats_10, viewer.token, held.etag);
    cr_assert_eq(released.status, 200);
    cr_assert(lists_seat(released.body, 12));
    cr_assert_str_neq(released.etag, held.etag);

    /* A payment: a hold, then the sale. Each is a change. */
    const int64_t paid_rid = post_hold(buyer.token, 10, 13, 201);
    listing held_13 = get(seats_10, viewer.token, NULL);
    cr_assert(!lists_seat(held_13.body, 13));
    char pay[64];
    snprintf(pay, sizeof pay, "{\"reservation_id\":%lld}", (long long)paid_rid);
    call(&resp, "POST", "/api/v1/payments", buyer.token, NULL, pay);
    cr_assert_eq(resp.status, 201, "pay: %d %s", resp.status, resp.body ? resp.body : "");
    api_response_release(&resp);
    listing sold = get(seats_10, viewer.token, held_13.etag);
    cr_assert_eq(sold.status, 200, "a sale changes the version");
    cr_assert(!lists_seat(sold.body, 13));

    /* An expiry, at the very millisecond of held_until. */
    concert_token_info late;
    issue_active(4, &late);
    concert_reservation r;
    expect_ok(concert_reserve_seat(&r, db, late.token, 10, 14));
    listing live = get(seats_10, viewer.token, NULL);
    cr_assert(!lists_seat(live.body, 14));
    clock_set(r.held_until - 1);
    listing almost = get(seats_10, viewer.token, live.etag);
    cr_assert_eq(almost.status, 304, "nothing changed yet: %s", almost.body);
    clock_set(r.held_until);
    listing expired = get(seats_10, viewer.token, live.etag);
    cr_assert_eq(expired.status, 200, "the hold ran out: the tag must change");
    cr_assert(lists_seat(expired.body, 14));
    cr_assert_str_neq(expired.etag, live.etag);

    listing *all[] = { &before, &held, &released, &held_13, &sold, &live, &almost, &expired };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        listing_free(all[i]);
}

Test(list_routes, a_token_or_list_error_is_never_answered_from_the_cache, .init = open_api,
     .fini = close_api)
{
    concert_token_info t, other;
    issue_active(1, &t);
    issue_active(3, &other);
    listing cached = get(seats_10, t.token, NULL);
    cr_assert_eq(cached.status, 200);

    /* The token left the queue: 401, never the cached body, never 304. */
    expect_ok(concert_queue_leave(db, t.token));
    listing ended = get(seats_10, t.token, NULL);
    cr_assert_eq(ended.status, 401, "%d %s", ended.status, ended.body);
    cr_assert(strstr(ended.body, "TOKEN_INVALID") != NULL || strstr(ended.body, "TOKEN") != NULL);
    cr_assert_str_eq(ended.etag, "");
    listing ended_304 = get(seats_10, t.token, cached.etag);
    cr_assert_eq(ended_304.status, 401);
    listing unknown = get(seats_10, "no-such-token-0123456789abcdefgh", "*");
    cr_assert_eq(unknown.status, 401);

    /* The same version checks as the listing, for other ids. */
    static const struct {
        const char *path;
        int status;
    } refused[] = {
        { "/api/v1/schedules/999/seats", 404 }, /* no such schedule */
        { "/api/v1/schedules/11/seats", 409 },  /* booking closed */
        { "/api/v1/schedules/20/seats", 409 },  /* concert not open */
        { "/api/v1/concerts/999/schedules", 404 }, { "/api/v1/concerts/2/schedules", 409 },
        { "/api/v1/concerts/4/schedules", 409 }, /* every schedule has passed */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        listing l = get(refused[i].path, other.token, "*");
        cr_assert_eq(l.status, refused[i].status, "%s: %d %s", refused[i].path, l.status, l.body);
        cr_assert_str_eq(l.etag, "");
        listing_free(&l);
    }

    /* BOOKING_CLOSED has no check in the version call: a tag forged from
     * the current version must still get the listing's error. */
    concert_list_version v;
    expect_ok(concert_schedule_list_version_get(&v, db, other.token, 4));
    char forged[ETAG_SIZE];
    etag_format(forged, ETAG_SCHEDULES, 4, &v);
    listing closed = get("/api/v1/concerts/4/schedules", other.token, forged);
    cr_assert_eq(closed.status, 409, "%d %s", closed.status, closed.body);

    listing *all[] = { &cached, &ended, &ended_304, &unknown, &closed };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        listing_free(all[i]);
}

Test(list_routes, schedule_list_counts_change_with_holds, .init = open_api, .fini = close_api)
{
    static const char path[] = "/api/v1/concerts/1/schedules";
    concert_token_info buyer, viewer;
    issue_active(1, &buyer);
    issue_active(3, &viewer);
    listing first = get(path, viewer.token, NULL);
    cr_assert_eq(first.status, 200, "%s", first.body);
    cr_assert_neq(first.etag[0], '\0');
    cr_assert_str_eq(first.cache_control, "private, no-cache");
    cr_assert(strstr(first.body, "\"id\":10,") != NULL, "%s", first.body);
    cr_assert(strstr(first.body, "\"available_seats\":50}") != NULL, "%s", first.body);

    listing same = get(path, viewer.token, first.etag);
    cr_assert_eq(same.status, 304);
    cr_assert_str_eq(same.etag, first.etag);

    post_hold(buyer.token, 10, 1, 201);
    listing after = get(path, viewer.token, first.etag);
    cr_assert_eq(after.status, 200);
    cr_assert_str_neq(after.etag, first.etag);
    cr_assert(strstr(after.body, "\"available_seats\":49}") != NULL, "%s", after.body);

    /* A schedule leaving the list (its booking closes) changes it too. */
    clock_set(T0 + DAY + 20 * MINUTE); /* starts_at + booking cutoff */
    concert_token_info late;
    issue_active(5, &late);
    listing later = get(path, late.token, after.etag);
    cr_assert_eq(later.status, 200, "%d %s", later.status, later.body);
    cr_assert(strstr(later.body, "\"id\":10,") == NULL, "%s", later.body);
    cr_assert_str_neq(later.etag, after.etag);

    listing *all[] = { &first, &same, &after, &later };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        listing_free(all[i]);
}

/* A clock that steps: the next `step_reads` reads say step_before, every
 * later one step_after; otherwise the harness's fake clock. */
static _Atomic int step_armed;
static _Atomic int step_reads;
static int64_t step_before, step_after;

static int64_t stepping_clock(void *unused)
{
    (void)unused;
    if (!atomic_load(&step_armed))
        return clock_now();
    return atomic_fetch_sub(&step_reads, 1) > 0 ? step_before : step_after;
}

static void open_api_with_stepping_clock(void)
{
    open_api();
    concert_options opts = test_options();
    opts.clock = stepping_clock;
    store_close();
    store_open(&opts);
    standard_catalog_load();
    ctx.db = db;
}

/*
 * A hold runs out in the middle of a request: the clock steps from
 * held_until - 1 to held_until after the request's first, second, ... read.
 * Wherever the step falls, the next request (at held_until) must show the
 * seat free. A server that labelled a body with a version read AFTER the
 * list (the wrong order) keeps the old list under the new version and fails
 * for the step that falls between its two reads.
 */
Test(list_routes, a_change_between_version_and_listing_is_never_served_stale,
     .init = open_api_with_stepping_clock, .fini = close_api)
{
    for (int reads = 0; reads <= 4; reads++) {
        const int64_t seat = 21 + reads;
        concert_token_info buyer, viewer;
        issue_active(4 + reads, &buyer);
        concert_reservation r;
        expect_ok(concert_reserve_seat(&r, db, buyer.token, 10, seat));
        clock_set(r.held_until - 1);
        issue_active(40 + reads, &viewer);

        /* No listing before: the one below must read the list itself. */
        step_before = r.held_until - 1;
        step_after = r.held_until;
        atomic_store(&step_reads, reads);
        atomic_store(&step_armed, 1);
        listing during = get(seats_10, viewer.token, NULL);
        atomic_store(&step_armed, 0);
        cr_assert_eq(during.status, 200, "%s", during.body);

        clock_set(r.held_until);
        listing after = get(seats_10, viewer.token, during.etag);
        cr_assert(after.status == 200 || after.status == 304);
        const char *shown = after.status == 200 ? after.body : during.body;
        cr_assert(lists_seat(shown, seat),
                  "step after %d reads: seat %lld ran out but is still listed as held", reads,
                  (long long)seat);
        listing_free(&during);
        listing_free(&after);
    }
}

/* Another handle on the same store stands for another concertd process:
 * its hold must show at once through this one's cache (shared stores). */
Test(list_routes, a_change_made_by_another_process_is_seen_at_once, .init = open_api,
     .fini = close_api)
{
    concert_options opts = test_options();
    concert_db *other = store_open_again(&opts);
    if (other == NULL) {
        cr_skip_test("the %s store is not shared between handles", store_kind());
        return;
    }
    concert_token_info viewer;
    issue_active(3, &viewer);
    listing before = get(seats_10, viewer.token, NULL);
    cr_assert(lists_seat(before.body, 20));

    concert_token_info buyer;
    expect_ok(concert_queue_issue(&buyer, other, 1));
    cr_assert_eq(buyer.state, CONCERT_TOKEN_ACTIVE);
    concert_reservation r;
    expect_ok(concert_reserve_seat(&r, other, buyer.token, 10, 20));

    listing after = get(seats_10, viewer.token, before.etag);
    cr_assert_eq(after.status, 200);
    cr_assert(!lists_seat(after.body, 20));
    cr_assert_str_neq(after.etag, before.etag);

    /* Its expiry too, with no write anywhere. */
    clock_set(r.held_until);
    listing expired = get(seats_10, viewer.token, after.etag);
    cr_assert_eq(expired.status, 200);
    cr_assert(lists_seat(expired.body, 20));

    concert_db_close(other);
    listing_free(&before);
    listing_free(&after);
    listing_free(&expired);
}

/* ---- the seat map (issue 13): the same cache, tag and 304 rules ---- */

static const char seatmap_10[] = "/api/v1/schedules/10/seatmap";

/* Seat number's object in a seat map body: its status ("" when absent) and
 * whether it has held_until. */
static void map_seat(const char *body, int64_t number, char *status, size_t size, int *has_until)
{
    json_object *doc = json_tokener_parse(body);
    cr_assert_not_null(doc, "not JSON: %s", body);
    json_object *seats = NULL;
    cr_assert(json_object_object_get_ex(doc, "seats", &seats));
    status[0] = '\0';
    *has_until = 0;
    for (size_t i = 0; i < json_object_array_length(seats); i++) {
        json_object *seat = json_object_array_get_idx(seats, i), *n = NULL, *st = NULL;
        cr_assert(json_object_object_get_ex(seat, "number", &n));
        cr_assert_eq(json_object_get_int64(n), (int64_t)i + 1, "seats in number order");
        if (json_object_get_int64(n) != number)
            continue;
        cr_assert(json_object_object_get_ex(seat, "status", &st));
        snprintf(status, size, "%s", json_object_get_string(st));
        *has_until = json_object_object_get_ex(seat, "held_until", NULL);
    }
    json_object_put(doc);
}

#define expect_map_seat(body, number, want_status, want_until)                                     \
    do {                                                                                           \
        char st_[16];                                                                              \
        int until_;                                                                                \
        map_seat((body), (number), st_, sizeof st_, &until_);                                      \
        cr_assert_str_eq(st_, (want_status), "seat %d", (int)(number));                            \
        cr_assert_eq(until_, (want_until), "seat %d held_until", (int)(number));                   \
    } while (0)

Test(seatmap_route, carries_a_stable_etag_of_its_own_and_304s_on_it, .init = open_api,
     .fini = close_api)
{
    concert_token_info t;
    issue_active(1, &t);
    listing first = get(seatmap_10, t.token, NULL);
    cr_assert_eq(first.status, 200, "%s", first.body);
    cr_assert_neq(first.etag[0], '\0', "a 200 carries an ETag");
    cr_assert_str_eq(first.cache_control, "private, no-cache");
    static const char head[] = "{\"schedule_id\":10,\"seats\":[{\"number\":1,\"grade\":\"VIP\","
                               "\"price\":30000,\"status\":\"FREE\"},";
    cr_assert(strncmp(first.body, head, sizeof head - 1) == 0, "%s", first.body);

    listing again = get(seatmap_10, t.token, NULL);
    cr_assert_str_eq(again.etag, first.etag);
    cr_assert_str_eq(again.body, first.body);
    ctx.seat_maps = NULL;
    listing uncached = get(seatmap_10, t.token, NULL);
    ctx.seat_maps = seat_maps;
    cr_assert_str_eq(uncached.body, first.body, "the cache serves what is rendered");
    cr_assert_str_eq(uncached.etag, first.etag);

    listing same = get(seatmap_10, t.token, first.etag);
    cr_assert_eq(same.status, 304);
    cr_assert_str_eq(same.body, "");
    cr_assert_str_eq(same.etag, first.etag);

    /* The seat list's tag (same version) is not the map's. */
    listing seats = get(seats_10, t.token, NULL);
    cr_assert_str_neq(seats.etag, first.etag);
    listing cross = get(seatmap_10, t.token, seats.etag);
    cr_assert_eq(cross.status, 200);

    listing *all[] = { &first, &again, &uncached, &same, &seats, &cross };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        listing_free(all[i]);
}

Test(seatmap_route, shows_holds_sales_releases_and_expiry, .init = open_api, .fini = close_api)
{
    concert_token_info buyer, viewer;
    issue_active(1, &buyer);
    issue_active(3, &viewer);
    listing before = get(seatmap_10, viewer.token, NULL);
    expect_map_seat(before.body, 12, "FREE", 0);

    const int64_t rid = post_hold(buyer.token, 10, 12, 201);
    listing held = get(seatmap_10, viewer.token, before.etag);
    cr_assert_eq(held.status, 200, "a hold changes the map's tag");
    cr_assert_str_neq(held.etag, before.etag);
    expect_map_seat(held.body, 12, "HELD", 1);
    expect_map_seat(held.body, 13, "FREE", 0);

    char path[64];
    snprintf(path, sizeof path, "/api/v1/reservations/%lld", (long long)rid);
    api_response resp;
    call(&resp, "DELETE", path, buyer.token, NULL, NULL);
    cr_assert_eq(resp.status, 204);
    api_response_release(&resp);
    listing released = get(seatmap_10, viewer.token, held.etag);
    cr_assert_eq(released.status, 200);
    expect_map_seat(released.body, 12, "FREE", 0);

    const int64_t paid = post_hold(buyer.token, 10, 13, 201);
    char pay[64];
    snprintf(pay, sizeof pay, "{\"reservation_id\":%lld}", (long long)paid);
    call(&resp, "POST", "/api/v1/payments", buyer.token, NULL, pay);
    cr_assert_eq(resp.status, 201);
    api_response_release(&resp);
    listing sold = get(seatmap_10, viewer.token, released.etag);
    cr_assert_eq(sold.status, 200);
    expect_map_seat(sold.body, 13, "SOLD", 0);

    concert_token_info late;
    issue_active(4, &late);
    concert_reservation r;
    expect_ok(concert_reserve_seat(&r, db, late.token, 10, 14));
    listing live = get(seatmap_10, viewer.token, NULL);
    expect_map_seat(live.body, 14, "HELD", 1);
    clock_set(r.held_until - 1);
    listing almost = get(seatmap_10, viewer.token, live.etag);
    cr_assert_eq(almost.status, 304);
    clock_set(r.held_until);
    listing expired = get(seatmap_10, viewer.token, live.etag);
    cr_assert_eq(expired.status, 200, "the hold ran out: the tag must change");
    expect_map_seat(expired.body, 14, "FREE", 0);
    expect_map_seat(expired.body, 13, "SOLD", 0);

    listing *all[] = { &before, &held, &released, &sold, &live, &almost, &expired };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        listing_free(all[i]);
}

Test(seatmap_route, refuses_what_the_seat_list_refuses_never_from_the_cache, .init = open_api,
     .fini = close_api)
{
    concert_token_info t;
    issue_active(1, &t);
    listing cached = get(seatmap_10, t.token, NULL);
    cr_assert_eq(cached.status, 200);
    static const char *const ids[] = { "999", "11", "20", "30", "0" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char map_path[64], list_path[64];
        snprintf(map_path, sizeof map_path, "/api/v1/schedules/%s/seatmap", ids[i]);
        snprintf(list_path, sizeof list_path, "/api/v1/schedules/%s/seats", ids[i]);
        listing m = get(map_path, t.token, "*"), l = get(list_path, t.token, NULL);
        cr_assert_eq(m.status, l.status, "%s: %d, the list: %d", map_path, m.status, l.status);
        cr_assert_geq(m.status, 400, "%s: %d", map_path, m.status);
        cr_assert_str_eq(m.body, l.body);
        cr_assert_str_eq(m.etag, "");
        listing_free(&m);
        listing_free(&l);
    }
    expect_ok(concert_queue_leave(db, t.token));
    listing ended = get(seatmap_10, t.token, cached.etag);
    cr_assert_eq(ended.status, 401, "%d %s", ended.status, ended.body);
    cr_assert_str_eq(ended.etag, "");
    listing_free(&ended);
    listing_free(&cached);
}
