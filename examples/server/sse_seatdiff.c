/*
 * Seat map diffs for the seat event stream (see sse_seatdiff.h). The map is
 * parsed back from its rendered document, so that the diff lists each
 * changed seat exactly in the map's own shape whatever renderer wrote it.
 */
#include "sse_seatdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_out.h"
#include "sse_frame.h"

static int compare_seats(const void *a, const void *b)
{
    const int64_t x = ((const sse_seat *)a)->number, y = ((const sse_seat *)b)->number;
    return (x > y) - (x < y);
}

/* The seats of a map document, each as its own JSON text, by number. */
int sse_seats_parse(sse_seats *out, const char *doc)
{
    out->items = NULL;
    out->count = 0;
    struct json_object *root = json_tokener_parse(doc);
    struct json_object *seats = NULL;
    if (root == NULL || !json_object_object_get_ex(root, "seats", &seats) ||
        !json_object_is_type(seats, json_type_array)) {
        json_object_put(root);
        return -1;
    }
    const size_t n = json_object_array_length(seats);
    sse_seat *entries = calloc(n ? n : 1, sizeof *entries);
    if (entries == NULL) {
        json_object_put(root);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *seat = json_object_array_get_idx(seats, i);
        struct json_object *number = NULL;
        json_object_object_get_ex(seat, "number", &number);
        entries[i].number = json_object_get_int64(number);
        entries[i].json = strdup(json_object_to_json_string_ext(
            seat, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (entries[i].json == NULL) {
            for (size_t j = 0; j < i; j++)
                free(entries[j].json);
            free(entries);
            json_object_put(root);
            return -1;
        }
    }
    json_object_put(root);
    qsort(entries, n, sizeof *entries, compare_seats);
    out->items = entries;
    out->count = n;
    return 0;
}

/* The seats event from old to new: every seat whose object changed or
 * that is new. A map lists every seat of the schedule, so none goes away;
 * should one, it is sent as {"number":N,"status":"UNKNOWN"}. NULL when no
 * seat changed. */
list_body *sse_seats_diff_frame(int64_t schedule_id, const char *id, const sse_seats *before,
                                const sse_seats *after)
{
    const sse_seat *old = before->items, *now = after->items;
    const size_t old_count = before->count, now_count = after->count;
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "schedule_id");
    json_out_int(&w, schedule_id);
    json_out_object_end(&w);
    char *head = NULL;
    size_t head_len = 0;
    if (json_out_finish(&w, &head, &head_len) != 0)
        return NULL;
    /* head is {"schedule_id":N}: reopen it to append the seats member. */
    size_t cap = head_len + 16 + 64;
    for (size_t i = 0; i < now_count; i++)
        cap += strlen(now[i].json) + 1;
    cap += old_count * 48;
    char *text = malloc(cap);
    if (text == NULL) {
        free(head);
        return NULL;
    }
    size_t at = head_len - 1;
    memcpy(text, head, at);
    free(head);
    static const char seats_key[] = ",\"seats\":[";
    memcpy(text + at, seats_key, sizeof seats_key - 1);
    at += sizeof seats_key - 1;
    size_t i = 0, j = 0;
    int first = 1;
    while (i < old_count || j < now_count) {
        const char *piece = NULL;
        char gone[64];
        if (j < now_count && (i == old_count || now[j].number < old[i].number)) {
            piece = now[j++].json;
        } else if (i < old_count && (j == now_count || old[i].number < now[j].number)) {
            snprintf(gone, sizeof gone, "{\"number\":%lld,\"status\":\"UNKNOWN\"}",
                     (long long)old[i++].number);
            piece = gone;
        } else {
            if (strcmp(old[i].json, now[j].json) != 0)
                piece = now[j].json;
            i++;
            j++;
        }
        if (piece == NULL)
            continue;
        const size_t n = strlen(piece);
        if (!first)
            text[at++] = ',';
        first = 0;
        memcpy(text + at, piece, n);
        at += n;
    }
    if (first) { /* a new version, nothing a map shows changed: no event */
        free(text);
        return NULL;
    }
    memcpy(text + at, "]}", 2);
    at += 2;
    list_body *frame = sse_frame_new("seats", id, text, at);
    free(text);
    return frame;
}

void sse_seats_free(sse_seats *seats)
{
    for (size_t i = 0; i < seats->count; i++)
        free(seats->items[i].json);
    free(seats->items);
    seats->items = NULL;
    seats->count = 0;
}
