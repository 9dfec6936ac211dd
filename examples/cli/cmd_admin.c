/*
 * Store administration: verify (invariants) and prune (what retention
 * allows). The queue is in cmd_queue.c.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

/* What verify looked at, in the order it prints them. */
typedef struct verify_count {
    const char *label; /* text output */
    const char *key;   /* JSON key */
    int64_t value;
} verify_count;

static int print_verify_json(const cli_context *ctx, const concert_verify_report *report,
                             const verify_count *counts, size_t n)
{
    int ok = 1;
    json_object *root = json_object_new_object();
    json_object *checked = json_object_new_object();
    json_object *violations = json_object_new_array();
    cli_json_add(root, "ok", json_object_new_boolean(report->violation_count == 0), &ok);
    for (size_t i = 0; i < n; i++)
        cli_json_add(checked, counts[i].key, json_object_new_int64(counts[i].value), &ok);
    cli_json_add(root, "checked", checked, &ok);
    for (size_t i = 0; i < report->violation_count && ok; i++)
        cli_json_append(violations, json_object_new_string(report->violations[i]), &ok);
    cli_json_add(root, "violations", violations, &ok);
    return cli_print_json_checked(ctx, root, ok);
}

static void print_verify_text(const concert_verify_report *report, const verify_count *counts,
                              size_t n)
{
    puts("checked:");
    for (size_t i = 0; i < n; i++)
        printf("  %-16s %" PRId64 "\n", counts[i].label, counts[i].value);
    puts("invariants:\n"
         "  every sold seat has exactly one CONFIRMED reservation and one payment\n"
         "  every CONFIRMED reservation's seat is sold to it\n"
         "  every balance equals the sum of its ledger and is never negative\n"
         "  no seat is both sold and under a live hold");
    puts("  no more tokens are active than the queue's max_active (the store's setting)");
    if (report->violation_count == 0) {
        puts("result: OK, no violations");
        return;
    }
    printf("result: %zu violation%s\n", report->violation_count,
           report->violation_count == 1 ? "" : "s");
    for (size_t i = 0; i < report->violation_count; i++)
        printf("  VIOLATION: %s\n", report->violations[i]);
}

static int run_verify(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    concert_verify_report *report = NULL;
    const int code = concert_admin_verify(&report, ctx->db);
    if (code != 0)
        return cli_library_error(ctx, code);
    const verify_count counts[] = {
        { "users", "users", report->users },
        { "ledger entries", "ledger_entries", report->ledger_entries },
        { "seats", "seats", report->seats },
        { "seats sold", "seats_sold", report->seats_sold },
        { "reservations", "reservations", report->reservations },
        { "payments", "payments", report->payments },
        { "active tokens", "active_tokens", report->active_tokens },
    };
    const size_t n = sizeof counts / sizeof counts[0];
    if (ctx->json) {
        rc = print_verify_json(ctx, report, counts, n);
    } else {
        print_verify_text(report, counts, n);
        rc = CLI_EXIT_OK;
    }
    if (rc == CLI_EXIT_OK && report->violation_count > 0)
        rc = CLI_EXIT_FAILED;
    concert_verify_report_free(report);
    return rc;
}

const cli_command cli_cmd_verify = {
    "verify",
    "[--json]",
    "Check the store's invariants; exit status 1 if any is violated",
    "Checks that every sold seat has exactly one CONFIRMED reservation and one\n"
    "payment of its price, every CONFIRMED reservation's seat is sold to it,\n"
    "every balance equals the sum of its ledger and is never negative, no seat\n"
    "is both sold and held, and no more tokens are active than the queue's\n"
    "max_active (the store's setting: 'concert queue' shows it). Prints what it\n"
    "checked and each violation.\n\n"
    "Options:\n"
    "  --json   print {\"ok\", \"checked\": {...}, \"violations\": [...]}\n",
    run_verify,
};

static int run_prune(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    const char *limit_arg = NULL;
    const cli_option options[] = { { "--limit", &limit_arg }, { NULL, NULL } };
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, options, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    int64_t limit = 0; /* the library's "all that are due" */
    if (limit_arg != NULL && (cli_parse_int64(limit_arg, &limit) != 0 || limit < 1))
        return cli_usage_error(ctx, cmd, "--limit must be a whole number of rows, at least 1");
    if ((uint64_t)limit > SIZE_MAX)
        limit = (int64_t)SIZE_MAX; /* cannot happen on 64-bit; "that many" is "all" */
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    concert_prune_report report;
    const int code = concert_admin_prune(&report, ctx->db, (size_t)limit);
    if (code != 0)
        return cli_library_error(ctx, code);
    if (ctx->json) {
        int ok = 1;
        json_object *root = json_object_new_object();
        cli_json_add(root, "tokens", json_object_new_int64(report.tokens), &ok);
        cli_json_add(root, "idempotency", json_object_new_int64(report.idempotency), &ok);
        cli_json_add(root, "more", json_object_new_boolean(report.more != 0), &ok);
        return cli_print_json_checked(ctx, root, ok);
    }
    printf("pruned:\n"
           "  ended tokens         %" PRId64 "\n"
           "  idempotency records  %" PRId64 "\n",
           report.tokens, report.idempotency);
    puts(report.more ? "more are due: run it again (the --limit stopped it)"
                     : "nothing more is due");
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_prune = {
    "prune",
    "[--limit N] [--json]",
    "Delete idempotency records and ended tokens older than the retention",
    "Deletes what the retention allows (the global --retention, default 24 h):\n"
    "idempotency records older than it (a retry with such a key is then a new\n"
    "request) and tokens that ended longer ago than it (then unknown:\n"
    "TOKEN_INVALID). Never a user, a live token, a hold, a reservation, a\n"
    "payment or a ledger entry. Oldest first. Every store also prunes a little\n"
    "inside its normal work, so this is never required to keep a store bounded:\n"
    "run it at a quiet hour to do at once what is due.\n\n"
    "Options:\n"
    "  --limit N  delete at most N rows (default: all that are due)\n"
    "  --json     print {\"tokens\", \"idempotency\", \"more\"}\n",
    run_prune,
};
