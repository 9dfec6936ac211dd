/* API armour: versions, errors, options, NULLs; bad input never crashes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

Test(api, version_matches_the_headers)
{
    int major = -1, minor = -1, patch = -1;
    concert_version_get(&major, &minor, &patch);
    cr_assert_eq(major, CONCERT_VERSION_MAJOR);
    cr_assert_eq(minor, CONCERT_VERSION_MINOR);
    cr_assert_eq(patch, CONCERT_VERSION_PATCH);
    cr_assert_eq(concert_version_number(), CONCERT_VERSION_NUMBER);
    cr_assert_str_eq(concert_version_string(), CONCERT_VERSION_STRING);
}

Test(api, every_code_has_a_name_and_text)
{
    static const int codes[] = { CONCERT_EINVAL,
                                 CONCERT_ENOMEM,
                                 CONCERT_ESTORAGE,
                                 CONCERT_EBUSY,
                                 CONCERT_ENOTSUP,
                                 CONCERT_ESCHEMA,
                                 CONCERT_EINTERNAL,
                                 CONCERT_ECONFLICT,
                                 CONCERT_EUSER_NOT_FOUND,
                                 CONCERT_ETOKEN_INVALID,
                                 CONCERT_ETOKEN_NOT_ACTIVE,
                                 CONCERT_ECONCERT_NOT_FOUND,
                                 CONCERT_ECONCERT_NOT_BOOKABLE,
                                 CONCERT_ESCHEDULE_NOT_FOUND,
                                 CONCERT_EBOOKING_CLOSED,
                                 CONCERT_ESEAT_NOT_FOUND,
                                 CONCERT_ESEAT_TAKEN,
                                 CONCERT_ERESERVATION_NOT_FOUND,
                                 CONCERT_EFORBIDDEN,
                                 CONCERT_EHOLD_EXPIRED,
                                 CONCERT_EALREADY_PAID,
                                 CONCERT_EINSUFFICIENT_POINTS,
                                 CONCERT_EINVALID_AMOUNT,
                                 CONCERT_EIDEMPOTENCY_KEY_REUSED };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        cr_assert_str_neq(concert_error_name(codes[i]), "UNKNOWN");
        cr_assert_str_neq(concert_error_string(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(concert_error_name(codes[i]), concert_error_name(codes[j]));
    }
    cr_assert_str_eq(concert_error_name(CONCERT_ESEAT_TAKEN), "SEAT_TAKEN");
    cr_assert_str_eq(concert_error_name(12345), "UNKNOWN");
    cr_assert_str_eq(concert_error_name(CONCERT_ESTORAGE), "STORAGE_UNAVAILABLE");
    cr_assert_not_null(concert_error_last());
    cr_assert_not_null(concert_error_last()->message);
}

Test(api, enum_names)
{
    cr_assert_str_eq(concert_reservation_status_name(CONCERT_RESERVATION_HELD), "HELD");
    cr_assert_str_eq(concert_reservation_status_name(CONCERT_RESERVATION_CONFIRMED), "CONFIRMED");
    cr_assert_str_eq(concert_reservation_status_name(CONCERT_RESERVATION_EXPIRED), "EXPIRED");
    cr_assert_str_eq(concert_reservation_status_name(0), "UNKNOWN");
    cr_assert_str_eq(concert_token_state_name(CONCERT_TOKEN_WAITING), "WAITING");
    cr_assert_str_eq(concert_token_state_name(CONCERT_TOKEN_ACTIVE), "ACTIVE");
    cr_assert_str_eq(concert_token_state_name(3), "UNKNOWN");
    cr_assert_str_eq(concert_concert_status_name(CONCERT_STATUS_PENDING), "PENDING");
    cr_assert_eq(concert_concert_status_from_name("CLOSED"), CONCERT_STATUS_CLOSED);
    cr_assert_eq(concert_concert_status_from_name("open"), 0);
    cr_assert_str_eq(concert_ledger_type_name(CONCERT_LEDGER_PAYMENT), "PAYMENT");
    cr_assert_str_eq(concert_ledger_type_name(9), "UNKNOWN");
}

Test(api, options_init_and_validation)
{
    concert_options o;
    concert_db *d = (concert_db *)0x1;
    cr_assert_eq(concert_options_init(&o, CONCERT_OPTIONS_VERSION), 0);
    cr_assert_eq(o.version, CONCERT_OPTIONS_VERSION);
    cr_assert_eq(o.max_active, 0);
    cr_assert_eq(concert_options_init(&o, 99), CONCERT_EINVAL);
    cr_assert_eq(concert_options_init(NULL, CONCERT_OPTIONS_VERSION), CONCERT_EINVAL);
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.hold_ttl_ms = -1;
    expect_rc(concert_db_open(&d, "memory:", &o), CONCERT_EINVAL);
    cr_assert_null(d);
    cr_assert(strstr(concert_error_last()->message, "hold_ttl_ms"));
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.version = 7;
    expect_rc(concert_db_open(&d, "memory:", &o), CONCERT_EINVAL);
    {
        concert_options lit = CONCERT_OPTIONS_INIT;
        expect_ok(concert_db_open(&d, "memory:", &lit));
        concert_db_close(d);
    }
}

/* The table is the one place ranges live: every entry's bounds are what
 * concert_db_open() accepts and refuses, its default is what 0 turns into. */
Test(api, options_table_is_what_open_checks)
{
    size_t n = 0;
    for (const concert_option_info *info; (info = concert_options_info(n)) != NULL; n++) {
        cr_assert_not_null(info->name);
        cr_assert_eq(concert_options_info_find(info->name), info);
        cr_assert(info->min >= 1 && info->min <= info->max, "%s", info->name);
        expect_ok(concert_options_check(info->name, 0));
        expect_ok(concert_options_check(info->name, info->min));
        expect_ok(concert_options_check(info->name, info->max));
        expect_rc(concert_options_check(info->name, info->min - 1 == 0 ? -1 : info->min - 1),
                  CONCERT_EINVAL);
        cr_assert(strstr(concert_error_last()->message, info->name), "%s",
                  concert_error_last()->message);
        expect_rc(concert_options_check(info->name, info->max + 1), CONCERT_EINVAL);
    }
    cr_assert_eq(n, 12, "a field was added: give it a row, a test and a flag");
    cr_assert_null(concert_options_info_find("no_such_option"));
    cr_assert_eq(concert_error_last()->code, CONCERT_EINVAL);
    expect_rc(concert_options_check(NULL, 1), CONCERT_EINVAL);

    /* validate() and open() agree, field by field, at both edges. */
    const concert_option_info *hold = concert_options_info_find("hold_ttl_ms");
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    expect_ok(concert_options_validate(&o));
    expect_ok(concert_options_validate(NULL));
    o.hold_ttl_ms = hold->max + 1;
    expect_rc(concert_options_validate(&o), CONCERT_EINVAL);
    char validate_msg[256];
    snprintf(validate_msg, sizeof validate_msg, "%s", concert_error_last()->message);
    concert_db *d = NULL;
    expect_rc(concert_db_open(&d, "memory:", &o), CONCERT_EINVAL);
    cr_assert_str_eq(concert_error_last()->message, validate_msg);
    cr_assert_null(d);
    o.hold_ttl_ms = hold->max;
    expect_ok(concert_options_validate(&o));
    o.reserved = 1;
    expect_rc(concert_options_validate(&o), CONCERT_EINVAL);
    o.reserved = 0;
    o.version = 0;
    expect_rc(concert_options_validate(&o), CONCERT_EINVAL);

    /* Defaults: a zero meaning "default" is replaced by default_value. */
    const concert_option_info *active = concert_options_info_find("max_active");
    cr_assert_eq(active->default_value, 1000);
    cr_assert_str_eq(active->zero_means, "default");
    cr_assert_str_eq(concert_options_info_find("admit_per_minute")->zero_means, "unlimited");
    cr_assert_eq(concert_options_info_find("queue_refresh_ms")->default_value,
                 CONCERT_DEFAULT_QUEUE_REFRESH_MS);
}

Test(api, open_rejects_unknown_stores)
{
    concert_db *d = NULL;
    expect_rc(concert_db_open(&d, "mysql://x", NULL), CONCERT_EINVAL);
    expect_rc(concert_db_open(&d, "", NULL), CONCERT_EINVAL);
    expect_rc(concert_db_open(&d, "sqlite:", NULL), CONCERT_EINVAL);
    expect_rc(concert_db_open(&d, NULL, NULL), CONCERT_EINVAL);
    expect_rc(concert_db_open(NULL, "memory:", NULL), CONCERT_EINVAL);
    cr_assert_null(d);
    concert_db_close(NULL);
}

Test(api, null_arguments_are_errors_not_crashes, .init = setup_store_with_catalog,
     .fini = teardown_store)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    concert_concert c;
    int64_t bal;
    expect_rc(concert_queue_issue(NULL, db, 1), CONCERT_EINVAL);
    expect_rc(concert_queue_issue(&t, NULL, 1), CONCERT_EINVAL);
    expect_rc(concert_queue_status_get(NULL, db, "x"), CONCERT_EINVAL);
    expect_rc(concert_queue_leave(NULL, "x"), CONCERT_EINVAL);
    expect_rc(concert_concert_list_get(NULL, db, "x"), CONCERT_EINVAL);
    expect_rc(concert_concert_get(NULL, db, "x", 1), CONCERT_EINVAL);
    expect_rc(concert_schedule_list_get(NULL, db, "x", 1), CONCERT_EINVAL);
    expect_rc(concert_seats_available(NULL, db, "x", 1), CONCERT_EINVAL);
    expect_rc(concert_reserve_seat(NULL, db, "x", 1, 1), CONCERT_EINVAL);
    expect_rc(concert_reservation_get(&r, NULL, "x", 1), CONCERT_EINVAL);
    expect_rc(concert_pay(NULL, db, "x", 1, NULL), CONCERT_EINVAL);
    expect_rc(concert_pay(&p, db, NULL, 1, NULL), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_charge_points(&bal, NULL, 1, 1, NULL), CONCERT_EINVAL);
    expect_rc(concert_points_balance_get(NULL, db, 1), CONCERT_EINVAL);
    expect_rc(concert_ledger_list_get(NULL, db, 1), CONCERT_EINVAL);
    expect_rc(concert_catalog_load(db, NULL), CONCERT_EINVAL);
    expect_rc(concert_catalog_load(NULL, NULL), CONCERT_EINVAL);
    expect_rc(concert_admin_user_list_get(NULL, db), CONCERT_EINVAL);
    expect_rc(concert_queue_stats_get(NULL, db), CONCERT_EINVAL);
    expect_rc(concert_admin_verify(NULL, db), CONCERT_EINVAL);
    expect_rc(concert_concert_get(&c, db, "x", 1), CONCERT_ETOKEN_INVALID);
    concert_concert_list_free(NULL);
    concert_schedule_list_free(NULL);
    concert_seat_list_free(NULL);
    concert_ledger_list_free(NULL);
    concert_user_list_free(NULL);
    concert_verify_report_free(NULL);
}

Test(api, error_detail_is_per_thread_and_names_the_problem, .init = setup_store_with_catalog,
     .fini = teardown_store)
{
    int64_t bal;
    expect_rc(concert_charge_points(&bal, db, 2, 0, NULL), CONCERT_EINVALID_AMOUNT);
    cr_assert_eq(concert_error_last()->code, CONCERT_EINVALID_AMOUNT);
    cr_assert(strstr(concert_error_last()->message, "amount"), "%s", concert_error_last()->message);
}

Test(api, backend_name, .init = setup_store, .fini = teardown_store)
{
    const char *kind = store_kind();
    const char *name = concert_db_backend_name(db);
    if (strcmp(kind, "postgres") == 0)
        cr_assert_str_eq(name, "postgresql");
    else
        cr_assert_str_eq(name, kind);
    cr_assert_eq(concert_db_now(db), T0);
}

/* Tokens come from per-thread blocks of kernel randomness; a forked child
 * must never hand out the bytes its parent is about to use. */
static void issue_in_fresh_store(concert_token_info *t)
{
    concert_db *d = NULL;
    concert_catalog_user u[] = { { 1, "Kim", 0 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, u, 1, NULL, 0 };
    cr_assert_eq(concert_db_open(&d, "memory:", NULL), 0);
    cr_assert_eq(concert_catalog_load(d, &c), 0);
    cr_assert_eq(concert_queue_issue(t, d, 1), 0);
    concert_db_close(d);
}

Test(api, forked_child_never_repeats_the_parents_tokens)
{
    concert_token_info first, mine, childs;
    int fds[2];
    pid_t pid;
    issue_in_fresh_store(&first); /* the parent now holds a block of random bytes */
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        concert_token_info t;
        issue_in_fresh_store(&t);
        if (write(fds[1], t.token, sizeof(t.token)) != (ssize_t)sizeof(t.token))
            _exit(1);
        _exit(0);
    }
    cr_assert_eq(read(fds[0], childs.token, sizeof(childs.token)), (ssize_t)sizeof(childs.token));
    waitpid(pid, NULL, 0);
    issue_in_fresh_store(&mine);
    cr_assert_str_neq(mine.token, childs.token);
    cr_assert_str_neq(first.token, mine.token);
}
