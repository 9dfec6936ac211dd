/*
 * The db's poll cache (lib/queue_cache.c) keys a token by 128 of its bits
 * (issue 12): a token that differs from a cached one anywhere, in one
 * character, is never answered from the cache.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static void setup_one_active(void)
{
    concert_options o = test_options();
    o.max_active = 1;
    store_open(&o);
    standard_catalog_load();
}

TestSuite(poll_cache, .init = setup_one_active, .fini = teardown_store);

Test(poll_cache, a_token_one_character_off_is_never_a_cached_one)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    concert_token_info first, waiting, t;
    issue_active(1, &first);
    expect_ok(concert_queue_issue(&waiting, db, 3));
    cr_assert_eq(waiting.state, CONCERT_TOKEN_WAITING);
    /* Polled twice: the second answer comes from the cache. */
    expect_ok(concert_queue_status_get(&t, db, waiting.token));
    expect_ok(concert_queue_status_get(&t, db, waiting.token));
    cr_assert_eq(t.state, CONCERT_TOKEN_WAITING);
    const size_t len = strlen(waiting.token);
    for (size_t i = 0; i < len; i++) {
        char typo[CONCERT_TOKEN_SIZE];
        memcpy(typo, waiting.token, len + 1);
        /* the next character of the alphabet: still a well-formed token */
        const char *at = strchr(alphabet, typo[i]);
        cr_assert_not_null(at);
        typo[i] = at[1] ? at[1] : alphabet[0];
        expect_rc(concert_queue_status_get(&t, db, typo), CONCERT_ETOKEN_INVALID);
    }
    /* ...and the real one is still answered. */
    expect_ok(concert_queue_status_get(&t, db, waiting.token));
    cr_assert_eq(t.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(t.position, 1);
}
