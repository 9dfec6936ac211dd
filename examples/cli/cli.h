/*
 * The concert CLI: shared types and helpers. The CLI is thin: it parses
 * arguments, calls the libconcert API, and prints; every rule is the
 * library's.
 */
#ifndef CONCERT_CLI_H
#define CONCERT_CLI_H

#include <concert/concert.h>
#include <json-c/json.h>
#include <stdint.h>

/* Exit statuses, as promised by `concert --help`. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1, /* the library refused or failed (domain or storage error) */
    CLI_EXIT_USAGE = 2   /* bad command line */
};

/* What every command runs with. */
typedef struct cli_context {
    const char *program;     /* "concert", for messages */
    const char *store_uri;   /* --store */
    int json;                /* --json: machine-readable output */
    concert_options options; /* --max-active, --retention and the defaults */
    concert_db *db;          /* opened by cli_open_store() */
} cli_context;

typedef struct cli_command {
    const char *name;
    const char *synopsis; /* arguments, e.g. "USER AMOUNT [--key K]" */
    const char *summary;  /* one line for the command list */
    const char *help;     /* the rest of `concert NAME --help` */
    int (*run)(cli_context *ctx, const struct cli_command *cmd, int argc, char **argv);
} cli_command;

/* One option a command accepts besides --help and --json. */
typedef struct cli_option {
    const char *name;   /* "--key" */
    const char **value; /* receives the option's argument */
} cli_option;

/* Result of cli_parse_args() beyond the exit statuses: help was printed. */
#define CLI_HELP_SHOWN (-1)

/*
 * Parse a command's arguments (argv[0] is the first one after the command
 * name). Accepts --help/-h, --json when allow_json, the given options (NULL
 * allowed) as "--name V" or "--name=V", "--" to end options, and negative
 * numbers as positionals. Between min_pos and max_pos positionals are stored
 * into positionals. Returns 0, CLI_HELP_SHOWN (help printed to stdout) or
 * CLI_EXIT_USAGE (message printed to stderr).
 */
int cli_parse_args(cli_context *ctx, const cli_command *cmd, int argc, char **argv, int allow_json,
                   const cli_option *options, const char **positionals, int min_pos, int max_pos);

/* Print `concert NAME` usage and help to stdout. */
void cli_print_command_help(const cli_context *ctx, const cli_command *cmd);

/* Parse a whole decimal int64 (optional sign, digits only, no overflow).
 * Returns 0 or -1. */
int cli_parse_int64(const char *text, int64_t *out);

/* Parse an id-like argument named what ("USER"); on failure print a usage
 * error and return CLI_EXIT_USAGE. */
int cli_parse_int64_arg(const cli_context *ctx, const cli_command *cmd, const char *what,
                        const char *text, int64_t *out);

/* Print "concert CMD: message" and the --help hint to stderr; returns
 * CLI_EXIT_USAGE. cmd may be NULL for global usage errors. */
int cli_usage_error(const cli_context *ctx, const cli_command *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Print "concert: NAME: message" for a libconcert failure code (the detail
 * from concert_error_last()) to stderr; returns CLI_EXIT_FAILED. */
int cli_library_error(const cli_context *ctx, int code);

/* Print "concert: NAME: message" with a message of the caller's; returns
 * CLI_EXIT_FAILED. */
int cli_error_message(const cli_context *ctx, int code, const char *message);

/* Open ctx->store_uri into ctx->db. Returns 0 or CLI_EXIT_FAILED (printed). */
int cli_open_store(cli_context *ctx);

/* Print obj (pretty) and a newline to stdout, then release obj. NULL means
 * an allocation failed. Returns CLI_EXIT_OK or CLI_EXIT_FAILED. */
int cli_print_json(const cli_context *ctx, json_object *obj);
/* The end of every JSON output built with the helpers below: print obj if
 * ok, else release it and report out of memory (ok 0 means a helper failed,
 * so obj may be missing a member and must not be printed). */
int cli_print_json_checked(const cli_context *ctx, json_object *obj, int ok);

/* json-c helpers that tolerate allocation failure: they mark *ok = 0
 * instead of crashing, so one check at the end suffices. */
void cli_json_add(json_object *obj, const char *key, json_object *value, int *ok);
void cli_json_append(json_object *array, json_object *value, int *ok);

/* A text table: columns padded to their widest cell (counted in UTF-8
 * characters), the last column left unpadded. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(size_t columns, const char *const *headers, const int *right_align);
/* Add a row of `columns` cells (copied). Returns 0 or -1 (out of memory). */
int cli_table_add(cli_table *table, const char *const *cells);
void cli_table_print(const cli_table *table);
void cli_table_free(cli_table *table);
/* The end of every table output: print it if ok (every row went in),
 * release it (NULL allowed) and return CLI_EXIT_OK, or report out of memory. */
int cli_table_finish(const cli_context *ctx, cli_table *table, int ok);

/* The command groups, each in its own file. */
extern const cli_command cli_cmd_import;
extern const cli_command cli_cmd_demo;
extern const cli_command cli_cmd_concerts;
extern const cli_command cli_cmd_users;
extern const cli_command cli_cmd_balance;
extern const cli_command cli_cmd_charge;
extern const cli_command cli_cmd_history;
extern const cli_command cli_cmd_queue;
extern const cli_command cli_cmd_verify;
extern const cli_command cli_cmd_prune;

#endif
