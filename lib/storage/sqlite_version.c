/*
 * SQLite backend: the free lists' versions (list_version in
 * concert/sys/storage.h) and the change counter that every hold, release
 * and sale bumps.
 *
 * A version is read by one statement, which SQLite runs in one read
 * transaction: the counter and the expiry bound always describe the same
 * committed state, whichever process wrote it. Its cost does not depend on
 * the schedule's size: the schedule's row (its counter), the store's
 * identity row, and one probe of seats_held_by_expiry per schedule in scope
 * for the latest hold that has run out. Nothing is written.
 *
 * Why equal versions mean equal lists: a seat row changes only in a hold,
 * a release or a sale, each of which bumps its schedule's counter in the
 * same transaction. While the counter stands still, the seats under a hold
 * and their hold_until are fixed, and a seat's freedom depends only on
 * whether its hold_until <= now; the holds that have run out are then
 * exactly those with hold_until <= the latest such hold_until, which is
 * expired_through. For a concert, the sum of its schedules' counters stands
 * still only if each does (they only grow), and past tells which schedules
 * the core no longer lists.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <string.h>

#include "sqlite_internal.h"

static const char SQL_SCHEDULE_BUMP[] = "UPDATE schedules SET changes = changes + 1 WHERE id = ?1";
/* The latest hold_until <= now of a schedule's held seats: one probe of the
 * partial index (hold_until > 0 repeats its condition so that the planner
 * can use it; INDEXED BY makes any other plan an error, not a seat scan). */
#define SQ_LATEST_EXPIRY(schedule)                                                                 \
    "(SELECT t.hold_until FROM seats t INDEXED BY seats_held_by_expiry"                            \
    "  WHERE t.schedule_id = " schedule " AND t.hold_until > 0 AND t.hold_until <= ?2"             \
    "  ORDER BY t.hold_until DESC LIMIT 1)"
static const char SQL_SCHEDULE_VERSION[] =
    "SELECT (SELECT epoch FROM store_identity WHERE id = 1), s.changes,"
    "  coalesce(" SQ_LATEST_EXPIRY("s.id") ", 0)"
                                           " FROM schedules s WHERE s.id = ?1";
/* Through schedules_by_concert: one row and one probe per schedule of the
 * concert (a concert has a handful). */
static const char SQL_CONCERT_VERSION[] =
    "SELECT (SELECT epoch FROM store_identity WHERE id = 1), coalesce(sum(s.changes), 0),"
    "  coalesce(max(" SQ_LATEST_EXPIRY("s.id") "), 0), coalesce(sum(s.starts_at <= ?3), 0)"
                                               " FROM schedules s WHERE s.concert_id = ?1";

int sq_schedule_changed(sq_conn *c, int64_t schedule_id, const char *what)
{
    int rc = sq_exec(c, SQL_SCHEDULE_BUMP, SQ_ARGS(SQ_I(schedule_id)), what);
    if (rc != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "sqlite: schedule %lld vanished under a write transaction",
                                     (long long)schedule_id);
    return CONCERT_OK;
}

int sq_list_version(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                    int64_t starts_after, int64_t now, concert_list_version *out)
{
    const char *what = "list_version";
    sq_store *s = (sq_store *)self;
    sqlite3_stmt *st;
    sq_conn *c;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    if (schedule_id > 0)
        rc = sq_query(c, SQL_SCHEDULE_VERSION, SQ_ARGS(SQ_I(schedule_id), SQ_I(now)), &st, what);
    else
        rc = sq_query(c, SQL_CONCERT_VERSION,
                      SQ_ARGS(SQ_I(concert_id), SQ_I(now), SQ_I(starts_after)), &st, what);
    if (rc == 0 && (rc = sq_step(c, st, what)) == 1) {
        out->epoch = sqlite3_column_int64(st, 0);
        out->changes = sqlite3_column_int64(st, 1);
        out->expired_through = sqlite3_column_int64(st, 2);
        out->past = schedule_id > 0 ? 0 : sqlite3_column_int64(st, 3);
        sq_done(st);
        rc = 0;
    } else if (rc == 0) {
        /* The core checked that it exists; an aggregate always has a row. */
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)schedule_id);
    }
    return sq_read_end(s, c, 0, rc, what);
}

#else
typedef int concert_sqlite_version_compiled_out;
#endif
