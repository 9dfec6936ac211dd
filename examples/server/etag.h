/*
 * Entity tags for the cached lists and the If-None-Match check (RFC 9110
 * 8.8.3 and 13.1.2).
 *
 * The tag is a strong validator: it is built from every field of the list's
 * version (concert_list_version), the list's id and kind, and the body's
 * format generation, so two responses with one tag are byte-identical.
 */
#ifndef CONCERTD_ETAG_H
#define CONCERTD_ETAG_H

#include <stdint.h>

#include <concert/concert.h>

/* Room for the longest tag, quotes and NUL included. */
#define ETAG_SIZE 96

/* Which list a tag labels (its first letter). */
typedef enum etag_kind {
    ETAG_SEATS = 's',     /* GET /api/v1/schedules/{id}/seats */
    ETAG_SCHEDULES = 'c', /* GET /api/v1/concerts/{id}/schedules */
    ETAG_SEATMAP = 'm'    /* GET /api/v1/schedules/{id}/seatmap (and the
                               seat events' ids) */
} etag_kind;

/* Write the tag, quotes included ("s1-a-..."), into out (ETAG_SIZE bytes). */
void etag_format(char *out, etag_kind kind, int64_t id, const concert_list_version *version);

/*
 * Does an If-None-Match field value name etag (a tag from etag_format)?
 * "*" names any; otherwise a comma-separated list of entity tags, each
 * compared with the weak comparison (a W/ prefix is ignored), as RFC 9110
 * asks for If-None-Match. A value that is not valid syntax names nothing
 * (the full response is always a correct answer). value may be NULL.
 */
int etag_none_match(const char *value, const char *etag);

#endif
