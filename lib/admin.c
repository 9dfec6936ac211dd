/*
 * Administration: listing users and checking the store's invariants.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int push_user(void *ctx, const concert_user *item)
{
    return concert__vec_push(ctx, item);
}

int concert_admin_user_list_get(concert_user_list **out, concert_db *db)
{
    concert__vec v;
    concert_user_list *list;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_admin_user_list_get: NULL argument");
    concert__vec_init(&v, sizeof(concert_user));
    rc = concert__st_users_list(db, push_user, &v);
    CONCERT__LIST_TAKE(rc, &v, list, "users");
    if (rc == 0)
        *out = list;
    return rc;
}

void concert_user_list_free(concert_user_list *list)
{
    free(list);
}

static int push_violation(void *ctx, const char *text)
{
    char *copy = strdup(text ? text : "(no detail)");
    if (!copy)
        return CONCERT_ENOMEM;
    if (concert__vec_push(ctx, &copy) != 0) {
        free(copy);
        return CONCERT_ENOMEM;
    }
    return CONCERT_OK;
}

static void free_violations(concert__vec *v)
{
    char **texts = v->items;
    for (size_t i = 0; i < v->count; i++)
        free(texts[i]);
    concert__vec_free(v);
}

int concert_admin_verify(concert_verify_report **out, concert_db *db)
{
    concert_verify_report *report;
    concert__vec v;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_admin_verify: NULL argument");
    report = calloc(1, sizeof(*report));
    if (!report)
        return concert__error_set(CONCERT_ENOMEM, "out of memory verifying");
    concert__vec_init(&v, sizeof(char *));
    rc = concert__st_verify(db, concert__now(db), push_violation, &v, report);
    if (rc != 0) {
        free_violations(&v);
        free(report);
        return rc;
    }
    /* Hand the array itself to the report; its strings go with it. */
    report->violation_count = v.count;
    report->violations = v.items;
    *out = report;
    return CONCERT_OK;
}

int concert_admin_prune(concert_prune_report *out, concert_db *db, size_t limit)
{
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_admin_prune: NULL argument");
    memset(out, 0, sizeof(*out));
    return concert__st_prune(db, limit, concert__now(db), out);
}

void concert_verify_report_free(concert_verify_report *report)
{
    if (!report)
        return;
    for (size_t i = 0; i < report->violation_count; i++)
        free(report->violations[i]);
    free(report->violations);
    free(report);
}
