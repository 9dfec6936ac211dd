/*
 * A fresh store per scenario, so that no run inherits another's rows:
 * memory: as is; SQLite: a new file in the temp dir; PostgreSQL: a new
 * database created through the --pg server and dropped afterwards.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef BENCH_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "bench.h"

static unsigned store_serial;

const char *bench_store_name(int kind)
{
    switch (kind) {
    case STORE_MEMORY:
        return "memory";
    case STORE_SQLITE:
        return "sqlite";
    case STORE_PG:
        return "postgresql";
    default:
        return "?";
    }
}

#ifdef BENCH_HAVE_LIBPQ
/* Append 'value' quoted for a conninfo string (backslash and quote escaped). */
static int append_quoted(char *buf, size_t size, size_t *len, const char *key, const char *value)
{
    int n = snprintf(buf + *len, size - *len, "%s='", key);
    if (n < 0 || (size_t)n >= size - *len)
        return -1;
    *len += (size_t)n;
    for (const char *p = value; *p; p++) {
        if (*len + 3 >= size)
            return -1;
        if (*p == '\'' || *p == '\\')
            buf[(*len)++] = '\\';
        buf[(*len)++] = *p;
    }
    if (*len + 3 >= size)
        return -1;
    buf[(*len)++] = '\'';
    buf[(*len)++] = ' ';
    buf[*len] = '\0';
    return 0;
}

/* The --pg conninfo (keyword or URI form) with dbname replaced. */
static int conninfo_with_db(char *out, size_t size, const char *conninfo, const char *dbname)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    size_t len = 0;
    int rc = 0;
    if (!opts) {
        bench_log("--pg: %s", err ? err : "cannot parse the conninfo");
        PQfreemem(err);
        return -1;
    }
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++) {
        if (o->val && o->val[0] && strcmp(o->keyword, "dbname") != 0)
            rc = append_quoted(out, size, &len, o->keyword, o->val);
    }
    if (rc == 0)
        rc = append_quoted(out, size, &len, "dbname", dbname);
    PQconninfoFree(opts);
    if (rc != 0)
        bench_log("--pg: conninfo too long");
    return rc;
}

static int pg_admin(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = 0;
    if (PQstatus(c) != CONNECTION_OK) {
        bench_log("--pg: cannot connect: %s", PQerrorMessage(c));
        rc = -1;
    } else {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            bench_log("--pg: %s: %s", sql, PQerrorMessage(c));
            rc = -1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}
#endif

int bench_store_open(bench_store *st, int kind, const bench_options *o, const concert_options *opts)
{
    memset(st, 0, sizeof(*st));
    st->kind = kind;
    const unsigned serial = ++store_serial;
    switch (kind) {
    case STORE_MEMORY:
        snprintf(st->uri, sizeof(st->uri), "memory:");
        break;
    case STORE_SQLITE: {
        int n = snprintf(st->sqlite_path, sizeof(st->sqlite_path), "%s/concert-bench-%ld-%u.db",
                         o->tmpdir, (long)getpid(), serial);
        if (n < 0 || (size_t)n >= sizeof(st->sqlite_path)) {
            bench_log("temp dir path too long");
            return -1;
        }
        n = snprintf(st->uri, sizeof(st->uri), "sqlite:%s", st->sqlite_path);
        if (n < 0 || (size_t)n >= sizeof(st->uri))
            return -1;
        break;
    }
    case STORE_PG: {
#ifdef BENCH_HAVE_LIBPQ
        char sql[128];
        if (!o->pg_conninfo) {
            bench_log("postgresql store needs --pg CONNINFO");
            return -1;
        }
        snprintf(st->pg_dbname, sizeof(st->pg_dbname), "concert_bench_%ld_%u", (long)getpid(),
                 serial);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", st->pg_dbname);
        st->pg_admin = o->pg_conninfo;
        if (pg_admin(o->pg_conninfo, sql) != 0) {
            st->pg_dbname[0] = '\0';
            return -1;
        }
        if (conninfo_with_db(st->uri, sizeof(st->uri), o->pg_conninfo, st->pg_dbname) != 0) {
            bench_store_close(st);
            return -1;
        }
        break;
#else
        bench_log("concert-bench was built without libpq");
        return -1;
#endif
    }
    default:
        return -1;
    }
    if (concert_db_open(&st->db, st->uri, opts) != 0) {
        bench_log("cannot open %s store: %s", bench_store_name(kind),
                  concert_error_last()->message);
        bench_store_close(st);
        return -1;
    }
    return 0;
}

void bench_store_close(bench_store *st)
{
    concert_db_close(st->db);
    st->db = NULL;
    if (st->sqlite_path[0]) {
        static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
            char path[960];
            const int n = snprintf(path, sizeof(path), "%s%s", st->sqlite_path, suffixes[i]);
            if (n > 0 && (size_t)n < sizeof(path))
                unlink(path);
        }
        st->sqlite_path[0] = '\0';
    }
#ifdef BENCH_HAVE_LIBPQ
    if (st->pg_dbname[0]) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", st->pg_dbname);
        (void)pg_admin(st->pg_admin, sql);
        st->pg_dbname[0] = '\0';
    }
#endif
}
