/*
 * Token owner lookup (see token_owner.h). concert_queue_status() is more
 * than needed (it also works out a position) until the library has a
 * cheaper owner-only call.
 */
#include "token_owner.h"

int token_owner(concert_db *db, const char *token, int64_t *owner)
{
    concert_token_info info;
    const int rc = concert_queue_status(&info, db, token);
    if (rc < 0)
        return rc;
    *owner = info.user_id;
    return 0;
}
