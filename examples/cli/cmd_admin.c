/*
 * Store administration commands: queue (counts) and verify (invariants).
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

static int run_queue(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    concert_queue_stats stats;
    const int code = concert_queue_stats_get(&stats, ctx->db);
    if (code != 0)
        return cli_library_error(ctx, code);
    if (!ctx->json) {
        printf("active:           %" PRId64 " of %" PRId64 "\n"
               "waiting:          %" PRId64 "\n"
               "admitted through: ticket %" PRId64 "\n"
               "last ticket:      %" PRId64 "\n",
               stats.active, stats.max_active, stats.waiting, stats.admitted_through,
               stats.last_ticket);
        return CLI_EXIT_OK;
    }
    int ok = 1;
    json_object *obj = json_object_new_object();
    cli_json_add(obj, "active", json_object_new_int64(stats.active), &ok);
    cli_json_add(obj, "waiting", json_object_new_int64(stats.waiting), &ok);
    cli_json_add(obj, "max_active", json_object_new_int64(stats.max_active), &ok);
    cli_json_add(obj, "admitted_through", json_object_new_int64(stats.admitted_through), &ok);
    cli_json_add(obj, "last_ticket", json_object_new_int64(stats.last_ticket), &ok);
    if (!ok) {
        json_object_put(obj);
        obj = NULL;
    }
    return cli_print_json(ctx, obj);
}

const cli_command cli_cmd_queue = {
    "queue", "[--json]",
    "Show the waiting queue: active and waiting tokens",
    "Admission runs first, as on any queue operation. 'waiting' may include\n"
    "tokens that dropped out but have not been reached yet. The limit shown is\n"
    "the one given with --max-active (default 1000), as the store does not\n"
    "record the server's setting.\n\n"
    "Options:\n"
    "  --json   print {\"active\", \"waiting\", \"max_active\", \"admitted_through\",\n"
    "           \"last_ticket\"}\n",
    run_queue,
};

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
    if (!ok) {
        json_object_put(root);
        root = NULL;
    }
    return cli_print_json(ctx, root);
}

static void print_verify_text(const cli_context *ctx, const concert_verify_report *report,
                              const verify_count *counts, size_t n)
{
    puts("checked:");
    for (size_t i = 0; i < n; i++)
        printf("  %-16s %" PRId64 "\n", counts[i].label, counts[i].value);
    puts("invariants:\n"
         "  every sold seat has exactly one CONFIRMED reservation and one payment\n"
         "  every CONFIRMED reservation's seat is sold to it\n"
         "  every balance equals the sum of its ledger and is never negative\n"
         "  no seat is both sold and under a live hold");
    if (ctx->options.max_active > 0)
        printf("  no more than %" PRId64 " tokens are active (--max-active)\n",
               ctx->options.max_active);
    else
        puts("  no more than max_active tokens are active (the default; pass the server's\n"
             "  --max-active if it sets one)");
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
    const int code = concert_verify(&report, ctx->db);
    if (code != 0)
        return cli_library_error(ctx, code);
    const verify_count counts[] = {
        {"users", "users", report->users},
        {"ledger entries", "ledger_entries", report->ledger_entries},
        {"seats", "seats", report->seats},
        {"seats sold", "seats_sold", report->seats_sold},
        {"reservations", "reservations", report->reservations},
        {"payments", "payments", report->payments},
        {"active tokens", "active_tokens", report->active_tokens},
    };
    const size_t n = sizeof counts / sizeof counts[0];
    if (ctx->json) {
        rc = print_verify_json(ctx, report, counts, n);
    } else {
        print_verify_text(ctx, report, counts, n);
        rc = CLI_EXIT_OK;
    }
    if (rc == CLI_EXIT_OK && report->violation_count > 0)
        rc = CLI_EXIT_FAILED;
    concert_verify_report_free(report);
    return rc;
}

const cli_command cli_cmd_verify = {
    "verify", "[--json]",
    "Check the store's invariants; exit status 1 if any is violated",
    "Checks that every sold seat has exactly one CONFIRMED reservation and one\n"
    "payment of its price, every CONFIRMED reservation's seat is sold to it,\n"
    "every balance equals the sum of its ledger and is never negative, no seat\n"
    "is both sold and held, and no more than max_active tokens are active (pass\n"
    "the server's --max-active; default 1000). Prints what it checked and each\n"
    "violation.\n\n"
    "Options:\n"
    "  --json   print {\"ok\", \"checked\": {...}, \"violations\": [...]}\n",
    run_verify,
};
