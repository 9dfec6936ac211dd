/*
 * A subscriber's frame queue (see sse_stream.h).
 */
#include "sse_stream.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sse_stream {
    pthread_mutex_t lock;
    atomic_int refs;
    list_body *queue[SSE_STREAM_MAX_QUEUED]; /* a ring */
    size_t head;                             /* index of the oldest frame */
    size_t count;
    size_t offset; /* bytes of the oldest frame already read */
    int ended;     /* no frames after those queued */
    int closed;    /* the transport let go */
    int parked;    /* the reader's connection waits for a wake */
    sse_transport transport;
    int attached;
    void (*on_free)(void *ctx, uint64_t arg);
    void *on_free_ctx;
    uint64_t on_free_arg;
};

sse_stream *sse_stream_new(void)
{
    sse_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    return s;
}

void sse_stream_ref(sse_stream *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sse_stream_unref(void *p)
{
    sse_stream *s = p;
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        list_body_unref(s->queue[(s->head + i) % SSE_STREAM_MAX_QUEUED]);
    if (s->on_free != NULL)
        s->on_free(s->on_free_ctx, s->on_free_arg);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void sse_stream_on_free(sse_stream *s, void (*fn)(void *ctx, uint64_t arg), void *ctx, uint64_t arg)
{
    s->on_free = fn;
    s->on_free_ctx = ctx;
    s->on_free_arg = arg;
}

/* Under the lock: let a parked reader run again. */
static void wake_locked(sse_stream *s)
{
    if (s->parked && s->attached && !s->closed) {
        s->parked = 0;
        s->transport.wake(s->transport.ctx);
    }
}

int sse_stream_push(sse_stream *s, list_body *frame)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (!s->ended && !s->closed) {
        if (s->count == SSE_STREAM_MAX_QUEUED) {
            s->ended = 1; /* a client this far behind starts again */
        } else {
            list_body_ref(frame);
            s->queue[(s->head + s->count) % SSE_STREAM_MAX_QUEUED] = frame;
            s->count++;
            rc = 0;
        }
        wake_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void sse_stream_end(sse_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->ended = 1;
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

int sse_stream_closed(sse_stream *s)
{
    pthread_mutex_lock(&s->lock);
    const int closed = s->closed;
    pthread_mutex_unlock(&s->lock);
    return closed;
}

void sse_stream_attach(sse_stream *s, const sse_transport *transport)
{
    pthread_mutex_lock(&s->lock);
    s->transport = *transport;
    s->attached = 1;
    pthread_mutex_unlock(&s->lock);
}

long sse_stream_read(sse_stream *s, char *buf, size_t max)
{
    size_t copied = 0;
    long result;
    pthread_mutex_lock(&s->lock);
    while (s->count > 0 && copied < max) {
        list_body *frame = s->queue[s->head];
        const size_t left = list_body_len(frame) - s->offset;
        const size_t n = left < max - copied ? left : max - copied;
        memcpy(buf + copied, list_body_data(frame) + s->offset, n);
        copied += n;
        s->offset += n;
        if (s->offset == list_body_len(frame)) {
            list_body_unref(frame);
            s->head = (s->head + 1) % SSE_STREAM_MAX_QUEUED;
            s->count--;
            s->offset = 0;
        }
    }
    if (copied > 0) {
        result = (long)copied;
    } else if (s->ended || s->closed) {
        result = SSE_READ_END;
    } else {
        /* Parked under the lock: a push now waits for it and wakes it. */
        s->parked = 1;
        if (s->attached)
            s->transport.park(s->transport.ctx);
        result = SSE_READ_PARKED;
    }
    pthread_mutex_unlock(&s->lock);
    return result;
}

void sse_stream_detach(sse_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    s->parked = 0;
    s->attached = 0;
    pthread_mutex_unlock(&s->lock);
}
