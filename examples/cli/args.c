/*
 * Command-line argument parsing for the commands. Hand-written instead of
 * getopt_long() so that negative numbers ("charge 1 -5") stay positionals
 * and every error names the command it belongs to.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const cli_context *ctx, const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    if (cmd != NULL)
        fprintf(stderr, "%s %s: ", ctx->program, cmd->name);
    else
        fprintf(stderr, "%s: ", ctx->program);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "\nUsage: %s [--store URI] %s %s\nTry '%s %s --help'.\n", ctx->program,
                cmd->name, cmd->synopsis, ctx->program, cmd->name);
    else
        fprintf(stderr, "\nTry '%s --help'.\n", ctx->program);
    return CLI_EXIT_USAGE;
}

void cli_print_command_help(const cli_context *ctx, const cli_command *cmd)
{
    printf("Usage: %s [--store URI] %s %s\n\n%s.\n\n%s", ctx->program, cmd->name, cmd->synopsis,
           cmd->summary, cmd->help);
}

int cli_parse_int64(const char *text, int64_t *out)
{
    /* strtoll alone accepts leading spaces and "+"; an id or amount on a
     * command line is digits with an optional minus, nothing else. */
    const char *p = text;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    for (const char *q = p; *q != '\0'; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    char *end = NULL;
    const long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = (int64_t)value;
    return 0;
}

int cli_parse_int64_arg(const cli_context *ctx, const cli_command *cmd, const char *what,
                        const char *text, int64_t *out)
{
    if (cli_parse_int64(text, out) != 0)
        return cli_usage_error(ctx, cmd, "%s must be a whole number, not '%s'", what, text);
    return 0;
}

/* "-5" is a number, not an option. */
static int looks_like_number(const char *arg)
{
    return arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9';
}

/* Match arg against "--name" or "--name=value"; *inline_value is set for
 * the second form. */
static int option_matches(const char *arg, const char *name, const char **inline_value)
{
    const size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '\0') {
        *inline_value = NULL;
        return 1;
    }
    if (arg[n] == '=') {
        *inline_value = arg + n + 1;
        return 1;
    }
    return 0;
}

int cli_parse_args(cli_context *ctx, const cli_command *cmd, int argc, char **argv, int allow_json,
                   const cli_option *options, const char **positionals, int min_pos, int max_pos)
{
    int count = 0;
    int options_ended = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_ended && arg[0] == '-' && arg[1] != '\0' && !looks_like_number(arg)) {
            if (strcmp(arg, "--") == 0) {
                options_ended = 1;
                continue;
            }
            if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
                cli_print_command_help(ctx, cmd);
                return CLI_HELP_SHOWN;
            }
            if (allow_json && strcmp(arg, "--json") == 0) {
                ctx->json = 1;
                continue;
            }
            int matched = 0;
            for (const cli_option *opt = options; opt != NULL && opt->name != NULL; opt++) {
                const char *value;
                if (!option_matches(arg, opt->name, &value))
                    continue;
                if (value == NULL) {
                    if (i + 1 >= argc)
                        return cli_usage_error(ctx, cmd, "%s needs a value", opt->name);
                    value = argv[++i];
                }
                *opt->value = value;
                matched = 1;
                break;
            }
            if (!matched)
                return cli_usage_error(ctx, cmd, "unknown option '%s'", arg);
            continue;
        }
        if (count >= max_pos)
            return cli_usage_error(ctx, cmd, "unexpected argument '%s'", arg);
        positionals[count++] = arg;
    }
    if (count < min_pos)
        return cli_usage_error(ctx, cmd, "missing arguments");
    return 0;
}
