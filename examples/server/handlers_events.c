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
#include "stream_quota.h"

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

static void give_back(void *quota, uint64_t slot)
{
    stream_quota_give(quota, slot);
}

/* Count the stream against token's quota until it is freed: 0, or -1 after
 * replying 429 (the token holds its share of streams) or 500. */
static int take_quota(api_call *call, sse_stream *stream, const char *token)
{
    stream_quota *quota = call->ctx->stream_quota;
    if (quota == NULL)
        return 0;
    uint64_t slot = 0;
    switch (stream_quota_take(quota, token, &slot)) {
    case 0:
        sse_stream_on_free(stream, give_back, quota, slot);
        return 0;
    case 1:
        reply_error(call->resp, 429, "TOO_MANY_STREAMS",
                    "this queue token already has as many live-update streams open as it may; "
                    "close one, or poll");
        break;
    default:
        reply_error(call->resp, 500, "INTERNAL", "internal error");
        snprintf(call->resp->detail, sizeof call->resp->detail, "out of memory for a stream");
        break;
    }
    sse_stream_unref(stream);
    return -1;
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

/* A stream for token, counted against its quota; NULL after replying 503
 * (no hub), 429 or 500. */
static sse_stream *open_stream(api_call *call, const char *token)
{
    if (call->ctx->events == NULL) {
        reply_no_hub(call->resp);
        return NULL;
    }
    sse_stream *stream = new_stream(call);
    if (stream == NULL || take_quota(call, stream, token) != 0)
        return NULL;
    return stream;
}

void handle_queue_events(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_token_info info;
    const int rc = concert_queue_status_get(&info, call->ctx->db, token);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    sse_stream *stream = open_stream(call, token);
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
    const int rc = concert_seat_list_version_get(&version, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    sse_stream *stream = open_stream(call, token);
    if (stream != NULL)
        start(call, stream, sse_hub_watch_seats(call->ctx->events, stream, token, call->ids[0]));
}
