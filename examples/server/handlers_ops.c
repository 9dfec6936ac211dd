/*
 * Operations routes: health and the API description.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_key.h"
#include "errors_http.h"
#include "handlers.h"
#include "metrics.h"
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

/* The bearer token of the Authorization header, trimmed, into buf; NULL
 * when there is none (no header, another scheme). Too long for buf: cut,
 * which can only make it differ. */
static const char *metrics_bearer(const api_call *call, char *buf, size_t size)
{
    const char *value = call_header(call, "Authorization");
    if (value == NULL)
        return NULL;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, "Bearer", 6) != 0 || (value[6] != ' ' && value[6] != '\t'))
        return NULL;
    value += 6;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0)
        return NULL;
    if (len >= size)
        len = size - 1;
    memcpy(buf, value, len);
    buf[len] = '\0';
    return buf;
}

void handle_metrics(api_call *call)
{
    const api_context *ctx = call->ctx;
    if (ctx->metrics == NULL) { /* --no-metrics: the route does not exist */
        reply_error(call->resp, 404, "NOT_FOUND", "no such route");
        return;
    }
    if (ctx->metrics_token != NULL) {
        char given[ADMIN_KEY_MAX_LEN + 2];
        const char *token = metrics_bearer(call, given, sizeof given);
        if (token == NULL ||
            !admin_key_matches(ctx->metrics_token, ctx->metrics_token_len, token)) {
            if (token == NULL)
                reply_error(call->resp, 401, "AUTH_REQUIRED",
                            "an Authorization: Bearer <metrics token> header is required");
            else
                reply_error(call->resp, 401, "AUTH_INVALID", "the metrics token is wrong");
            snprintf(call->resp->www_authenticate, sizeof call->resp->www_authenticate,
                     "Bearer realm=\"metrics\"");
            return;
        }
    }
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(ctx->metrics, &text, &len) != 0) {
        reply_error(call->resp, 500, "INTERNAL", "internal error");
        snprintf(call->resp->detail, sizeof call->resp->detail, "out of memory rendering metrics");
        return;
    }
    reply_empty(call->resp, 200);
    call->resp->body = text;
    call->resp->body_len = len;
    call->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    snprintf(call->resp->cache_control, sizeof call->resp->cache_control, "no-store");
}
