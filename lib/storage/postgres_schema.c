/*
 * PostgreSQL backend: creating and migrating the schema on open. The SQL is
 * in postgres_schema_sql.h and documented in docs/storage-postgres.md.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include <sys/random.h>
#include <time.h>

#include "postgres_internal.h"
#include "postgres_schema_sql.h"
#include "postgres_schema5_sql.h"
#include "postgres_schema6_sql.h"
#include "postgres_schema7_sql.h"

/* PG_MIGRATIONS[v]: the statements that take a store from v - 1 to v. */
static const char *const *const PG_MIGRATIONS[PG_SCHEMA_VERSION + 1] = {
    NULL,           PG_MIGRATION_1, PG_MIGRATION_2, PG_MIGRATION_3,
    PG_MIGRATION_4, PG_MIGRATION_5, PG_MIGRATION_6, PG_MIGRATION_7
};

typedef struct schema_ctx {
    int64_t max_active;          /* the options' values: they seed the shared */
    int64_t admit_per_minute;    /* settings of a store that has none yet */
    const concert_options *opts; /* the random source, for the epoch */
    int64_t now;                 /* the opening's clock */
} schema_ctx;

/* Run fixed SQL with one integer parameter. */
static int exec_with_int(pg_slot *slot, const char *sql, int64_t value, pg_error *err)
{
    char text[24];
    const char *values[1] = { text };
    PGresult *res;
    snprintf(text, sizeof(text), "%lld", (long long)value);
    if (!(res = pgb_exec_params(slot, sql, 1, values, 1, err)))
        return -1;
    PQclear(res);
    return 0;
}

/* The epoch from the db's random source when it has one (deterministic
 * tests stay deterministic), else the OS; positive. */
static int store_epoch(const concert_options *opts, int64_t *out, pg_error *err)
{
    uint64_t v = 0;
    int rc = opts && opts->random ? opts->random(opts->random_ctx, (unsigned char *)&v, sizeof(v))
                                  : (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v) ? 0 : -1);
    if (rc != 0) {
        pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL,
                       "postgresql: no random bytes for the store's epoch");
        return -1;
    }
    *out = (int64_t)(v >> 1);
    return 0;
}

/* What version 5 needs from this side: the store's epoch (random: two
 * stores whose counters could repeat must differ) and an end time for
 * tokens that ended before ends were recorded. */
static int retention_seed(pg_slot *slot, const schema_ctx *sc, pg_error *err)
{
    int64_t epoch;
    if (store_epoch(sc->opts, &epoch, err) != 0 ||
        exec_with_int(slot, PG_SCHEMA5_EPOCH_SQL, epoch, err) != 0)
        return -1;
    return exec_with_int(slot, PG_SCHEMA5_ENDED_SQL, sc->now, err);
}

/* Seed the shared queue settings (a new store, or one from before they
 * existed). An existing store's settings are never touched. */
static int settings_seed(pg_slot *slot, const schema_ctx *sc, pg_error *err)
{
    char max_text[24], rate_text[24];
    const char *values[2] = { max_text, rate_text };
    PGresult *res;
    snprintf(max_text, sizeof(max_text), "%lld", (long long)sc->max_active);
    snprintf(rate_text, sizeof(rate_text), "%lld", (long long)sc->admit_per_minute);
    res = pgb_exec_params(slot,
                          "UPDATE concert.queue_state SET max_active = $1::bigint, "
                          "admit_per_minute = $2::bigint WHERE id = 1",
                          2, values, 1, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* Read one integer from a fixed query; -1 with err filled on failure. */
static int query_int(pg_slot *slot, const char *sql, int64_t *out, int *found, pg_error *err)
{
    PGresult *res = pgb_exec_params(slot, sql, 0, NULL, 0, err);
    if (!res)
        return -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pgb_error_fill(err, CONCERT_EINTERNAL, PG_FAIL_FINAL, "postgresql: %s returned no rows",
                       sql);
        PQclear(res);
        return -1;
    }
    *found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    *out = *found ? col_int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

/*
 * Create or migrate the schema, under an advisory lock so that several
 * processes opening a fresh database at once do it exactly once.
 */
static int schema_body(pg_slot *slot, void *ctx, pg_error *err)
{
    const schema_ctx *sc = ctx;
    int64_t version = 0, exists = 0;
    int found;

    if (pgb_begin(slot, NULL, err) != 0)
        return -1;
    if (pgb_exec_simple(slot, PG_BULK_TIMEOUT_SQL, 0, err) != 0 ||
        pgb_exec_simple(slot, PG_LOCK_SCHEMA_SQL, 0, err) != 0)
        goto rollback;
    if (query_int(slot, "SELECT CASE WHEN to_regclass('concert.meta') IS NULL THEN 0 ELSE 1 END",
                  &exists, &found, err) != 0)
        goto rollback;
    if (exists && query_int(slot, "SELECT value FROM concert.meta WHERE name = 'schema_version'",
                            &version, &found, err) != 0)
        goto rollback;
    if (version > PG_SCHEMA_VERSION) {
        pgb_error_fill(err, CONCERT_ESCHEMA, PG_FAIL_FINAL,
                       "postgresql: the store's schema is version %lld, newer than this "
                       "libconcert (%s) understands (%d): upgrade libconcert",
                       (long long)version, CONCERT_VERSION_STRING, PG_SCHEMA_VERSION);
        goto rollback;
    }
    if (version == PG_SCHEMA_VERSION)
        return pgb_commit(slot, 0, err); /* read only: a lost COMMIT is safe */
    for (int64_t v = version + 1; v <= PG_SCHEMA_VERSION; v++) {
        for (const char *const *sql = PG_MIGRATIONS[v]; *sql; sql++) {
            if (pgb_exec_simple(slot, *sql, 1, err) != 0)
                goto rollback;
        }
    }
    if (version < PG_SCHEMA_SETTINGS_VERSION && settings_seed(slot, sc, err) != 0)
        goto rollback;
    if (version < PG_SCHEMA_RETENTION_VERSION && retention_seed(slot, sc, err) != 0)
        goto rollback;
    if (pgb_exec_simple(slot, PG_SCHEMA_VERSION_UPDATE_SQL, 1, err) != 0)
        goto rollback;
    /* Lost during COMMIT: in doubt, reported (opening the store again finds
     * the version it reached and goes on from there). */
    return pgb_commit(slot, 1, err);

rollback:
    return pgb_abort(slot, err);
}

static int64_t open_now(const concert_options *opts)
{
    struct timespec ts;
    if (opts && opts->clock)
        return opts->clock(opts->clock_ctx);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pgb_schema_ensure(pg_store *st, const concert_options *opts)
{
    /* opts come resolved from the core (max_active >= 1); the fallback is
     * the documented default, for a direct caller of
     * concert_storage_postgres_open with zeroed options. */
    schema_ctx sc = { opts && opts->max_active > 0 ? opts->max_active : 1000,
                      opts && opts->admit_per_minute > 0 ? opts->admit_per_minute : 0, opts,
                      open_now(opts) };
    return pgb_run(st, schema_body, &sc);
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
