package concert

/*
#include <concert/concert.h>
*/
import "C"

import "unsafe"

// User is a user and their balance.
type User struct {
	ID      int64
	Balance int64
	Name    string
}

// Users lists every user in id order (administration).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); UsersContext bounds the whole call.
func (db *DB) Users() ([]User, error) {
	var list *C.concert_user_list
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_admin_user_list_get(&list, h)
	})
	if err != nil {
		return nil, err
	}
	defer C.concert_user_list_free(list)
	items := unsafe.Slice(list.items, int(list.count))
	out := make([]User, len(items))
	for i := range items {
		out[i] = User{
			ID:      int64(items[i].id),
			Balance: int64(items[i].balance),
			Name:    fixedString(items[i].name[:]),
		}
	}
	return out, nil
}

// VerifyReport is what Verify checked and the invariant violations it found.
type VerifyReport struct {
	Users         int64 // users whose balance was checked
	LedgerEntries int64
	Seats         int64
	SeatsSold     int64
	Reservations  int64
	Payments      int64
	ActiveTokens  int64
	Violations    []string // empty when every invariant holds
}

// OK reports whether no invariant was violated.
func (r VerifyReport) OK() bool { return len(r.Violations) == 0 }

// Verify checks the store's invariants (every sold seat paid once, every
// balance the sum of its ledger, no seat both sold and held, ...). A nil
// error means the check ran; see the report's Violations for what it found.
// Errors: ErrNotSupported (the backend cannot verify).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); VerifyContext bounds the whole call.
func (db *DB) Verify() (VerifyReport, error) {
	var report *C.concert_verify_report
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_admin_verify(&report, h)
	})
	if err != nil {
		return VerifyReport{}, err
	}
	defer C.concert_verify_report_free(report)
	out := VerifyReport{
		Users:         int64(report.users),
		LedgerEntries: int64(report.ledger_entries),
		Seats:         int64(report.seats),
		SeatsSold:     int64(report.seats_sold),
		Reservations:  int64(report.reservations),
		Payments:      int64(report.payments),
		ActiveTokens:  int64(report.active_tokens),
	}
	for _, v := range unsafe.Slice(report.violations, int(report.violation_count)) {
		out.Violations = append(out.Violations, C.GoString(v))
	}
	return out, nil
}

// PruneReport is what Prune deleted.
type PruneReport struct {
	Tokens      int64 // tokens that had ended more than Options.Retention ago
	Idempotency int64 // idempotency records older than Options.Retention
	More        bool  // the limit stopped it with more rows still due
}

// Prune deletes what Options.Retention allows: idempotency records older
// than it (a retry with such a key is then a new request) and tokens that
// ended longer ago than it (then ErrTokenInvalid). Never a user, a live
// token, a reservation, a payment or a ledger entry. At most limit rows,
// oldest first (0: all that are due). Stores also prune a little inside
// their normal calls, so calling it is never required; it is for a quiet
// hour. Errors: ErrInvalidArgument (a negative limit), storage errors.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); PruneContext bounds the whole call.
func (db *DB) Prune(limit int) (PruneReport, error) {
	if limit < 0 { // would wrap around in size_t
		return PruneReport{}, newError(CodeInvalidArgument, "prune limit is negative")
	}
	var out C.concert_prune_report
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_admin_prune(&out, h, C.size_t(limit))
	})
	if err != nil {
		return PruneReport{}, err
	}
	return PruneReport{Tokens: int64(out.tokens), Idempotency: int64(out.idempotency),
		More: out.more != 0}, nil
}
