/*
 * The live-update hub (issue 13) without sockets: subscriptions made
 * through api_handle() as concertd makes them, the hub driven one tick at a
 * time (sse_hub_run_once) on a store with the fake clock, and the store's
 * work counted by the library itself (concert_db_stats_get's
 * storage_calls). The claim under test: the store calls of a tick depend on
 * what is watched, not on how many watch it, and do not grow with 2,000
 * WAITING subscribers; an admission reaches every one of them in the next
 * ticks. Runs on the store CONCERT_TEST_STORE names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "api.h"
#include "harness.h"
#include "sse_estimate.h"
#include "sse_hub.h"
#include "sse_seatdiff.h"
#include "sse_stream.h"

#define WAITERS_FEW 20
#define WAITERS_MANY 2000
#define SEAT_WATCHERS_FEW 5
#define SEAT_WATCHERS_MANY 500
#define FIRST_EXTRA_USER 1000
#define MEASURED_TICKS 20
#define SCHEDULE 10

static const char *header_of(void *ctx, const char *name)
{
    return strcasecmp(name, "Authorization") == 0 ? ctx : NULL;
}

/* Subscribe through the route, as a client with "Bearer token" would. */
static sse_stream *subscribe(const api_context *api, const char *path, const char *token)
{
    char bearer[128];
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    api_request req = { .method = "GET", .path = path, .header = header_of, .header_ctx = bearer };
    api_response resp;
    api_handle(api, &req, &resp);
    cr_assert_eq(resp.status, 200, "%s: %d %.*s", path, resp.status, (int)resp.body_len,
                 resp.body ? resp.body : "");
    sse_stream *stream = api_response_take_stream(&resp);
    cr_assert_not_null(stream);
    api_response_release(&resp);
    return stream;
}

/* Everything queued on stream so far (no transport: nothing parks). */
static size_t drain(sse_stream *stream, char *buf, size_t size)
{
    size_t used = 0;
    for (;;) {
        const long n = sse_stream_read(stream, buf + used, size - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    return used;
}

static uint64_t storage_calls(void)
{
    concert_db_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.version = CONCERT_DB_STATS_VERSION;
    cr_assert_eq(concert_db_stats_get(&stats, db), 0);
    return stats.storage_calls;
}

static void tick(sse_hub *hub)
{
    clock_advance(SSE_HUB_TICK_MS);
    sse_hub_run_once(hub);
}

/* Store calls of MEASURED_TICKS ticks. */
static uint64_t calls_over_ticks(sse_hub *hub)
{
    const uint64_t before = storage_calls();
    for (int i = 0; i < MEASURED_TICKS; i++)
        tick(hub);
    return storage_calls() - before;
}

static void load_extra_users(void)
{
    static concert_catalog_user users[WAITERS_MANY];
    static char names[WAITERS_MANY][24];
    for (int i = 0; i < WAITERS_MANY; i++) {
        snprintf(names[i], sizeof names[i], "waiter %d", i);
        users[i] = (concert_catalog_user){ FIRST_EXTRA_USER + i, names[i], 0 };
    }
    concert_catalog catalog = { CONCERT_CATALOG_VERSION, users, WAITERS_MANY, NULL, 0 };
    expect_rc(concert_catalog_load(db, &catalog), 0);
}

static sse_stream *waiters[WAITERS_MANY];
static sse_stream *seat_watchers[SEAT_WATCHERS_MANY];
static char buf[1 << 16];

static void subscribe_waiters(const api_context *api, int from, int to)
{
    for (int i = from; i < to; i++) {
        concert_token_info info;
        expect_rc(concert_queue_issue(&info, db, FIRST_EXTRA_USER + i), 0);
        cr_assert_eq(info.state, CONCERT_TOKEN_WAITING);
        waiters[i] = subscribe(api, "/api/v1/queue/tokens/current/events", info.token);
    }
}

static void subscribe_seat_watchers(const api_context *api, const char *token, int from, int to)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/schedules/%d/seats/events", SCHEDULE);
    for (int i = from; i < to; i++)
        seat_watchers[i] = subscribe(api, path, token);
}

Test(sse_hub, store_calls_do_not_grow_with_subscribers, .init = setup_store, .fini = teardown_store,
     .timeout = 120)
{
    concert_options opts = test_options();
    opts.max_active = 1;
    store_open(&opts);
    standard_catalog_load();
    load_extra_users();

    sse_hub *hub = sse_hub_new(db);
    cr_assert_not_null(hub);
    const api_context api = { .db = db, .events = hub };
    concert_token_info buyer;
    issue_active(1, &buyer);

    subscribe_waiters(&api, 0, WAITERS_FEW);
    subscribe_seat_watchers(&api, buyer.token, 0, SEAT_WATCHERS_FEW);
    for (int i = 0; i < 4; i++) /* the first events, each token's first look */
        tick(hub);
    const uint64_t few = calls_over_ticks(hub);

    subscribe_waiters(&api, WAITERS_FEW, WAITERS_MANY);
    subscribe_seat_watchers(&api, buyer.token, SEAT_WATCHERS_FEW, SEAT_WATCHERS_MANY);
    for (int i = 0; i < 4; i++)
        tick(hub);
    const uint64_t many = calls_over_ticks(hub);

    sse_hub_counts counts;
    sse_hub_stats(hub, &counts);
    cr_assert_eq(counts.queue_clients, WAITERS_MANY);
    cr_assert_eq(counts.seat_clients, SEAT_WATCHERS_MANY);
    fprintf(stderr,
            "sse_hub (%s): store calls over %d ticks: %llu with %d+%d subscribers, %llu with "
            "%d+%d\n",
            store_kind(), MEASURED_TICKS, (unsigned long long)few, WAITERS_FEW, SEAT_WATCHERS_FEW,
            (unsigned long long)many, WAITERS_MANY, SEAT_WATCHERS_MANY);
    /* A call per subscriber per tick would be 40,000 more; allow a handful
     * (an ACTIVE token's recheck falls on the real clock). */
    cr_assert_leq(many, few + few / 4 + 4, "store calls grew with subscribers: %llu -> %llu",
                  (unsigned long long)few, (unsigned long long)many);

    /* Every waiter has exactly its first document; then the buyer leaves
     * and the next in line is admitted: every stream hears of it. */
    for (int i = 0; i < WAITERS_MANY; i++) {
        drain(waiters[i], buf, sizeof buf);
        cr_assert_not_null(strstr(buf, "event: queue\n"), "waiter %d: %s", i, buf);
    }
    for (int i = 0; i < SEAT_WATCHERS_MANY; i++) {
        drain(seat_watchers[i], buf, sizeof buf);
        cr_assert_not_null(strstr(buf, "event: seatmap\n"), "seat watcher %d", i);
    }
    expect_rc(concert_queue_leave(db, buyer.token), 0);
    for (int i = 0; i < 4; i++) /* the poll cache's horizon is refreshed in a tick or two */
        tick(hub);
    drain(waiters[0], buf, sizeof buf);
    cr_assert_not_null(strstr(buf, "\"status\":\"ACTIVE\""), "the first waiter: %s", buf);
    for (int i = 1; i < WAITERS_MANY; i++) {
        drain(waiters[i], buf, sizeof buf);
        char position[48];
        snprintf(position, sizeof position, "\"position\":%d,", i);
        cr_assert_not_null(strstr(buf, position), "waiter %d moved up: %s", i, buf);
    }
    /* The buyer's token ended: the seat streams end with an error event. */
    for (int i = 0; i < 8; i++)
        tick(hub);
    for (int i = 0; i < SEAT_WATCHERS_MANY; i++) {
        drain(seat_watchers[i], buf, sizeof buf);
        cr_assert_not_null(strstr(buf, "event: error\n"), "seat watcher %d: %s", i, buf);
        cr_assert_eq(sse_stream_read(seat_watchers[i], buf, sizeof buf), SSE_READ_END);
    }
    sse_hub_free(hub);
    for (int i = 0; i < WAITERS_MANY; i++)
        sse_stream_unref(waiters[i]);
    for (int i = 0; i < SEAT_WATCHERS_MANY; i++)
        sse_stream_unref(seat_watchers[i]);
}

Test(sse_hub, clients_that_leave_are_forgotten_and_a_stop_ends_every_stream, .init = setup_store,
     .fini = teardown_store)
{
    concert_options opts = test_options();
    opts.max_active = 1;
    store_open(&opts);
    standard_catalog_load();
    sse_hub *hub = sse_hub_new(db);
    cr_assert_not_null(hub);
    const api_context api = { .db = db, .events = hub };
    concert_token_info buyer, waiter;
    issue_active(1, &buyer);
    expect_rc(concert_queue_issue(&waiter, db, 2), 0);
    sse_stream *q[3], *seats[2];
    for (int i = 0; i < 3; i++)
        q[i] = subscribe(&api, "/api/v1/queue/tokens/current/events", waiter.token);
    for (int i = 0; i < 2; i++)
        seats[i] = subscribe(&api, "/api/v1/schedules/10/seats/events", buyer.token);
    tick(hub);
    sse_hub_counts counts;
    sse_hub_stats(hub, &counts);
    cr_assert_eq(counts.queue_clients, 3);
    cr_assert_eq(counts.seat_clients, 2);
    cr_assert_eq(counts.events_sent, 5, "one first event each");
    /* Two clients go away (the transport lets go): the next tick forgets them. */
    sse_stream_detach(q[0]);
    sse_stream_detach(seats[0]);
    tick(hub);
    sse_hub_stats(hub, &counts);
    cr_assert_eq(counts.queue_clients, 2);
    cr_assert_eq(counts.seat_clients, 1);
    /* A stop ends the others after what they have queued, and refuses more. */
    sse_hub_stop(hub);
    sse_hub_stats(hub, &counts);
    cr_assert_eq(counts.queue_clients + counts.seat_clients, 0);
    for (int i = 1; i < 3; i++) {
        drain(q[i], buf, sizeof buf);
        cr_assert_not_null(strstr(buf, "retry: 2000\n\nevent: queue\n"), "%s", buf);
        cr_assert_eq(sse_stream_read(q[i], buf, sizeof buf), SSE_READ_END);
    }
    drain(seats[1], buf, sizeof buf);
    cr_assert_eq(sse_stream_read(seats[1], buf, sizeof buf), SSE_READ_END);
    sse_stream *late = sse_stream_new();
    cr_assert_eq(sse_hub_watch_queue(hub, late, waiter.token), -1);
    sse_stream_unref(late);
    sse_hub_free(hub);
    for (int i = 0; i < 3; i++)
        sse_stream_unref(q[i]);
    for (int i = 0; i < 2; i++)
        sse_stream_unref(seats[i]);
}

static int parks, wakes;
static void count_park(void *ctx)
{
    (void)ctx;
    parks++;
}
static void count_wake(void *ctx)
{
    (void)ctx;
    wakes++;
}

static list_body *frame_of(const char *text)
{
    char *data = strdup(text);
    cr_assert_not_null(data);
    list_body *body = list_body_new(data, strlen(text));
    cr_assert_not_null(body);
    return body;
}

Test(sse_stream, a_push_before_the_park_is_read_and_a_wake_only_follows_a_park)
{
    sse_stream *s = sse_stream_new();
    cr_assert_not_null(s);
    parks = wakes = 0;
    const sse_transport t = { count_park, count_wake, NULL };
    sse_stream_attach(s, &t);
    list_body *a = frame_of("event: a\ndata: 1\n\n");
    /* Pushed before the reader ever looked: no wake (nothing parked), and
     * the reader gets it without parking. */
    cr_assert_eq(sse_stream_push(s, a), 0);
    cr_assert_eq(wakes, 0);
    char out[64];
    cr_assert_eq(sse_stream_read(s, out, 5), 5, "a short buffer takes part of a frame");
    cr_assert_eq(sse_stream_read(s, out + 5, sizeof out - 5),
                 (long)strlen("event: a\ndata: 1\n\n") - 5);
    cr_assert_eq(parks, 0);
    /* Now empty: it parks; the next push wakes it once. */
    cr_assert_eq(sse_stream_read(s, out, sizeof out), SSE_READ_PARKED);
    cr_assert_eq(parks, 1);
    cr_assert_eq(sse_stream_push(s, a), 0);
    cr_assert_eq(sse_stream_push(s, a), 0);
    cr_assert_eq(wakes, 1, "one wake per park");
    /* Ended: what is queued is still read, then the end. */
    sse_stream_end(s);
    cr_assert_eq(sse_stream_push(s, a), -1, "nothing after the end");
    const long frame_len = (long)strlen("event: a\ndata: 1\n\n");
    cr_assert_eq(sse_stream_read(s, out, sizeof out), 2 * frame_len, "one read, both frames");
    cr_assert_eq(sse_stream_read(s, out, sizeof out), SSE_READ_END);
    list_body_unref(a);
    sse_stream_unref(s);
}

Test(sse_stream, a_reader_that_falls_behind_is_ended_and_a_detached_one_is_closed)
{
    sse_stream *s = sse_stream_new();
    list_body *a = frame_of(": x\n\n");
    for (int i = 0; i < SSE_STREAM_MAX_QUEUED; i++)
        cr_assert_eq(sse_stream_push(s, a), 0);
    cr_assert_eq(sse_stream_push(s, a), -1, "a full queue ends the stream");
    char out[5];
    for (int i = 0; i < SSE_STREAM_MAX_QUEUED; i++)
        cr_assert_eq(sse_stream_read(s, out, sizeof out), 5);
    cr_assert_eq(sse_stream_read(s, out, sizeof out), SSE_READ_END);
    sse_stream_unref(s);

    s = sse_stream_new();
    cr_assert_eq(sse_stream_closed(s), 0);
    sse_stream_detach(s);
    cr_assert_eq(sse_stream_closed(s), 1);
    cr_assert_eq(sse_stream_push(s, a), -1);
    list_body_unref(a);
    sse_stream_unref(s);
}

Test(sse_seatdiff, lists_the_seats_that_changed_in_the_maps_own_shape)
{
    sse_seats before, after, same;
    cr_assert_eq(sse_seats_parse(&before, "{\"schedule_id\":10,\"seats\":["
                                          "{\"number\":2,\"grade\":\"A/B\",\"status\":\"FREE\"},"
                                          "{\"number\":1,\"grade\":\"VIP\",\"status\":\"FREE\"},"
                                          "{\"number\":3,\"grade\":\"R\",\"status\":\"FREE\"}]}"),
                 0);
    cr_assert_eq(before.count, 3);
    cr_assert_eq(before.items[0].number, 1, "by number, whatever the document's order");
    cr_assert_eq(sse_seats_parse(&after, "{\"schedule_id\":10,\"seats\":["
                                         "{\"number\":1,\"grade\":\"VIP\",\"status\":\"FREE\"},"
                                         "{\"number\":2,\"grade\":\"A/B\",\"status\":\"HELD\","
                                         "\"held_until\":\"2027-01-15T08:05:00Z\"},"
                                         "{\"number\":4,\"grade\":\"R\",\"status\":\"SOLD\"}]}"),
                 0);
    list_body *diff = sse_seats_diff_frame(10, "\"m1\"", &before, &after);
    cr_assert_not_null(diff);
    const char *expected = "event: seats\nid: \"m1\"\ndata: {\"schedule_id\":10,\"seats\":["
                           "{\"number\":2,\"grade\":\"A/"
                           "B\",\"status\":\"HELD\",\"held_until\":\"2027-01-15T08:05:00Z\"},"
                           "{\"number\":3,\"status\":\"UNKNOWN\"},"
                           "{\"number\":4,\"grade\":\"R\",\"status\":\"SOLD\"}]}\n\n";
    cr_assert_eq(list_body_len(diff), strlen(expected));
    cr_assert_eq(memcmp(list_body_data(diff), expected, strlen(expected)), 0, "%.*s",
                 (int)list_body_len(diff), list_body_data(diff));
    list_body_unref(diff);
    cr_assert_eq(sse_seats_parse(&same,
                                 "{\"seats\":[{\"number\":1,\"grade\":\"VIP\",\"status\":\"FREE\"},"
                                 "{\"number\":2,\"grade\":\"A/B\",\"status\":\"HELD\","
                                 "\"held_until\":\"2027-01-15T08:05:00Z\"},"
                                 "{\"number\":4,\"grade\":\"R\",\"status\":\"SOLD\"}]}"),
                 0);
    cr_assert_null(sse_seats_diff_frame(10, "\"m2\"", &after, &same), "nothing changed: no event");
    sse_seats bad;
    cr_assert_eq(sse_seats_parse(&bad, "{\"seats\":3}"), -1);
    cr_assert_eq(sse_seats_parse(&bad, "not json"), -1);
    cr_assert_eq(bad.count, 0);
    sse_seats_free(&before);
    sse_seats_free(&after);
    sse_seats_free(&same);
}

/* A waiting buyer's document goes out again for any change but a small move
 * of the estimate alone (sse_estimate.h). */
Test(sse_estimate, only_a_small_move_of_the_estimate_alone_is_held_back)
{
    concert_token_info sent;
    memset(&sent, 0, sizeof sent);
    sent.user_id = 7;
    sent.state = CONCERT_TOKEN_WAITING;
    sent.position = 40;
    sent.eta_ms = 120000;
    sent.expires_at = 1000000;
    concert_token_info now = sent;

    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 0, "nothing changed");
    now.eta_ms = 120000 + 11999; /* under a tenth of 120 s */
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 0);
    now.eta_ms = 120000 - 12000; /* a tenth */
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 1);

    /* Short waits: the step is 5 s, not a tenth. */
    sent.eta_ms = 8000;
    now.eta_ms = 12999;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 0);
    now.eta_ms = 13000;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 1);

    /* Anything else goes out at once, whatever the estimate did. */
    now = sent;
    now.position = 39;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 1, "place");
    now = sent;
    now.state = CONCERT_TOKEN_ACTIVE;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 1, "admitted");
    now = sent;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "PAUSED"), 1, "queue state");
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, NULL), 1, "state unknown");
    now.expires_at += 75000;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 1, "idle deadline");
    now = sent;
    now.eta_ms = -1;
    cr_assert_eq(sse_queue_doc_worth_sending(&sent, "OPEN", &now, "OPEN"), 1, "now unknown");
}
