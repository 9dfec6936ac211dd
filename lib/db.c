/*
 * Opening a store: URI dispatch to a backend, option defaults, the clock.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static int64_t system_clock(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t concert__now(const concert_db *db)
{
    if (db->opts.clock)
        return db->opts.clock(db->opts.clock_ctx);
    return system_clock(NULL);
}

int64_t concert_db_now(const concert_db *db)
{
    return db ? concert__now(db) : system_clock(NULL);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* libpq conninfo strings are "keyword=value ..." with a known first keyword. */
static int looks_like_conninfo(const char *uri)
{
    static const char *const KEYWORDS[] = { "host=", "hostaddr=", "port=",    "dbname=",
                                            "user=", "password=", "service=", "sslmode=" };
    for (size_t i = 0; i < sizeof(KEYWORDS) / sizeof(KEYWORDS[0]); i++) {
        if (starts_with(uri, KEYWORDS[i]))
            return 1;
    }
    return 0;
}

int concert__uri_parse(const char *uri, int *kind, const char **location)
{
    *kind = 0;
    *location = NULL;
    if (!uri)
        return concert__error_set(CONCERT_EINVAL, "concert_db_open: uri must not be NULL");
    if (strcmp(uri, "memory:") == 0 || strcmp(uri, "memory") == 0) {
        *kind = CONCERT__STORE_MEMORY;
        *location = "";
    } else if (starts_with(uri, "sqlite:")) {
        *kind = CONCERT__STORE_SQLITE;
        *location = uri + strlen("sqlite:");
        if (**location == '\0')
            return concert__error_set(CONCERT_EINVAL, "concert_db_open: \"sqlite:\" needs a path, "
                                                      "e.g. sqlite:concert.db");
    } else if (starts_with(uri, "postgresql://") || starts_with(uri, "postgres://") ||
               looks_like_conninfo(uri)) {
        /* libpq parses the rest: it knows every URI and conninfo form. */
        *kind = CONCERT__STORE_POSTGRES;
        *location = uri;
    } else {
        return concert__error_set(CONCERT_EINVAL,
                                  "concert_db_open: unknown store \"%.64s\"; use memory:, "
                                  "sqlite:PATH, postgresql://... or a libpq conninfo",
                                  uri);
    }
    return CONCERT_OK;
}

int concert_db_open(concert_db **out, const char *uri, const concert_options *opts)
{
    concert_options resolved;
    concert_storage *storage = NULL;
    const char *location;
    int kind, rc;

    if (out)
        *out = NULL;
    if (!out || !uri)
        return concert__error_set(CONCERT_EINVAL, "concert_db_open: out and uri must not be NULL");
    if ((rc = concert__options_resolve(&resolved, opts)) != 0)
        return rc;
    if ((rc = concert__uri_parse(uri, &kind, &location)) != 0)
        return rc;

    concert__error_clear();
    switch (kind) {
    case CONCERT__STORE_MEMORY:
        rc = concert_storage_memory_open(&storage, location, &resolved);
        break;
    case CONCERT__STORE_SQLITE:
        rc = concert_storage_sqlite_open(&storage, location, &resolved);
        break;
    default:
        rc = concert_storage_postgres_open(&storage, location, &resolved);
        break;
    }
    if (rc != 0) {
        if (rc > 0 || !concert__error_is_known(rc))
            rc = CONCERT_EINTERNAL;
        return concert__error_ensure(rc);
    }
    if (!storage)
        return concert__error_set(CONCERT_EINTERNAL,
                                  "concert_db_open: backend returned no storage");
    return concert_db_open_storage(out, storage, &resolved);
}

int concert_db_open_storage(concert_db **out, concert_storage *storage, const concert_options *opts)
{
    concert_db *db;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !storage) {
        if (storage && storage->free)
            storage->free(storage);
        return concert__error_set(CONCERT_EINVAL, "concert_db_open_storage: NULL argument");
    }
    if ((rc = concert__storage_check(storage)) != 0) {
        if (storage->free)
            storage->free(storage);
        return rc;
    }
    db = calloc(1, sizeof(*db));
    if (!db) {
        storage->free(storage);
        return concert__error_set(CONCERT_ENOMEM, "concert_db_open_storage: out of memory");
    }
    if ((rc = concert__options_resolve(&db->opts, opts)) != 0) {
        storage->free(storage);
        free(db);
        return rc;
    }
    if ((rc = concert__queue_cache_new(db)) != 0) {
        storage->free(storage);
        free(db);
        return rc;
    }
    if ((rc = concert__schedule_cache_new(db)) != 0 || (rc = concert__owner_cache_new(db)) != 0) {
        concert__schedule_cache_free(db);
        concert__queue_cache_free(db);
        storage->free(storage);
        free(db);
        return rc;
    }
    db->storage = storage;
    atomic_init(&db->storage_calls, 0);
    atomic_init(&db->storage_errors, 0);
    db->queue.active_ttl_ms = db->opts.active_ttl_ms;
    db->queue.wait_ttl_ms = db->opts.wait_ttl_ms;
    db->queue.shuffle = concert__shuffle;
    db->queue.shuffle_ctx = db;
    db->queue.retention_ms = db->opts.retention_ms;
    *out = db;
    return CONCERT_OK;
}

void concert_db_close(concert_db *db)
{
    if (!db)
        return;
    db->storage->free(db->storage);
    concert__queue_cache_free(db);
    concert__schedule_cache_free(db);
    concert__owner_cache_free(db);
    free(db);
}

const char *concert_db_backend_name(const concert_db *db)
{
    return db && db->storage->name ? db->storage->name : "";
}

/* Bytes of the caller's concert_db_stats that version covers: the offset of
 * the first field the next version appended (fields are only appended), the
 * whole struct for the current one; 0 for a version this library does not
 * know. Version 2 will add "case 1: return offsetof(concert_db_stats,
 * <its first field>);" and move sizeof to case 2. */
static size_t db_stats_size(unsigned int version)
{
    switch (version) {
    case 1:
        return sizeof(concert_db_stats);
    default:
        return 0;
    }
}

int concert_db_stats_get(concert_db_stats *out, concert_db *db)
{
    concert_storage_counters backend;
    concert_db_stats all;
    size_t size;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_db_stats_get: NULL argument");
    size = db_stats_size(out->version);
    if (size == 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "concert_db_stats_get: version %u unknown (this library: 1..%u)",
                                  out->version, (unsigned)CONCERT_DB_STATS_VERSION);
    if ((rc = concert__st_counters(db, &backend)) != 0)
        return rc;
    memset(&all, 0, sizeof(all));
    all.version = out->version;
    all.storage_calls = atomic_load_explicit(&db->storage_calls, memory_order_relaxed);
    all.storage_errors = atomic_load_explicit(&db->storage_errors, memory_order_relaxed);
    all.storage_retries = backend.retries;
    all.storage_reconnects = backend.reconnects;
    /* An older caller's struct is shorter: write only the bytes it has. */
    memcpy(out, &all, size);
    return CONCERT_OK;
}
