/*
 * Catalog routes (ACTIVE token): concerts, schedules, free seats, the seat
 * map.
 */
#include <stdio.h>
#include <string.h>

#include "errors_http.h"
#include "etag.h"
#include "handlers.h"
#include "list_cache.h"
#include "reply.h"
#include "seatmap_json.h"

static void write_concert(json_out *w, const concert_concert *c)
{
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "id");
    json_out_int(w, c->id);
    JSON_OUT_KEY(w, "title");
    json_out_string(w, c->title);
    JSON_OUT_KEY(w, "status");
    json_out_string(w, concert_concert_status_name(c->status));
    /* null: the store-wide max_holds_per_user applies to this concert */
    JSON_OUT_KEY(w, "max_per_user");
    if (c->max_per_user > 0)
        json_out_int(w, c->max_per_user);
    else
        json_out_null(w);
    json_out_object_end(w);
}

void handle_concerts_list(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_concert_list *list = NULL;
    const int rc = concert_concert_list_get(&list, call->ctx->db, token);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    json_out_reserve(&w, 64 + list->count * 96);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "concerts");
    json_out_array_begin(&w);
    for (size_t i = 0; i < list->count; i++)
        write_concert(&w, &list->items[i]);
    json_out_array_end(&w);
    json_out_object_end(&w);
    concert_concert_list_free(list);
    reply_json(call->resp, 200, &w);
}

void handle_concert_get(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_concert concert;
    const int rc = concert_concert_get(&concert, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    write_concert(&w, &concert);
    reply_json(call->resp, 200, &w);
}

/*
 * The two free lists and the seat map are served from the list cache (list_cache.h): the
 * version is read first, with every check and error of the listing; a body
 * rendered under an equal version is served as it is; else the list is
 * read and rendered, and kept under the version read before it. The ETag
 * is that version, so a client that has it gets 304 Not Modified.
 */

/* Read a list and write its document into w: 0, or a library code (< 0)
 * with nothing written. */
typedef int (*list_render_fn)(api_call *call, const char *token, json_out *w);

/* Does the request's If-None-Match name etag? Several If-None-Match fields
 * are not combined: the full answer is always correct, and no client sends
 * them. */
static int not_modified(const api_call *call, const char *etag)
{
    const api_request *req = call->req;
    if (req->header_count != NULL && req->header_count(req->header_ctx, "If-None-Match") > 1)
        return 0;
    return etag_none_match(call_header(call, "If-None-Match"), etag);
}

/* The validators both answers carry. no-cache: a client must ask again
 * every time (the answer is one If-None-Match away); private: a shared
 * cache must not keep it, since the listing needs a queue token. */
static void set_validators(api_response *resp, const char *etag)
{
    static const char cache_control[] = "private, no-cache";
    _Static_assert(sizeof cache_control <= sizeof resp->cache_control, "Cache-Control fits");
    _Static_assert(ETAG_SIZE <= sizeof resp->etag, "ETag fits");
    memcpy(resp->cache_control, cache_control, sizeof cache_control);
    memcpy(resp->etag, etag, strlen(etag) + 1);
}

/* 304 only under a version whose listing is known to succeed (a body is
 * kept for it, or was just rendered), so that a tag never stands in for an
 * error the listing would give (BOOKING_CLOSED has no check of its own in
 * concert_schedule_list_version_get()). */
static void serve_list(api_call *call, const char *token, etag_kind kind, list_cache *cache,
                       const concert_list_version *version, list_render_fn render)
{
    api_response *resp = call->resp;
    const int64_t id = call->ids[0];
    list_body *body = cache != NULL ? list_cache_get(cache, id, version) : NULL;
    if (body == NULL) {
        json_out w;
        json_out_init(&w);
        const int rc = render(call, token, &w);
        if (rc < 0) {
            json_out_discard(&w);
            reply_library_error(resp, rc);
            return;
        }
        json_out_end_line(&w);
        char *data = NULL;
        size_t len = 0;
        if (json_out_finish(&w, &data, &len) != 0 || (body = list_body_new(data, len)) == NULL) {
            reply_error(resp, 500, "INTERNAL", "internal error");
            snprintf(resp->detail, sizeof resp->detail, "could not build the response body");
            return;
        }
        if (cache != NULL)
            list_cache_put(cache, id, version, body);
    }
    char etag[ETAG_SIZE];
    etag_format(etag, kind, id, version);
    if (not_modified(call, etag)) {
        list_body_unref(body);
        reply_empty(resp, 304);
    } else {
        reply_shared(resp, 200, body);
    }
    set_validators(resp, etag);
}

static int render_schedules(api_call *call, const char *token, json_out *w)
{
    concert_schedule_list *list = NULL;
    const int rc = concert_schedule_list_get(&list, call->ctx->db, token, call->ids[0]);
    if (rc < 0)
        return rc;
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "concert_id");
    json_out_int(w, call->ids[0]);
    JSON_OUT_KEY(w, "schedules");
    json_out_array_begin(w);
    for (size_t i = 0; i < list->count; i++) {
        const concert_schedule *s = &list->items[i];
        json_out_object_begin(w);
        JSON_OUT_KEY(w, "id");
        json_out_int(w, s->id);
        JSON_OUT_KEY(w, "starts_at");
        json_out_time(w, s->starts_at);
        JSON_OUT_KEY(w, "available_seats");
        json_out_int(w, s->available_seats);
        json_out_object_end(w);
    }
    json_out_array_end(w);
    json_out_object_end(w);
    concert_schedule_list_free(list);
    return 0;
}

void handle_schedules_list(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_list_version version;
    const int rc = concert_schedule_list_version_get(&version, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    serve_list(call, token, ETAG_SCHEDULES, call->ctx->schedule_lists, &version, render_schedules);
}

static int render_seats(api_call *call, const char *token, json_out *w)
{
    concert_seat_list *list = NULL;
    const int rc = concert_seats_available(&list, call->ctx->db, token, call->ids[0]);
    if (rc < 0)
        return rc;
    /* {"number":123,"grade":"VIP","price":150000}, plus room for longer grades */
    json_out_reserve(w, 64 + list->count * 64);
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "schedule_id");
    json_out_int(w, call->ids[0]);
    JSON_OUT_KEY(w, "seats");
    json_out_array_begin(w);
    for (size_t i = 0; i < list->count; i++) {
        const concert_seat *s = &list->items[i];
        json_out_object_begin(w);
        JSON_OUT_KEY(w, "number");
        json_out_int(w, s->number);
        JSON_OUT_KEY(w, "grade");
        json_out_string(w, s->grade);
        JSON_OUT_KEY(w, "price");
        json_out_int(w, s->price);
        json_out_object_end(w);
    }
    json_out_array_end(w);
    json_out_object_end(w);
    concert_seat_list_free(list);
    return 0;
}

/* The seat list and the seat map: both are labelled by the seat list's
 * version, with its checks and errors. */
static void serve_seats(api_call *call, etag_kind kind, list_cache *cache, list_render_fn render)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_list_version version;
    const int rc = concert_seat_list_version_get(&version, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    serve_list(call, token, kind, cache, &version, render);
}

void handle_seats_list(api_call *call)
{
    serve_seats(call, ETAG_SEATS, call->ctx->seat_lists, render_seats);
}

static int render_seatmap(api_call *call, const char *token, json_out *w)
{
    return seatmap_render(w, call->ctx->db, token, call->ids[0]);
}

/* The map's FREE seats are the seat list, so the seat list's version labels
 * the map too (concert_seat_map_get()); its own ETag kind keeps the two
 * documents' tags apart. */
void handle_seatmap_get(api_call *call)
{
    serve_seats(call, ETAG_SEATMAP, call->ctx->seat_maps, render_seatmap);
}
