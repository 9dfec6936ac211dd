/*
 * SQLite backend: concerts, schedules and seats, and loading a catalog.
 * Reads run on pooled readers; the load is one durable write transaction.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <string.h>

#include "sqlite_internal.h"

static const char SQL_CONCERTS[] =
    "SELECT id, status, title, max_per_user FROM concerts WHERE ?1 = 0 OR status = ?1"
    " ORDER BY id";
static const char SQL_CONCERT[] =
    "SELECT id, status, title, max_per_user FROM concerts WHERE id = ?1";
/* Free seats counted through the (schedule_id, number) primary key: linear
 * in that schedule's seats. The unary + tells the planner that the
 * sold_reservation_id test is a filter, never an index to search. */
static const char SQL_SCHEDULES[] =
    "SELECT s.id, s.starts_at,"
    "  (SELECT count(*) FROM seats t WHERE t.schedule_id = s.id"
    "     AND +t.sold_reservation_id IS NULL AND t.hold_until <= ?3)"
    " FROM schedules s WHERE s.concert_id = ?1 AND s.starts_at > ?2"
    " ORDER BY s.starts_at, s.id";
static const char SQL_SCHEDULE_TOTAL[] = "SELECT count(*) FROM schedules WHERE concert_id = ?1";
static const char SQL_SCHEDULE[] =
    "SELECT s.id, s.concert_id, s.starts_at, c.status, c.max_per_user FROM schedules s"
    " JOIN concerts c ON c.id = s.concert_id WHERE s.id = ?1";
static const char SQL_SEATS_FREE[] =
    "SELECT number, price, grade FROM seats WHERE schedule_id = ?1"
    " AND +sold_reservation_id IS NULL AND hold_until <= ?2 ORDER BY number";
/* Every seat with its state, through the same primary key. The FREE branch
 * is exactly SQL_SEATS_FREE's predicate (a sold seat has hold_until 0 by
 * the table's CHECK), so the map's free seats are the free list's. */
static const char SQL_SEAT_MAP[] =
    "SELECT number, price, grade,"
    "  CASE WHEN sold_reservation_id IS NOT NULL THEN 3 WHEN hold_until > ?2 THEN 2 ELSE 1 END,"
    "  hold_until"
    " FROM seats WHERE schedule_id = ?1 ORDER BY number";

static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id = ?1";
static const char SQL_CONCERT_EXISTS[] = "SELECT 1 FROM concerts WHERE id = ?1";
static const char SQL_SCHEDULE_EXISTS[] = "SELECT 1 FROM schedules WHERE id = ?1";
static const char SQL_USER_INSERT[] = "INSERT INTO users (id, name, balance) VALUES (?1, ?2, ?3)";
static const char SQL_OPENING_CHARGE[] =
    "INSERT INTO ledger (user_id, type, amount, balance_after, at, reservation_id)"
    " VALUES (?1, 1, ?2, ?2, ?3, NULL)";
static const char SQL_CONCERT_INSERT[] =
    "INSERT INTO concerts (id, title, status, max_per_user) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_SCHEDULE_INSERT[] =
    "INSERT INTO schedules (id, concert_id, starts_at) VALUES (?1, ?2, ?3)";
/* One statement per seat range: the numbers are generated inside SQLite,
 * which is about twice as fast as one INSERT per seat from C. */
static const char SQL_SEAT_RANGE_INSERT[] =
    "WITH RECURSIVE n(number) AS (SELECT ?2 UNION ALL SELECT number + 1 FROM n WHERE number < ?3)"
    " INSERT INTO seats (schedule_id, number, grade, price) SELECT ?1, number, ?4, ?5 FROM n";

static sq_store *store_of(concert_storage *self)
{
    return (sq_store *)self;
}

static void concert_read(sqlite3_stmt *st, concert_concert *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    out->status = (int32_t)sqlite3_column_int64(st, 1);
    sq_text_copy(out->title, sizeof(out->title), st, 2);
    out->max_per_user = (int32_t)sqlite3_column_int64(st, 3);
}

/* The emitters' contexts of the list steps (sq_query_rows hands each row to
 * a reader that builds the item and emits it). */
typedef struct concert_rows {
    concert_emit_concert_fn emit;
    void *ctx;
} concert_rows;

static int concert_row(void *arg, sqlite3_stmt *st)
{
    concert_rows *r = arg;
    concert_concert item;
    concert_read(st, &item);
    return r->emit(r->ctx, &item);
}

int sq_concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit, void *ctx)
{
    const char *what = "concerts_list";
    sq_store *s = store_of(self);
    concert_rows rows = { emit, ctx };
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    rc = sq_query_rows(c, SQL_CONCERTS, SQ_ARGS(SQ_I(status)), concert_row, &rows, what);
    return sq_read_end(s, c, 0, rc, what);
}

int sq_concert_get(concert_storage *self, int64_t concert_id, concert_concert *out)
{
    const char *what = "concert_get";
    sq_store *s = store_of(self);
    sqlite3_stmt *st;
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    if ((rc = sq_query(c, SQL_CONCERT, SQ_ARGS(SQ_I(concert_id)), &st, what)) == 0 &&
        (rc = sq_step(c, st, what)) == 1) {
        concert_read(st, out);
        sq_done(st);
        rc = 0;
    } else if (rc == 0) {
        rc = concert_sys_error_set(CONCERT_ECONCERT_NOT_FOUND, "concert %lld not found",
                                   (long long)concert_id);
    }
    return sq_read_end(s, c, 0, rc, what);
}

typedef struct schedule_rows {
    concert_emit_schedule_fn emit;
    void *ctx;
    int64_t concert_id;
} schedule_rows;

static int schedule_row(void *arg, sqlite3_stmt *st)
{
    schedule_rows *r = arg;
    concert_schedule item;
    memset(&item, 0, sizeof(item));
    item.id = sqlite3_column_int64(st, 0);
    item.concert_id = r->concert_id;
    item.starts_at = sqlite3_column_int64(st, 1);
    item.available_seats = sqlite3_column_int64(st, 2);
    return r->emit(r->ctx, &item);
}

int sq_schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after, int64_t now,
                      concert_emit_schedule_fn emit, void *ctx, int64_t *total)
{
    const char *what = "schedules_list";
    sq_store *s = store_of(self);
    schedule_rows rows = { emit, ctx, concert_id };
    sq_conn *c;
    int rc;

    /* One snapshot: the total and the list describe the same moment. */
    if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
        return rc;
    rc = sq_one_i64(c, SQL_SCHEDULE_TOTAL, SQ_ARGS(SQ_I(concert_id)), total, what);
    if (rc >= 0)
        rc = sq_query_rows(c, SQL_SCHEDULES,
                           SQ_ARGS(SQ_I(concert_id), SQ_I(starts_after), SQ_I(now)), schedule_row,
                           &rows, what);
    return sq_read_end(s, c, 1, rc, what);
}

int sq_schedule_get(concert_storage *self, int64_t schedule_id, concert_storage_schedule *out)
{
    const char *what = "schedule_get";
    sq_store *s = store_of(self);
    sqlite3_stmt *st;
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    if ((rc = sq_query(c, SQL_SCHEDULE, SQ_ARGS(SQ_I(schedule_id)), &st, what)) == 0 &&
        (rc = sq_step(c, st, what)) == 1) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        out->concert_id = sqlite3_column_int64(st, 1);
        out->starts_at = sqlite3_column_int64(st, 2);
        out->concert_status = (int32_t)sqlite3_column_int64(st, 3);
        out->max_per_user = (int32_t)sqlite3_column_int64(st, 4);
        sq_done(st);
        rc = 0;
    } else if (rc == 0) {
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)schedule_id);
    }
    return sq_read_end(s, c, 0, rc, what);
}

typedef struct seat_rows {
    concert_emit_seat_fn emit;
    concert_emit_seat_state_fn emit_state;
    void *ctx;
} seat_rows;

static int seat_row(void *arg, sqlite3_stmt *st)
{
    seat_rows *r = arg;
    concert_seat item;
    memset(&item, 0, sizeof(item));
    item.number = sqlite3_column_int64(st, 0);
    item.price = sqlite3_column_int64(st, 1);
    sq_text_copy(item.grade, sizeof(item.grade), st, 2);
    return r->emit(r->ctx, &item);
}

static int seat_state_row(void *arg, sqlite3_stmt *st)
{
    seat_rows *r = arg;
    concert_seat_state item;
    memset(&item, 0, sizeof(item));
    item.seat.number = sqlite3_column_int64(st, 0);
    item.seat.price = sqlite3_column_int64(st, 1);
    sq_text_copy(item.seat.grade, sizeof(item.seat.grade), st, 2);
    item.status = (int32_t)sqlite3_column_int64(st, 3);
    if (item.status == CONCERT_SEAT_HELD)
        item.held_until = sqlite3_column_int64(st, 4);
    return r->emit_state(r->ctx, &item);
}

int sq_seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                       concert_emit_seat_fn emit, void *ctx)
{
    const char *what = "seats_available";
    sq_store *s = store_of(self);
    seat_rows rows = { emit, NULL, ctx };
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    rc = sq_query_rows(c, SQL_SEATS_FREE, SQ_ARGS(SQ_I(schedule_id), SQ_I(now)), seat_row, &rows,
                       what);
    return sq_read_end(s, c, 0, rc, what);
}

int sq_seat_map(concert_storage *self, int64_t schedule_id, int64_t now,
                concert_emit_seat_state_fn emit, void *ctx)
{
    const char *what = "seat_map";
    sq_store *s = store_of(self);
    seat_rows rows = { NULL, emit, ctx };
    sq_conn *c;
    int rc;

    /* One statement: SQLite reads it from one snapshot of the WAL. */
    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    rc = sq_query_rows(c, SQL_SEAT_MAP, SQ_ARGS(SQ_I(schedule_id), SQ_I(now)), seat_state_row,
                       &rows, what);
    return sq_read_end(s, c, 0, rc, what);
}

/* ---- loading ---- */

/* 1 if a row with this id exists already, 0 if not, < 0 error. */
static int exists(sq_conn *c, const char *sql, int64_t id)
{
    int64_t one = 0;
    return sq_one_i64(c, sql, SQ_ARGS(SQ_I(id)), &one, "catalog_load");
}

static int load_users(sq_conn *c, const concert_catalog *cat, int64_t now)
{
    for (size_t i = 0; i < cat->user_count; i++) {
        const concert_catalog_user *u = &cat->users[i];
        int rc = exists(c, SQL_USER_EXISTS, u->id);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return concert_sys_error_set(
                CONCERT_ECONFLICT, "users[%zu].id: user %lld already exists", i, (long long)u->id);
        rc = sq_exec(c, SQL_USER_INSERT, SQ_ARGS(SQ_I(u->id), SQ_T(u->name), SQ_I(u->points)),
                     "catalog_load");
        /* Opening points are a CHARGE, so the balance is the sum of the ledger. */
        if (rc == 0 && u->points > 0)
            rc = sq_exec(c, SQL_OPENING_CHARGE, SQ_ARGS(SQ_I(u->id), SQ_I(u->points), SQ_I(now)),
                         "catalog_load");
        if (rc != 0)
            return rc;
    }
    return CONCERT_OK;
}

static int load_seats(sq_conn *c, const concert_catalog_schedule *sc)
{
    for (size_t r = 0; r < sc->seat_range_count; r++) {
        const concert_catalog_seat_range *range = &sc->seats[r];
        int rc = sq_exec(c, SQL_SEAT_RANGE_INSERT,
                         SQ_ARGS(SQ_I(sc->id), SQ_I(range->from), SQ_I(range->to),
                                 SQ_T(range->grade), SQ_I(range->price)),
                         "catalog_load");
        if (rc != 0)
            return rc;
    }
    return CONCERT_OK;
}

static int load_concerts(sq_conn *c, const concert_catalog *cat)
{
    const char *what = "catalog_load";
    for (size_t i = 0; i < cat->concert_count; i++) {
        const concert_catalog_concert *cc = &cat->concerts[i];
        int rc = exists(c, SQL_CONCERT_EXISTS, cc->id);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return concert_sys_error_set(CONCERT_ECONFLICT,
                                         "concerts[%zu].id: concert %lld already exists", i,
                                         (long long)cc->id);
        rc = sq_exec(
            c, SQL_CONCERT_INSERT,
            SQ_ARGS(SQ_I(cc->id), SQ_T(cc->title), SQ_I(cc->status), SQ_I(cc->max_per_user)), what);
        if (rc != 0)
            return rc;
        for (size_t j = 0; j < cc->schedule_count; j++) {
            const concert_catalog_schedule *sc = &cc->schedules[j];
            if ((rc = exists(c, SQL_SCHEDULE_EXISTS, sc->id)) < 0)
                return rc;
            if (rc == 1)
                return concert_sys_error_set(CONCERT_ECONFLICT,
                                             "concerts[%zu].schedules[%zu].id: schedule %lld "
                                             "already exists",
                                             i, j, (long long)sc->id);
            rc = sq_exec(c, SQL_SCHEDULE_INSERT,
                         SQ_ARGS(SQ_I(sc->id), SQ_I(cc->id), SQ_I(sc->starts_at)), what);
            if (rc == 0)
                rc = load_seats(c, sc);
            if (rc != 0)
                return rc;
        }
    }
    return CONCERT_OK;
}

int sq_catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    /* All or nothing, and durable: one transaction, fsynced at commit. */
    int rc = sq_write_begin(s, 1, &c, "catalog_load");
    if (rc != 0)
        return rc;
    rc = load_users(c, catalog, now);
    if (rc == 0)
        rc = load_concerts(c, catalog);
    return sq_write_end(s, c, rc, "catalog_load");
}

#else
typedef int concert_sqlite_catalog_compiled_out;
#endif
