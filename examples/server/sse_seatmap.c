/*
 * Seat map documents for the hub (see sse_seatmap.h). Until the seat map
 * renderer exists this lists the free seats only, each "FREE".
 */
#include "sse_seatmap.h"

int sse_seatmap_render(json_out *w, concert_db *db, const char *token, int64_t schedule_id)
{
    concert_seat_list *list = NULL;
    const int rc = concert_seats_available(&list, db, token, schedule_id);
    if (rc < 0)
        return rc;
    json_out_reserve(w, 64 + list->count * 80);
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "schedule_id");
    json_out_int(w, schedule_id);
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
        JSON_OUT_KEY(w, "status");
        json_out_string(w, "FREE");
        json_out_object_end(w);
    }
    json_out_array_end(w);
    json_out_object_end(w);
    concert_seat_list_free(list);
    return 0;
}
