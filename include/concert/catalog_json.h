/**
 * @file catalog_json.h
 * @brief Loading a catalog from JSON text: the one catalog reader of
 *        concertd, the concert CLI and the language bindings.
 *
 * The format (every key shown; "users", "concerts", "schedules" and "seats"
 * may be absent, meaning empty; users[].points and concerts[].max_per_user
 * are optional, default 0, where 0 means the store's own limit):
 *
 * @code{.json}
 * {"users":    [{"id": 1, "name": "Kim", "points": 0}],
 *  "concerts": [{"id": 1, "title": "Winter Gala", "status": "OPEN", "max_per_user": 4,
 *                "schedules": [{"id": 10, "starts_at": "2026-12-24T19:00:00Z",
 *                               "seats": [{"from": 1, "to": 50, "grade": "R",
 *                                          "price": 80000}]}]}]}
 * @endcode
 *
 * The reader is strict, so that a mistake is an error rather than a silent
 * change: RFC 8259 JSON only (valid UTF-8, no single quotes, no raw control
 * characters in strings, nothing after the value, nesting at most 16 deep);
 * an unknown key and a key repeated in one object are errors; integers are
 * JSON integers (no fraction or exponent) within +-(2^53 - 1); status is
 * OPEN, PENDING or CLOSED; starts_at is an RFC 3339 time with a zone
 * ("2026-12-24T19:00:00Z", "2026-12-24T20:00:00+01:00", an optional fraction
 * kept to the millisecond). Every rule about the values themselves (ids,
 * ranges, overlaps, lengths, prices) is concert_catalog_load()'s.
 */
#ifndef CONCERT_CATALOG_JSON_H
#define CONCERT_CATALOG_JSON_H

#include "common.h"

CONCERT_BEGIN_DECLS

/**
 * Parse a catalog from JSON text and load it with concert_catalog_load(),
 * all or nothing.
 *
 * @param db   the store to load into.
 * @param text the JSON text, @p len bytes; it need not be NUL-terminated and
 *             is not kept after the call. May be NULL only when @p len is 0.
 * @param len  the length of @p text in bytes.
 * @return 0 when every user, concert, schedule and seat range was loaded;
 *         otherwise a negative concert_error_code and the store is unchanged:
 *         CONCERT_EINVAL for text that is not a catalog (bad JSON, an unknown
 *         or repeated key, a wrong type, a time that is not RFC 3339) or a
 *         value concert_catalog_load() refuses, CONCERT_ECONFLICT for an id
 *         already in the store, CONCERT_ENOMEM, or a storage error.
 *         concert_error_last() names the place, e.g.
 *         "concerts[0].schedules[1].starts_at: not an RFC 3339 time ..." or
 *         "users[1].name: duplicate key".
 */
CONCERT_EXTERN int concert_catalog_load_json(concert_db *db, const char *text, size_t len);

CONCERT_END_DECLS

#endif
