/*
 * mp_version: the free lists' versions across processes (issue 12). A
 * change one process commits is seen by another process's very next
 * version call, and nothing else changes a version.
 *
 *   mp_version STORE_URI [ROUNDS]
 *
 * The store must be empty (the caller provides a fresh file or database).
 * The parent (the actor) loads a catalog and forks a watcher, which opens a
 * handle of its own. Both read one fake clock, an int64 in shared memory
 * that only the parent moves. Lockstep through two pipes: the actor makes
 * one change and commits it, then asks the watcher to look; the watcher
 * reads the seat list's version of schedule 10 and the schedule list's
 * version of concert 1, then both lists, and reports them all. For each
 * step the actor knows whether each version must change:
 *   hold on 10            both new
 *   a charge, a join      both the same (no seat changed)
 *   release on 10         both new
 *   hold, release on 11   schedule 10's the same, the concert's new
 *   hold and pay on 10    both new
 *   a hold's last ms      both the same; at held_until both new (the seat
 *                         is free again); a minute later the same
 * and the watcher's lists must equal the actor's own (read after the
 * commit). Over the whole run, equal versions always came with equal
 * lists. ROUNDS (default 3) repeats the sequence on other seats.
 * Exit status 0 when all of that holds, 1 otherwise (with the reasons).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concert/concert.h>

#define START_MS INT64_C(1893456000000) /* 2030-01-01: any fixed time */
#define DAY_MS INT64_C(86400000)
#define MINUTE_MS INT64_C(60000)
#define HOLD_TTL_MS (2 * MINUTE_MS)
#define SEATS 40 /* per schedule; a bitmap of free seats fits 64 bits */
#define SEATS_PER_ROUND 4
#define MAX_ROUNDS (SEATS / SEATS_PER_ROUND)
#define ACTOR 1
#define WATCHER 2
#define SCHEDULE 10
#define OTHER_SCHEDULE 11
#define CONCERT 1
#define MAX_SEEN 256

enum {
    CMD_LOOK = 'l',
    CMD_QUIT = 'q'
};

/* What the watcher saw at one look. */
typedef struct look {
    concert_list_version seats;   /* schedule 10's list */
    concert_list_version concert; /* concert 1's schedule list */
    uint64_t free_seats;          /* bit n: seat n of schedule 10 is free */
    int64_t free_counts;          /* schedule 10's count * 1000 + 11's */
    int32_t rc;
    char error[200];
} look;

static _Atomic int64_t *shared_now;
static int failures;

static int64_t shared_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(shared_now);
}

static concert_options options(void)
{
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.clock = shared_clock;
    o.hold_ttl_ms = HOLD_TTL_MS;
    o.active_ttl_ms = DAY_MS; /* tokens outlive the run */
    o.max_holds_per_user = 0;
    return o;
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mp_version: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

static int version_equal(const concert_list_version *a, const concert_list_version *b)
{
    return a->epoch == b->epoch && a->changes == b->changes &&
           a->expired_through == b->expired_through && a->past == b->past;
}

/* Both lists as the watcher (or the actor) sees them; 0 or an error. */
static int lists_read(concert_db *db, const char *token, uint64_t *free_seats, int64_t *free_counts)
{
    concert_seat_list *seats = NULL;
    concert_schedule_list *schedules = NULL;
    int rc;

    *free_seats = 0;
    *free_counts = 0;
    if ((rc = concert_seats_available(&seats, db, token, SCHEDULE)) != 0)
        return rc;
    for (size_t i = 0; i < seats->count; i++)
        *free_seats |= UINT64_C(1) << seats->items[i].number;
    concert_seat_list_free(seats);
    if ((rc = concert_schedule_list_get(&schedules, db, token, CONCERT)) != 0)
        return rc;
    for (size_t i = 0; i < schedules->count; i++) {
        if (schedules->items[i].id == SCHEDULE)
            *free_counts += schedules->items[i].available_seats * 1000;
        else
            *free_counts += schedules->items[i].available_seats;
    }
    concert_schedule_list_free(schedules);
    return 0;
}

/* ---- the watcher ---- */

static void watcher_look(concert_db *db, look *out)
{
    concert_token_info t;
    int rc;

    memset(out, 0, sizeof(*out));
    /* The versions first, as a server reads them before the list they will
     * label. The join answers the watcher's live token (ACTIVE for the
     * whole run); it changes no seat, so no version either. */
    if ((rc = concert_queue_issue(&t, db, WATCHER)) == 0 &&
        (rc = concert_seat_list_version_get(&out->seats, db, t.token, SCHEDULE)) == 0 &&
        (rc = concert_schedule_list_version_get(&out->concert, db, t.token, CONCERT)) == 0)
        rc = lists_read(db, t.token, &out->free_seats, &out->free_counts);
    out->rc = rc;
    if (rc != 0)
        snprintf(out->error, sizeof out->error, "%s: %s", concert_error_name(rc),
                 concert_error_last()->message);
}

static void watcher_main(const char *uri, int cmd_fd, int report_fd)
{
    concert_options o = options();
    concert_db *db = NULL;
    char cmd;
    look l;
    int rc = concert_db_open(&db, uri, &o);

    while (read(cmd_fd, &cmd, 1) == 1 && cmd == CMD_LOOK) {
        if (rc != 0) {
            memset(&l, 0, sizeof l);
            l.rc = rc;
            snprintf(l.error, sizeof l.error, "open: %s", concert_error_last()->message);
        } else {
            watcher_look(db, &l);
        }
        if (write(report_fd, &l, sizeof l) != (ssize_t)sizeof l)
            _exit(2);
    }
    concert_db_close(db);
    _exit(0);
}

/* ---- the actor ---- */

typedef struct actor {
    concert_db *db;
    char token[CONCERT_TOKEN_SIZE];
    int cmd_fd, report_fd;
    look last;           /* the previous look */
    look seen[MAX_SEEN]; /* every look, for the promise itself */
    size_t seen_count;
} actor;

static int catalog_load(concert_db *db)
{
    const concert_catalog_user users[] = { { ACTOR, "actor", 100000000 },
                                           { WATCHER, "watcher", 0 } };
    const concert_catalog_seat_range seats[] = { { 1, SEATS, "R", 10 } };
    const concert_catalog_schedule schedules[] = { { SCHEDULE, START_MS + DAY_MS, seats, 1 },
                                                   { OTHER_SCHEDULE, START_MS + 2 * DAY_MS, seats,
                                                     1 } };
    const concert_catalog_concert concerts[] = { { CONCERT, "Versions", CONCERT_STATUS_OPEN, 0,
                                                   schedules, 2 } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, users, 2, concerts, 1 };
    return concert_catalog_load(db, &cat);
}

static int actor_token(actor *a)
{
    concert_token_info t;
    int rc = concert_queue_issue(&t, a->db, ACTOR);
    if (rc == 0 && t.state != CONCERT_TOKEN_ACTIVE)
        rc = CONCERT_ETOKEN_NOT_ACTIVE;
    if (rc == 0)
        memcpy(a->token, t.token, sizeof a->token);
    return rc;
}

/* Ask the watcher to look; 0 or -1 (a broken pipe or its error). */
static int watcher_ask(actor *a, look *out)
{
    const char cmd = CMD_LOOK;
    if (write(a->cmd_fd, &cmd, 1) != 1 || read(a->report_fd, out, sizeof *out) != sizeof *out) {
        fail("the watcher stopped answering");
        return -1;
    }
    if (out->rc != 0) {
        fail("the watcher: %s", out->error);
        return -1;
    }
    return 0;
}

/*
 * After one committed change: the watcher's look, checked against what
 * must have changed, against the actor's own lists, and against every
 * earlier look with the same versions.
 */
static void step(actor *a, const char *what, int seats_change, int concert_change)
{
    uint64_t free_seats = 0;
    int64_t free_counts = 0;
    look now;
    int rc;

    if (watcher_ask(a, &now) != 0)
        return;
    if ((rc = lists_read(a->db, a->token, &free_seats, &free_counts)) != 0) {
        fail("%s: the actor's lists: %s", what, concert_error_last()->message);
        return;
    }
    if (version_equal(&now.seats, &a->last.seats) == seats_change)
        fail("%s: schedule %d's version %s (changes %lld, expired_through %lld)", what, SCHEDULE,
             seats_change ? "stayed" : "changed", (long long)now.seats.changes,
             (long long)now.seats.expired_through);
    if (version_equal(&now.concert, &a->last.concert) == concert_change)
        fail("%s: concert %d's version %s (changes %lld, expired_through %lld)", what, CONCERT,
             concert_change ? "stayed" : "changed", (long long)now.concert.changes,
             (long long)now.concert.expired_through);
    if (now.free_seats != free_seats || now.free_counts != free_counts)
        fail("%s: the watcher's lists differ from the actor's (seats %#llx vs %#llx, counts "
             "%lld vs %lld)",
             what, (unsigned long long)now.free_seats, (unsigned long long)free_seats,
             (long long)now.free_counts, (long long)free_counts);
    for (size_t i = 0; i < a->seen_count; i++) {
        const look *old = &a->seen[i];
        if (version_equal(&old->seats, &now.seats) && old->free_seats != now.free_seats)
            fail("%s: schedule %d's version repeats look %zu with another list", what, SCHEDULE, i);
        if (version_equal(&old->concert, &now.concert) && old->free_counts != now.free_counts)
            fail("%s: concert %d's version repeats look %zu with other counts", what, CONCERT, i);
    }
    if (a->seen_count < MAX_SEEN)
        a->seen[a->seen_count++] = now;
    a->last = now;
}

static int check(int rc, const char *what)
{
    if (rc != 0)
        fail("%s: %s: %s", what, concert_error_name(rc), concert_error_last()->message);
    return rc;
}

static void round_run(actor *a, int round)
{
    const int64_t seat = 1 + (int64_t)round * SEATS_PER_ROUND;
    concert_reservation r, other;
    concert_payment p;
    int64_t balance;

    if (check(actor_token(a), "join") != 0)
        return;
    step(a, "a join", 0, 0);

    if (check(concert_reserve_seat(&r, a->db, a->token, SCHEDULE, seat), "hold") != 0)
        return;
    step(a, "hold", 1, 1);
    if (check(concert_charge_points(&balance, a->db, ACTOR, 1, NULL), "charge") != 0)
        return;
    step(a, "a charge", 0, 0);
    if (check(concert_reservation_release(&r, a->db, a->token, r.id), "release") != 0)
        return;
    step(a, "release", 1, 1);

    if (check(concert_reserve_seat(&other, a->db, a->token, OTHER_SCHEDULE, seat),
              "hold on the other schedule") != 0)
        return;
    step(a, "hold on the other schedule", 0, 1);
    if (check(concert_reservation_release(&other, a->db, a->token, other.id),
              "release on the other schedule") != 0)
        return;
    step(a, "release on the other schedule", 0, 1);

    if (check(concert_reserve_seat(&r, a->db, a->token, SCHEDULE, seat + 1), "hold to pay") != 0)
        return;
    step(a, "hold to pay", 1, 1);
    if (check(concert_pay(&p, a->db, a->token, r.id, NULL), "pay") != 0 ||
        check(actor_token(a), "join after paying") != 0)
        return;
    step(a, "pay", 1, 1);

    if (check(concert_reserve_seat(&r, a->db, a->token, SCHEDULE, seat + 2), "hold to expire") != 0)
        return;
    step(a, "hold to expire", 1, 1);
    atomic_store(shared_now, r.held_until - 1);
    step(a, "the hold's last ms", 0, 0);
    atomic_store(shared_now, r.held_until);
    step(a, "the hold expiring", 1, 1);
    if (!(a->last.free_seats >> (seat + 2) & 1))
        fail("round %d: seat %lld is not free at held_until", round, (long long)(seat + 2));
    atomic_store(shared_now, r.held_until + MINUTE_MS);
    step(a, "a minute later", 0, 0);
}

int main(int argc, char **argv)
{
    concert_options o;
    actor *a;
    int cmd[2], report[2], status = 0, rounds = argc > 2 ? atoi(argv[2]) : 3;
    pid_t pid;

    if (argc < 2 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: mp_version STORE_URI [ROUNDS 1..%d]\n", MAX_ROUNDS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    shared_now =
        mmap(NULL, sizeof *shared_now, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    a = calloc(1, sizeof *a);
    if (shared_now == MAP_FAILED || !a) {
        perror("mp_version");
        return 1;
    }
    atomic_store(shared_now, START_MS);
    o = options();
    if (concert_db_open(&a->db, argv[1], &o) != 0 || catalog_load(a->db) != 0) {
        fprintf(stderr, "mp_version: setup: %s\n", concert_error_last()->message);
        return 1;
    }
    if (pipe(cmd) != 0 || pipe(report) != 0 || (pid = fork()) < 0) {
        perror("mp_version: fork");
        return 1;
    }
    if (pid == 0) {
        /* The parent's handle is never used here, nor closed: it belongs
         * to the parent's connections. */
        close(cmd[1]);
        close(report[0]);
        watcher_main(argv[1], cmd[0], report[1]);
    }
    close(cmd[0]);
    close(report[1]);
    a->cmd_fd = cmd[1];
    a->report_fd = report[0];

    if (watcher_ask(a, &a->last) == 0) {
        a->seen[a->seen_count++] = a->last;
        for (int round = 0; round < rounds && failures == 0; round++)
            round_run(a, round);
    }
    close(a->cmd_fd); /* the watcher's read ends: it closes and exits */
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the watcher exited with status %d", status);
    printf("mp_version: %d rounds, %zu looks, schedule %d at %lld changes, concert %d at %lld\n",
           rounds, a->seen_count, SCHEDULE, (long long)a->last.seats.changes, CONCERT,
           (long long)a->last.concert.changes);
    concert_db_close(a->db);
    free(a);
    if (failures == 0)
        printf("mp_version: OK\n");
    return failures ? 1 : 0;
}
