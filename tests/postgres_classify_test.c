/*
 * The PostgreSQL backend's retry policy as a table (pgb_verdict, pgb_abort),
 * without a server: a lost connection is "in doubt" (reported, never re-run)
 * exactly when the statement was sent and would have committed, whatever
 * the SQLSTATE; everything the server itself refused on a live session, or
 * that lost its connection before anything could commit, is what it says.
 * The end-to-end proof against a real server is
 * tests/reliability/pg_commit_proxy.py.
 */
#include <concert/concert.h>
#include <criterion/criterion.h>
#include <string.h>

#include "../lib/storage/postgres_internal.h"

/* sent and commits as pgb_classify passes them. */
enum {
    NOT_SENT = 0,
    SENT = 1
};
enum {
    READS = 0,
    COMMITS = 1
};

static void expect(const char *state, int conn_bad, int sent, int commits, int code,
                   pg_fail_kind kind)
{
    pg_verdict v = pgb_verdict(state, conn_bad, sent, commits);
    cr_assert_eq(v.code, code, "state %s conn_bad %d sent %d commits %d: code %d, want %d",
                 state ? state : "(none)", conn_bad, sent, commits, v.code, code);
    cr_assert_eq(v.kind, kind, "state %s conn_bad %d sent %d commits %d: kind %d, want %d",
                 state ? state : "(none)", conn_bad, sent, commits, (int)v.kind, (int)kind);
    cr_assert(v.prefix && strncmp(v.prefix, "postgresql: ", 12) == 0);
}

/* The defect of issue 14: 57P01 can answer a COMMIT (or an auto-commit
 * write) that the server committed; taken as "aborted", the step ran twice. */
Test(pg_classify, shutdown_errors_with_a_commit_in_flight_are_in_doubt)
{
    static const char *const states[] = { "57P01", "57P02", "57P03", "08006", "08003" };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        expect(states[i], 1, SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_CONN_DOUBT);
        /* Read before libpq noticed the end of the session. */
        expect(states[i], 0, SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_CONN_DOUBT);
    }
    /* No answer at all: the connection dropped. */
    expect(NULL, 1, SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_CONN_DOUBT);
}

Test(pg_classify, a_lost_connection_is_safe_when_nothing_could_commit)
{
    static const char *const states[] = { "57P01", "57P02", "57P03", "08006", NULL };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        /* A read, or a statement inside a block before COMMIT. */
        expect(states[i], 1, SENT, READS, CONCERT_ESTORAGE, PG_FAIL_CONN_SAFE);
        /* Never reached the server. */
        expect(states[i], 1, NOT_SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_CONN_SAFE);
        expect(states[i], 1, NOT_SENT, READS, CONCERT_ESTORAGE, PG_FAIL_CONN_SAFE);
    }
}

Test(pg_classify, the_servers_own_refusals_on_a_live_session)
{
    /* Rolled back by the server: retried (bounded) even for a write. */
    expect("40001", 0, SENT, COMMITS, CONCERT_EBUSY, PG_FAIL_CONFLICT);
    expect("40P01", 0, SENT, COMMITS, CONCERT_EBUSY, PG_FAIL_CONFLICT);
    expect("55P03", 0, SENT, COMMITS, CONCERT_EBUSY, PG_FAIL_FINAL);
    expect("57014", 0, SENT, COMMITS, CONCERT_EBUSY, PG_FAIL_FINAL);
    expect("53100", 0, SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_FINAL);
    expect("28P01", 0, SENT, READS, CONCERT_ESTORAGE, PG_FAIL_FINAL);
    expect("25006", 0, SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_FINAL);
    expect("23505", 0, SENT, COMMITS, CONCERT_EINTERNAL, PG_FAIL_FINAL);
    expect("42P01", 0, SENT, READS, CONCERT_EINTERNAL, PG_FAIL_FINAL);
}

Test(pg_classify, a_conflict_on_a_dead_session_is_still_in_doubt)
{
    /* The session is gone: its last answer proves nothing about a commit. */
    expect("40001", 1, SENT, COMMITS, CONCERT_ESTORAGE, PG_FAIL_CONN_DOUBT);
}

Test(pg_classify, the_invariant_refusal_says_so)
{
    pg_verdict v = pgb_verdict("23514", 0, SENT, COMMITS);
    cr_assert(strstr(v.prefix, "invariant"), "%s", v.prefix);
}

/* pgb_abort leaves a block that failed before COMMIT: a lost connection
 * there committed nothing, any other kind is kept. */
Test(pg_classify, abort_before_commit_makes_a_lost_connection_safe)
{
    pg_slot slot;
    pg_error err;
    static const pg_fail_kind kept[] = { PG_FAIL_FINAL, PG_FAIL_CONFLICT, PG_FAIL_CONN_SAFE };

    memset(&slot, 0, sizeof(slot)); /* not connected: nothing to roll back */
    pgb_error_fill(&err, CONCERT_ESTORAGE, PG_FAIL_CONN_DOUBT, "lost");
    cr_assert_eq(pgb_abort(&slot, &err), -1);
    cr_assert_eq(err.kind, PG_FAIL_CONN_SAFE);
    cr_assert_eq(err.code, CONCERT_ESTORAGE);
    cr_assert_str_eq(err.message, "lost");
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        pgb_error_fill(&err, CONCERT_EBUSY, kept[i], "kept");
        cr_assert_eq(pgb_abort(&slot, &err), -1);
        cr_assert_eq(err.kind, kept[i]);
    }
}
