/*
 * What changed between two seat maps: the seats event of the seat stream
 * ({"schedule_id":N,"seats":[<each changed seat's object>]}), computed once
 * per change by the hub and shared by every subscriber.
 */
#ifndef CONCERTD_SSE_SEATDIFF_H
#define CONCERTD_SSE_SEATDIFF_H

#include <stddef.h>
#include <stdint.h>

#include "list_cache.h"

typedef struct sse_seat {
    int64_t number;
    char *json; /* the seat's object as rendered */
} sse_seat;

/* A map's seats by number. */
typedef struct sse_seats {
    sse_seat *items;
    size_t count;
} sse_seats;

/* The seats of a map document ({"seats":[{"number":..,...},...]}): 0, or
 * -1 (not such a document, out of memory) with *out empty. */
int sse_seats_parse(sse_seats *out, const char *doc);
void sse_seats_free(sse_seats *seats);

/* "event: seats" with id, listing every seat of after whose object differs
 * from before's (or is new). A map lists every seat, so none goes away;
 * should one, it is listed as {"number":N,"status":"UNKNOWN"}. NULL when no
 * seat changed (or out of memory). */
list_body *sse_seats_diff_frame(int64_t schedule_id, const char *id, const sse_seats *before,
                                const sse_seats *after);

#endif
