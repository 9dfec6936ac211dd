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

// HistoryPageMax is the most entries one HistoryPage call may ask for.
const HistoryPageMax = C.CONCERT_HISTORY_PAGE_MAX

// LedgerEntry is one immutable points movement.
type LedgerEntry struct {
	ID            int64
	UserID        int64
	Type          LedgerType
	Amount        int64 // + for a charge, - for a payment
	BalanceAfter  int64
	At            time.Time
	ReservationID int64 // a payment's reservation (an order's lowest id); 0 for a charge
}

// HistoryPage is one page of a user's ledger, newest first.
type HistoryPage struct {
	Entries []LedgerEntry
	// NextBeforeID is the cursor for the next page (pass it as beforeID);
	// 0 after the last page.
	NextBeforeID int64
}

// Charge adds amount (1..MaxCharge) points to userID and returns the new
// balance. idemKey (as for Pay: "" for none) makes a retry with the same
// amount return the first result without a second charge. Errors:
// ErrUserNotFound, ErrInvalidAmount, ErrIdempotencyKeyReused,
// ErrInvalidArgument (a malformed key).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ChargeContext bounds the whole call.
func (db *DB) Charge(userID, amount int64, idemKey string) (int64, error) {
	ckey, err := optionalKey(idemKey)
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
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); BalanceContext bounds the whole call.
func (db *DB) Balance(userID int64) (int64, error) {
	var balance C.int64_t
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_points_balance_get(&balance, h, C.int64_t(userID))
	})
	if err != nil {
		return 0, err
	}
	return int64(balance), nil
}

// History is userID's whole ledger, newest first. For a long ledger prefer
// HistoryPage. Errors: ErrUserNotFound.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); HistoryContext bounds the whole call.
func (db *DB) History(userID int64) ([]LedgerEntry, error) {
	var list *C.concert_ledger_list
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_ledger_list_get(&list, h, C.int64_t(userID))
	})
	if err != nil {
		return nil, err
	}
	defer C.concert_ledger_list_free(list)
	return ledgerFromC(list), nil
}

// HistoryPage is one page of userID's ledger, newest first: at most limit
// (1..HistoryPageMax) entries with an id below beforeID (0: from the
// newest). Pass the page's NextBeforeID as beforeID for the next page until
// it is 0. Entries never change and ids only grow, so paging while new
// entries arrive neither skips nor repeats one:
//
//	for before := int64(0); ; {
//		page, err := db.HistoryPage(user, before, 100)
//		if err != nil { ... }
//		use(page.Entries)
//		if before = page.NextBeforeID; before == 0 { break }
//	}
//
// Errors: ErrInvalidArgument (limit or beforeID out of range),
// ErrUserNotFound.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); HistoryPageContext bounds the whole call.
func (db *DB) HistoryPage(userID, beforeID int64, limit int) (HistoryPage, error) {
	if limit < 0 { // would wrap around in size_t
		return HistoryPage{}, newError(CodeInvalidArgument, "history page limit is negative")
	}
	var list *C.concert_ledger_list
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_ledger_list_get_page(&list, h, C.int64_t(userID), C.int64_t(beforeID),
			C.size_t(limit))
	})
	if err != nil {
		return HistoryPage{}, err
	}
	defer C.concert_ledger_list_free(list)
	return HistoryPage{Entries: ledgerFromC(list), NextBeforeID: int64(list.next_before_id)}, nil
}

// ledgerFromC copies a library list into Go memory (the caller frees it).
func ledgerFromC(list *C.concert_ledger_list) []LedgerEntry {
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
	return out
}
