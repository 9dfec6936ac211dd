/*
 * The seat map document of GET /api/v1/schedules/{id}/seatmap, shared by
 * that route and the seat events stream (SSE):
 *
 *   {"schedule_id":N,"seats":[{"number":1,"grade":"VIP","price":150000,
 *    "status":"FREE"},{"number":2,...,"status":"HELD","held_until":"..."},
 *    ...]}
 *
 * held_until (RFC 3339, like every time in the API) only on HELD seats.
 */
#ifndef CONCERTD_SEATMAP_JSON_H
#define CONCERTD_SEATMAP_JSON_H

#include <stdint.h>

#include <concert/concert.h>

#include "json_out.h"

/* Read the map of schedule_id for token (concert_seat_map_get(): the same
 * checks and errors as the seat list) and write its document into w: 0, or
 * a libconcert error code (< 0) with nothing written. */
int seatmap_render(json_out *w, concert_db *db, const char *token, int64_t schedule_id);

/* One seat's object ({"number":..,"grade":..,"price":..,"status":..[,
 * "held_until":..]}), as an element of the array being written: for a diff
 * of two maps that lists changed seats in the map's own shape. */
void seatmap_json_seat(json_out *w, const concert_seat_state *st);

#endif
