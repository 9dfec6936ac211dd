/*
 * Token owner lookup (see token_owner.h): the library's owner-only call,
 * which neither polls the token nor runs admission, and answers from the
 * db's cache for the tokens it knows.
 */
#include "token_owner.h"

int token_owner(concert_db *db, const char *token, int64_t *owner)
{
    return concert_queue_token_owner_get(owner, db, token);
}
