/*
 * Retention in the memory store (storage.h, "Retention"): IN PROGRESS.
 * Until the windowed token and idempotency arrays land, nothing is pruned
 * and prune() says so.
 */
#include "memory_internal.h"

int memory__prune(concert_storage *self, const concert_prune_request *req,
                  concert_prune_report *out)
{
    (void)self;
    (void)req;
    memset(out, 0, sizeof(*out));
    return concert_sys_error_set(CONCERT_ENOTSUP, "memory: prune is not implemented yet");
}
