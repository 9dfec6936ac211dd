/**
 * @file
 * @brief libconcert: opening and closing a store.
 */
#ifndef CONCERT_DB_H
#define CONCERT_DB_H

#include "common.h"
#include "options.h"

CONCERT_BEGIN_DECLS

/**
 * Open the store named by uri and return a handle in *out.
 *
 *     "memory:"                    a fresh in-memory store (lost on close)
 *     "sqlite:PATH"                SQLite file at PATH, created if missing
 *     "postgresql://..." or        PostgreSQL via libpq (URI form)
 *     "postgres://..."
 *     "host=... dbname=..."        PostgreSQL via libpq (conninfo form)
 *
 * opts may be NULL for the defaults; it is copied, not kept.
 * Errors: CONCERT_EINVAL (NULL out/uri, unknown scheme, bad options),
 * CONCERT_ENOTSUP (backend compiled out), CONCERT_ESTORAGE (cannot reach or
 * open the store, or it is not a libconcert store), CONCERT_ESCHEMA (store
 * written by a newer libconcert), CONCERT_EBUSY (another process held the
 * store's write lock past busy_timeout_ms while it was created or migrated),
 * CONCERT_ENOMEM. On failure *out is NULL and nothing leaks.
 * The handle is safe to share between threads.
 * @param[out] out receives the handle; close it with concert_db_close()
 * @param uri the store to open, in one of the forms above
 * @param opts options, or NULL for the defaults
 * @return 0 or a negative concert_error_code (see Errors above).
 */
CONCERT_EXTERN int concert_db_open(concert_db **out, const char *uri, const concert_options *opts);

/** Close the store and free the handle. NULL is a no-op. No call on db may be
 * in progress or follow.
 * @param db the handle from concert_db_open(), or NULL */
CONCERT_EXTERN void concert_db_close(concert_db *db);

/** Name of the backend behind db ("memory", "sqlite", "postgresql"); static.
 * @param db an open handle
 * @return static name, never to be freed. */
CONCERT_EXTERN const char *concert_db_backend_name(const concert_db *db);

/** Current time as db's clock sees it, in ms since the epoch.
 * @param db an open handle
 * @return milliseconds since the epoch (UTC). */
CONCERT_EXTERN int64_t concert_db_now(const concert_db *db);

/** The version of concert_db_stats these headers describe. */
#define CONCERT_DB_STATS_VERSION 1
/**
 * What this db handle did with its store since it was opened: for metrics.
 * Counts are monotonic and per handle (another process sharing the store
 * keeps its own). Versioned like the options: set version to
 * CONCERT_DB_STATS_VERSION; later versions only append fields.
 */
typedef struct concert_db_stats {
    unsigned int version;        /**< CONCERT_DB_STATS_VERSION */
    uint64_t storage_calls;      /**< steps the core asked the backend for */
    uint64_t storage_errors;     /**< of them, failed with CONCERT_ESTORAGE,
                                     CONCERT_EBUSY, CONCERT_ESCHEMA or
                                     CONCERT_EINTERNAL (the store's trouble,
                                     not a caller's mistake) */
    uint64_t storage_retries;    /**< the backend's own retries (storage.h
                                     counters) */
    uint64_t storage_reconnects; /**< connections the backend replaced */
} concert_db_stats;

/** Fill *out (out->version set by the caller, 1 to CONCERT_DB_STATS_VERSION):
 * only the fields of the caller's version are written, so a caller built
 * against an older header gets no bytes past its struct. Cheap: atomic
 * loads, no store access. Errors: CONCERT_EINVAL (NULL, a version of 0 or
 * newer than this library's).
 * @param[in,out] out the caller's struct: version in, counts out
 * @param db an open handle
 * @return 0 or CONCERT_EINVAL. */
CONCERT_EXTERN int concert_db_stats_get(concert_db_stats *out, concert_db *db);

CONCERT_END_DECLS

#endif
