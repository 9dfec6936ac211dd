package concert

import (
	"testing"
	"time"
)

// TestHoldExpiresWithFakeClock moves an injected clock past the hold TTL:
// the hold reads back EXPIRED, cannot be paid, and the seat is free again.
func TestHoldExpiresWithFakeClock(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		clock := newFakeClock(start)
		const holdTTL, activeTTL = 2 * time.Minute, 10 * time.Minute
		db := openLoaded(t, uri, Options{HoldTTL: holdTTL, ActiveTTL: activeTTL, Clock: clock.Now})

		if now := must(db.Now()).in(t); !now.Equal(start) {
			t.Fatalf("db.Now() = %v, want the fake %v", now, start)
		}
		info := must(db.QueueIssue(alice)).in(t)
		if !info.ExpiresAt.Equal(start.Add(activeTTL)) {
			t.Errorf("token ExpiresAt = %v, want %v", info.ExpiresAt, start.Add(activeTTL))
		}
		r := must(db.Reserve(info.Token, openSchedule, 7)).in(t)
		if !r.HeldUntil.Equal(start.Add(holdTTL)) {
			t.Errorf("HeldUntil = %v, want %v", r.HeldUntil, start.Add(holdTTL))
		}

		clock.Advance(holdTTL - time.Millisecond)
		if got := must(db.Reservation(info.Token, r.ID)).in(t); got.Status != ReservationHeld {
			t.Fatalf("1 ms before expiry: %v, want HELD", got.Status)
		}
		bobToken := activeToken(t, db, bob)
		_, err := db.Reserve(bobToken, openSchedule, 7)
		expectCode(t, "Reserve(live hold)", err, ErrSeatTaken)

		clock.Advance(time.Millisecond)
		if got := must(db.Reservation(info.Token, r.ID)).in(t); got.Status != ReservationExpired {
			t.Fatalf("at expiry: %v, want EXPIRED", got.Status)
		}
		_, err = db.Pay(info.Token, r.ID, "")
		expectCode(t, "Pay(expired hold)", err, ErrHoldExpired)
		if b := must(db.Balance(alice)).in(t); b != openingPoints {
			t.Errorf("a failed payment changed the balance to %d", b)
		}
		taken := must(db.Reserve(bobToken, openSchedule, 7)).in(t)
		if taken.UserID != bob || taken.Status != ReservationHeld {
			t.Errorf("bob's hold on the freed seat = %+v", taken)
		}
		if report := must(db.Verify()).in(t); !report.OK() {
			t.Errorf("Verify: %v", report.Violations)
		}
	})
}

// TestActiveTokenExpires: an ACTIVE token past its lifetime is invalid.
func TestActiveTokenExpires(t *testing.T) {
	clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	db := openLoaded(t, "memory:", Options{ActiveTTL: time.Minute, Clock: clock.Now})
	token := activeToken(t, db, alice)
	clock.Advance(time.Minute)
	_, err := db.Concerts(token)
	expectCode(t, "Concerts(expired token)", err, ErrTokenInvalid)
}
