/*
 * SQLite storage backend ("sqlite:PATH"): opening, closing and the method
 * table. The steps live in sqlite_*.c beside this file; see
 * sqlite_internal.h for the layout and docs/storage-sqlite.md for the schema
 * and the choices behind it.
 *
 * Built without CONCERT_HAVE_SQLITE, only the entry point remains and it
 * returns CONCERT_ENOTSUP, so the ABI does not depend on build options.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_SQLITE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

static void store_free(concert_storage *self)
{
    sq_store *s = (sq_store *)self;
    if (!s)
        return;
    for (size_t i = 0; i < s->idle_count; i++)
        sq_conn_close(s->idle[i]);
    free(s->idle);
    sq_conn_close(s->writer);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_mutex_destroy(&s->write_lock);
    free(s->path);
    free(s);
}

static int store_counters(concert_storage *self, concert_storage_counters *out)
{
    sq_store *s = (sq_store *)self;
    /* The backend never runs a step again itself: SQLite's busy handler
     * waits inside the step, so its waits are the retries. Connections are
     * files, never lost and replaced. */
    out->retries = atomic_load_explicit(&s->busy_waits, memory_order_relaxed);
    out->reconnects = 0;
    return CONCERT_OK;
}

static const concert_storage SQLITE_TABLE = {
    .version = CONCERT_STORAGE_VERSION,
    .name = "sqlite",
    .free = store_free,
    .queue_issue = sq_queue_issue,
    .queue_status = sq_queue_status,
    .queue_leave = sq_queue_leave,
    .queue_stats = sq_queue_stats,
    .queue_configure = sq_queue_configure,
    .concerts_list = sq_concerts_list,
    .concert_get = sq_concert_get,
    .schedules_list = sq_schedules_list,
    .schedule_get = sq_schedule_get,
    .seats_available = sq_seats_available,
    .seat_map = sq_seat_map,
    .list_version = sq_list_version,
    .catalog_load = sq_catalog_load,
    .seat_hold = sq_seat_hold,
    .reservation_get = sq_reservation_get,
    .pay = sq_pay,
    .reservation_release = sq_reservation_release,
    .token_owner = sq_token_owner,
    .token_paid = sq_token_paid,
    .charge = sq_charge,
    .balance_get = sq_balance_get,
    .history_list = sq_history_list,
    .users_list = sq_users_list,
    .verify = sq_verify,
    .prune = sq_prune,
    .counters = store_counters,
};

static int store_alloc(sq_store **out, const char *location, const concert_options *opts)
{
    sq_store *s = calloc(1, sizeof(*s));
    size_t pool = opts && opts->pool_size > 0 ? (size_t)opts->pool_size : 8;
    int ready = 0; /* how many of the three synchronisation objects exist */

    *out = NULL;
    if (!s)
        return concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory");
    s->base = SQLITE_TABLE;
    s->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    s->reader_max = pool;
    /* libsqlite3 may be built to read "file:..." names as URIs, whose
     * options (nolock, immutable, mode=memory, vfs) would quietly undo the
     * guarantees above. "./" keeps PATH a plain file name, the same file. */
    if (strncmp(location, "file:", 5) == 0) {
        size_t n = strlen(location) + 3;
        s->path = malloc(n);
        if (s->path)
            snprintf(s->path, n, "./%s", location);
    } else {
        s->path = strdup(location);
    }
    s->idle = calloc(pool, sizeof(*s->idle));
    if (s->path && s->idle && pthread_mutex_init(&s->write_lock, NULL) == 0 && ++ready &&
        pthread_mutex_init(&s->pool_lock, NULL) == 0 && ++ready &&
        pthread_cond_init(&s->pool_cond, NULL) == 0)
        ++ready;
    if (ready < 3) {
        if (ready > 1)
            pthread_mutex_destroy(&s->pool_lock);
        if (ready > 0)
            pthread_mutex_destroy(&s->write_lock);
        free(s->path);
        free(s->idle);
        free(s);
        return concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory");
    }
    *out = s;
    return CONCERT_OK;
}

/* The settings a store without any starts with: the options' limits (the
 * core has resolved them), OPEN. Without options, the library defaults. */
static int seed_from(const concert_options *opts, concert_queue_settings *seed)
{
    memset(seed, 0, sizeof(*seed));
    seed->state = CONCERT_QUEUE_OPEN;
    seed->max_active = opts && opts->max_active > 0 ? opts->max_active : SQ_DEFAULT_MAX_ACTIVE;
    /* admit_per_minute is a version-2 field: an older struct has none. */
    seed->admit_per_minute = opts && opts->version >= 2 ? opts->admit_per_minute : 0;
    if (seed->max_active > CONCERT_MAX_ACTIVE_LIMIT || seed->admit_per_minute < 0 ||
        seed->admit_per_minute > CONCERT_ADMIT_PER_MINUTE_LIMIT)
        return concert_sys_error_set(CONCERT_EINVAL,
                                     "sqlite: queue limits out of range (max_active %lld, "
                                     "admit_per_minute %lld)",
                                     (long long)seed->max_active,
                                     (long long)seed->admit_per_minute);
    return CONCERT_OK;
}

int concert_storage_sqlite_open(concert_storage **out, const char *location,
                                const concert_options *opts)
{
    concert_queue_settings seed;
    sq_store *s;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !location || !*location)
        return concert_sys_error_set(CONCERT_EINVAL, "sqlite: a file path is required");
    if (strcmp(location, ":memory:") == 0)
        return concert_sys_error_set(CONCERT_EINVAL,
                                     "sqlite: \":memory:\" is not supported (every connection "
                                     "would see its own empty database); use memory: instead");
    /* SQLite's library must be thread-safe: connections move between threads. */
    if (!sqlite3_threadsafe())
        return concert_sys_error_set(CONCERT_ENOTSUP,
                                     "sqlite: libsqlite3 was built without thread support");
    if ((rc = seed_from(opts, &seed)) != 0 || (rc = store_alloc(&s, location, opts)) != 0)
        return rc;
    rc = sq_conn_open(s->path, s->busy_timeout_ms, 0, &s->busy_waits, &s->writer);
    if (rc == 0)
        rc = sq_schema_prepare(s->writer, s->path, &seed,
                               opts && opts->wait_ttl_ms > 0 ? opts->wait_ttl_ms
                                                             : SQ_DEFAULT_WAIT_TTL_MS);
    if (rc != 0) {
        store_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return CONCERT_OK;
}

#else /* !CONCERT_HAVE_SQLITE */

int concert_storage_sqlite_open(concert_storage **out, const char *location,
                                const concert_options *opts)
{
    (void)location;
    (void)opts;
    if (out)
        *out = NULL;
    return concert_sys_error_set(CONCERT_ENOTSUP,
                                 "sqlite: this libconcert was built without SQLite support "
                                 "(configure with -DCONCERT_WITH_SQLITE=ON and libsqlite3-dev)");
}

#endif
