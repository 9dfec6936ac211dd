/*
 * The queue command: show the waiting queue and change its shared settings
 * (state, opening time, limits). Every check of a value's range and of a
 * state change is the library's (concert_queue_update_apply()); the CLI only
 * refuses what is not a number or a time at all.
 */
#include "cli.h"
#include "timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* "UNKNOWN" for a state the library does not name (a newer store). */
static const char *state_name(int32_t state)
{
    const char *name = concert_queue_state_name(state);
    return name != NULL ? name : "UNKNOWN";
}

/* Add key: value, or JSON null when is_null. json-c's null is a NULL
 * object, which cli_json_add() takes for an allocation failure. */
static void add_nullable(json_object *obj, const char *key, int is_null, json_object *value,
                         int *ok)
{
    if (is_null)
        *ok = *ok && json_object_object_add(obj, key, NULL) == 0;
    else
        cli_json_add(obj, key, value, ok);
}

static void add_settings_json(json_object *obj, int64_t max_active, int64_t admit_per_minute,
                              int32_t state, int64_t opens_at, int *ok)
{
    char at[TIMEFMT_SIZE];
    cli_json_add(obj, "state", json_object_new_string(state_name(state)), ok);
    add_nullable(obj, "opens_at", opens_at == 0,
                 opens_at == 0 ? NULL : json_object_new_string(timefmt_format(opens_at, at)), ok);
    cli_json_add(obj, "max_active", json_object_new_int64(max_active), ok);
    cli_json_add(obj, "admit_per_minute", json_object_new_int64(admit_per_minute), ok);
}

static void print_settings_text(int64_t max_active, int64_t admit_per_minute, int32_t state,
                                int64_t opens_at)
{
    char at[TIMEFMT_SIZE];
    printf("state:            %s\n", state_name(state));
    if (opens_at != 0)
        printf("opens at:         %s\n", timefmt_format(opens_at, at));
    printf("max active:       %" PRId64 "\n", max_active);
    if (admit_per_minute > 0)
        printf("admit per minute: %" PRId64 "\n", admit_per_minute);
    else
        puts("admit per minute: unlimited");
}

/* Whole seconds, rounded up (without overflow for any ms >= 0). */
static int64_t ceil_seconds(int64_t ms)
{
    return ms / 1000 + (ms % 1000 != 0);
}

/* A duration for people: "45s", "12m 5s", "3h 20m". */
static void format_wait(int64_t ms, char *buf, size_t size)
{
    const int64_t s = ceil_seconds(ms);
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, size, "%" PRId64 "h %" PRId64 "m", s / 3600, s / 60 % 60);
}

static int show_queue(cli_context *ctx)
{
    concert_queue_stats stats;
    const int code = concert_queue_stats_get(&stats, ctx->db);
    if (code != 0)
        return cli_library_error(ctx, code);
    if (!ctx->json) {
        char wait[48];
        print_settings_text(stats.max_active, stats.admit_per_minute, stats.state, stats.opens_at);
        if (stats.eta_ms >= 0)
            format_wait(stats.eta_ms, wait, sizeof wait);
        printf("active:           %" PRId64 " of %" PRId64 "\n"
               "waiting:          %" PRId64 "\n"
               "pre-queued:       %" PRId64 "\n"
               "admitted through: ticket %" PRId64 "\n"
               "last ticket:      %" PRId64 "\n"
               "wait at the back: %s\n",
               stats.active, stats.max_active, stats.waiting, stats.prequeued,
               stats.admitted_through, stats.last_ticket, stats.eta_ms >= 0 ? wait : "unknown");
        return CLI_EXIT_OK;
    }
    int ok = 1;
    json_object *obj = json_object_new_object();
    if (obj == NULL)
        return cli_print_json(ctx, NULL);
    add_settings_json(obj, stats.max_active, stats.admit_per_minute, stats.state, stats.opens_at,
                      &ok);
    cli_json_add(obj, "active", json_object_new_int64(stats.active), &ok);
    cli_json_add(obj, "waiting", json_object_new_int64(stats.waiting), &ok);
    cli_json_add(obj, "prequeued", json_object_new_int64(stats.prequeued), &ok);
    cli_json_add(obj, "admitted_through", json_object_new_int64(stats.admitted_through), &ok);
    cli_json_add(obj, "last_ticket", json_object_new_int64(stats.last_ticket), &ok);
    /* Whole seconds rounded up, as GET /api/v1/queue gives it. */
    add_nullable(obj, "eta_seconds", stats.eta_ms < 0,
                 stats.eta_ms < 0 ? NULL : json_object_new_int64(ceil_seconds(stats.eta_ms)), &ok);
    return cli_print_json_checked(ctx, obj, ok);
}

/* Apply update and print the settings as they are after it. */
static int apply_update(cli_context *ctx, const concert_queue_update *update)
{
    int rc = cli_open_store(ctx);
    if (rc != 0)
        return rc;
    concert_queue_settings after;
    const int code = concert_queue_update_apply(&after, ctx->db, update);
    if (code != 0)
        return cli_library_error(ctx, code);
    if (!ctx->json) {
        print_settings_text(after.max_active, after.admit_per_minute, after.state, after.opens_at);
        return CLI_EXIT_OK;
    }
    int ok = 1;
    json_object *obj = json_object_new_object();
    if (obj == NULL)
        return cli_print_json(ctx, NULL);
    add_settings_json(obj, after.max_active, after.admit_per_minute, after.state, after.opens_at,
                      &ok);
    return cli_print_json_checked(ctx, obj, ok);
}

/* The subcommands, each a cli_command so that usage errors and --help name
 * "queue pause" etc. */
static int run_state(cli_context *ctx, const cli_command *cmd, int argc, char **argv);
static int run_schedule(cli_context *ctx, const cli_command *cmd, int argc, char **argv);
static int run_set(cli_context *ctx, const cli_command *cmd, int argc, char **argv);

static const cli_command queue_pause = {
    "queue pause",
    "[--json]",
    "Pause admission: joins still queue, nobody is admitted",
    "Active buyers keep going; the estimated wait is unknown while paused.\n"
    "'queue resume' admits again. Prints the settings after the change.\n",
    run_state,
};
static const cli_command queue_resume = {
    "queue resume",
    "[--json]",
    "Resume admission of a PAUSED queue",
    "Fails with CONFLICT (exit 1) unless the queue is PAUSED. Prints the\n"
    "settings after the change.\n",
    run_state,
};
static const cli_command queue_close = {
    "queue close",
    "[--json]",
    "Close the queue to new joins",
    "New joins are refused with QUEUE_CLOSED; tokens already in line keep their\n"
    "place and are still admitted. Prints the settings after the change.\n",
    run_state,
};
static const cli_command queue_open = {
    "queue open",
    "[--json]",
    "Open the queue now",
    "From any state. A SCHEDULED queue opens at once, running its opening\n"
    "lottery. Prints the settings after the change.\n",
    run_state,
};
static const cli_command queue_schedule = {
    "queue schedule",
    "--opens-at TIME [--json]",
    "Schedule the opening: joins before TIME are pre-queued",
    "At TIME every pre-queued buyer is put in line in a uniformly random order\n"
    "(the opening lottery); later joins queue behind them.\n\n"
    "Options:\n"
    "  --opens-at TIME   an RFC 3339 time in the future, such as\n"
    "                    2030-12-24T19:00:00Z or 2030-12-25T04:00:00+09:00\n",
    run_schedule,
};
static const cli_command queue_set = {
    "queue set",
    "[--max-active N] [--admit-per-minute N] [--json]",
    "Change the queue's limits, for every process sharing the store",
    "Give either option or both; the other limit stays as it is. Admission obeys\n"
    "both limits at once, spread over the minute.\n\n"
    "Options:\n"
    "  --max-active N         ACTIVE buyers at once, 1 to 100000000\n"
    "  --admit-per-minute N   new admissions per minute, 1 to 6000000;\n"
    "                         0 = unlimited\n",
    run_set,
};

static const cli_command *const subcommands[] = {
    &queue_pause, &queue_resume, &queue_close, &queue_open, &queue_schedule, &queue_set,
};
#define SUBCOMMAND_COUNT (sizeof subcommands / sizeof subcommands[0])

static int run_state(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    /* The shorthands of queue.h, spelled as one update so that the settings
     * after the change come back from the same atomic step. */
    concert_queue_update update = CONCERT_QUEUE_UPDATE_INIT;
    update.fields = CONCERT_QUEUE_SET_STATE;
    if (cmd == &queue_pause) {
        update.state = CONCERT_QUEUE_PAUSED;
    } else if (cmd == &queue_resume) {
        update.state = CONCERT_QUEUE_OPEN;
        update.expect_state = CONCERT_QUEUE_PAUSED;
    } else if (cmd == &queue_close) {
        update.state = CONCERT_QUEUE_CLOSED;
    } else {
        update.state = CONCERT_QUEUE_OPEN;
    }
    return apply_update(ctx, &update);
}

static int run_schedule(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    const char *opens_at = NULL;
    const cli_option options[] = { { "--opens-at", &opens_at }, { NULL, NULL } };
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, options, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if (opens_at == NULL)
        return cli_usage_error(ctx, cmd, "--opens-at is required");
    concert_queue_update update = CONCERT_QUEUE_UPDATE_INIT;
    update.fields = CONCERT_QUEUE_SET_OPENS_AT;
    if (timefmt_parse(opens_at, &update.opens_at) != 0)
        return cli_usage_error(ctx, cmd,
                               "--opens-at must be an RFC 3339 time such as "
                               "2030-12-24T19:00:00Z, not '%s'",
                               opens_at);
    return apply_update(ctx, &update);
}

/* A limit: a whole number. Its range is the library's to check, so that a
 * negative or huge value gets the library's message and changes nothing. */
static int parse_limit(const cli_context *ctx, const cli_command *cmd, const char *name,
                       const char *text, int64_t *out)
{
    if (cli_parse_int64(text, out) != 0)
        return cli_usage_error(ctx, cmd, "%s must be a whole number, not '%s'", name, text);
    return 0;
}

static int run_set(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    const char *max_active = NULL;
    const char *admit_per_minute = NULL;
    const cli_option options[] = { { "--max-active", &max_active },
                                   { "--admit-per-minute", &admit_per_minute },
                                   { NULL, NULL } };
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, options, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if (max_active == NULL && admit_per_minute == NULL)
        return cli_usage_error(ctx, cmd, "give --max-active, --admit-per-minute or both");
    /* Not concert_queue_limits_set(): its "unchanged" marker is -1, which
     * would turn a mistyped negative limit into a silent no-op. */
    concert_queue_update update = CONCERT_QUEUE_UPDATE_INIT;
    if (max_active != NULL) {
        if ((rc = parse_limit(ctx, cmd, "--max-active", max_active, &update.max_active)) != 0)
            return rc;
        update.fields |= CONCERT_QUEUE_SET_MAX_ACTIVE;
    }
    if (admit_per_minute != NULL) {
        if ((rc = parse_limit(ctx, cmd, "--admit-per-minute", admit_per_minute,
                              &update.admit_per_minute)) != 0)
            return rc;
        update.fields |= CONCERT_QUEUE_SET_ADMIT_PER_MINUTE;
    }
    return apply_update(ctx, &update);
}

static int run_queue(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    /* A first argument that is not an option names a subcommand. */
    if (argc > 0 && argv[0][0] != '-') {
        for (size_t i = 0; i < SUBCOMMAND_COUNT; i++) {
            const cli_command *sub = subcommands[i];
            if (strcmp(sub->name + strlen("queue "), argv[0]) == 0)
                return sub->run(ctx, sub, argc - 1, argv + 1);
        }
        return cli_usage_error(ctx, cmd, "unknown subcommand '%s'", argv[0]);
    }
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    return show_queue(ctx);
}

const cli_command cli_cmd_queue = {
    "queue",
    "[pause|resume|close|open|schedule|set] [OPTIONS] [--json]",
    "Show or change the waiting queue: state, limits, counts",
    "The queue's settings live in the store and every process sharing it\n"
    "(concertd, the library) obeys them within its refresh interval.\n\n"
    "  queue                      show state, opening time, limits, counts and\n"
    "                             the estimated wait at the back of the line\n"
    "  queue pause                stop admitting; joins still queue\n"
    "  queue resume               admit again after a pause\n"
    "  queue close                refuse new joins (QUEUE_CLOSED)\n"
    "  queue open                 open now (a scheduled opening runs its lottery)\n"
    "  queue schedule --opens-at TIME\n"
    "                             open at TIME (RFC 3339, in the future); joins\n"
    "                             before it are pre-queued and shuffled at TIME\n"
    "  queue set [--max-active N] [--admit-per-minute N]\n"
    "                             change either limit or both (0 = unlimited rate)\n\n"
    "'waiting' may include tokens that dropped out but have not been reached\n"
    "yet. A bad value is refused and changes nothing. 'concert queue\n"
    "SUBCOMMAND --help' for each subcommand.\n\n"
    "Options:\n"
    "  --json   print {\"state\", \"opens_at\", \"max_active\", \"admit_per_minute\",\n"
    "           \"active\", \"waiting\", \"prequeued\", \"admitted_through\",\n"
    "           \"last_ticket\", \"eta_seconds\"} (opens_at and eta_seconds may be\n"
    "           null), the names of GET /api/v1/queue;\n"
    "           a subcommand prints the first four\n",
    run_queue,
};
