/*
 * Paged history and token owners (issue 11).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "counting.h"
#include "harness.h"

TestSuite(paging, .init = setup_store_with_catalog, .fini = teardown_store);

Test(paging, pages_walk_the_whole_ledger_newest_first_exactly_once)
{
    concert_ledger_list *page = NULL, *all = NULL;
    int64_t before = 0, bal;
    size_t seen = 0, pages = 0;

    for (int i = 1; i <= 23; i++)
        expect_ok(concert_charge_points(&bal, db, 2, i, NULL));
    expect_ok(concert_ledger_list_get(&all, db, 2));
    cr_assert_eq(all->count, 23);
    do {
        expect_ok(concert_ledger_list_get_page(&page, db, 2, before, 5));
        cr_assert_eq(page->user_id, 2);
        for (size_t i = 0; i < page->count; i++) {
            cr_assert_lt(seen, all->count);
            cr_assert_eq(page->items[i].id, all->items[seen].id, "entry %zu", seen);
            seen++;
        }
        before = page->next_before_id;
        pages++;
        if (before)
            cr_assert_eq(page->count, 5, "only the last page may be short");
        /* A charge arriving while paging lands before the first page, so it
         * never shows up in a later one. */
        expect_ok(concert_charge_points(&bal, db, 2, 1000, NULL));
        concert_ledger_list_free(page);
    } while (before != 0);
    cr_assert_eq(seen, 23);
    cr_assert_eq(pages, 5);
    concert_ledger_list_free(all);
}

Test(paging, an_exact_multiple_ends_with_a_zero_cursor)
{
    concert_ledger_list *page = NULL;
    int64_t bal;
    for (int i = 1; i <= 4; i++)
        expect_ok(concert_charge_points(&bal, db, 2, i, NULL));
    expect_ok(concert_ledger_list_get_page(&page, db, 2, 0, 4));
    cr_assert_eq(page->count, 4);
    cr_assert_eq(page->next_before_id, 0, "no next page when nothing is left");
    cr_assert_eq(page->items[0].amount, 4);
    concert_ledger_list_free(page);
    expect_ok(concert_ledger_list_get_page(&page, db, 2, 0, 3));
    cr_assert_eq(page->count, 3);
    cr_assert_neq(page->next_before_id, 0);
    concert_ledger_list_free(page);
}

Test(paging, bad_arguments_are_refused)
{
    concert_ledger_list *page = (concert_ledger_list *)0x1;
    expect_rc(concert_ledger_list_get_page(&page, db, 2, 0, 0), CONCERT_EINVAL);
    cr_assert_null(page);
    expect_rc(concert_ledger_list_get_page(&page, db, 2, 0, CONCERT_HISTORY_PAGE_MAX + 1),
              CONCERT_EINVAL);
    expect_rc(concert_ledger_list_get_page(&page, db, 2, -1, 10), CONCERT_EINVAL);
    expect_rc(concert_ledger_list_get_page(&page, db, 999, 0, 10), CONCERT_EUSER_NOT_FOUND);
    expect_ok(concert_ledger_list_get_page(&page, db, 2, 0, CONCERT_HISTORY_PAGE_MAX));
    cr_assert_eq(page->count, 0);
    cr_assert_eq(page->next_before_id, 0);
    concert_ledger_list_free(page);
}

Test(paging, a_token_owner_is_known_in_every_state)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    int64_t owner = 0;
    issue_active(3, &t);
    expect_ok(concert_queue_token_owner_get(&owner, db, t.token));
    cr_assert_eq(owner, 3);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 11));
    expect_ok(concert_pay(&p, db, t.token, r.id, NULL));
    owner = 0;
    expect_ok(concert_queue_token_owner_get(&owner, db, t.token));
    cr_assert_eq(owner, 3, "a spent token still names its owner");
    expect_rc(concert_queue_token_owner_get(&owner, db, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
              CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_token_owner_get(&owner, db, "short"), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_queue_token_owner_get(NULL, db, t.token), CONCERT_EINVAL);
}

Test(paging, a_token_owner_seen_before_costs_no_store_call)
{
    concert_token_info t;
    int64_t owner = 0;
    long before;
    store_open_counted(NULL);
    standard_catalog_load();
    issue_active(3, &t);
    /* The first lookup may ask the store (issuing does not fill the cache:
     * that cost every join 5% on the memory store's flow benchmark). */
    expect_ok(concert_queue_token_owner_get(&owner, db, t.token));
    before = store_calls();
    for (int i = 0; i < 10; i++) {
        expect_ok(concert_queue_token_owner_get(&owner, db, t.token));
        cr_assert_eq(owner, 3);
    }
    cr_assert_eq(store_calls(), before, "the owner of a token this db has looked up is cached");
    /* Another handle on a shared store learns it from the store once. */
    if (strcmp(store_kind(), "memory") != 0) {
        concert_db *other = store_open_again(NULL);
        owner = 0;
        expect_ok(concert_queue_token_owner_get(&owner, other, t.token));
        cr_assert_eq(owner, 3);
        concert_db_close(other);
    }
}
