/*
 * The web app's files (web/), embedded in the binary (web_assets.h).
 *
 * Cache-Control: no-cache with a content-hash ETag: a browser keeps its copy
 * but asks every time, and gets 304 without a body until a build changes the
 * file. So an upgraded concertd is never shown with yesterday's app.js, and
 * an unchanged one costs a round trip, not the bytes.
 *
 * The Content-Security-Policy allows scripts, styles, fetches and images from
 * this server only and no inline script or style: the app has none, so an
 * injected <script> (were the app ever to put untrusted text into the page
 * as HTML) would not run. X-Content-Type-Options: nosniff goes with every
 * reply that sets a content type (http.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "etag.h"
#include "handlers.h"
#include "reply.h"
#include "web_assets.h"

static const char web_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

typedef struct web_file {
    const char *path;
    const unsigned char *data;
    const size_t *len;
    const char *etag;
    const char *content_type;
} web_file;

/* Every path here has a route in router.c (flag ROUTE_STATIC), and every
 * ROUTE_STATIC route a file here: tests/http/test_static.py fetches each. */
static const web_file web_files[] = {
    { "/", web_index_html, &web_index_html_len, web_index_html_etag, "text/html; charset=utf-8" },
    { "/app.css", web_app_css, &web_app_css_len, web_app_css_etag, "text/css; charset=utf-8" },
    { "/app.js", web_app_js, &web_app_js_len, web_app_js_etag, "text/javascript; charset=utf-8" },
    { "/i18n.js", web_i18n_js, &web_i18n_js_len, web_i18n_js_etag,
      "text/javascript; charset=utf-8" },
    { "/favicon.svg", web_favicon_svg, &web_favicon_svg_len, web_favicon_svg_etag,
      "image/svg+xml" },
};

/* The bodies are static: the transport has nothing to release. */
static void release_nothing(void *owner)
{
    (void)owner;
}

void handle_static(api_call *call)
{
    const web_file *file = NULL;
    for (size_t i = 0; i < sizeof web_files / sizeof web_files[0]; i++) {
        if (strcmp(web_files[i].path, call->req->path) == 0) {
            file = &web_files[i];
            break;
        }
    }
    if (file == NULL) { /* a route in router.c without a file above */
        reply_error(call->resp, 404, "NOT_FOUND", "no such route");
        return;
    }
    api_response *resp = call->resp;
    if (etag_none_match(call_header(call, "If-None-Match"), file->etag))
        reply_empty(resp, 304);
    else {
        reply_empty(resp, 200);
        /* api_response's one body pointer type is not const; a shared body is
         * only ever read (api.h). */
        resp->body = (char *)(uintptr_t)file->data;
        resp->body_len = *file->len;
        resp->body_release = release_nothing;
        resp->body_owner = NULL;
        resp->content_type = file->content_type;
    }
    snprintf(resp->etag, sizeof resp->etag, "%s", file->etag);
    snprintf(resp->cache_control, sizeof resp->cache_control, "no-cache");
    resp->content_security_policy = web_csp;
}
