package concert

/*
#include <concert/concert.h>
*/
import "C"

import "time"

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

// Payment is a completed payment.
type Payment struct {
	ID            int64
	ReservationID int64
	UserID        int64
	Amount        int64 // points debited
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
// false). Errors: token errors, ErrScheduleNotFound, ErrConcertNotBookable,
// ErrBookingClosed, ErrSeatNotFound, ErrSeatTaken.
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
// out reads back as ReservationExpired. Errors: token errors,
// ErrReservationNotFound, ErrForbidden (another user's).
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

// Pay pays for a held reservation with the token's user's points in one
// atomic step (debit, ledger, seat sold, reservation confirmed, token
// ended). idemKey ("" for none, at most 255 bytes) makes a retry return the
// first payment without a second debit. Errors: token errors,
// ErrReservationNotFound, ErrForbidden, ErrHoldExpired, ErrAlreadyPaid,
// ErrInsufficientPoints, ErrIdempotencyKeyReused; on error nothing changed.
func (db *DB) Pay(token string, reservationID int64, idemKey string) (Payment, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Payment{}, err
	}
	ckey, err := cstring("idempotency key", idemKey)
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
	return Payment{
		ID:            int64(out.id),
		ReservationID: int64(out.reservation_id),
		UserID:        int64(out.user_id),
		Amount:        int64(out.amount),
		Balance:       int64(out.balance),
		PaidAt:        fromMs(out.paid_at),
	}, nil
}
