/*
 * The seat map document (see seatmap_json.h).
 */
#include "seatmap_json.h"

void seatmap_json_seat(json_out *w, const concert_seat_state *st)
{
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "number");
    json_out_int(w, st->seat.number);
    JSON_OUT_KEY(w, "grade");
    json_out_string(w, st->seat.grade);
    JSON_OUT_KEY(w, "price");
    json_out_int(w, st->seat.price);
    JSON_OUT_KEY(w, "status");
    json_out_string(w, concert_seat_status_name(st->status));
    if (st->status == CONCERT_SEAT_HELD) {
        JSON_OUT_KEY(w, "held_until");
        json_out_time(w, st->held_until);
    }
    json_out_object_end(w);
}

int seatmap_render(json_out *w, concert_db *db, const char *token, int64_t schedule_id)
{
    concert_seat_map *map = NULL;
    const int rc = concert_seat_map_get(&map, db, token, schedule_id);
    if (rc < 0)
        return rc;
    /* {"number":123,"grade":"VIP","price":150000,"status":"FREE"}, plus
     * room for longer grades and some held_until */
    json_out_reserve(w, 64 + map->count * 80);
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "schedule_id");
    json_out_int(w, schedule_id);
    JSON_OUT_KEY(w, "seats");
    json_out_array_begin(w);
    for (size_t i = 0; i < map->count; i++)
        seatmap_json_seat(w, &map->items[i]);
    json_out_array_end(w);
    json_out_object_end(w);
    concert_seat_map_free(map);
    return 0;
}
