/*
 * Catalog files and the demo catalog, shared by concertd (--import, --demo)
 * and the concert CLI (import, demo). The format and the reader are the
 * library's: concert_catalog_load_json() (<concert/catalog_json.h>).
 */
#ifndef CONCERT_EXAMPLES_CATALOG_JSON_H
#define CONCERT_EXAMPLES_CATALOG_JSON_H

#include <concert/concert.h>

/* The reader itself (catalog_json_parse, catalog_doc_catalog,
 * catalog_doc_free) is libconcert's (lib/json/catalog_parse.h), the one behind
 * concert_catalog_load_json(); the concert CLI calls it directly to count what
 * it loaded. */
#include "catalog_parse.h"

/*
 * Read all of path ("-" for stdin, at most 64 MiB) into *text (malloc'ed,
 * NUL-terminated, the caller frees it) and its length into *len. Returns 0,
 * or CONCERT_EINVAL (cannot open or read, too large) / CONCERT_ENOMEM with
 * err set to e.g. "cannot open x.json: No such file or directory".
 */
int catalog_json_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen);

/*
 * Read path ("-" for stdin, at most 64 MiB) and concert_catalog_load_json()
 * it, all or nothing. Returns 0 or the libconcert code (CONCERT_EINVAL also
 * for a file that cannot be read); err gets the file reader's message or the
 * library's (concert_error_last()).
 */
int catalog_json_load_file(concert_db *db, const char *path, char *err, size_t errlen);

/*
 * Load the built-in demo catalog if the store has no users and no concerts
 * (see demo_catalog.c for its content). Schedule times are relative to db's
 * clock: concerts OPEN, PENDING and CLOSED, schedules past and future,
 * graded seats, users with and without points (user 1: 500000, user 2: 0).
 * *loaded (may be NULL) is set to 1 if it loaded, 0 if the store had data
 * (also when another process loaded it concurrently). Returns 0 or a
 * libconcert code with err (may be NULL) set.
 */
int catalog_demo_load_if_empty(concert_db *db, int *loaded, char *err, size_t errlen);

#endif
