package concert

/*
#include <concert/concert.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// OrderMax is the most reservations one PayOrder may pay for.
const OrderMax = C.CONCERT_ORDER_MAX

// Reservation is a seat hold or a paid seat.
type Reservation struct {
	ID         int64
	UserID     int64
	ScheduleID int64
	SeatNumber int64
	Price      int64 // points, fixed when the hold was made
	Status     ReservationStatus
	IsNew      bool      // Reserve created it (false: the user already held it)
	HeldUntil  time.Time // end of the hold
}

// Payment is a completed payment; one payment may cover an order of
// several reservations (PayOrder).
type Payment struct {
	ID            int64
	ReservationID int64 // the one paid for; for an order, the lowest id
	UserID        int64
	Amount        int64 // points debited (an order's total)
	Balance       int64 // balance right after the payment
	PaidAt        time.Time
}

func reservationFromC(c *C.concert_reservation) Reservation {
	return Reservation{
		ID:         int64(c.id),
		UserID:     int64(c.user_id),
		ScheduleID: int64(c.schedule_id),
		SeatNumber: int64(c.seat_number),
		Price:      int64(c.price),
		Status:     ReservationStatus(c.status),
		IsNew:      c.is_new != 0,
		HeldUntil:  fromMs(c.held_until),
	}
}

// Reserve holds seat of scheduleID for the token's user for the hold TTL.
// Reserving a seat the user already holds returns that reservation (IsNew
// false). A new hold past the per-buyer limit (the concert's MaxPerUser,
// counting holds plus paid seats of that concert; else
// Options.MaxHoldsPerUser, counting live holds across the store) fails with
// ErrHoldLimit. Errors: token errors, ErrScheduleNotFound,
// ErrConcertNotBookable, ErrBookingClosed, ErrSeatNotFound, ErrSeatTaken,
// ErrHoldLimit.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ReserveContext bounds the whole call.
func (db *DB) Reserve(token string, scheduleID, seat int64) (Reservation, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Reservation{}, err
	}
	var out C.concert_reservation
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_reserve_seat(&out, h, ctoken, C.int64_t(scheduleID), C.int64_t(seat))
	})
	if err != nil {
		return Reservation{}, err
	}
	return reservationFromC(&out), nil
}

// Reservation reads one of the token's user's reservations; a hold that ran
// out reads back as ReservationExpired, a released one as
// ReservationReleased. Errors: token errors,
// ErrReservationNotFound, ErrForbidden (another user's).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ReservationContext bounds the whole call.
func (db *DB) Reservation(token string, reservationID int64) (Reservation, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Reservation{}, err
	}
	var out C.concert_reservation
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_reservation_get(&out, h, ctoken, C.int64_t(reservationID))
	})
	if err != nil {
		return Reservation{}, err
	}
	return reservationFromC(&out), nil
}

func paymentFromC(c *C.concert_payment) Payment {
	return Payment{
		ID:            int64(c.id),
		ReservationID: int64(c.reservation_id),
		UserID:        int64(c.user_id),
		Amount:        int64(c.amount),
		Balance:       int64(c.balance),
		PaidAt:        fromMs(c.paid_at),
	}
}

// Pay pays for a held reservation with the token's user's points in one
// atomic step (debit, ledger, seat sold, reservation confirmed, token
// ended); the same as PayOrder with one id. idemKey makes a retry return
// the first payment without a second debit: "" for none, else 1..255 bytes
// of printable ASCII without spaces (anything else, a blank " " included,
// is ErrInvalidArgument). Errors: token errors, ErrReservationNotFound,
// ErrForbidden, ErrHoldExpired, ErrAlreadyPaid, ErrInsufficientPoints,
// ErrIdempotencyKeyReused, ErrInvalidArgument; on error nothing changed.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); PayContext bounds the whole call.
func (db *DB) Pay(token string, reservationID int64, idemKey string) (Payment, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Payment{}, err
	}
	ckey, err := optionalKey(idemKey)
	if err != nil {
		return Payment{}, err
	}
	var out C.concert_payment
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_pay(&out, h, ctoken, C.int64_t(reservationID), ckey)
	})
	if err != nil {
		return Payment{}, err
	}
	return paymentFromC(&out), nil
}

// PayOrder pays for several of the token's live holds at once, in one
// atomic step: one debit of the total, one ledger entry, one payment
// covering them all, every seat sold, the token ended. All or nothing: one
// expired, released, paid or foreign reservation fails the whole order
// (the first in ascending id order decides the error) and changes nothing.
//
// reservationIDs: 1..OrderMax distinct ids in any order. The Payment's
// Amount is the total and its ReservationID the lowest id. idemKey as for
// Pay; it covers the set of ids, so a retry with the same ids in another
// order replays. Errors: as Pay, plus ErrInvalidArgument (no ids, too many,
// a repeated id).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); PayOrderContext bounds the whole call.
func (db *DB) PayOrder(token string, reservationIDs []int64, idemKey string) (Payment, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Payment{}, err
	}
	ckey, err := optionalKey(idemKey)
	if err != nil {
		return Payment{}, err
	}
	// The library reads the ids during the call only; a []int64 holds no Go
	// pointers, so cgo lets C read it in place.
	var ids *C.int64_t
	if len(reservationIDs) > 0 {
		ids = (*C.int64_t)(unsafe.Pointer(&reservationIDs[0]))
	}
	var out C.concert_payment
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_order_pay(&out, h, ctoken, ids, C.size_t(len(reservationIDs)), ckey)
	})
	if err != nil {
		return Payment{}, err
	}
	return paymentFromC(&out), nil
}

// Release lets a hold go before it expires: the reservation becomes
// ReservationReleased and its seat is free for everyone at once. Releasing
// a reservation already released, or whose hold has run out, succeeds and
// leaves the seat alone. It returns the reservation as it is after the
// call. Errors: token errors, ErrReservationNotFound, ErrForbidden (another
// user's), ErrAlreadyPaid; on error nothing changed.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ReleaseContext bounds the whole call.
func (db *DB) Release(token string, reservationID int64) (Reservation, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Reservation{}, err
	}
	var out C.concert_reservation
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_reservation_release(&out, h, ctoken, C.int64_t(reservationID))
	})
	if err != nil {
		return Reservation{}, err
	}
	return reservationFromC(&out), nil
}
