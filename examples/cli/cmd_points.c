/*
 * Users and points commands: users, balance, charge, history.
 */
#include "cli.h"
#include "timefmt.h"

#include <inttypes.h>
#include <stdio.h>

/* {"user_id": N, "balance": B}: the same body as the HTTP API's. */
static int print_balance(const cli_context *ctx, int64_t user_id, int64_t balance)
{
    if (!ctx->json) {
        printf("user %" PRId64 ": balance %" PRId64 " points\n", user_id, balance);
        return CLI_EXIT_OK;
    }
    int ok = 1;
    json_object *obj = json_object_new_object();
    cli_json_add(obj, "user_id", json_object_new_int64(user_id), &ok);
    cli_json_add(obj, "balance", json_object_new_int64(balance), &ok);
    return cli_print_json_checked(ctx, obj, ok);
}

static int print_users_json(const cli_context *ctx, const concert_user_list *list)
{
    int ok = 1;
    json_object *root = json_object_new_object();
    json_object *items = json_object_new_array();
    for (size_t i = 0; i < list->count && ok; i++) {
        const concert_user *u = &list->items[i];
        json_object *item = json_object_new_object();
        cli_json_add(item, "id", json_object_new_int64(u->id), &ok);
        cli_json_add(item, "name", json_object_new_string(u->name), &ok);
        cli_json_add(item, "balance", json_object_new_int64(u->balance), &ok);
        cli_json_append(items, item, &ok);
    }
    cli_json_add(root, "users", items, &ok);
    return cli_print_json_checked(ctx, root, ok);
}

static int print_users_table(const cli_context *ctx, const concert_user_list *list)
{
    static const char *const headers[] = { "ID", "BALANCE", "NAME" };
    static const int right[] = { 1, 1, 0 };
    cli_table *table = cli_table_new(3, headers, right);
    int ok = table != NULL;
    for (size_t i = 0; i < list->count && ok; i++) {
        const concert_user *u = &list->items[i];
        char id[24], balance[24];
        snprintf(id, sizeof id, "%" PRId64, u->id);
        snprintf(balance, sizeof balance, "%" PRId64, u->balance);
        const char *cells[] = { id, balance, u->name };
        ok = cli_table_add(table, cells) == 0;
    }
    return cli_table_finish(ctx, table, ok);
}

static int run_users(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    concert_user_list *list = NULL;
    const int code = concert_admin_user_list_get(&list, ctx->db);
    if (code != 0)
        return cli_library_error(ctx, code);
    rc = ctx->json ? print_users_json(ctx, list) : print_users_table(ctx, list);
    concert_user_list_free(list);
    return rc;
}

const cli_command cli_cmd_users = {
    "users",
    "[--json]",
    "List every user with their points balance",
    "Options:\n"
    "  --json   print {\"users\": [{\"id\", \"name\", \"balance\"}]}\n",
    run_users,
};

/* The start of balance and history: USER and nothing else, then the store.
 * Returns 0, CLI_HELP_SHOWN, or the exit code of an error it printed. */
static int open_for_user(cli_context *ctx, const cli_command *cmd, int argc, char **argv,
                         int64_t *user_id)
{
    const char *user_arg = NULL;
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, NULL, &user_arg, 1, 1);
    if (rc != 0)
        return rc;
    if ((rc = cli_parse_int64_arg(ctx, cmd, "USER", user_arg, user_id)) != 0)
        return rc;
    return cli_open_store(ctx);
}

static int run_balance(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int64_t user_id;
    int rc = open_for_user(ctx, cmd, argc, argv, &user_id);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    int64_t balance = 0;
    const int code = concert_points_balance_get(&balance, ctx->db, user_id);
    if (code != 0)
        return cli_library_error(ctx, code);
    return print_balance(ctx, user_id, balance);
}

const cli_command cli_cmd_balance = {
    "balance",
    "USER [--json]",
    "Show a user's points balance",
    "Options:\n"
    "  --json   print {\"user_id\", \"balance\"}\n",
    run_balance,
};

static int run_charge(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    const char *args[2] = { NULL, NULL };
    const char *key = NULL;
    const cli_option options[] = { { "--key", &key }, { NULL, NULL } };
    int64_t user_id, amount;
    int rc = cli_parse_args(ctx, cmd, argc, argv, 1, options, args, 2, 2);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_parse_int64_arg(ctx, cmd, "USER", args[0], &user_id)) != 0 ||
        (rc = cli_parse_int64_arg(ctx, cmd, "AMOUNT", args[1], &amount)) != 0)
        return rc;
    if ((rc = cli_open_store(ctx)) != 0)
        return rc;
    /* Range and key checks are the library's (INVALID_AMOUNT and so on). */
    int64_t balance = 0;
    const int code = concert_charge_points(&balance, ctx->db, user_id, amount, key);
    if (code != 0)
        return cli_library_error(ctx, code);
    return print_balance(ctx, user_id, balance);
}

const cli_command cli_cmd_charge = {
    "charge",
    "USER AMOUNT [--key K] [--json]",
    "Add AMOUNT points to a user's balance",
    "AMOUNT is 1..1000000000. With --key, repeating the same charge with the same\n"
    "key applies it once (the repeat prints the first result); the same key with\n"
    "another amount fails with IDEMPOTENCY_KEY_REUSED.\n\n"
    "Options:\n"
    "  --key K  idempotency key (at most 255 bytes)\n"
    "  --json   print {\"user_id\", \"balance\"}\n",
    run_charge,
};

static int print_history_json(const cli_context *ctx, const concert_ledger_list *list)
{
    int ok = 1;
    json_object *root = json_object_new_object();
    json_object *items = json_object_new_array();
    cli_json_add(root, "user_id", json_object_new_int64(list->user_id), &ok);
    for (size_t i = 0; i < list->count && ok; i++) {
        const concert_ledger_entry *e = &list->items[i];
        const char *type = concert_ledger_type_name(e->type);
        char at[TIMEFMT_SIZE];
        json_object *item = json_object_new_object();
        cli_json_add(item, "id", json_object_new_int64(e->id), &ok);
        cli_json_add(item, "type", json_object_new_string(type ? type : "UNKNOWN"), &ok);
        cli_json_add(item, "amount", json_object_new_int64(e->amount), &ok);
        cli_json_add(item, "balance_after", json_object_new_int64(e->balance_after), &ok);
        cli_json_add(item, "at", json_object_new_string(timefmt_format(e->at, at)), &ok);
        cli_json_append(items, item, &ok);
    }
    cli_json_add(root, "entries", items, &ok);
    return cli_print_json_checked(ctx, root, ok);
}

static int print_history_table(const cli_context *ctx, const concert_ledger_list *list)
{
    static const char *const headers[] = { "ID", "TYPE", "AMOUNT", "BALANCE", "AT" };
    static const int right[] = { 1, 0, 1, 1, 0 };
    cli_table *table = cli_table_new(5, headers, right);
    int ok = table != NULL;
    for (size_t i = 0; i < list->count && ok; i++) {
        const concert_ledger_entry *e = &list->items[i];
        const char *type = concert_ledger_type_name(e->type);
        char id[24], amount[24], balance[24], at[TIMEFMT_SIZE];
        snprintf(id, sizeof id, "%" PRId64, e->id);
        snprintf(amount, sizeof amount, "%+" PRId64, e->amount);
        snprintf(balance, sizeof balance, "%" PRId64, e->balance_after);
        const char *cells[] = { id, type ? type : "UNKNOWN", amount, balance,
                                timefmt_format(e->at, at) };
        ok = cli_table_add(table, cells) == 0;
    }
    return cli_table_finish(ctx, table, ok);
}

static int run_history(cli_context *ctx, const cli_command *cmd, int argc, char **argv)
{
    int64_t user_id;
    int rc = open_for_user(ctx, cmd, argc, argv, &user_id);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    concert_ledger_list *list = NULL;
    const int code = concert_ledger_list_get(&list, ctx->db, user_id);
    if (code != 0)
        return cli_library_error(ctx, code);
    rc = ctx->json ? print_history_json(ctx, list) : print_history_table(ctx, list);
    concert_ledger_list_free(list);
    return rc;
}

const cli_command cli_cmd_history = {
    "history",
    "USER [--json]",
    "Show a user's points ledger, newest first",
    "Options:\n"
    "  --json   print {\"user_id\", \"entries\": [{\"id\", \"type\", \"amount\",\n"
    "           \"balance_after\", \"at\"}]}\n",
    run_history,
};
