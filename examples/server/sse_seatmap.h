/*
 * The seat map document the seat event stream sends (that of GET
 * /api/v1/schedules/{id}/seatmap, seatmap_json.h), behind one function so
 * that the hub does not care which renderer writes it.
 */
#ifndef CONCERTD_SSE_SEATMAP_H
#define CONCERTD_SSE_SEATMAP_H

#include <stdint.h>

#include <concert/concert.h>

#include "json_out.h"

/* Write schedule_id's map ({"schedule_id":N,"seats":[...]}, seats in
 * number order, each with a "number") into w: 0, or a libconcert error
 * code with nothing useful written (the caller discards w). */
int sse_seatmap_render(json_out *w, concert_db *db, const char *token, int64_t schedule_id);

#endif
