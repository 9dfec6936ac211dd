/*
 * One Server-Sent Events subscriber: a queue of frames (shared, reference
 * counted list bodies, list_cache.h) between the hub thread that produces
 * them and the HTTP worker that writes them to the socket.
 *
 * The transport side never blocks: when the queue is empty the reader
 * "parks" (the transport suspends the connection) and the producer's next
 * push wakes it (the transport resumes it). Parking and waking happen under
 * the stream's lock, so a push that comes before the park is seen by the
 * reader, and a wake is never issued for a connection not parked.
 */
#ifndef CONCERTD_SSE_STREAM_H
#define CONCERTD_SSE_STREAM_H

#include <stddef.h>

#include "list_cache.h"

/* Frames kept for a subscriber that does not read; past it the stream ends
 * (the client reconnects and starts from a full document again). */
#define SSE_STREAM_MAX_QUEUED 64

typedef struct sse_stream sse_stream;

/* A new stream with one reference (the caller's); NULL when out of memory. */
sse_stream *sse_stream_new(void);
void sse_stream_ref(sse_stream *s);
/* Drop one reference; the last frees the stream and its queued frames.
 * Takes void * so that a transport can use it as a free callback. */
void sse_stream_unref(void *s);

/* ---- producer side (the hub) ---- */

/* Queue frame (the stream takes its own reference) and wake the reader.
 * Returns 0, or -1 when the stream has ended or is closed, or when its
 * queue is full (it is ended then). */
int sse_stream_push(sse_stream *s, list_body *frame);
/* No frames after those queued: the reader ends the response once it has
 * written them. Wakes the reader. Idempotent. */
void sse_stream_end(sse_stream *s);
/* Has the transport let go of it (client gone, server stopping)? */
int sse_stream_closed(sse_stream *s);

/* ---- transport side (http.c) ---- */

/* How to park and wake the reader's connection; called under the stream's
 * lock, so they must not call back into the stream. */
typedef struct sse_transport {
    void (*park)(void *ctx);
    void (*wake)(void *ctx);
    void *ctx;
} sse_transport;

/* Bind the stream to a connection before the first read. */
void sse_stream_attach(sse_stream *s, const sse_transport *transport);

#define SSE_READ_PARKED 0
#define SSE_READ_END (-1)
/* Copy up to max queued bytes into buf: their count (> 0); SSE_READ_PARKED
 * after calling park (nothing queued yet); SSE_READ_END once ended and
 * drained. */
long sse_stream_read(sse_stream *s, char *buf, size_t max);

/* The connection is gone: no more wakes, the producer sees it closed. */
void sse_stream_detach(sse_stream *s);

#endif
