/*
 * kiosk: a box-office counter terminal.
 *
 *   concert-kiosk --store sqlite:PATH --user ID [--ticket-key KEY] [--clock-file PATH]
 *
 * Reads one command per line from stdin (see 'help'). Each store call
 * completes or changes nothing; a sale is two of them (the walk-up charge,
 * then the payment keyed by the reservation ids), so a kiosk killed mid-sale
 * leaves at most a hold that expires on its own and points on the walk-up
 * account, and re-typing the same 'pay' finishes the sale once.
 */
#include "kiosk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 256

/* docs/man/concert-kiosk.1.in lists the same flags (the docs_man_kiosk test
 * compares them with this text). */
static void usage(FILE *f)
{
    fprintf(f, "Usage: concert-kiosk --store sqlite:PATH --user ID [--ticket-key KEY]\n"
               "                     [--clock-file PATH]\n\n"
               "A box-office counter on a local store; one command per line on stdin\n"
               "('help' lists them).\n\n"
               "Options:\n"
               "  --store sqlite:PATH   the store, on local disk (required)\n"
               "  --user ID             the walk-up account sales are made for (required)\n"
               "  --ticket-key KEY      keys the tickets' verification codes; default\n"
               "                        $KIOSK_TICKET_KEY, which keeps it out of ps\n"
               "  --clock-file PATH     for tests: the store's clock reads ms since the\n"
               "                        epoch from PATH on every call\n"
               "  -h, --help            this help\n"
               "  -V, --version         print the version\n");
}

static void help(void)
{
    printf("commands:\n"
           "  concerts                 concerts on sale\n"
           "  schedules CONCERT        dates of a concert\n"
           "  map SCHEDULE             seat map\n"
           "  hold SCHEDULE SEAT       hold a seat\n"
           "  pay RESERVATION...       take payment for one hold or a party's holds\n"
           "                           together (all or nothing; up to %d), asking before\n"
           "                           a walk-up charge if the account is short; tickets\n"
           "  release RESERVATION      let a hold go; the seat is free at once\n"
           "  check RESERVATION CODE   is this ticket's code ours, and is it paid?\n"
           "  help | quit\n",
           KIOSK_PARTY_MAX);
}

int kiosk_fail(const char *what)
{
    const concert_error *e = concert_error_last();
    printf("! %s: %s: %s\n", what, concert_error_name(e->code), e->message);
    return -1;
}

/* A whole positive decimal int64, or -1. */
static int64_t parse_id(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return -1;
    return (int64_t)v;
}

/* 'pay R...': every argument a reservation id, or nothing is paid. */
static void run_pay(kiosk *k, const char *first, char **save)
{
    int64_t ids[KIOSK_PARTY_MAX];
    size_t n = 0;
    for (const char *a = first; a != NULL; a = strtok_r(NULL, " \t\r\n", save)) {
        if (n == KIOSK_PARTY_MAX) {
            printf("! pay: at most %d reservations at once\n", KIOSK_PARTY_MAX);
            return;
        }
        if ((ids[n++] = parse_id(a)) <= 0) {
            printf("! pay: '%s' is not a reservation id\n", a);
            return;
        }
    }
    kiosk_pay(k, ids, n);
}

/* Run one command line; returns 1 to quit. */
static int run_line(kiosk *k, char *line)
{
    char *save = NULL;
    const char *cmd = strtok_r(line, " \t\r\n", &save);
    const char *a1 = strtok_r(NULL, " \t\r\n", &save);
    if (cmd == NULL)
        return 0;
    if (strcmp(cmd, "pay") == 0 && a1 != NULL) {
        run_pay(k, a1, &save);
        return 0;
    }
    const char *a2 = strtok_r(NULL, " \t\r\n", &save);
    if (strcmp(cmd, "quit") == 0)
        return 1;
    if (strcmp(cmd, "help") == 0) {
        help();
    } else if (strcmp(cmd, "concerts") == 0) {
        kiosk_show_concerts(k);
    } else if (strcmp(cmd, "schedules") == 0 && parse_id(a1) > 0) {
        kiosk_show_schedules(k, parse_id(a1));
    } else if (strcmp(cmd, "map") == 0 && parse_id(a1) > 0) {
        kiosk_show_map(k, parse_id(a1));
    } else if (strcmp(cmd, "hold") == 0 && parse_id(a1) > 0 && parse_id(a2) > 0) {
        kiosk_hold(k, parse_id(a1), parse_id(a2));
    } else if (strcmp(cmd, "check") == 0 && parse_id(a1) > 0 && a2 != NULL) {
        kiosk_check(k, parse_id(a1), a2);
    } else if (strcmp(cmd, "release") == 0 && parse_id(a1) > 0) {
        kiosk_release(k, parse_id(a1));
    } else {
        printf("! not understood; 'help' lists the commands\n");
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *store = NULL;
    const char *user = NULL;
    const char *clock_file = NULL;
    kiosk k;
    memset(&k, 0, sizeof k);
    k.ticket_key = getenv("KIOSK_TICKET_KEY");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("concert-kiosk %s (libconcert %s)\n", CONCERT_VERSION_STRING,
                   concert_version_string());
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--store") == 0)
            store = argv[++i];
        else if (strcmp(argv[i], "--user") == 0)
            user = argv[++i];
        else if (strcmp(argv[i], "--clock-file") == 0)
            clock_file = argv[++i];
        else if (strcmp(argv[i], "--ticket-key") == 0)
            k.ticket_key = argv[++i];
        else {
            usage(stderr);
            return 2;
        }
    }
    k.user_id = parse_id(user);
    /* Local disk only: the kiosk must keep selling with the network down. */
    if (store == NULL || strncmp(store, "sqlite:", 7) != 0 || k.user_id <= 0) {
        fprintf(stderr, "kiosk: --store sqlite:PATH and --user ID are required\n");
        return 2;
    }
    if (k.ticket_key == NULL || k.ticket_key[0] == '\0') {
        fprintf(stderr, "kiosk: a ticket key is required (--ticket-key or KIOSK_TICKET_KEY)\n");
        return 2;
    }

    concert_options opts;
    if (concert_options_init(&opts, CONCERT_OPTIONS_VERSION) != 0) {
        fprintf(stderr, "kiosk: options version mismatch\n");
        return 1;
    }
    kiosk_clock clock;
    if (clock_file != NULL && kiosk_clock_install(&clock, &opts, clock_file) < 0)
        return 2;
    if (concert_db_open(&k.db, store, &opts) < 0) {
        const concert_error *e = concert_error_last();
        fprintf(stderr, "kiosk: %s: %s\n", concert_error_name(e->code), e->message);
        return 1;
    }
    printf("kiosk ready on %s; 'help' lists the commands\n", store);
    char line[LINE_MAX_LEN];
    for (;;) {
        printf("kiosk> ");
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL)
            break;
        if (run_line(&k, line))
            break;
    }
    concert_db_close(k.db);
    return 0;
}
