/*
 * mp_race: several processes on one store race for the same seats and the
 * same balance, then the parent checks every invariant.
 *
 *   mp_race STORE_URI [PROCESSES]
 *
 * The store must be empty (the caller provides a fresh file or database).
 * Store-agnostic: SQLite and PostgreSQL register the same program. Each
 * child process opens its own handle and, as its own buyer, joins the queue,
 * waits to be admitted, reserves the lowest free seat (everyone wants the
 * same one) and pays, until it owns two seats or none is left; between
 * steps it charges a shared user's balance under idempotency keys and
 * replays every key once. The parent watches the queue while they run and
 * afterwards checks: every seat sold exactly once to exactly one buyer,
 * exact balances and ledgers, max_active never exceeded, concert_admin_verify
 * clean. Exit status 0 when all holds, 1 otherwise (with the reasons).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <concert/concert.h>

#define MAX_PROCESSES 32
#define SEATS 12 /* fewer than the buyers can afford: a real race */
#define SEAT_PRICE 100
#define BUYER_POINTS 250 /* enough for two seats */
#define SEATS_PER_BUYER 2
#define MAX_ACTIVE 4
#define CHARGES_PER_PROCESS 20
#define SHARED_USER 900
#define SCHEDULE 77
#define DEADLINE_S 120

typedef struct child_report {
    int32_t finished; /* reached the end of its plan */
    int32_t paid;     /* seats bought */
    int64_t seats[SEATS_PER_BUYER];
    int64_t reservations[SEATS_PER_BUYER];
    int64_t charged;  /* points added to the shared user, first attempts */
    int32_t charges;  /* successful first attempts */
    int32_t over_max; /* times it saw more than MAX_ACTIVE active */
    int32_t errors;
    char first_error[256];
} child_report;

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mp_race: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

static double monotonic_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static concert_options race_options(void)
{
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.max_active = MAX_ACTIVE;
    o.pool_size = 2;
    return o;
}

static void note_error(child_report *r, const char *step, int rc)
{
    if (r->errors++ == 0)
        snprintf(r->first_error, sizeof(r->first_error), "%s: %s (%s)", step,
                 concert_error_name(rc), concert_error_last()->message);
}

/* ---- the child: one buyer ---- */

static void charge_shared(concert_db *db, int index, int *done, child_report *r)
{
    char key[64];
    int64_t first = 0, again = 0;
    int rc;

    if (*done >= CHARGES_PER_PROCESS)
        return;
    snprintf(key, sizeof(key), "p%d-charge-%d", index, *done);
    rc = concert_charge_points(&first, db, SHARED_USER, index + 1, key);
    if (rc != 0) {
        note_error(r, "charge", rc);
        return;
    }
    r->charged += index + 1;
    r->charges++;
    (*done)++;
    /* A retry of the same request must change nothing and say the same. */
    rc = concert_charge_points(&again, db, SHARED_USER, index + 1, key);
    if (rc != 0)
        note_error(r, "charge replay", rc);
    else if (again != first)
        note_error(r, "charge replay reported another balance", CONCERT_EINTERNAL);
}

static void watch_queue(concert_db *db, child_report *r)
{
    concert_queue_stats st;
    int rc = concert_queue_stats_get(&st, db);
    if (rc != 0)
        note_error(r, "queue stats", rc);
    else if (st.active > MAX_ACTIVE)
        r->over_max++;
}

/* Wait in line until admitted. 0 when ACTIVE. */
static int wait_for_admission(concert_db *db, int index, concert_token_info *t, int *charges,
                              child_report *r, double deadline)
{
    int rc = concert_queue_issue(t, db, index + 1);
    if (rc != 0) {
        note_error(r, "queue issue", rc);
        return rc;
    }
    while (t->state != CONCERT_TOKEN_ACTIVE) {
        if (monotonic_s() > deadline) {
            note_error(r, "still waiting at the deadline", CONCERT_EBUSY);
            return CONCERT_EBUSY;
        }
        charge_shared(db, index, charges, r);
        watch_queue(db, r);
        pause_ms(2);
        if ((rc = concert_queue_status_get(t, db, t->token)) != 0) {
            note_error(r, "queue status", rc);
            return rc;
        }
    }
    return 0;
}

/* One admitted visit: take the lowest free seat and pay for it.
 * 1 bought, 0 nothing left to buy, < 0 error. */
static int buy_one(concert_db *db, int index, const concert_token_info *t, child_report *r)
{
    concert_seat_list *seats = NULL;
    int rc = concert_seats_available(&seats, db, t->token, SCHEDULE);
    int bought = 0;

    if (rc != 0) {
        note_error(r, "seats", rc);
        return rc;
    }
    for (size_t i = 0; i < seats->count && !bought; i++) {
        concert_reservation res;
        concert_payment p, replay;
        char key[64];
        rc = concert_reserve_seat(&res, db, t->token, SCHEDULE, seats->items[i].number);
        if (rc == CONCERT_ESEAT_TAKEN)
            continue; /* lost this seat to another process: try the next */
        if (rc != 0) {
            note_error(r, "reserve", rc);
            break;
        }
        /* A buyer looks at the hold before paying: this is the window in
         * which a broken store would let another process take the seat. */
        if ((rc = concert_reservation_get(&res, db, t->token, res.id)) != 0 ||
            res.status != CONCERT_RESERVATION_HELD) {
            note_error(r, "reading back the hold", rc ? rc : CONCERT_EINTERNAL);
            break;
        }
        pause_ms(1);
        snprintf(key, sizeof(key), "p%d-pay-%d", index, r->paid);
        if ((rc = concert_pay(&p, db, t->token, res.id, key)) != 0) {
            note_error(r, "pay", rc);
            break;
        }
        r->seats[r->paid] = res.seat_number;
        r->reservations[r->paid] = res.id;
        r->paid++;
        bought = 1;
        /* The token is consumed; the key still replays the same payment. */
        rc = concert_pay(&replay, db, t->token, res.id, key);
        if (rc != 0)
            note_error(r, "pay replay", rc);
        else if (replay.id != p.id || replay.balance != p.balance)
            note_error(r, "pay replay reported another payment", CONCERT_EINTERNAL);
    }
    concert_seat_list_free(seats);
    if (!bought && r->errors == 0) {
        /* Nothing bought on this visit: give the slot back to the line. */
        rc = concert_queue_leave(db, t->token);
        if (rc != 0)
            note_error(r, "leave", rc);
    }
    return r->errors ? -1 : bought;
}

static void child_main(const char *uri, int index, int report_fd, double deadline)
{
    concert_options o = race_options();
    concert_db *db = NULL;
    child_report r;
    int charges = 0, rc;

    memset(&r, 0, sizeof(r));
    rc = concert_db_open(&db, uri, &o);
    if (rc != 0) {
        note_error(&r, "open", rc);
    } else {
        while (r.paid < SEATS_PER_BUYER && r.errors == 0) {
            concert_token_info t;
            if (wait_for_admission(db, index, &t, &charges, &r, deadline) != 0)
                break;
            rc = buy_one(db, index, &t, &r);
            if (rc <= 0) {
                /* None left (or an error): nothing more to buy. */
                break;
            }
        }
        while (charges < CHARGES_PER_PROCESS && r.errors == 0)
            charge_shared(db, index, &charges, &r);
        r.finished = r.errors == 0;
    }
    concert_db_close(db);
    if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(2);
    _exit(0);
}

/* ---- the parent ---- */

static int load_catalog(const char *uri, int processes)
{
    concert_options o = race_options();
    concert_catalog_user users[MAX_PROCESSES + 1];
    static char names[MAX_PROCESSES][32];
    concert_catalog_seat_range range[] = { { 1, SEATS, "R", SEAT_PRICE } };
    concert_catalog_schedule schedule[1];
    concert_catalog_concert concert[1];
    concert_catalog cat;
    concert_db *db = NULL;
    int rc = concert_db_open(&db, uri, &o);

    if (rc != 0) {
        fprintf(stderr, "mp_race: cannot open %s: %s\n", uri, concert_error_last()->message);
        return rc;
    }
    for (int i = 0; i < processes; i++) {
        snprintf(names[i], sizeof(names[i]), "racer %d", i + 1);
        users[i] = (concert_catalog_user){ i + 1, names[i], BUYER_POINTS };
    }
    users[processes] = (concert_catalog_user){ SHARED_USER, "shared wallet", 0 };
    schedule[0] = (concert_catalog_schedule){ SCHEDULE, concert_db_now(db) + 86400000, range, 1 };
    concert[0] = (concert_catalog_concert){ 7, "Race Night", CONCERT_STATUS_OPEN, 0, schedule, 1 };
    cat = (concert_catalog){ CONCERT_CATALOG_VERSION, users, (size_t)processes + 1, concert, 1 };
    rc = concert_catalog_load(db, &cat);
    if (rc != 0)
        fprintf(stderr, "mp_race: catalog load failed (is the store empty?): %s\n",
                concert_error_last()->message);
    concert_db_close(db);
    return rc;
}

static int check_balances(concert_db *db, const child_report *reports, int processes)
{
    int64_t expected_shared = 0, bal = 0;
    int32_t shared_entries = 0;
    concert_ledger_list *h = NULL;
    char detail[256];

    for (int i = 0; i < processes; i++) {
        int64_t expected = BUYER_POINTS - (int64_t)SEAT_PRICE * reports[i].paid;
        if (concert_points_balance_get(&bal, db, i + 1) != 0 || bal != expected) {
            snprintf(detail, sizeof(detail), "racer %d: balance %lld, expected %lld", i + 1,
                     (long long)bal, (long long)expected);
            fail("%s", detail);
        }
        if (concert_ledger_list_get(&h, db, i + 1) != 0 ||
            h->count != (size_t)(1 + reports[i].paid)) {
            snprintf(detail, sizeof(detail), "racer %d: %zu ledger entries, expected %d", i + 1,
                     h ? h->count : 0, 1 + reports[i].paid);
            fail("%s", detail);
        }
        concert_ledger_list_free(h);
        h = NULL;
        expected_shared += reports[i].charged;
        shared_entries += reports[i].charges;
    }
    if (concert_points_balance_get(&bal, db, SHARED_USER) != 0 || bal != expected_shared) {
        snprintf(detail, sizeof(detail), "shared wallet: balance %lld, expected %lld",
                 (long long)bal, (long long)expected_shared);
        fail("%s", detail);
    }
    if (concert_ledger_list_get(&h, db, SHARED_USER) != 0 || h->count != (size_t)shared_entries) {
        snprintf(detail, sizeof(detail), "shared wallet: %zu ledger entries, expected %d",
                 h ? h->count : 0, shared_entries);
        fail("%s", detail);
    }
    concert_ledger_list_free(h);
    return (int)expected_shared;
}

static void check_seats(const child_report *reports, int processes, int *sold)
{
    int owner[SEATS + 1];
    char detail[128];

    for (int s = 0; s <= SEATS; s++)
        owner[s] = -1;
    *sold = 0;
    for (int i = 0; i < processes; i++) {
        for (int k = 0; k < reports[i].paid; k++) {
            int64_t seat = reports[i].seats[k];
            if (seat < 1 || seat > SEATS) {
                snprintf(detail, sizeof(detail), "racer %d bought seat %lld", i + 1,
                         (long long)seat);
                fail("%s", detail);
                continue;
            }
            if (owner[seat] >= 0) {
                snprintf(detail, sizeof(detail), "seat %lld sold to racers %d and %d",
                         (long long)seat, owner[seat] + 1, i + 1);
                fail("%s", detail);
            }
            owner[seat] = i;
            (*sold)++;
        }
    }
    if (*sold != SEATS) {
        snprintf(detail, sizeof(detail), "%d of %d seats sold, demand exceeded supply", *sold,
                 SEATS);
        fail("%s", detail);
    }
}

static void check_store(const char *uri, const child_report *reports, int processes, int max_seen)
{
    concert_options o = race_options();
    concert_verify_report *rep = NULL;
    concert_queue_stats st;
    concert_db *db = NULL;
    char detail[256];
    int sold = 0, shared;

    check_seats(reports, processes, &sold);
    if (concert_db_open(&db, uri, &o) != 0) {
        fail("reopen: %s", concert_error_last()->message);
        return;
    }
    shared = check_balances(db, reports, processes);
    if (concert_admin_verify(&rep, db) != 0) {
        fail("verify: %s", concert_error_last()->message);
    } else {
        for (size_t i = 0; i < rep->violation_count; i++)
            fail("verify: %s", rep->violations[i]);
        if (rep->seats_sold != sold || rep->payments != sold) {
            snprintf(detail, sizeof(detail),
                     "verify counts %lld sold seats and %lld payments, "
                     "the racers bought %d",
                     (long long)rep->seats_sold, (long long)rep->payments, sold);
            fail("%s", detail);
        }
        concert_verify_report_free(rep);
    }
    if (concert_queue_stats_get(&st, db) != 0 || st.active != 0) {
        snprintf(detail, sizeof(detail), "%lld tokens still ACTIVE after every racer finished",
                 (long long)st.active);
        fail("%s", detail);
    }
    concert_db_close(db);
    printf("mp_race: %d processes, %d seats sold once each, shared wallet %d points from %d "
           "keyed charges (each replayed), at most %d of %d active seen\n",
           processes, sold, shared, processes * CHARGES_PER_PROCESS, max_seen, MAX_ACTIVE);
}

/* While the racers run, the parent samples the queue from its own handle. */
static int watch_until_done(const char *uri, pid_t *pids, int processes, double deadline)
{
    concert_options o = race_options();
    concert_db *db = NULL;
    int running = processes, max_seen = 0;

    if (concert_db_open(&db, uri, &o) != 0) {
        fail("watcher open: %s", concert_error_last()->message);
        return 0;
    }
    while (running > 0) {
        concert_queue_stats st;
        if (concert_queue_stats_get(&st, db) == 0) {
            if (st.active > max_seen)
                max_seen = (int)st.active;
        } else {
            fail("watcher stats: %s", concert_error_last()->message);
        }
        for (int i = 0; i < processes; i++) {
            int status;
            if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    fail("%s", "a racer process died");
                pids[i] = 0;
                running--;
            }
        }
        if (monotonic_s() > deadline + 10) {
            for (int i = 0; i < processes; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            fail("%s", "racers did not finish before the deadline");
            deadline = 1e18; /* kill once, then reap */
        }
        pause_ms(1);
    }
    concert_db_close(db);
    if (max_seen > MAX_ACTIVE) {
        char detail[64];
        snprintf(detail, sizeof(detail), "%d tokens ACTIVE at once", max_seen);
        fail("%s", detail);
    }
    return max_seen;
}

int main(int argc, char **argv)
{
    child_report reports[MAX_PROCESSES];
    pid_t pids[MAX_PROCESSES];
    int fds[MAX_PROCESSES][2];
    int processes = 8, max_seen;
    double start = monotonic_s(), deadline = start + DEADLINE_S;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s STORE_URI [PROCESSES (2..%d, default 8)]\n", argv[0],
                MAX_PROCESSES);
        return 2;
    }
    if (argc == 3) {
        char *end = NULL;
        long n;
        errno = 0;
        n = strtol(argv[2], &end, 10);
        if (errno || !end || *end || n < 2 || n > MAX_PROCESSES) {
            fprintf(stderr, "mp_race: PROCESSES must be 2..%d\n", MAX_PROCESSES);
            return 2;
        }
        processes = (int)n;
    }
    if (load_catalog(argv[1], processes) != 0)
        return 1;

    /* No handle is open across fork(): each racer opens its own. */
    for (int i = 0; i < processes; i++) {
        if (pipe(fds[i]) != 0) {
            perror("pipe");
            return 1;
        }
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            return 1;
        }
        if (pids[i] == 0) {
            close(fds[i][0]);
            child_main(argv[1], i, fds[i][1], deadline);
        }
        close(fds[i][1]);
    }
    max_seen = watch_until_done(argv[1], pids, processes, deadline);
    for (int i = 0; i < processes; i++) {
        memset(&reports[i], 0, sizeof(reports[i]));
        if (read(fds[i][0], &reports[i], sizeof(reports[i])) != (ssize_t)sizeof(reports[i]))
            fail("%s", "a racer sent no report");
        close(fds[i][0]);
        if (!reports[i].finished)
            fail("racer error: %s", reports[i].first_error[0] ? reports[i].first_error : "?");
        if (reports[i].over_max > 0)
            fail("%s", "a racer saw more than max_active tokens ACTIVE");
    }
    check_store(argv[1], reports, processes, max_seen);
    printf("mp_race: %s in %.2f s\n", failures ? "FAILED" : "all invariants hold",
           monotonic_s() - start);
    return failures ? 1 : 0;
}
