/*
 * Seat map documents for the hub (see sse_seatmap.h): the document of
 * GET /api/v1/schedules/{id}/seatmap, from its own renderer.
 */
#include "sse_seatmap.h"

#include "seatmap_json.h"

int sse_seatmap_render(json_out *w, concert_db *db, const char *token, int64_t schedule_id)
{
    return seatmap_render(w, db, token, schedule_id);
}
