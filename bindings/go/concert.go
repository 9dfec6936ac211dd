// Package concert is the Go binding for libconcert: a waiting queue, seat
// holds that expire and payment with prepaid points, over memory, SQLite or
// PostgreSQL stores.
//
// The binding is thin: every rule lives in the C library; this package
// converts types and errors. A *DB is safe for concurrent use by many
// goroutines.
//
//	db, err := concert.Open("sqlite:app.db", concert.Options{HoldTTL: 5 * time.Minute})
//	if err != nil { ... }
//	defer db.Close()
//
// # Blocking calls
//
// Every DB method that reads or writes the store may wait on it: for a lock
// (SQLite's file lock, PostgreSQL's row locks), a free pooled connection,
// or an answer from the PostgreSQL server. The library bounds each such
// wait by Options.BusyTimeout and each new PostgreSQL connection (in Open,
// or a reconnect after a lost one) by Options.ConnectTimeout; past it the
// call fails with ErrStorageBusy (ErrStorageUnavailable for a connection).
// A call runs a few statements and the library may run it again (a
// PostgreSQL serialization conflict, a connection lost before anything
// could commit), so a whole call can take longer than one BusyTimeout; the
// memory store never waits on a store. Backend, Now and DBStats never wait
// on the store; Close waits for the calls in progress.
//
// To bound a whole call by the caller's own deadline, every blocking method
// has an XxxContext variant taking a context.Context (PayContext,
// ReserveContext, ..., and OpenContext), as database/sql has QueryContext.
// When the context ends first it returns ctx.Err() at once. libconcert has
// no way to interrupt a call, so the C call still runs to completion on its
// own goroutine, within the bounds above, and its effect may land: a seat
// held, points paid. Retry such a payment or charge with the same
// idempotency key (Pay, PayOrder, Charge), which replays the first outcome
// instead of paying twice; after an abandoned Reserve, look before retrying
// (the hold may exist, and lapses after HoldTTL if unpaid). A context that
// has already ended calls nothing. Close also waits for abandoned calls.
package concert

/*
#cgo pkg-config: libconcert
#include <stdlib.h>
#include <concert/concert.h>
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// HeaderVersion is the libconcert version this package was compiled against.
const HeaderVersion = C.CONCERT_VERSION_STRING

// Version is the version of the libconcert shared library loaded at run time.
func Version() string { return C.GoString(C.concert_version_string()) }

// Options configure Open. The zero value of every field means the library's
// default. Ranges and defaults are the library's, never written here: see
// OptionsInfo (or include/concert/options.h), which gives each field's C
// name, default, minimum and maximum; Open refuses a value out of range with
// ErrInvalidArgument and the library's message, which names the C field
// (e.g. "options.hold_ttl_ms: ..."). Durations pass to the library in whole
// milliseconds; a positive one below 1 ms counts as 1 ms.
type Options struct {
	MaxActive     int64         // ACTIVE tokens at once (seeds a new store's queue settings)
	ActiveTTL     time.Duration // lifetime of an ACTIVE token
	WaitTTL       time.Duration // a WAITING token not polled this long is dropped
	HoldTTL       time.Duration // lifetime of a seat hold
	BookingCutoff time.Duration // booking ends this long after a schedule starts

	// Clock, if set, is the store's notion of "now" (tests move a fake clock
	// instead of sleeping). It is called from inside libconcert, once per
	// call, on the calling goroutine; it must be safe for concurrent use,
	// must not panic and must not call back into the DB. nil means the
	// library's own real-time clock, with no call into Go.
	Clock func() time.Time

	PoolSize int // PostgreSQL connections, SQLite read connections
	// BusyTimeout bounds each wait of a call on the store: a lock (SQLite,
	// PostgreSQL's lock_timeout), a free pooled connection, an answer from
	// the server (PostgreSQL's statement_timeout); past it the call fails
	// with ErrStorageBusy. See "Blocking calls" in the package doc.
	BusyTimeout time.Duration
	// ConnectTimeout bounds each new PostgreSQL connection (Open, and a
	// reconnect inside a call after a connection was lost).
	ConnectTimeout time.Duration

	// AdmitPerMinute caps new admissions per minute (zero: unlimited). Like
	// MaxActive it only seeds a store that has no queue settings yet (a new
	// one); after that the store's settings rule (DB.QueueUpdate).
	AdmitPerMinute int64
	// QueueRefresh is how old the DB's cached view of the queue may get.
	// QueueRefreshAlways reads the store on every call.
	QueueRefresh time.Duration
	// MaxHoldsPerUser caps the live seat holds one user may have at once,
	// across the store. NoHoldLimit turns the limit off. A concert's own
	// CatalogConcert.MaxPerUser replaces it for that concert. A new hold
	// past it fails with ErrHoldLimit.
	MaxHoldsPerUser int64
	// Retention is how long idempotency records and ended tokens are kept
	// so that retries replay. After it a retry is a new request (see
	// DB.Prune).
	Retention time.Duration
}

// NoHoldLimit, as Options.MaxHoldsPerUser, lets a user hold any number of
// seats (the library's max_holds_per_user = 0; a zero field means the
// default).
const NoHoldLimit int64 = -1

// QueueRefreshAlways, as Options.QueueRefresh, turns the DB's cached view of
// the queue off (the library's queue_refresh_ms = 0): every poll and every
// QueueStats reads the store.
const QueueRefreshAlways time.Duration = -1

// DB is an open store. It is safe for concurrent use by multiple goroutines.
type DB struct {
	// mu is held shared by every call and exclusively by Close, because the
	// library forbids closing a handle while a call on it is in progress.
	mu     sync.RWMutex
	handle *C.concert_db
	clock  cgo.Handle // 0 when the library's own clock is used
}

// Open opens the store named by uri:
//
//	"memory:"               a fresh in-memory store, lost on Close
//	"sqlite:PATH"           a SQLite file, created if missing
//	"postgresql://..."      PostgreSQL (URI or "host=... dbname=..." form)
func Open(uri string, opts Options) (*DB, error) {
	var copts C.concert_options
	if rc := C.concert_options_init(&copts, C.CONCERT_OPTIONS_VERSION); rc < 0 {
		return nil, newError(Code(rc), "concert_options_init failed: header and library disagree")
	}
	if err := fillOptions(&copts, opts); err != nil {
		return nil, err
	}
	curi, err := cstring("uri", uri)
	if err != nil {
		return nil, err
	}

	db := &DB{}
	if opts.Clock != nil {
		db.clock = cgo.NewHandle(opts.Clock)
		C.concert_go_options_set_clock(&copts, C.uintptr_t(db.clock))
	}
	var handle *C.concert_db
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := C.concert_db_open(&handle, curi, &copts); rc < 0 {
		err := lastError(rc)
		if db.clock != 0 {
			db.clock.Delete()
		}
		return nil, err
	}
	db.handle = handle
	return db, nil
}

// Close closes the store. It waits for calls in progress; later calls
// return ErrClosed. Closing twice is harmless.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.handle == nil {
		return nil
	}
	C.concert_db_close(db.handle)
	db.handle = nil
	if db.clock != 0 {
		db.clock.Delete()
		db.clock = 0
	}
	return nil
}

// Backend names the store behind db: "memory", "sqlite" or "postgresql".
func (db *DB) Backend() (string, error) {
	var name string
	err := db.call(func(h *C.concert_db) C.int {
		name = C.GoString(C.concert_db_backend_name(h))
		return 0
	})
	return name, err
}

// Now is the current time as the store's clock sees it.
func (db *DB) Now() (time.Time, error) {
	var now time.Time
	err := db.call(func(h *C.concert_db) C.int {
		now = fromMs(C.concert_db_now(h))
		return 0
	})
	return now, err
}

// call runs f with the open handle and turns a negative result into an
// *Error. The goroutine stays on one OS thread from the call to the error
// read, because libconcert keeps the error detail per thread.
func (db *DB) call(f func(h *C.concert_db) C.int) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.handle == nil {
		return ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := f(db.handle); rc < 0 {
		return lastError(rc)
	}
	return nil
}

//export concertGoClock
func concertGoClock(h C.uintptr_t) C.int64_t {
	clock := cgo.Handle(h).Value().(func() time.Time)
	return C.int64_t(clock().UnixMilli())
}

// durationMs converts to whole milliseconds, rounding a positive duration
// below 1ms up to 1ms so that it does not silently become "default" (0).
// Negative values pass through for the library to reject.
func durationMs(d time.Duration) int64 {
	ms := d.Milliseconds()
	if d > 0 && d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// optionalKey is an idempotency key for C: NULL for "" (no key; Go strings
// have no nil), else the key, which the library checks (1..255 bytes of
// printable ASCII without spaces; a blank " " is ErrInvalidArgument).
func optionalKey(key string) (*C.char, error) {
	if key == "" {
		return nil, nil
	}
	return cstring("idempotency key", key)
}

// cstring returns s as a NUL-terminated C string in Go memory (no malloc;
// valid while the Go value is reachable, which covers the call it is
// passed to). A NUL inside s would silently cut it short in C, so it is
// refused.
func cstring(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, newError(CodeInvalidArgument, what+" contains a NUL byte")
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return (*C.char)(unsafe.Pointer(&b[0])), nil
}

// fixedString reads a NUL-terminated string from a fixed-size char array
// of a library struct, never past the array's end.
func fixedString(chars []C.char) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&chars[0])), len(chars))
	if n := bytes.IndexByte(b, 0); n >= 0 {
		b = b[:n]
	}
	return string(b)
}

func fromMs(ms C.int64_t) time.Time { return time.UnixMilli(int64(ms)).UTC() }

func toMs(t time.Time) C.int64_t { return C.int64_t(t.UnixMilli()) }
