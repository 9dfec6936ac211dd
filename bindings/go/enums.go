package concert

/*
#include <concert/concert.h>
*/
import "C"

import "strconv"

// TokenState is where a queue token stands.
type TokenState int32

const (
	TokenWaiting TokenState = C.CONCERT_TOKEN_WAITING // in line, cannot browse yet
	TokenActive  TokenState = C.CONCERT_TOKEN_ACTIVE  // admitted: may browse, hold and pay
)

func (s TokenState) String() string {
	switch s {
	case TokenWaiting:
		return "WAITING"
	case TokenActive:
		return "ACTIVE"
	}
	return "TokenState(" + strconv.Itoa(int(s)) + ")"
}

// QueueState is the queue's state, shared by every process on a store.
type QueueState int32

const (
	// QueueOpen: joins queue, admission runs under both limits.
	QueueOpen QueueState = C.CONCERT_QUEUE_OPEN
	// QueuePaused ("queue all"): joins still queue, nobody is admitted, the
	// ETA is unknown; ACTIVE tokens keep going.
	QueuePaused QueueState = C.CONCERT_QUEUE_PAUSED
	// QueueClosed: joins are refused with ErrQueueClosed; tokens already in
	// line keep their place and are still admitted.
	QueueClosed QueueState = C.CONCERT_QUEUE_CLOSED
	// QueueScheduled: the sale opens at OpensAt; joins before it are
	// pre-queued and ordered by the opening lottery.
	QueueScheduled QueueState = C.CONCERT_QUEUE_SCHEDULED
)

// String is the library's name for the state ("OPEN", "PAUSED", "CLOSED",
// "SCHEDULED").
func (s QueueState) String() string {
	if name := C.concert_queue_state_name(C.int(s)); name != nil && C.GoString(name) != "UNKNOWN" {
		return C.GoString(name)
	}
	return "QueueState(" + strconv.Itoa(int(s)) + ")"
}

// ParseQueueState is the state named name (exact, upper case, as String
// gives it). Errors: ErrInvalidArgument for any other text.
func ParseQueueState(name string) (QueueState, error) {
	cname, err := cstring("queue state", name)
	if err != nil {
		return 0, err
	}
	if s := C.concert_queue_state_from_name(cname); s != 0 {
		return QueueState(s), nil
	}
	return 0, newError(CodeInvalidArgument,
		"queue state "+strconv.Quote(name)+" is not OPEN, PAUSED, CLOSED or SCHEDULED")
}

// ConcertStatus is whether a concert is on sale.
type ConcertStatus int32

const (
	ConcertOpen    ConcertStatus = C.CONCERT_STATUS_OPEN    // on sale
	ConcertPending ConcertStatus = C.CONCERT_STATUS_PENDING // registered, not yet on sale
	ConcertClosed  ConcertStatus = C.CONCERT_STATUS_CLOSED  // not bookable
)

// String is the library's name for the status ("OPEN", "PENDING", "CLOSED").
func (s ConcertStatus) String() string {
	if name := C.concert_concert_status_name(C.int(s)); name != nil && C.GoString(name) != "UNKNOWN" {
		return C.GoString(name)
	}
	return "ConcertStatus(" + strconv.Itoa(int(s)) + ")"
}

// ReservationStatus is where a seat hold stands.
type ReservationStatus int32

const (
	ReservationHeld      ReservationStatus = C.CONCERT_RESERVATION_HELD      // hold is live
	ReservationConfirmed ReservationStatus = C.CONCERT_RESERVATION_CONFIRMED // paid; the seat is sold
	ReservationExpired   ReservationStatus = C.CONCERT_RESERVATION_EXPIRED   // hold ran out unpaid
	ReservationReleased  ReservationStatus = C.CONCERT_RESERVATION_RELEASED  // its buyer let the hold go
)

func (s ReservationStatus) String() string {
	switch s {
	case ReservationHeld:
		return "HELD"
	case ReservationConfirmed:
		return "CONFIRMED"
	case ReservationExpired:
		return "EXPIRED"
	case ReservationReleased:
		return "RELEASED"
	}
	return "ReservationStatus(" + strconv.Itoa(int(s)) + ")"
}

// LedgerType is the kind of a points movement.
type LedgerType int32

const (
	LedgerCharge  LedgerType = C.CONCERT_LEDGER_CHARGE  // points added
	LedgerPayment LedgerType = C.CONCERT_LEDGER_PAYMENT // points spent
)

// String is the library's name for the type ("CHARGE", "PAYMENT").
func (t LedgerType) String() string {
	if name := C.concert_ledger_type_name(C.int(t)); name != nil && C.GoString(name) != "UNKNOWN" {
		return C.GoString(name)
	}
	return "LedgerType(" + strconv.Itoa(int(t)) + ")"
}
