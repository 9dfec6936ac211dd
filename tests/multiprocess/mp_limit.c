/*
 * mp_limit: one buyer's token used from several processes at once never
 * holds more seats than the per-buyer limits allow (issue 11).
 *
 *   mp_limit STORE_URI [PROCESSES]
 *
 * The store must be empty. The parent loads a catalog, admits one buyer and
 * forks PROCESSES children that each open their own handle and, at the same
 * moment, try to hold ATTEMPTS distinct seats with that one token: first on
 * a concert without a limit of its own (the store-wide max_holds_per_user,
 * 4, applies), then on a concert with max_per_user 3. Every hold must
 * either land or be refused with HOLD_LIMIT, and exactly the limit must
 * land. Exit status 0 when that holds, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <concert/concert.h>

#define MAX_PROCESSES 32
#define ATTEMPTS 6
#define BUYER 1
#define STORE_WIDE_LIMIT 4
#define CONCERT_LIMIT 3
#define OPEN_SCHEDULE 81    /* concert 8: no limit of its own */
#define LIMITED_SCHEDULE 71 /* concert 7: max_per_user 3 */

typedef struct child_report {
    int32_t held;
    int32_t limited;
    int32_t errors;
    char first_error[200];
} child_report;

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_until(int64_t at_ms)
{
    int64_t left = at_ms - wall_ms();
    if (left > 0) {
        struct timespec t = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
        while (nanosleep(&t, &t) != 0 && errno == EINTR)
            ;
    }
}

static int load_catalog(concert_db *db)
{
    const concert_catalog_user users[] = { { BUYER, "party of many", 1000000 } };
    const concert_catalog_seat_range seats[] = { { 1, 400, "R", 10 } };
    const int64_t day = concert_db_now(db) + 86400000;
    const concert_catalog_schedule s71[] = { { LIMITED_SCHEDULE, day, seats, 1 } };
    const concert_catalog_schedule s81[] = { { OPEN_SCHEDULE, day, seats, 1 } };
    const concert_catalog_concert concerts[] = {
        { 7, "Limited", CONCERT_STATUS_OPEN, CONCERT_LIMIT, s71, 1 },
        { 8, "Open", CONCERT_STATUS_OPEN, 0, s81, 1 },
    };
    concert_catalog cat = { CONCERT_CATALOG_VERSION, users, 1, concerts, 2 };
    return concert_catalog_load(db, &cat);
}

static void child_main(const char *uri, const char *token, int index, int64_t start_ms,
                       int64_t schedule, int fd)
{
    concert_options o = CONCERT_OPTIONS_INIT;
    concert_db *db = NULL;
    child_report r;
    int rc;

    memset(&r, 0, sizeof r);
    if ((rc = concert_db_open(&db, uri, &o)) != 0) {
        r.errors++;
        snprintf(r.first_error, sizeof r.first_error, "open: %s", concert_error_last()->message);
    } else {
        sleep_until(start_ms);
        for (int i = 0; i < ATTEMPTS; i++) {
            concert_reservation res;
            rc = concert_reserve_seat(&res, db, token, schedule, 1 + index * ATTEMPTS + i);
            if (rc == 0) {
                r.held++;
            } else if (rc == CONCERT_EHOLD_LIMIT) {
                r.limited++;
            } else {
                if (!r.errors)
                    snprintf(r.first_error, sizeof r.first_error, "hold: %s: %s",
                             concert_error_name(rc), concert_error_last()->message);
                r.errors++;
            }
        }
    }
    concert_db_close(db);
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(2);
    _exit(0);
}

/* Fork the children for one schedule; returns how many holds landed, or -1. */
static int race(const char *uri, const char *token, int processes, int64_t schedule)
{
    int fds[MAX_PROCESSES][2];
    pid_t pids[MAX_PROCESSES];
    const int64_t start = wall_ms() + 300; /* after every child has opened */
    int held = 0, limited = 0, bad = 0;

    for (int i = 0; i < processes; i++) {
        if (pipe(fds[i]) != 0 || (pids[i] = fork()) < 0) {
            perror("mp_limit: fork");
            return -1;
        }
        if (pids[i] == 0) {
            close(fds[i][0]);
            child_main(uri, token, i, start, schedule, fds[i][1]);
        }
        close(fds[i][1]);
    }
    for (int i = 0; i < processes; i++) {
        child_report r;
        int status = 0;
        if (read(fds[i][0], &r, sizeof r) != (ssize_t)sizeof r) {
            fprintf(stderr, "mp_limit: child %d sent no report\n", i);
            bad++;
        } else {
            held += r.held;
            limited += r.limited;
            if (r.errors) {
                fprintf(stderr, "mp_limit: child %d: %d errors, first: %s\n", i, r.errors,
                        r.first_error);
                bad++;
            }
        }
        close(fds[i][0]);
        waitpid(pids[i], &status, 0);
    }
    printf("mp_limit: schedule %lld: %d processes x %d attempts: %d held, %d refused\n",
           (long long)schedule, processes, ATTEMPTS, held, limited);
    return bad ? -1 : held;
}

int main(int argc, char **argv)
{
    concert_options o = CONCERT_OPTIONS_INIT;
    concert_token_info t;
    concert_db *db = NULL;
    int processes = argc > 2 ? atoi(argv[2]) : 8;
    int failures = 0, held;

    if (argc < 2 || processes < 2 || processes > MAX_PROCESSES) {
        fprintf(stderr, "usage: mp_limit STORE_URI [PROCESSES 2..%d]\n", MAX_PROCESSES);
        return 2;
    }
    if (concert_db_open(&db, argv[1], &o) != 0 || load_catalog(db) != 0 ||
        concert_queue_issue(&t, db, BUYER) != 0) {
        fprintf(stderr, "mp_limit: setup: %s\n", concert_error_last()->message);
        return 1;
    }
    if (t.state != CONCERT_TOKEN_ACTIVE) {
        fprintf(stderr, "mp_limit: the buyer was not admitted\n");
        return 1;
    }
    fflush(stdout);
    held = race(argv[1], t.token, processes, OPEN_SCHEDULE);
    if (held != STORE_WIDE_LIMIT) {
        fprintf(stderr, "mp_limit: FAIL: %d holds landed under the store-wide limit of %d\n", held,
                STORE_WIDE_LIMIT);
        failures++;
    }
    fflush(stdout);
    held = race(argv[1], t.token, processes, LIMITED_SCHEDULE);
    if (held != CONCERT_LIMIT) {
        fprintf(stderr, "mp_limit: FAIL: %d holds landed under concert 7's limit of %d\n", held,
                CONCERT_LIMIT);
        failures++;
    }
    concert_db_close(db);
    if (failures == 0)
        printf("mp_limit: OK\n");
    return failures ? 1 : 0;
}
