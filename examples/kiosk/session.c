/* The walk-up account's queue token: the library checks one on every sale. */
#include "kiosk.h"

#include <stdio.h>
#include <string.h>

int kiosk_token(kiosk *k)
{
    /* An ACTIVE token lives active_ttl (10 min by default); a counter sits
     * idle longer than that, so a token past its end is dropped and the
     * next command joins again. */
    if (k->token[0] != '\0' && concert_db_now(k->db) < k->token_expires_at)
        return 0;
    kiosk_token_forget(k);
    concert_token_info info;
    if (concert_queue_issue(&info, k->db, k->user_id) < 0)
        return kiosk_fail("queue");
    if (info.state != CONCERT_TOKEN_ACTIVE) {
        /* A counter cannot make a walk-up wait on a line; the operator lifts
         * the queue limit ('concert queue set') for the kiosk's store. */
        printf("! the queue has not let this counter in yet (position %lld); try again\n",
               (long long)info.position);
        return -1;
    }
    memcpy(k->token, info.token, sizeof k->token);
    k->token_expires_at = info.expires_at;
    return 0;
}

void kiosk_token_forget(kiosk *k)
{
    k->token[0] = '\0';
}
