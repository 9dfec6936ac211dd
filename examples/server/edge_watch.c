/*
 * Request deadlines (see edge_watch.h).
 *
 * One list of watched connections under one mutex; the thread scans it a
 * few times a second. A scan of 20,000 entries is a few microseconds of
 * work per tick, far cheaper than a timer per connection, and the lock is
 * never held across anything slower than shutdown(2).
 */
#include "edge_watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

/* How often deadlines are checked, at most: a deadline is enforced within
 * one tick of passing. */
#define MAX_TICK_MS 200

struct edge_conn {
    int fd;
    int64_t deadline_ms; /* monotonic; 0: none */
    int cut;             /* shut down already */
    size_t target_len;   /* edge_conn_note_target() */
    edge_conn *prev;
    edge_conn *next;
};

struct edge_watch {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running;
    int stopping;
    int64_t head_ms;
    int64_t body_ms;
    int64_t idle_ms;
    int64_t tick_ms;
    edge_conn *first;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

edge_watch *edge_watch_new(int64_t head_ms, int64_t body_ms, int64_t idle_ms)
{
    if (head_ms <= 0 || body_ms <= 0 || idle_ms < 0)
        return NULL;
    edge_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        free(w);
        return NULL;
    }
    /* Timed waits on the monotonic clock: a wall-clock step must not
     * stretch or shrink a tick. */
    const int ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                   pthread_cond_init(&w->wake, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!ok) {
        free(w);
        return NULL;
    }
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        pthread_cond_destroy(&w->wake);
        free(w);
        return NULL;
    }
    w->head_ms = head_ms;
    w->body_ms = body_ms;
    w->idle_ms = idle_ms;
    /* A fifth of the shortest allowance, within 10 ms .. MAX_TICK_MS: a
     * deadline is then enforced at most 20% late. */
    int64_t tick = (head_ms < body_ms ? head_ms : body_ms) / 5;
    if (tick > MAX_TICK_MS)
        tick = MAX_TICK_MS;
    if (tick < 10)
        tick = 10;
    w->tick_ms = tick;
    return w;
}

/* Shut down every connection whose deadline passed; lock held. */
static void cut_late(edge_watch *w, int64_t now)
{
    for (edge_conn *c = w->first; c != NULL; c = c->next) {
        if (c->cut || c->deadline_ms == 0 || now < c->deadline_ms)
            continue;
        /* Bytes the kernel holds unread mean the server is behind, not
         * the client slow: every worker was busy answering others, so no
         * one read this socket. Cutting it would blame the client for
         * the server's queue (1,000 connections on a slow store lost
         * their first request this way). Look again next tick; a
         * trickling client's byte is read at once by an idle server, so
         * it finds nothing pending and is cut. */
        int pending = 0;
        if (ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0) {
            c->deadline_ms = now + w->tick_ms;
            continue;
        }
        /* Both directions: libmicrohttpd's next read sees the end and it
         * closes the connection on its own thread. */
        (void)shutdown(c->fd, SHUT_RDWR);
        c->cut = 1;
    }
}

static void *watch_main(void *arg)
{
    edge_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        cut_late(w, now_ms());
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(w->tick_ms % 1000) * 1000000L;
        until.tv_sec += (time_t)(w->tick_ms / 1000) + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!w->stopping && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int edge_watch_start(edge_watch *w)
{
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        return -1;
    w->running = 1;
    return 0;
}

void edge_watch_stop(edge_watch *w)
{
    if (w == NULL || !w->running)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->running = 0;
}

void edge_watch_free(edge_watch *w)
{
    if (w == NULL)
        return;
    edge_watch_stop(w);
    for (edge_conn *c = w->first; c != NULL;) {
        edge_conn *next = c->next;
        free(c);
        c = next;
    }
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

edge_conn *edge_watch_open(edge_watch *w, int fd)
{
    edge_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    pthread_mutex_lock(&w->lock);
    c->deadline_ms = now_ms() + w->head_ms;
    c->next = w->first;
    if (w->first != NULL)
        w->first->prev = c;
    w->first = c;
    pthread_mutex_unlock(&w->lock);
    return c;
}

static void set_deadline(edge_watch *w, edge_conn *c, int64_t allowance_ms)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    c->deadline_ms = allowance_ms > 0 ? now_ms() + allowance_ms : 0;
    pthread_mutex_unlock(&w->lock);
}

void edge_watch_head_done(edge_watch *w, edge_conn *c)
{
    set_deadline(w, c, w->body_ms);
}

void edge_watch_answering(edge_watch *w, edge_conn *c)
{
    set_deadline(w, c, 0);
}

void edge_watch_next_request(edge_watch *w, edge_conn *c)
{
    set_deadline(w, c, w->idle_ms + w->head_ms);
}

void edge_watch_close(edge_watch *w, edge_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->first = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);
    free(c);
}

void edge_conn_note_target(edge_conn *c, size_t len)
{
    if (c != NULL)
        c->target_len = len;
}

size_t edge_conn_target_len(const edge_conn *c)
{
    return c != NULL ? c->target_len : 0;
}
