/*
 * Catalog commands: import, demo, concerts.
 */
#include "catalog_json.h"
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct catalog_counts {
    size_t users, concerts, schedules;
    int64_t seats;
} catalog_counts;

/* Seat counts are summed only for the summary line; the core has already
 * checked every range, so to - from + 1 is small and positive. */
static catalog_counts count_catalog(const concert_catalog *catalog)
{
    catalog_counts counts = { catalog->user_count, catalog->concert_count, 0, 0 };
    for (size_t c = 0; c < catalog->concert_count; c++) {
        const concert_catalog_concert *concert = &catalog->concerts[c];
        counts.schedules += concert->schedule_count;
        for (size_t s = 0; s < concert->schedule_count; s++)
            for (size_t r = 0; r < concert->schedules[s].seat_range_count; r++) {
                const concert_catalog_seat_range *range = &concert->schedules[s].seats[r];
                counts.seats += range->to - range->from + 1;
            }
    }
    return counts;
}

static int print_import_summary(const cli_context *ctx, const catalog_counts *counts)
{
    if (!ctx->json) {
        printf("imported %zu users, %zu concerts, %zu schedules, %" PRId64 " seats\n",
               counts->users, counts->concerts, counts->schedules, counts->seats);
        return CLI_EXIT_OK;
    }
    int ok = 1;
    json_object *obj = json_object_new_object();
    cli_json_add(obj, "users", json_object_new_int64((int64_t)counts->users), &ok);
    cli_json_add(obj, "concerts", json_object_new_int64((int64_t)counts->concerts), &ok);
    cli_json_add(obj, "schedules", json_object_new_int64((int64_t)counts->schedules), &ok);
    cli_json_add(obj, "seats", json_object_new_int64(counts->seats), &ok);
    return cli_print_json_checked(ctx, obj, ok);
}

static int run_import(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    const char *path = NULL;
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, &path, 1, 1);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;

    /* Read and parse before opening the store: a bad file changes nothing
     * and does not even create a store file. */
    char err[512];
    char *text = NULL;
    size_t len = 0;
    rc = catalog_json_read_file(path, &text, &len, err, sizeof err);
    if (rc != 0)
        return cli_error_message(ctx, rc, err);
    catalog_doc *doc = NULL;
    rc = catalog_json_parse(&doc, text, len, err, sizeof err);
    free(text);
    if (rc != 0)
        return cli_error_message(ctx, rc, err);

    rc = cli_open_store(ctx);
    if (rc == 0) {
        const int load = concert_catalog_load(ctx->db, catalog_doc_catalog(doc));
        if (load != 0)
            rc = cli_library_error(ctx, load);
    }
    if (rc == 0) {
        const catalog_counts counts = count_catalog(catalog_doc_catalog(doc));
        rc = print_import_summary(ctx, &counts);
    }
    catalog_doc_free(doc);
    return rc;
}

const cli_command cli_cmd_import = {
    "import",
    "FILE|- [--json]",
    "Load a catalog (users, concerts, schedules, seats) from a JSON file or stdin",
    "The load is all or nothing: on any error (bad JSON, an id that already\n"
    "exists, overlapping seat ranges, a bad time) nothing changes and the message\n"
    "names the place, e.g. concerts[0].schedules[1].seats[0].to.\n\n"
    "Format:\n"
    "  {\"users\":    [{\"id\": 1, \"name\": \"Kim\", \"points\": 0}],\n"
    "   \"concerts\": [{\"id\": 1, \"title\": \"...\", \"status\": \"OPEN\",\n"
    "                 \"schedules\": [{\"id\": 10, \"starts_at\": \"2026-12-24T19:00:00Z\",\n"
    "                   \"seats\": [{\"from\": 1, \"to\": 50, \"grade\": \"R\", \"price\": "
    "80000}]}]}]}\n"
    "status is OPEN, PENDING or CLOSED; unknown keys are errors.\n\n"
    "Options:\n"
    "  --json   print the counts loaded as JSON\n",
    run_import,
};

static int run_demo(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    char err[512];
    int loaded = 0;
    rc = catalog_demo_load_if_empty(ctx->db, &loaded, err, sizeof err);
    if (rc != 0)
        return cli_error_message(ctx, rc, err);
    if (ctx->json) {
        int ok = 1;
        json_object *obj = json_object_new_object();
        cli_json_add(obj, "loaded", json_object_new_boolean(loaded), &ok);
        return cli_print_json_checked(ctx, obj, ok);
    }
    puts(loaded ? "loaded the demo catalog" : "the store is not empty; demo catalog not loaded");
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_demo = {
    "demo",
    "[--json]",
    "Load the built-in demo catalog if the store has no users and no concerts",
    "The demo has concerts OPEN, PENDING and CLOSED, schedules in the past and the\n"
    "future (relative to now), seats graded VIP/R/S/A, and users with and without\n"
    "points (user 1: 500000, user 2: 0). Loading it twice is harmless.\n\n"
    "Options:\n"
    "  --json   print {\"loaded\": true|false}\n",
    run_demo,
};

static int print_concerts_json(const cli_context *ctx, const concert_concert_list *list)
{
    int ok = 1;
    json_object *root = json_object_new_object();
    json_object *items = json_object_new_array();
    for (size_t i = 0; i < list->count && ok; i++) {
        const concert_concert *c = &list->items[i];
        const char *status = concert_concert_status_name(c->status);
        json_object *item = json_object_new_object();
        cli_json_add(item, "id", json_object_new_int64(c->id), &ok);
        cli_json_add(item, "title", json_object_new_string(c->title), &ok);
        cli_json_add(item, "status", json_object_new_string(status ? status : "UNKNOWN"), &ok);
        if (c->max_per_user > 0) /* absent: the store-wide limit applies */
            cli_json_add(item, "max_per_user", json_object_new_int64(c->max_per_user), &ok);
        cli_json_append(items, item, &ok);
    }
    cli_json_add(root, "concerts", items, &ok);
    return cli_print_json_checked(ctx, root, ok);
}

static int print_concerts_table(const cli_context *ctx, const concert_concert_list *list)
{
    static const char *const headers[] = { "ID", "STATUS", "TITLE" };
    static const int right[] = { 1, 0, 0 };
    cli_table *table = cli_table_new(3, headers, right);
    int ok = table != NULL;
    for (size_t i = 0; i < list->count && ok; i++) {
        const concert_concert *c = &list->items[i];
        char id[24];
        const char *status = concert_concert_status_name(c->status);
        snprintf(id, sizeof id, "%" PRId64, c->id);
        const char *cells[] = { id, status ? status : "UNKNOWN", c->title };
        ok = cli_table_add(table, cells) == 0;
    }
    return cli_table_finish(ctx, table, ok);
}

static int run_concerts(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    concert_concert_list *list = NULL;
    const int code = concert_admin_concert_list_get(&list, ctx->db);
    if (code != 0)
        return cli_library_error(ctx, code);
    rc = ctx->json ? print_concerts_json(ctx, list) : print_concerts_table(ctx, list);
    concert_concert_list_free(list);
    return rc;
}

const cli_command cli_cmd_concerts = {
    "concerts",
    "[--json]",
    "List every concert with its status (OPEN, PENDING, CLOSED)",
    "Options:\n"
    "  --json   print {\"concerts\": [{\"id\", \"title\", \"status\"}]}\n",
    run_concerts,
};
