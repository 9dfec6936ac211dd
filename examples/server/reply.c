/*
 * Response builders (see reply.h).
 */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Last resort when even the error body cannot be allocated: a status line
 * alone still tells the client what happened. */
static void reply_out_of_memory(api_response *resp)
{
    api_response_release(resp);
    resp->status = 500;
    snprintf(resp->detail, sizeof resp->detail, "out of memory building the response");
}

void reply_json(api_response *resp, int status, json_out *w)
{
    char *body = NULL;
    size_t len = 0;
    json_out_end_line(w);
    if (json_out_finish(w, &body, &len) != 0) {
        reply_error(resp, 500, "INTERNAL", "internal error");
        snprintf(resp->detail, sizeof resp->detail, "could not build the response body");
        return;
    }
    api_response_release(resp);
    resp->status = status;
    resp->body = body;
    resp->body_len = len;
}

void reply_shared(api_response *resp, int status, list_body *body)
{
    api_response_release(resp);
    resp->status = status;
    /* The transport only reads it; the cast drops const for api_response's
     * one body pointer type. */
    resp->body = (char *)list_body_data(body);
    resp->body_len = list_body_len(body);
    resp->body_release = list_body_unref;
    resp->body_owner = body;
}

void reply_empty(api_response *resp, int status)
{
    api_response_release(resp);
    resp->status = status;
}

void reply_error(api_response *resp, int status, const char *code, const char *message)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    json_out_key(&w, "error");
    json_out_object_begin(&w);
    json_out_key(&w, "code");
    json_out_string(&w, code);
    json_out_key(&w, "message");
    json_out_string(&w, message);
    json_out_object_end(&w);
    json_out_object_end(&w);
    json_out_end_line(&w);

    char *body = NULL;
    size_t len = 0;
    if (json_out_finish(&w, &body, &len) != 0) {
        reply_out_of_memory(resp);
        return;
    }
    api_response_release(resp);
    resp->status = status;
    resp->body = body;
    resp->body_len = len;
}

void reply_malformed(api_response *resp, const char *message)
{
    reply_error(resp, 400, "MALFORMED_REQUEST", message);
}
