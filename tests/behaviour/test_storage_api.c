/*
 * The extension API: a custom storage table, the core's checks of it, and
 * fault injection at the one place the core calls a backend.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fault_storage.h"
#include "harness.h"

static int frees;

typedef struct wrapped {
    concert_storage base; /* first member: the table */
    concert_storage *inner;
    int balance_rc; /* what balance_get returns, 0 = pass through */
} wrapped;

static void wrapped_free(concert_storage *self)
{
    wrapped *w = (wrapped *)self;
    frees++;
    if (w->inner)
        w->inner->free(w->inner);
    free(w);
}

/* Forwarders: a backend's methods expect their own table as self, so a
 * wrapper must call through with the inner one. */
static int wrapped_catalog_load(concert_storage *self, const concert_catalog *c, int64_t now)
{
    wrapped *w = (wrapped *)self;
    return w->inner->catalog_load(w->inner, c, now);
}

static int wrapped_balance(concert_storage *self, int64_t user_id, int64_t *out)
{
    wrapped *w = (wrapped *)self;
    if (w->balance_rc)
        return w->balance_rc;
    return w->inner->balance_get(w->inner, user_id, out);
}

/* A table over a memory store: the methods this file calls forward to it; the
 * others are the memory ones (never called here, but required to be set). */
static wrapped *wrap_memory(void)
{
    wrapped *w = calloc(1, sizeof(*w));
    concert_options o = test_options();
    cr_assert_not_null(w);
    expect_ok(concert_storage_memory_open(&w->inner, "", &o));
    w->base = *w->inner;
    w->base.name = "wrapped";
    w->base.free = wrapped_free;
    w->base.balance_get = wrapped_balance;
    w->base.catalog_load = wrapped_catalog_load;
    return w;
}

Test(storage_api, a_custom_table_serves_the_whole_api)
{
    concert_options o = test_options();
    concert_db *d = NULL;
    wrapped *w = wrap_memory();
    concert_catalog_user u[] = { { 1, "Kim", 10 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, u, 1, NULL, 0 };
    int64_t bal;
    frees = 0;
    expect_ok(concert_db_open_storage(&d, &w->base, &o));
    cr_assert_str_eq(concert_db_backend_name(d), "wrapped");
    expect_ok(concert_catalog_load(d, &c));
    expect_ok(concert_points_balance_get(&bal, d, 1));
    cr_assert_eq(bal, 10);
    /* A backend's unknown code becomes INTERNAL, never leaks. */
    w->balance_rc = 17;
    expect_rc(concert_points_balance_get(&bal, d, 1), CONCERT_EINTERNAL);
    cr_assert(strstr(concert_error_last()->message, "unknown code 17"));
    w->balance_rc = -9999;
    expect_rc(concert_points_balance_get(&bal, d, 1), CONCERT_EINTERNAL);
    /* A known code without a message gets the generic text. */
    w->balance_rc = CONCERT_ESTORAGE;
    expect_rc(concert_points_balance_get(&bal, d, 1), CONCERT_ESTORAGE);
    cr_assert_str_eq(concert_error_last()->message, "storage unavailable");
    concert_db_close(d);
    cr_assert_eq(frees, 1);
}

Test(storage_api, bad_tables_are_refused_and_freed)
{
    concert_db *d = (concert_db *)0x1;
    wrapped *w = wrap_memory();
    frees = 0;
    w->base.version = 99;
    expect_rc(concert_db_open_storage(&d, &w->base, NULL), CONCERT_EINVAL);
    cr_assert_null(d);
    cr_assert_eq(frees, 1, "ownership passes even on failure");
    w = wrap_memory();
    w->base.pay = NULL;
    expect_rc(concert_db_open_storage(&d, &w->base, NULL), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "pay"));
    cr_assert_eq(frees, 2);
    /* verify is optional: NULL is NOT_SUPPORTED, not a crash. */
    w = wrap_memory();
    w->base.verify = NULL; /* (the one method the core may call here) */
    expect_ok(concert_db_open_storage(&d, &w->base, NULL));
    {
        concert_verify_report *rep = NULL;
        expect_rc(concert_admin_verify(&rep, d), CONCERT_ENOTSUP);
        cr_assert_null(rep);
    }
    concert_db_close(d);
}

static int fail_pay(void *ctx, const char *method, int phase)
{
    (void)ctx;
    return strcmp(method, "pay") == 0 && phase == FAULT_BEFORE ? CONCERT_ESTORAGE : 0;
}

/* A fresh store of the configured kind behind the fault wrapper, with the
 * standard catalog. */
static fault_storage *faulty_store_with_catalog(void)
{
    concert_options o = test_options();
    fault_storage *fs = NULL;
    clock_set(T0);
    store_prepare();
    expect_ok(fault_storage_open(&db, &fs, store_uri_get(), &o));
    standard_catalog_load();
    return fs;
}

Test(storage_api, a_storage_fault_in_payment_changes_nothing, .fini = teardown_store)
{
    concert_token_info t;
    concert_reservation r, got;
    concert_payment p;
    int64_t bal;
    fault_storage *fs = faulty_store_with_catalog();
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 4));
    fault_storage_set_callback(fs, fail_pay, NULL);
    expect_rc(concert_pay(&p, db, t.token, r.id, "k"), CONCERT_ESTORAGE);
    fault_storage_off(fs);
    expect_ok(concert_points_balance_get(&bal, db, 1));
    cr_assert_eq(bal, 100000);
    expect_ok(concert_reservation_get(&got, db, t.token, r.id));
    cr_assert_eq(got.status, CONCERT_RESERVATION_HELD);
    /* The retry with the same key goes through once the store is back. */
    expect_ok(concert_pay(&p, db, t.token, r.id, "k"));
    cr_assert_eq(p.balance, 70000);
}
