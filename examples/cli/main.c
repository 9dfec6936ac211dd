/*
 * concert: load, inspect and administer a libconcert store from the command line.
 *
 *   concert [--store URI] [--max-active N] [--json] COMMAND [ARGS]
 *
 * main() parses the global options and dispatches to one command; each
 * command group lives in its own file (cmd_*.c).
 */
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Same default as concertd, so both find the same store from one directory. */
#define DEFAULT_STORE "sqlite:concert.db"

static const cli_command *const commands[] = {
    &cli_cmd_import, &cli_cmd_demo,    &cli_cmd_concerts, &cli_cmd_users,  &cli_cmd_balance,
    &cli_cmd_charge, &cli_cmd_history, &cli_cmd_queue,    &cli_cmd_verify, &cli_cmd_prune,
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void print_help(const cli_context *ctx)
{
    printf("Usage: %s [--store URI] [--max-active N] [--retention S] [--json] COMMAND [ARGS]\n\n"
           "Load, inspect and administer a libconcert store.\n\n"
           "Commands:\n",
           ctx->program);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        printf("  %-9s %s\n", commands[i]->name, commands[i]->summary);
    printf("\nOptions:\n"
           "  --store URI       the store (default %s): sqlite:PATH, memory:,\n"
           "                    postgresql://... or a libpq conninfo string\n"
           "  --max-active N    the queue's active limit for a store that has no queue\n"
           "                    settings yet (a new one; default 1000); after that the\n"
           "                    store's settings rule: change them with 'queue set'\n"
           "  --retention S     keep idempotency records and ended tokens S seconds\n"
           "                    for retries (default 86400: 24 h); what 'prune' and\n"
           "                    the store's own pruning may delete after it\n"
           "  --json            machine-readable output (also accepted after the command)\n"
           "  -h, --help        this help; '%s COMMAND --help' for a command's\n"
           "  -V, --version     print the version\n\n"
           "Exit status: 0 success, 1 the store refused or failed (the message reads\n"
           "\"%s: CODE: detail\"), 2 bad usage.\n",
           DEFAULT_STORE, ctx->program, ctx->program);
}

static void print_version(void)
{
    printf("concert %s (libconcert %s)\n", CONCERT_VERSION_STRING, concert_version_string());
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past a separate
 * value. Returns 1 and sets *value on a match, 0 if arg is another option,
 * -1 if the value is missing. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    const size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

/* Run "help [COMMAND]". */
static int run_help(const cli_context *ctx, int argc, char **argv)
{
    if (argc == 0) {
        print_help(ctx);
        return CLI_EXIT_OK;
    }
    const cli_command *cmd = find_command(argv[0]);
    if (cmd == NULL || argc > 1)
        return cli_usage_error(ctx, NULL, "no such command '%s'", argv[0]);
    cli_print_command_help(ctx, cmd);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.program = "concert";
    ctx.store_uri = DEFAULT_STORE;
    if (concert_options_init(&ctx.options, CONCERT_OPTIONS_VERSION) != 0) {
        fprintf(stderr, "%s: INTERNAL: options version mismatch with libconcert %s\n", ctx.program,
                concert_version_string());
        return CLI_EXIT_FAILED;
    }

    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int got;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(&ctx);
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            print_version();
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "--json") == 0) {
            ctx.json = 1;
        } else if ((got = take_value(argc, argv, &i, "--store", &value)) != 0) {
            if (got < 0 || value[0] == '\0')
                return cli_usage_error(&ctx, NULL, "--store needs a URI");
            ctx.store_uri = value;
        } else if ((got = take_value(argc, argv, &i, "--max-active", &value)) != 0) {
            int64_t max_active;
            if (got < 0 || cli_parse_int64(value, &max_active) != 0 || max_active < 1)
                return cli_usage_error(&ctx, NULL, "--max-active needs a positive whole number");
            ctx.options.max_active = max_active;
        } else if ((got = take_value(argc, argv, &i, "--retention", &value)) != 0) {
            /* Whole seconds; the range is the library's to check (at open). */
            int64_t seconds;
            if (got < 0 || cli_parse_int64(value, &seconds) != 0 || seconds < 1 ||
                seconds > INT64_MAX / 1000)
                return cli_usage_error(&ctx, NULL, "--retention needs a whole number of seconds");
            ctx.options.retention_ms = seconds * 1000;
        } else {
            return cli_usage_error(&ctx, NULL, "unknown option '%s'", arg);
        }
    }
    if (i >= argc)
        return cli_usage_error(&ctx, NULL, "no command given");

    const char *name = argv[i];
    if (strcmp(name, "help") == 0)
        return run_help(&ctx, argc - i - 1, argv + i + 1);
    const cli_command *cmd = find_command(name);
    if (cmd == NULL)
        return cli_usage_error(&ctx, NULL, "unknown command '%s'", name);

    const int rc = cmd->run(&ctx, cmd, argc - i - 1, argv + i + 1);
    concert_db_close(ctx.db);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "%s: cannot write the output\n", ctx.program);
        return CLI_EXIT_FAILED;
    }
    return rc;
}
