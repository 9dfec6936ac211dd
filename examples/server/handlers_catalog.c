/*
 * Catalog routes (ACTIVE token): concerts, schedules, free seats.
 */
#include "errors_http.h"
#include "handlers.h"
#include "reply.h"

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
    const int rc = concert_concerts_list(&list, call->ctx->db, token);
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

void handle_schedules_list(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_schedule_list *list = NULL;
    const int rc = concert_schedules_available(&list, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "concert_id");
    json_out_int(&w, call->ids[0]);
    JSON_OUT_KEY(&w, "schedules");
    json_out_array_begin(&w);
    for (size_t i = 0; i < list->count; i++) {
        const concert_schedule *s = &list->items[i];
        json_out_object_begin(&w);
        JSON_OUT_KEY(&w, "id");
        json_out_int(&w, s->id);
        JSON_OUT_KEY(&w, "starts_at");
        json_out_time(&w, s->starts_at);
        JSON_OUT_KEY(&w, "available_seats");
        json_out_int(&w, s->available_seats);
        json_out_object_end(&w);
    }
    json_out_array_end(&w);
    json_out_object_end(&w);
    concert_schedule_list_free(list);
    reply_json(call->resp, 200, &w);
}

void handle_seats_list(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_seat_list *list = NULL;
    const int rc = concert_seats_available(&list, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    /* {"number":123,"grade":"VIP","price":150000}, plus room for longer grades */
    json_out_reserve(&w, 64 + list->count * 64);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "schedule_id");
    json_out_int(&w, call->ids[0]);
    JSON_OUT_KEY(&w, "seats");
    json_out_array_begin(&w);
    for (size_t i = 0; i < list->count; i++) {
        const concert_seat *s = &list->items[i];
        json_out_object_begin(&w);
        JSON_OUT_KEY(&w, "number");
        json_out_int(&w, s->number);
        JSON_OUT_KEY(&w, "grade");
        json_out_string(&w, s->grade);
        JSON_OUT_KEY(&w, "price");
        json_out_int(&w, s->price);
        json_out_object_end(&w);
    }
    json_out_array_end(&w);
    json_out_object_end(&w);
    concert_seat_list_free(list);
    reply_json(call->resp, 200, &w);
}
