/*
 * PostgreSQL storage backend over libpq.
 *
 * Shape: a pool of connections (opts->pool_size) shared by every thread;
 * each domain step is ONE statement, usually a call of a server-side
 * PL/pgSQL function (postgres_schema_sql.h), so it is one round trip and one
 * transaction built on row locks and conditional UPDATEs. Statements
 * (postgres_sql.h) are prepared lazily per connection and take bound
 * parameters only.
 *
 * Files: this one opens and assembles the table; postgres_conn.c (pool,
 * execution, retries, error mapping), postgres_schema.c, and one file per
 * area of methods (queue, catalog, booking, points, verify, retention:
 * list versions and prune).
 *
 * Failures: serialization failures and deadlocks are retried a bounded
 * number of times, then CONCERT_EBUSY. A connection found dead (the server
 * restarted) is replaced, and the step retried once when it cannot have
 * committed. While the server is down every call fails fast with
 * CONCERT_ESTORAGE; timeouts (connect, statement, lock) bound every wait.
 * SQLSTATEs never leave the backend; libpq's message goes to the error detail.
 * The schema is described in docs/storage-postgres.md.
 */
#include <concert/sys/storage.h>

#ifndef CONCERT_HAVE_POSTGRES

int concert_storage_postgres_open(concert_storage **out, const char *location,
                                  const concert_options *opts)
{
    (void)location;
    (void)opts;
    if (out)
        *out = NULL;
    return concert_sys_error_set(CONCERT_ENOTSUP,
                                 "postgresql: this libconcert was built without PostgreSQL "
                                 "support (configure with -DCONCERT_WITH_POSTGRES=ON and libpq)");
}

#else

#include "postgres_internal.h"

static void pg_free(concert_storage *self)
{
    pgb_store_free((pg_store *)self);
}

static int pg_counters(concert_storage *self, concert_storage_counters *out)
{
    pg_store *st = (pg_store *)self;
    out->retries = atomic_load_explicit(&st->retries, memory_order_relaxed);
    out->reconnects = atomic_load_explicit(&st->reconnects, memory_order_relaxed);
    return CONCERT_OK;
}

int concert_storage_postgres_open(concert_storage **out, const char *location,
                                  const concert_options *opts)
{
    pg_store *st;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !location)
        return concert_sys_error_set(CONCERT_EINVAL, "postgresql: NULL argument");
    st = calloc(1, sizeof(*st));
    if (!st)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: out of memory");
    if ((rc = pgb_store_init(st, location, opts)) != 0 || (rc = pgb_schema_ensure(st, opts)) != 0) {
        pgb_store_free(st);
        return rc;
    }

    st->base.version = CONCERT_STORAGE_VERSION;
    st->base.name = "postgresql";
    st->base.free = pg_free;
    st->base.counters = pg_counters;
    pgb_install_queue(&st->base);
    pgb_install_catalog(&st->base);
    pgb_install_booking(&st->base);
    pgb_install_points(&st->base);
    pgb_install_verify(&st->base);
    pgb_install_retention(&st->base);
    *out = &st->base;
    return CONCERT_OK;
}

#endif /* CONCERT_HAVE_POSTGRES */
