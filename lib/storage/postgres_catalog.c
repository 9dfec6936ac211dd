/*
 * PostgreSQL backend: catalog reads (concerts, schedules, free seats) and
 * the catalog load, one transaction whose rows are sent in pipelined
 * batches.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

static void concert_from_row(const PGresult *res, int row, concert_concert *c)
{
    memset(c, 0, sizeof(*c));
    c->id = col_int(res, row, 0);
    c->status = (int32_t)col_int(res, row, 1);
    col_text(res, row, 2, c->title, sizeof(c->title));
    c->max_per_user = (int32_t)col_int(res, row, 3);
}

static int pg_concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                            void *ctx)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, status);
    if ((rc = pgb_query((pg_store *)self, PG_CONCERTS_LIST, &p, 0, &res)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_concert c;
        concert_from_row(res, i, &c);
        rc = emit(ctx, &c);
    }
    PQclear(res);
    return rc;
}

/* Cached like schedules (pg_schedule_get): a concert never changes once
 * loaded. Only found ones are remembered. */
static int pg_concert_get(concert_storage *self, int64_t concert_id, concert_concert *out)
{
    pg_store *st = (pg_store *)self;
    concert_concert *cached = &st->concert_cache[(uint64_t)concert_id % PG_CONCERT_CACHE];
    pg_params p = { 0 };
    PGresult *res;
    int rc, hit;

    pthread_mutex_lock(&st->cache_mutex);
    hit = cached->id == concert_id && concert_id != 0;
    if (hit)
        *out = *cached;
    pthread_mutex_unlock(&st->cache_mutex);
    if (hit)
        return CONCERT_OK;

    param_int(&p, concert_id);
    if ((rc = pgb_query(st, PG_CONCERT_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0) {
        rc = concert_sys_error_set(CONCERT_ECONCERT_NOT_FOUND, "concert %lld not found",
                                   (long long)concert_id);
    } else {
        concert_from_row(res, 0, out);
        pthread_mutex_lock(&st->cache_mutex);
        *cached = *out;
        pthread_mutex_unlock(&st->cache_mutex);
    }
    PQclear(res);
    return rc;
}

static int pg_schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after,
                             int64_t now, concert_emit_schedule_fn emit, void *ctx, int64_t *total)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, concert_id);
    param_int(&p, starts_after);
    param_int(&p, now);
    if ((rc = pgb_query((pg_store *)self, PG_SCHEDULES_LIST, &p, 0, &res)) != 0)
        return rc;
    if (total)
        *total = PQntuples(res) > 0 ? col_int(res, 0, 3) : 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_schedule s;
        memset(&s, 0, sizeof(s));
        s.id = col_int(res, i, 0);
        s.concert_id = concert_id;
        s.starts_at = col_int(res, i, 1);
        if (s.starts_at <= starts_after)
            continue;
        s.available_seats = col_int(res, i, 2);
        rc = emit(ctx, &s);
    }
    PQclear(res);
    return rc;
}

static int pg_schedule_get(concert_storage *self, int64_t schedule_id,
                           concert_storage_schedule *out)
{
    pg_store *st = (pg_store *)self;
    concert_storage_schedule *cached =
        &st->schedule_cache[(uint64_t)schedule_id % PG_SCHEDULE_CACHE];
    pg_params p = { 0 };
    PGresult *res;
    int rc, hit;

    pthread_mutex_lock(&st->cache_mutex);
    hit = cached->id == schedule_id && schedule_id != 0;
    if (hit)
        *out = *cached;
    pthread_mutex_unlock(&st->cache_mutex);
    if (hit)
        return CONCERT_OK;

    param_int(&p, schedule_id);
    if ((rc = pgb_query(st, PG_SCHEDULE_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0) {
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)schedule_id);
    } else {
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 0);
        out->concert_id = col_int(res, 0, 1);
        out->starts_at = col_int(res, 0, 2);
        out->concert_status = (int32_t)col_int(res, 0, 3);
        out->max_per_user = (int32_t)col_int(res, 0, 4);
        pthread_mutex_lock(&st->cache_mutex);
        *cached = *out;
        pthread_mutex_unlock(&st->cache_mutex);
    }
    PQclear(res);
    return rc;
}

static int pg_seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                              concert_emit_seat_fn emit, void *ctx)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, schedule_id);
    param_int(&p, now);
    if ((rc = pgb_query((pg_store *)self, PG_SEATS_AVAILABLE, &p, 0, &res)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_seat s;
        memset(&s, 0, sizeof(s));
        s.number = col_int(res, i, 0);
        s.price = col_int(res, i, 1);
        col_text(res, i, 2, s.grade, sizeof(s.grade));
        rc = emit(ctx, &s);
    }
    PQclear(res);
    return rc;
}

/* Every seat with its state: one statement, so one snapshot (READ
 * COMMITTED takes one per statement), read through the seats' primary key
 * (schedule_id, number), already in seat order. The FREE case is
 * PG_SEATS_AVAILABLE's predicate, so the two agree at the same now. */
static int pg_seat_map(concert_storage *self, int64_t schedule_id, int64_t now,
                       concert_emit_seat_state_fn emit, void *ctx)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, schedule_id);
    param_int(&p, now);
    if ((rc = pgb_query((pg_store *)self, PG_SEAT_MAP, &p, 0, &res)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_seat_state s;
        memset(&s, 0, sizeof(s));
        s.seat.number = col_int(res, i, 0);
        s.seat.price = col_int(res, i, 1);
        col_text(res, i, 2, s.seat.grade, sizeof(s.seat.grade));
        s.status = (int32_t)col_int(res, i, 3);
        if (s.status == CONCERT_SEAT_HELD)
            s.held_until = col_int(res, i, 4);
        rc = emit(ctx, &s);
    }
    PQclear(res);
    return rc;
}

/* Catalog rows sent per pipeline round trip. */
#define PG_PIPELINE_BATCH 256

typedef enum load_kind {
    LOAD_USER,
    LOAD_CONCERT,
    LOAD_SCHEDULE,
    LOAD_SEATS
} load_kind;

/* Which catalog entry a pipelined statement came from, to name it. */
typedef struct load_item {
    load_kind kind;
    size_t i, j;
    int64_t id;
} load_item;

typedef struct load_state {
    const concert_catalog *catalog;
    int64_t now;
    load_item batch[PG_PIPELINE_BATCH];
    int batch_count;
    int failed; /* a conflict or error was found: stop sending */
} load_state;

static void load_conflict(const load_item *it, pg_error *err)
{
    switch (it->kind) {
    case LOAD_USER:
        pgb_error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                       "users[%zu].id: user %lld already exists", it->i, (long long)it->id);
        break;
    case LOAD_CONCERT:
        pgb_error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                       "concerts[%zu].id: concert %lld already exists", it->i, (long long)it->id);
        break;
    case LOAD_SCHEDULE:
        pgb_error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                       "concerts[%zu].schedules[%zu].id: schedule %lld already exists", it->i,
                       it->j, (long long)it->id);
        break;
    case LOAD_SEATS:
        pgb_error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                       "concerts[%zu].schedules[%zu]: seats already exist", it->i, it->j);
        break;
    }
}

/* Read the results of the batch sent so far, up to its sync point. */
static int load_flush(pg_slot *slot, load_state *ls, pg_error *err)
{
    PGresult *res;
    int have_error = err->message[0] != '\0';

    if (ls->batch_count == 0)
        return 0;
    if (!PQpipelineSync(slot->conn)) {
        pgb_classify(slot->conn, NULL, 1, 1, err);
        return -1;
    }
    for (int k = 0; k < ls->batch_count; k++) {
        for (;;) {
            /* Bounded by the step's deadline: a hung server ends the load. */
            if (pgb_next_result(slot, &res, err) != 0) {
                ls->failed = 1;
                return -1;
            }
            if (!res)
                break;
            ExecStatusType s = PQresultStatus(res);
            if (!have_error) {
                if (s == PGRES_TUPLES_OK && ls->batch[k].kind != LOAD_SEATS &&
                    PQntuples(res) == 0) {
                    load_conflict(&ls->batch[k], err);
                    have_error = 1;
                } else if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
                    pgb_classify(slot->conn, res, 1, 1, err);
                    if (err->code == CONCERT_EINTERNAL && ls->batch[k].kind == LOAD_SEATS)
                        load_conflict(&ls->batch[k], err);
                    have_error = 1;
                }
            }
            PQclear(res);
            if (PQstatus(slot->conn) == CONNECTION_BAD)
                break;
        }
        if (PQstatus(slot->conn) == CONNECTION_BAD) {
            if (!have_error)
                pgb_classify(slot->conn, NULL, 1, 1, err);
            return -1;
        }
    }
    /* The sync point. */
    if (pgb_next_result(slot, &res, err) != 0) {
        ls->failed = 1;
        return -1;
    }
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && !have_error) {
        pgb_classify(slot->conn, res, 1, 1, err);
        have_error = 1;
    }
    PQclear(res);
    ls->batch_count = 0;
    if (have_error)
        ls->failed = 1;
    return have_error ? -1 : 0;
}

static int load_send(pg_slot *slot, load_state *ls, pg_stmt stmt, const pg_params *p,
                     load_item item, pg_error *err)
{
    if (ls->failed)
        return -1;
    if (!PQsendQueryPrepared(slot->conn, pgb_stmt_name(stmt), p->count, p->values, NULL, NULL, 0)) {
        pgb_classify(slot->conn, NULL, 1, 1, err);
        ls->failed = 1;
        return -1;
    }
    ls->batch[ls->batch_count++] = item;
    if (ls->batch_count == PG_PIPELINE_BATCH)
        return load_flush(slot, ls, err);
    return 0;
}

static int load_rows(pg_slot *slot, load_state *ls, pg_error *err)
{
    const concert_catalog *c = ls->catalog;

    for (size_t i = 0; i < c->user_count; i++) {
        const concert_catalog_user *u = &c->users[i];
        pg_params p = { 0 };
        param_int(&p, u->id);
        param_text(&p, u->name);
        param_int(&p, u->points);
        param_int(&p, ls->now);
        if (load_send(slot, ls, PG_LOAD_USER, &p, (load_item){ LOAD_USER, i, 0, u->id }, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < c->concert_count; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        pg_params p = { 0 };
        param_int(&p, cc->id);
        param_text(&p, cc->title);
        param_int(&p, cc->status);
        param_int(&p, cc->max_per_user);
        if (load_send(slot, ls, PG_LOAD_CONCERT, &p, (load_item){ LOAD_CONCERT, i, 0, cc->id },
                      err) != 0)
            return -1;
        for (size_t j = 0; j < cc->schedule_count; j++) {
            const concert_catalog_schedule *s = &cc->schedules[j];
            pg_params ps = { 0 };
            param_int(&ps, s->id);
            param_int(&ps, cc->id);
            param_int(&ps, s->starts_at);
            if (load_send(slot, ls, PG_LOAD_SCHEDULE, &ps,
                          (load_item){ LOAD_SCHEDULE, i, j, s->id }, err) != 0)
                return -1;
            for (size_t k = 0; k < s->seat_range_count; k++) {
                const concert_catalog_seat_range *r = &s->seats[k];
                pg_params pr = { 0 };
                param_int(&pr, s->id);
                param_text(&pr, r->grade);
                param_int(&pr, r->price);
                param_int(&pr, r->from);
                param_int(&pr, r->to);
                if (load_send(slot, ls, PG_LOAD_SEATS, &pr, (load_item){ LOAD_SEATS, i, j, 0 },
                              err) != 0)
                    return -1;
            }
        }
    }
    return load_flush(slot, ls, err);
}

static int load_body(pg_slot *slot, void *ctx, pg_error *err)
{
    load_state *ls = ctx;
    int rc;

    ls->batch_count = 0;
    ls->failed = 0;
    err->message[0] = '\0';
    if (pgb_ensure_prepared(slot, PG_LOAD_USER, err) != 0 ||
        pgb_ensure_prepared(slot, PG_LOAD_CONCERT, err) != 0 ||
        pgb_ensure_prepared(slot, PG_LOAD_SCHEDULE, err) != 0 ||
        pgb_ensure_prepared(slot, PG_LOAD_SEATS, err) != 0)
        return -1;
    if (pgb_begin(slot, NULL, err) != 0)
        return -1;
    if (pgb_exec_simple(slot, PG_BULK_TIMEOUT_SQL, 0, err) != 0)
        goto rollback;
    if (!PQenterPipelineMode(slot->conn)) {
        pgb_classify(slot->conn, NULL, 0, 0, err);
        goto rollback;
    }
    rc = load_rows(slot, ls, err);
    if (rc != 0 && ls->batch_count > 0 && PQstatus(slot->conn) == CONNECTION_OK) {
        /* Drain what was sent after the failure so the pipeline can end. */
        pg_error ignored = *err;
        load_flush(slot, ls, &ignored);
    }
    if (PQstatus(slot->conn) != CONNECTION_OK || !PQexitPipelineMode(slot->conn)) {
        if (rc == 0)
            pgb_classify(slot->conn, NULL, 1, 0, err);
        /* Before COMMIT: nothing committed (pgb_run drops the connection). */
        return pgb_abort(slot, err);
    }
    if (rc != 0)
        goto rollback;
    /* Nothing is committed before COMMIT: a connection lost until here is safe
     * to retry; lost during COMMIT, the outcome is unknown (in doubt). */
    if (pgb_commit(slot, 1, err) != 0)
        return -1;
    /* Fresh statistics, so that the planner knows the new rows (a failure
     * here changes nothing stored). */
    {
        pg_error ignored;
        pgb_exec_simple(
            slot, "ANALYZE concert.users, concert.schedules, concert.seats, concert.list_changes",
            0, &ignored);
    }
    return 0;

rollback:
    return pgb_abort(slot, err);
}

static int pg_catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now)
{
    load_state *ls = calloc(1, sizeof(*ls));
    int rc;
    if (!ls)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: out of memory loading catalog");
    ls->catalog = catalog;
    ls->now = now;
    rc = pgb_run((pg_store *)self, load_body, ls);
    free(ls);
    return rc;
}

void pgb_install_catalog(concert_storage *base)
{
    base->concerts_list = pg_concerts_list;
    base->concert_get = pg_concert_get;
    base->schedules_list = pg_schedules_list;
    base->schedule_get = pg_schedule_get;
    base->seats_available = pg_seats_available;
    base->seat_map = pg_seat_map;
    base->catalog_load = pg_catalog_load;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
