/*
 * RFC 3339 UTC times <-> milliseconds since the epoch: catalog times
 * (concert_catalog_load_json()), and every time concertd and the CLI read or
 * write. Internal to libconcert, exported for those programs only: see
 * tools_export.h.
 *
 * Pure integer arithmetic: no locale, no TZ, no mktime(), no time_t.
 */
#ifndef CONCERT_LIB_JSON_TIMEFMT_H
#define CONCERT_LIB_JSON_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "tools_export.h"

#define timefmt_parse concert__timefmt_parse
#define timefmt_format concert__timefmt_format

/* Enough for "2026-12-24T19:00:00.000Z" plus NUL, and for the widest
 * expanded-year form timefmt_format() can produce (30 characters). */
#define TIMEFMT_SIZE 32

/*
 * Parse an RFC 3339 date-time: "2026-12-24T19:00:00Z", with an optional
 * fraction of 1..9 digits (truncated to milliseconds) and "Z" or a
 * "+hh:mm" / "-hh:mm" offset; "T" and "Z" may be lower case. Years are
 * 0000..9999 and every field is range-checked (February 29 only in leap
 * years). Refused: a missing zone, a space for "T", leap second 60, any
 * text before or after. Returns 0 and sets *ms_out, or -1 (and leaves
 * *ms_out alone) if text is not such a time or either pointer is NULL.
 */
CONCERT__TOOLS_EXTERN int timefmt_parse(const char *text, int64_t *ms_out);

/*
 * Format ms as "2026-12-24T19:00:00Z" (".123" before Z when ms % 1000 != 0),
 * always UTC. buf must hold TIMEFMT_SIZE bytes. Returns buf. Defined for
 * every int64_t: years outside 0000..9999 are written in ISO 8601's
 * expanded form ("+10000-01-01T00:00:00Z"), which timefmt_parse() refuses.
 */
CONCERT__TOOLS_EXTERN char *timefmt_format(int64_t ms, char *buf);

#endif
