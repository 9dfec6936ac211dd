/*
 * The catalog JSON format -> concert_catalog: the reader behind
 * concert_catalog_load_json() (include/concert/catalog_json.h documents the
 * format). Internal to libconcert, exported for the concert CLI (which prints
 * what it loaded) and the tests only: see tools_export.h.
 */
#ifndef CONCERT_LIB_JSON_CATALOG_PARSE_H
#define CONCERT_LIB_JSON_CATALOG_PARSE_H

#include <concert/concert.h>

#include "tools_export.h"

#define catalog_json_parse concert__catalog_json_parse
#define catalog_doc_catalog concert__catalog_doc_catalog
#define catalog_doc_free concert__catalog_doc_free

/*
 * What the parser checks (JSON shape and types only; every rule about the
 * values, such as ids >= 1, to >= from, overlaps, duplicate ids, text
 * lengths, is concert_catalog_load()'s and named there in the same form):
 *  - strict RFC 8259 JSON: valid UTF-8, no single quotes, no raw control
 *    characters in strings, no trailing text, nesting at most 16 deep;
 *  - the root is an object; "users" and "concerts" are arrays (absent = []);
 *    "schedules" and "seats" likewise;
 *  - required: users[].id, .name; concerts[].id, .title, .status;
 *    schedules[].id, .starts_at; seats[].from, .to, .grade, .price;
 *    optional: users[].points (default 0);
 *  - integers are JSON integers (no fraction or exponent) within
 *    +-(2^53 - 1); strings contain no NUL; status is OPEN, PENDING or CLOSED;
 *    starts_at is RFC 3339 (see timefmt_parse);
 *  - unknown keys are errors, so that a typo never drops a field silently;
 *  - a key repeated in one object is an error (json-c would keep the last).
 */

/* A parsed catalog; owns every string and array the catalog points into. */
typedef struct catalog_doc catalog_doc;

/*
 * Parse text (len bytes, need not be NUL-terminated; never reads a file).
 * On success *out is the caller's, to free with catalog_doc_free().
 * On failure *out = NULL and it returns CONCERT_EINVAL with err naming the
 * place ("concerts[0].schedules[1].starts_at: not an RFC 3339 time ..."),
 * or CONCERT_ENOMEM. err (errlen bytes, may be NULL) is always terminated.
 */
CONCERT__TOOLS_EXTERN int catalog_json_parse(catalog_doc **out, const char *text, size_t len,
                                             char *err, size_t errlen);

/* The catalog inside doc, valid until catalog_doc_free(doc); NULL for NULL. */
CONCERT__TOOLS_EXTERN const concert_catalog *catalog_doc_catalog(const catalog_doc *doc);

/* Free doc and everything its catalog points to. NULL is a no-op. */
CONCERT__TOOLS_EXTERN void catalog_doc_free(catalog_doc *doc);

#endif
