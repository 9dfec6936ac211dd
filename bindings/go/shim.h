/*
 * C helpers for the Go binding. Declarations only: a cgo file that uses
 * //export may include nothing that defines code.
 */
#ifndef CONCERT_GO_SHIM_H
#define CONCERT_GO_SHIM_H

#include <stdint.h>

#include <concert/concert.h>

/*
 * Route opts' clock to the Go function registered under handle (a
 * runtime/cgo.Handle). The handle travels as clock_ctx so that no Go pointer
 * is ever stored in C memory.
 */
void concert_go_options_set_clock(concert_options *opts, uintptr_t handle);

#endif
