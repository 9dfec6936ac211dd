package concert

/*
#include <concert/concert.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// MaxCharge is the largest amount one Charge may add.
const MaxCharge int64 = C.CONCERT_MAX_CHARGE

// MaxBalance is the largest balance a user may have (2^53 - 1).
const MaxBalance int64 = C.CONCERT_MAX_BALANCE

// LedgerEntry is one immutable points movement.
type LedgerEntry struct {
	ID            int64
	UserID        int64
	Type          LedgerType
	Amount        int64 // + for a charge, - for a payment
	BalanceAfter  int64
	At            time.Time
	ReservationID int64 // a payment's reservation; 0 for a charge
}

// Charge adds amount (1..MaxCharge) points to userID and returns the new
// balance. idemKey ("" for none) makes a retry with the same amount return
// the first result without a second charge. Errors: ErrUserNotFound,
// ErrInvalidAmount, ErrIdempotencyKeyReused.
func (db *DB) Charge(userID, amount int64, idemKey string) (int64, error) {
	ckey, err := cstring("idempotency key", idemKey)
	if err != nil {
		return 0, err
	}
	var balance C.int64_t
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_charge_points(&balance, h, C.int64_t(userID), C.int64_t(amount), ckey)
	})
	if err != nil {
		return 0, err
	}
	return int64(balance), nil
}

// Balance is userID's balance in points. Errors: ErrUserNotFound.
func (db *DB) Balance(userID int64) (int64, error) {
	var balance C.int64_t
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_points_balance(&balance, h, C.int64_t(userID))
	})
	if err != nil {
		return 0, err
	}
	return int64(balance), nil
}

// History is userID's ledger, newest first. Errors: ErrUserNotFound.
func (db *DB) History(userID int64) ([]LedgerEntry, error) {
	var list *C.concert_ledger_list
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_points_history(&list, h, C.int64_t(userID))
	})
	if err != nil {
		return nil, err
	}
	defer C.concert_ledger_list_free(list)
	items := unsafe.Slice(list.items, int(list.count))
	out := make([]LedgerEntry, len(items))
	for i, e := range items {
		out[i] = LedgerEntry{
			ID:            int64(e.id),
			UserID:        int64(e.user_id),
			Type:          LedgerType(e._type),
			Amount:        int64(e.amount),
			BalanceAfter:  int64(e.balance_after),
			At:            fromMs(e.at),
			ReservationID: int64(e.reservation_id),
		}
	}
	return out, nil
}
