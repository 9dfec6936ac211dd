/*
 * The clock trampoline: libconcert calls a C function pointer, Go exports a
 * function taking the handle, and this file joins the two.
 */
#include "shim.h"

#include "_cgo_export.h"

static int64_t concert_go_clock_trampoline(void *ctx)
{
    /* ctx carries a cgo.Handle value, not an address. */
    return (int64_t)concertGoClock((uintptr_t)ctx);
}

void concert_go_options_set_clock(concert_options *opts, uintptr_t handle)
{
    opts->clock = concert_go_clock_trampoline;
    opts->clock_ctx = (void *)handle;
}
