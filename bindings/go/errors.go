package concert

/*
#include <concert/concert.h>
*/
import "C"

import (
	"errors"
	"fmt"
)

// Code is a libconcert error code (concert_error_code): a negative number
// whose value never changes between releases.
type Code int

// The codes of include/concert/errors.h. Their values come from the header
// itself, so the two can never disagree.
const (
	CodeInvalidArgument      Code = C.CONCERT_EINVAL
	CodeOutOfMemory          Code = C.CONCERT_ENOMEM
	CodeStorageUnavailable   Code = C.CONCERT_ESTORAGE
	CodeStorageBusy          Code = C.CONCERT_EBUSY
	CodeNotSupported         Code = C.CONCERT_ENOTSUP
	CodeSchemaTooNew         Code = C.CONCERT_ESCHEMA
	CodeInternal             Code = C.CONCERT_EINTERNAL
	CodeConflict             Code = C.CONCERT_ECONFLICT
	CodeUserNotFound         Code = C.CONCERT_EUSER_NOT_FOUND
	CodeTokenInvalid         Code = C.CONCERT_ETOKEN_INVALID
	CodeTokenNotActive       Code = C.CONCERT_ETOKEN_NOT_ACTIVE
	CodeConcertNotFound      Code = C.CONCERT_ECONCERT_NOT_FOUND
	CodeConcertNotBookable   Code = C.CONCERT_ECONCERT_NOT_BOOKABLE
	CodeScheduleNotFound     Code = C.CONCERT_ESCHEDULE_NOT_FOUND
	CodeBookingClosed        Code = C.CONCERT_EBOOKING_CLOSED
	CodeSeatNotFound         Code = C.CONCERT_ESEAT_NOT_FOUND
	CodeSeatTaken            Code = C.CONCERT_ESEAT_TAKEN
	CodeReservationNotFound  Code = C.CONCERT_ERESERVATION_NOT_FOUND
	CodeForbidden            Code = C.CONCERT_EFORBIDDEN
	CodeHoldExpired          Code = C.CONCERT_EHOLD_EXPIRED
	CodeAlreadyPaid          Code = C.CONCERT_EALREADY_PAID
	CodeInsufficientPoints   Code = C.CONCERT_EINSUFFICIENT_POINTS
	CodeInvalidAmount        Code = C.CONCERT_EINVALID_AMOUNT
	CodeIdempotencyKeyReused Code = C.CONCERT_EIDEMPOTENCY_KEY_REUSED
	CodeQueueClosed          Code = C.CONCERT_EQUEUE_CLOSED
	CodeHoldLimit            Code = C.CONCERT_EHOLD_LIMIT
)

// Name is the code's stable name from the library ("SEAT_TAKEN"), the same
// string the HTTP API and the Python binding use; "UNKNOWN" for other values.
func (c Code) Name() string { return C.GoString(C.concert_error_name(C.int(c))) }

// String is the library's static English text for the code ("seat taken").
func (c Code) String() string { return C.GoString(C.concert_error_string(C.int(c))) }

// Error is a failure reported by libconcert. Message is the library's
// detail for this failure (for example which seat was taken); Name is the
// code's stable name.
//
// errors.Is(err, ErrSeatTaken) holds for every *Error whose Code is
// CodeSeatTaken, and errors.As(err, &e) gives the message.
type Error struct {
	Code    Code
	Name    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("concert: %s (%s)", e.Message, e.Name)
}

// Is reports whether target is an *Error with the same code, so that every
// failure matches the sentinel of its code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(c Code, message string) *Error {
	return &Error{Code: c, Name: c.Name(), Message: message}
}

// sentinel builds the value compared against with errors.Is; its message is
// the library's generic text for the code.
func sentinel(c Code) *Error { return newError(c, c.String()) }

// Sentinel errors, one per code. Compare with errors.Is, never with ==:
// the errors returned by calls are distinct values carrying their own message.
var (
	ErrInvalidArgument      = sentinel(CodeInvalidArgument)
	ErrOutOfMemory          = sentinel(CodeOutOfMemory)
	ErrStorageUnavailable   = sentinel(CodeStorageUnavailable)
	ErrStorageBusy          = sentinel(CodeStorageBusy)
	ErrNotSupported         = sentinel(CodeNotSupported)
	ErrSchemaTooNew         = sentinel(CodeSchemaTooNew)
	ErrInternal             = sentinel(CodeInternal)
	ErrConflict             = sentinel(CodeConflict)
	ErrUserNotFound         = sentinel(CodeUserNotFound)
	ErrTokenInvalid         = sentinel(CodeTokenInvalid)
	ErrTokenNotActive       = sentinel(CodeTokenNotActive)
	ErrConcertNotFound      = sentinel(CodeConcertNotFound)
	ErrConcertNotBookable   = sentinel(CodeConcertNotBookable)
	ErrScheduleNotFound     = sentinel(CodeScheduleNotFound)
	ErrBookingClosed        = sentinel(CodeBookingClosed)
	ErrSeatNotFound         = sentinel(CodeSeatNotFound)
	ErrSeatTaken            = sentinel(CodeSeatTaken)
	ErrReservationNotFound  = sentinel(CodeReservationNotFound)
	ErrForbidden            = sentinel(CodeForbidden)
	ErrHoldExpired          = sentinel(CodeHoldExpired)
	ErrAlreadyPaid          = sentinel(CodeAlreadyPaid)
	ErrInsufficientPoints   = sentinel(CodeInsufficientPoints)
	ErrInvalidAmount        = sentinel(CodeInvalidAmount)
	ErrIdempotencyKeyReused = sentinel(CodeIdempotencyKeyReused)
	ErrQueueClosed          = sentinel(CodeQueueClosed)
	// ErrHoldLimit: the buyer already holds as many seats as a limit allows
	// (Options.MaxHoldsPerUser, or the concert's MaxPerUser); the message
	// gives the limit.
	ErrHoldLimit = sentinel(CodeHoldLimit)
)

// ErrClosed is returned by every method of a DB after Close.
var ErrClosed = errors.New("concert: database is closed")

// lastError turns a failed call's return code into an *Error with the
// calling thread's detail. The caller must still be on the OS thread that
// made the failed call (see DB.call).
func lastError(rc C.int) error {
	detail := C.concert_error_last()
	message := C.GoString(detail.message)
	code := Code(rc)
	if detail.code == rc && message != "" {
		return newError(code, message)
	}
	// No matching detail (should not happen): fall back to the static text.
	return newError(code, code.String())
}
