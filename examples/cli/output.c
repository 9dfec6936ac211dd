/*
 * Output for the CLI: error lines, JSON documents, and text tables.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error_message(const cli_context *ctx, int code, const char *message)
{
    fprintf(stderr, "%s: %s: %s\n", ctx->program, concert_error_name(code),
            message != NULL && message[0] != '\0' ? message : concert_error_string(code));
    return CLI_EXIT_FAILED;
}

int cli_library_error(const cli_context *ctx, int code)
{
    const concert_error *last = concert_error_last();
    /* The detail belongs to the last failing call; fall back to the code's
     * own text if it is about something else. */
    const char *message = last->code == code ? last->message : concert_error_string(code);
    return cli_error_message(ctx, code, message);
}

int cli_open_store(cli_context *ctx)
{
    const int rc = concert_db_open(&ctx->db, ctx->store_uri, &ctx->options);
    if (rc != 0)
        return cli_library_error(ctx, rc);
    return 0;
}

int cli_print_json(const cli_context *ctx, json_object *obj)
{
    if (obj == NULL)
        return cli_error_message(ctx, CONCERT_ENOMEM, "out of memory");
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = CLI_EXIT_OK;
    if (text == NULL)
        rc = cli_error_message(ctx, CONCERT_ENOMEM, "out of memory");
    else if (printf("%s\n", text) < 0)
        rc = CLI_EXIT_FAILED;
    json_object_put(obj);
    return rc;
}

int cli_print_json_checked(const cli_context *ctx, json_object *obj, int ok)
{
    if (!ok) {
        json_object_put(obj);
        obj = NULL;
    }
    return cli_print_json(ctx, obj);
}

void cli_json_add(json_object *obj, const char *key, json_object *value, int *ok)
{
    if (obj == NULL || value == NULL || json_object_object_add(obj, key, value) != 0) {
        json_object_put(value);
        *ok = 0;
    }
}

void cli_json_append(json_object *array, json_object *value, int *ok)
{
    if (array == NULL || value == NULL || json_object_array_add(array, value) != 0) {
        json_object_put(value);
        *ok = 0;
    }
}

struct cli_table {
    size_t columns;
    const int *right_align;
    size_t rows; /* including the header row */
    size_t capacity;
    char **cells; /* rows * columns strings */
};

/* Display width: UTF-8 continuation bytes take no column. East Asian wide
 * characters are counted as one; only the last column can hold free text
 * (titles, names) and it is never padded, so alignment holds regardless. */
static size_t display_width(const char *text)
{
    size_t width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        if ((*p & 0xC0) != 0x80)
            width++;
    return width;
}

#define CLI_TABLE_MAX_COLUMNS 16

cli_table *cli_table_new(size_t columns, const char *const *headers, const int *right_align)
{
    if (columns == 0 || columns > CLI_TABLE_MAX_COLUMNS)
        return NULL;
    cli_table *table = calloc(1, sizeof *table);
    if (table == NULL)
        return NULL;
    table->columns = columns;
    table->right_align = right_align;
    if (cli_table_add(table, headers) != 0) {
        cli_table_free(table);
        return NULL;
    }
    return table;
}

static char *copy_text(const char *text)
{
    const size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, text, n);
    return copy;
}

int cli_table_add(cli_table *table, const char *const *cells)
{
    if (table->rows == table->capacity) {
        const size_t capacity = table->capacity ? table->capacity * 2 : 16;
        char **grown = realloc(table->cells, capacity * table->columns * sizeof *grown);
        if (grown == NULL)
            return -1;
        table->cells = grown;
        table->capacity = capacity;
    }
    char **row = table->cells + table->rows * table->columns;
    for (size_t c = 0; c < table->columns; c++) {
        row[c] = copy_text(cells[c]);
        if (row[c] == NULL) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    table->rows++;
    return 0;
}

void cli_table_print(const cli_table *table)
{
    size_t widths[CLI_TABLE_MAX_COLUMNS] = { 0 };
    const size_t columns = table->columns;
    for (size_t r = 0; r < table->rows; r++)
        for (size_t c = 0; c < columns; c++) {
            const size_t w = display_width(table->cells[r * table->columns + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    for (size_t r = 0; r < table->rows; r++) {
        for (size_t c = 0; c < columns; c++) {
            const char *cell = table->cells[r * table->columns + c];
            const size_t pad = widths[c] - display_width(cell);
            const int last = c + 1 == columns;
            if (table->right_align != NULL && table->right_align[c])
                printf("%*s%s", (int)pad, "", cell);
            else
                printf("%s%*s", cell, last ? 0 : (int)pad, "");
            if (!last)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
}

void cli_table_free(cli_table *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->rows * table->columns; i++)
        free(table->cells[i]);
    free(table->cells);
    free(table);
}

int cli_table_finish(const cli_context *ctx, cli_table *table, int ok)
{
    if (ok)
        cli_table_print(table);
    cli_table_free(table);
    return ok ? CLI_EXIT_OK : cli_error_message(ctx, CONCERT_ENOMEM, "out of memory");
}
