/*
 * Operations routes: health and the API description.
 */
#include <stdlib.h>
#include <string.h>

#include "errors_http.h"
#include "handlers.h"
#include "openapi.h"
#include "reply.h"

void handle_healthz(api_call *call)
{
    /* A real round trip to the store: the cheapest call that touches it.
     * Not concert_queue_stats_get(), which answers from the db's cache for
     * up to queue_refresh_ms and would report a dead store as healthy. */
    concert_queue_settings settings;
    const int rc = concert_queue_settings_get(&settings, call->ctx->db);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "status");
    json_out_string(&w, "ok");
    json_out_object_end(&w);
    reply_json(call->resp, 200, &w);
}

void handle_openapi(api_call *call)
{
    char *copy = malloc(openapi_json_len + 1);
    if (copy == NULL) {
        reply_error(call->resp, 500, "INTERNAL", "internal error");
        return;
    }
    memcpy(copy, openapi_json, openapi_json_len);
    copy[openapi_json_len] = '\0';
    reply_empty(call->resp, 200);
    call->resp->body = copy;
    call->resp->body_len = openapi_json_len;
}
