/*
 * Catalog JSON <-> concert_catalog, shared by concertd (--import, --demo) and
 * the concert CLI (import). Format:
 *
 * {"users":    [{"id": 1, "name": "Kim", "points": 0}],
 *  "concerts": [{"id": 1, "title": "...", "status": "OPEN",
 *                "schedules": [{"id": 10, "starts_at": "2026-12-24T19:00:00Z",
 *                               "seats": [{"from": 1, "to": 50, "grade": "R",
 *                                          "price": 80000}]}]}]}
 */
#ifndef CONCERT_EXAMPLES_CATALOG_JSON_H
#define CONCERT_EXAMPLES_CATALOG_JSON_H

#include <concert/concert.h>

/* A parsed catalog; owns every string and array the catalog points into. */
typedef struct catalog_doc catalog_doc;

/*
 * Parse text (len bytes, need not be NUL-terminated). On failure returns
 * CONCERT_EINVAL, *out = NULL, and err names the place:
 * "concerts[0].schedules[1].starts_at: not an RFC 3339 time".
 */
int catalog_json_parse(catalog_doc **out, const char *text, size_t len, char *err,
                       size_t errlen);
const concert_catalog *catalog_doc_catalog(const catalog_doc *doc);
void catalog_doc_free(catalog_doc *doc);

/* Read path ("-" for stdin), parse, and concert_catalog_load() it. Returns
 * the libconcert code; err gets the parser's or the library's message. */
int catalog_json_load_file(concert_db *db, const char *path, char *err, size_t errlen);

/*
 * Load the built-in demo catalog if the store has no users and no concerts.
 * Schedule times are relative to db's clock (concerts in every state,
 * schedules past and future, graded seats, users with and without points).
 * *loaded (may be NULL) is set to 1 if it loaded, 0 if the store had data.
 */
int catalog_demo_load_if_empty(concert_db *db, int *loaded, char *err, size_t errlen);

#endif
