/*
 * The live-update routes (Server-Sent Events, docs/http.md): the queue
 * token's document and a schedule's seat map. Everything that can refuse a
 * request (the identity, the token's owner, the token's state, the
 * schedule) is checked here, before the stream starts, so that errors are
 * the normal JSON ones; the hub (sse_hub.h) does the rest.
 */
#include <stdio.h>

#include "errors_http.h"
#include "handlers.h"
#include "reply.h"
#include "sse_frame.h"
#include "sse_hub.h"
#include "sse_stream.h"

/* EventSource reconnects after this many ms when a stream ends. */
static const char retry_line[] = "retry: 2000\n\n";

static void reply_no_hub(api_response *resp)
{
    reply_error(resp, 503, "UNAVAILABLE", "live updates are not available; poll instead");
}

/* A stream that starts with the retry line; NULL after replying 500. */
static sse_stream *new_stream(api_call *call)
{
    sse_stream *stream = sse_stream_new();
    list_body *retry = stream != NULL ? sse_frame_text(retry_line) : NULL;
    if (retry == NULL || sse_stream_push(stream, retry) != 0) {
        list_body_unref(retry);
        sse_stream_unref(stream);
        reply_error(call->resp, 500, "INTERNAL", "internal error");
        snprintf(call->resp->detail, sizeof call->resp->detail, "out of memory for a stream");
        return NULL;
    }
    list_body_unref(retry);
    return stream;
}

/* Hand the stream to the transport (the response takes the caller's
 * reference), or reply 503. */
static void start(api_call *call, sse_stream *stream, int subscribed)
{
    if (subscribed != 0) {
        sse_stream_unref(stream);
        reply_no_hub(call->resp);
        return;
    }
    api_response *resp = call->resp;
    api_response_release(resp);
    resp->status = 200;
    resp->stream = stream;
    /* Not stored by caches or proxies: each event is news once. */
    snprintf(resp->cache_control, sizeof resp->cache_control, "no-cache");
}

void handle_queue_events(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_token_info info;
    const int rc = concert_queue_status(&info, call->ctx->db, token);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    if (call->ctx->events == NULL) {
        reply_no_hub(call->resp);
        return;
    }
    sse_stream *stream = new_stream(call);
    if (stream != NULL)
        start(call, stream, sse_hub_watch_queue(call->ctx->events, stream, token));
}

void handle_seat_events(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    /* The listing's own checks: an ACTIVE token, a bookable schedule. */
    concert_list_version version;
    const int rc = concert_seats_version(&version, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    if (call->ctx->events == NULL) {
        reply_no_hub(call->resp);
        return;
    }
    sse_stream *stream = new_stream(call);
    if (stream != NULL)
        start(call, stream,
              sse_hub_watch_seats(call->ctx->events, stream, token, call->ids[0]));
}
