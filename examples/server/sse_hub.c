/*
 * The live-update hub (see sse_hub.h).
 *
 * A pass: take the new subscriptions, drop the streams whose clients went
 * away, check every watched token and schedule that is due, then hand each
 * subscriber the frames meant for it. A new subscription wakes the thread
 * for a short pass that checks only what nobody watched before, so the
 * first event goes out at once rather than at the next tick.
 */
#include "sse_hub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etag.h"
#include "json_out.h"
#include "queue_json.h"
#include "sse_estimate.h"
#include "sse_frame.h"
#include "sse_seatdiff.h"
#include "sse_seatmap.h"

typedef struct token_watch {
    char token[CONCERT_TOKEN_SIZE];
    size_t queue_subs;
    size_t seat_subs;
    int fresh;             /* not checked yet */
    int64_t next_check_ms; /* seat streams only: when to check again
                               (the db's clock) */
    list_body *frame;      /* the latest queue event; NULL before the first */
    int frame_changed;     /* frame is new in this pass */
    int active;
    list_body *error; /* the token ended: its streams end with this */
    char *doc;        /* the document in frame, to compare */
    size_t doc_len;
    int have_sent; /* sent and sent_queue_state describe frame */
    concert_token_info sent;
    const char *sent_queue_state; /* static (concert_queue_state_name) */
} token_watch;

typedef struct schedule_watch {
    int64_t id;
    size_t subs;
    int fresh;
    char token[CONCERT_TOKEN_SIZE]; /* a subscriber's token to read with */
    int have_version;
    concert_list_version version;
    list_body *map;   /* the seatmap event under version */
    list_body *diff;  /* the seats event of this pass, or NULL */
    list_body *error; /* the schedule cannot be watched any more */
    sse_seats seats;  /* the seats of map, for the next diff */
} schedule_watch;

typedef struct subscription {
    sse_stream *stream;
    token_watch *tw;
    schedule_watch *sw; /* NULL: a queue stream */
    int started;        /* its first event was queued */
} subscription;

typedef struct pending_sub {
    sse_stream *stream;
    char token[CONCERT_TOKEN_SIZE];
    int seats;
    int64_t schedule_id;
} pending_sub;

struct sse_hub {
    concert_db *db;
    pthread_mutex_t lock; /* guards pending and stopping */
    pthread_cond_t cond;
    pending_sub *pending;
    size_t pending_count, pending_cap;
    int stopping;
    int thread_running;
    pthread_t thread;
    /* The hub thread's own (or sse_hub_run_once()'s caller's). */
    subscription *subs;
    size_t sub_count, sub_cap;
    token_watch **tokens;
    size_t token_count, token_cap;
    schedule_watch **schedules;
    size_t schedule_count, schedule_cap;
    int64_t last_keepalive_ms;
    list_body *keepalive;
    atomic_uint_fast64_t queue_clients;
    atomic_uint_fast64_t seat_clients;
    atomic_uint_fast64_t events_sent;
};

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Grow *items (of size each) to hold one more; 0 or -1. */
static int grow(void **items, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return 0;
    const size_t wanted = *cap ? *cap * 2 : 16;
    void *bigger = realloc(*items, wanted * size);
    if (bigger == NULL)
        return -1;
    *items = bigger;
    *cap = wanted;
    return 0;
}

/* Codes after which a token will never be good again. */
static int token_gone(int rc)
{
    return rc == CONCERT_ETOKEN_INVALID || rc == CONCERT_ETOKEN_NOT_ACTIVE;
}

/* Codes worth trying again next tick (the store's trouble). */
static int transient(int rc)
{
    return rc == CONCERT_ESTORAGE || rc == CONCERT_EBUSY || rc == CONCERT_ENOMEM;
}

sse_hub *sse_hub_new(concert_db *db)
{
    sse_hub *hub = calloc(1, sizeof *hub);
    if (hub == NULL)
        return NULL;
    hub->keepalive = sse_frame_text(": keepalive\n\n");
    if (hub->keepalive == NULL || pthread_mutex_init(&hub->lock, NULL) != 0) {
        list_body_unref(hub->keepalive);
        free(hub);
        return NULL;
    }
    if (pthread_cond_init(&hub->cond, NULL) != 0) {
        pthread_mutex_destroy(&hub->lock);
        list_body_unref(hub->keepalive);
        free(hub);
        return NULL;
    }
    hub->db = db;
    hub->last_keepalive_ms = monotonic_ms();
    atomic_init(&hub->queue_clients, 0);
    atomic_init(&hub->seat_clients, 0);
    atomic_init(&hub->events_sent, 0);
    return hub;
}

static int watch(sse_hub *hub, sse_stream *stream, const char *token, int seats,
                 int64_t schedule_id)
{
    const size_t len = strlen(token);
    if (len >= CONCERT_TOKEN_SIZE)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    if (!hub->stopping && grow((void **)&hub->pending, &hub->pending_cap, hub->pending_count,
                               sizeof *hub->pending) == 0) {
        pending_sub *p = &hub->pending[hub->pending_count++];
        memset(p, 0, sizeof *p);
        sse_stream_ref(stream);
        p->stream = stream;
        memcpy(p->token, token, len + 1);
        p->seats = seats;
        p->schedule_id = schedule_id;
        pthread_cond_signal(&hub->cond);
        rc = 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int sse_hub_watch_queue(sse_hub *hub, sse_stream *stream, const char *token)
{
    return watch(hub, stream, token, 0, 0);
}

int sse_hub_watch_seats(sse_hub *hub, sse_stream *stream, const char *token, int64_t schedule_id)
{
    return watch(hub, stream, token, 1, schedule_id);
}

static token_watch *find_token(sse_hub *hub, const char *token)
{
    for (size_t i = 0; i < hub->token_count; i++)
        if (strcmp(hub->tokens[i]->token, token) == 0)
            return hub->tokens[i];
    if (grow((void **)&hub->tokens, &hub->token_cap, hub->token_count, sizeof *hub->tokens) != 0)
        return NULL;
    token_watch *tw = calloc(1, sizeof *tw);
    if (tw == NULL)
        return NULL;
    memcpy(tw->token, token, strlen(token) + 1);
    tw->fresh = 1;
    hub->tokens[hub->token_count++] = tw;
    return tw;
}

static schedule_watch *find_schedule(sse_hub *hub, int64_t id, const char *token)
{
    for (size_t i = 0; i < hub->schedule_count; i++)
        if (hub->schedules[i]->id == id)
            return hub->schedules[i];
    if (grow((void **)&hub->schedules, &hub->schedule_cap, hub->schedule_count,
             sizeof *hub->schedules) != 0)
        return NULL;
    schedule_watch *sw = calloc(1, sizeof *sw);
    if (sw == NULL)
        return NULL;
    sw->id = id;
    sw->fresh = 1;
    memcpy(sw->token, token, strlen(token) + 1);
    hub->schedules[hub->schedule_count++] = sw;
    return sw;
}

static void free_token_watch(token_watch *tw)
{
    list_body_unref(tw->frame);
    list_body_unref(tw->error);
    free(tw->doc);
    free(tw);
}

static void free_schedule_watch(schedule_watch *sw)
{
    list_body_unref(sw->map);
    list_body_unref(sw->diff);
    list_body_unref(sw->error);
    sse_seats_free(&sw->seats);
    free(sw);
}

/* End a subscription: the stream gets what is queued, then closes. */
static void drop_sub(sse_hub *hub, subscription *sub)
{
    sse_stream_end(sub->stream);
    sse_stream_unref(sub->stream);
    if (sub->sw != NULL) {
        sub->sw->subs--;
        sub->tw->seat_subs--;
        atomic_fetch_sub(&hub->seat_clients, 1);
    } else {
        sub->tw->queue_subs--;
        atomic_fetch_sub(&hub->queue_clients, 1);
    }
    sub->stream = NULL;
}

/* Move the new subscriptions in; 1 if there were any. */
static int adopt_pending(sse_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    pending_sub *pending = hub->pending;
    const size_t count = hub->pending_count;
    hub->pending = NULL;
    hub->pending_count = hub->pending_cap = 0;
    pthread_mutex_unlock(&hub->lock);
    for (size_t i = 0; i < count; i++) {
        pending_sub *p = &pending[i];
        token_watch *tw = find_token(hub, p->token);
        schedule_watch *sw = p->seats ? find_schedule(hub, p->schedule_id, p->token) : NULL;
        if (tw == NULL || (p->seats && sw == NULL) ||
            grow((void **)&hub->subs, &hub->sub_cap, hub->sub_count, sizeof *hub->subs) != 0) {
            sse_stream_end(p->stream); /* out of memory: the client tries again */
            sse_stream_unref(p->stream);
            continue;
        }
        subscription *sub = &hub->subs[hub->sub_count++];
        sub->stream = p->stream;
        sub->tw = tw;
        sub->sw = sw;
        sub->started = 0;
        if (sw != NULL) {
            sw->subs++;
            tw->seat_subs++;
            atomic_fetch_add(&hub->seat_clients, 1);
        } else {
            tw->queue_subs++;
            atomic_fetch_add(&hub->queue_clients, 1);
        }
    }
    free(pending);
    return count > 0;
}

/* Forget subscriptions whose clients left, and watches nobody uses. */
static void sweep(sse_hub *hub)
{
    size_t kept = 0;
    for (size_t i = 0; i < hub->sub_count; i++) {
        subscription *sub = &hub->subs[i];
        if (sub->stream != NULL && sse_stream_closed(sub->stream))
            drop_sub(hub, sub);
        if (sub->stream != NULL)
            hub->subs[kept++] = *sub;
    }
    hub->sub_count = kept;
    kept = 0;
    for (size_t i = 0; i < hub->token_count; i++) {
        token_watch *tw = hub->tokens[i];
        if (tw->queue_subs + tw->seat_subs == 0)
            free_token_watch(tw);
        else
            hub->tokens[kept++] = tw;
    }
    hub->token_count = kept;
    kept = 0;
    for (size_t i = 0; i < hub->schedule_count; i++) {
        schedule_watch *sw = hub->schedules[i];
        if (sw->subs == 0)
            free_schedule_watch(sw);
        else
            hub->schedules[kept++] = sw;
    }
    hub->schedule_count = kept;
}

static void check_token(sse_hub *hub, token_watch *tw, const char *queue_state, int64_t now)
{
    concert_token_info info;
    const int rc = concert_queue_status_get(&info, hub->db, tw->token);
    if (rc < 0) {
        if (!transient(rc) && tw->error == NULL)
            tw->error = sse_frame_error(rc);
        tw->next_check_ms = now + SSE_HUB_TICK_MS; /* transient: try again */
        return;
    }
    tw->active = info.state == CONCERT_TOKEN_ACTIVE;
    tw->next_check_ms = now + SSE_HUB_ACTIVE_RECHECK_MS;
    if (tw->queue_subs == 0 ||
        (tw->have_sent &&
         !sse_queue_doc_worth_sending(&tw->sent, tw->sent_queue_state, &info, queue_state)))
        return;
    json_out w;
    json_out_init(&w);
    queue_json_token(&w, &info, queue_state);
    char *doc = NULL;
    size_t len = 0;
    if (json_out_finish(&w, &doc, &len) != 0)
        return;
    if (tw->doc != NULL && len == tw->doc_len && memcmp(doc, tw->doc, len) == 0) {
        free(doc);
        return;
    }
    list_body *frame = sse_frame_new("queue", NULL, doc, len);
    if (frame == NULL) {
        free(doc);
        return;
    }
    list_body_unref(tw->frame);
    free(tw->doc);
    tw->frame = frame;
    tw->doc = doc;
    tw->doc_len = len;
    tw->frame_changed = 1;
    tw->sent = info;
    tw->sent_queue_state = queue_state;
    tw->have_sent = 1;
}

/* Point sw at another subscriber's token after its own stopped working. */
static int other_token(sse_hub *hub, schedule_watch *sw)
{
    for (size_t i = 0; i < hub->sub_count; i++) {
        const subscription *sub = &hub->subs[i];
        if (sub->sw == sw && sub->tw->error == NULL && strcmp(sub->tw->token, sw->token) != 0) {
            memcpy(sw->token, sub->tw->token, sizeof sw->token);
            return 0;
        }
    }
    return -1;
}

/* A token the store refused: have its watch checked at the next tick, so
 * its streams hear of it then rather than at the next recheck. */
static void recheck_soon(sse_hub *hub, const char *token)
{
    for (size_t i = 0; i < hub->token_count; i++)
        if (strcmp(hub->tokens[i]->token, token) == 0)
            hub->tokens[i]->next_check_ms = 0;
}

static void check_schedule(sse_hub *hub, schedule_watch *sw)
{
    concert_list_version version;
    int rc = concert_seat_list_version_get(&version, hub->db, sw->token, sw->id);
    for (int tries = 0; rc < 0 && token_gone(rc) && tries < 3; tries++) {
        recheck_soon(hub, sw->token);
        if (other_token(hub, sw) != 0)
            break;
        rc = concert_seat_list_version_get(&version, hub->db, sw->token, sw->id);
    }
    if (rc < 0) {
        /* A gone token is each stream's own business (its token watch);
         * anything else but the store's trouble ends the schedule's. */
        if (!transient(rc) && !token_gone(rc) && sw->error == NULL)
            sw->error = sse_frame_error(rc);
        return;
    }
    if (sw->have_version && memcmp(&version, &sw->version, sizeof version) == 0)
        return;
    json_out w;
    json_out_init(&w);
    rc = sse_seatmap_render(&w, hub->db, sw->token, sw->id);
    if (rc < 0) {
        json_out_discard(&w);
        if (!transient(rc) && !token_gone(rc) && sw->error == NULL)
            sw->error = sse_frame_error(rc);
        return;
    }
    char *doc = NULL;
    size_t len = 0;
    if (json_out_finish(&w, &doc, &len) != 0)
        return;
    sse_seats seats;
    char etag[ETAG_SIZE];
    etag_format(etag, ETAG_SEATMAP, sw->id, &version); /* the /seatmap route's tag */
    list_body *map =
        sse_seats_parse(&seats, doc) == 0 ? sse_frame_new("seatmap", etag, doc, len) : NULL;
    free(doc);
    if (map == NULL) {
        sse_seats_free(&seats);
        return;
    }
    if (sw->map != NULL)
        sw->diff = sse_seats_diff_frame(sw->id, etag, &sw->seats, &seats);
    list_body_unref(sw->map);
    sse_seats_free(&sw->seats);
    sw->map = map;
    sw->seats = seats;
    sw->version = version;
    sw->have_version = 1;
}

static int send_frame(sse_hub *hub, subscription *sub, list_body *frame, int counted)
{
    if (sse_stream_push(sub->stream, frame) != 0)
        return -1;
    if (counted)
        atomic_fetch_add_explicit(&hub->events_sent, 1, memory_order_relaxed);
    return 0;
}

/* Queue what sub should get from this pass; 1 when it is finished. */
static int deliver(sse_hub *hub, subscription *sub)
{
    token_watch *tw = sub->tw;
    schedule_watch *sw = sub->sw;
    if (tw->error != NULL) {
        send_frame(hub, sub, tw->error, 1);
        return 1;
    }
    if (sw == NULL) {
        if (tw->frame == NULL || (sub->started && !tw->frame_changed))
            return 0;
        sub->started = 1;
        return send_frame(hub, sub, tw->frame, 1) != 0 || tw->active;
    }
    if (sw->error != NULL) {
        send_frame(hub, sub, sw->error, 1);
        return 1;
    }
    if (!sub->started) {
        if (sw->map == NULL)
            return 0;
        sub->started = 1;
        return send_frame(hub, sub, sw->map, 1) != 0;
    }
    return sw->diff != NULL && send_frame(hub, sub, sw->diff, 1) != 0;
}

/* One pass; full: every watch is due, else only the new ones. */
static void run_pass(sse_hub *hub, int full)
{
    adopt_pending(hub);
    sweep(hub);
    const int64_t now = concert_db_now(hub->db);
    concert_queue_stats stats;
    const char *queue_state = NULL;
    int have_state = 0;
    for (size_t i = 0; i < hub->token_count; i++) {
        token_watch *tw = hub->tokens[i];
        const int due = tw->fresh || (full && (tw->queue_subs > 0 || now >= tw->next_check_ms));
        if (!due || tw->error != NULL)
            continue;
        if (!have_state) { /* once per pass, from the db's cached view */
            have_state = 1;
            if (concert_queue_stats_get(&stats, hub->db) == 0)
                queue_state = concert_queue_state_name(stats.state);
        }
        check_token(hub, tw, queue_state, now);
    }
    for (size_t i = 0; i < hub->schedule_count; i++) {
        schedule_watch *sw = hub->schedules[i];
        if ((full || sw->fresh) && sw->error == NULL)
            check_schedule(hub, sw);
    }
    const int64_t wall = monotonic_ms();
    const int keepalive = full && wall - hub->last_keepalive_ms >= SSE_HUB_KEEPALIVE_MS;
    if (keepalive)
        hub->last_keepalive_ms = wall;
    for (size_t i = 0; i < hub->sub_count; i++) {
        subscription *sub = &hub->subs[i];
        if (deliver(hub, sub))
            drop_sub(hub, sub);
        else if (keepalive && sse_stream_push(sub->stream, hub->keepalive) != 0)
            drop_sub(hub, sub);
    }
    for (size_t i = 0; i < hub->token_count; i++) {
        hub->tokens[i]->fresh = 0;
        hub->tokens[i]->frame_changed = 0;
    }
    for (size_t i = 0; i < hub->schedule_count; i++) {
        schedule_watch *sw = hub->schedules[i];
        sw->fresh = 0;
        list_body_unref(sw->diff);
        sw->diff = NULL;
    }
    sweep(hub);
}

void sse_hub_run_once(sse_hub *hub)
{
    run_pass(hub, 1);
}

static void *hub_main(void *arg)
{
    sse_hub *hub = arg;
    int64_t next_tick = monotonic_ms() + SSE_HUB_TICK_MS;
    pthread_mutex_lock(&hub->lock);
    while (!hub->stopping) {
        const int64_t now = monotonic_ms();
        if (now >= next_tick || hub->pending_count > 0) {
            const int full = now >= next_tick;
            if (full)
                next_tick = now + SSE_HUB_TICK_MS;
            pthread_mutex_unlock(&hub->lock);
            run_pass(hub, full);
            pthread_mutex_lock(&hub->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        const int64_t wait_ms = next_tick - now;
        until.tv_sec += (time_t)(wait_ms / 1000);
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&hub->cond, &hub->lock, &until);
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

int sse_hub_start(sse_hub *hub)
{
    pthread_condattr_t attr;
    /* The tick waits on the monotonic clock: a wall-clock step must not
     * stall or rush it. */
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&hub->cond);
    const int rc = pthread_cond_init(&hub->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0 || pthread_create(&hub->thread, NULL, hub_main, hub) != 0)
        return -1;
    hub->thread_running = 1;
    return 0;
}

void sse_hub_stop(sse_hub *hub)
{
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->stopping = 1;
    pthread_cond_signal(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
    if (hub->thread_running) {
        pthread_join(hub->thread, NULL);
        hub->thread_running = 0;
    }
    adopt_pending(hub);
    for (size_t i = 0; i < hub->sub_count; i++)
        drop_sub(hub, &hub->subs[i]);
    hub->sub_count = 0;
    sweep(hub);
}

void sse_hub_free(sse_hub *hub)
{
    if (hub == NULL)
        return;
    sse_hub_stop(hub);
    free(hub->subs);
    free(hub->tokens);
    free(hub->schedules);
    free(hub->pending);
    list_body_unref(hub->keepalive);
    pthread_cond_destroy(&hub->cond);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

void sse_hub_stats(const sse_hub *hub, sse_hub_counts *out)
{
    memset(out, 0, sizeof *out);
    if (hub == NULL)
        return;
    sse_hub *h = (sse_hub *)hub; /* atomic loads need a non-const object in C11 */
    out->queue_clients = atomic_load_explicit(&h->queue_clients, memory_order_relaxed);
    out->seat_clients = atomic_load_explicit(&h->seat_clients, memory_order_relaxed);
    out->events_sent = atomic_load_explicit(&h->events_sent, memory_order_relaxed);
}
