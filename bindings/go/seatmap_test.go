package concert

import (
	"errors"
	"testing"
	"time"
)

// freeOf is the FREE part of a seat map, as Seats would list it.
func freeOf(m []SeatState) []Seat {
	var out []Seat
	for _, s := range m {
		if s.Status == SeatFree {
			out = append(out, s.Seat)
		}
	}
	return out
}

func sameSeats(a, b []Seat) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSeatMap: every seat in order with its state through a hold, a
// release, a payment and an expiry on the fake clock; FREE is Seats.
func TestSeatMap(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		clock := newFakeClock(start)
		db := openLoaded(t, uri, Options{HoldTTL: time.Minute, Clock: clock.Now})
		buyer, viewer := activeToken(t, db, alice), activeToken(t, db, bob)

		first := must(db.SeatMap(viewer, openSchedule)).in(t)
		if len(first) != seatsR+seatsVIP {
			t.Fatalf("%d seats, want %d", len(first), seatsR+seatsVIP)
		}
		for i, s := range first {
			grade, price := "R", int64(priceR)
			if i >= seatsR {
				grade, price = "VIP", priceVIP
			}
			want := SeatState{Seat: Seat{Number: int64(i + 1), Price: price, Grade: grade}, Status: SeatFree}
			if s != want {
				t.Fatalf("seat %d = %+v, want %+v", i+1, s, want)
			}
		}

		held := must(db.Reserve(buyer, openSchedule, 5)).in(t)
		released := must(db.Reserve(buyer, openSchedule, 6)).in(t)
		sold := must(db.Reserve(buyer, openSchedule, 7)).in(t)
		must(db.Release(buyer, released.ID)).in(t)
		must(db.Pay(buyer, sold.ID, "")).in(t)

		m := must(db.SeatMap(viewer, openSchedule)).in(t)
		if m[4].Status != SeatHeld || !m[4].HeldUntil.Equal(held.HeldUntil) ||
			!m[4].HeldUntil.Equal(start.Add(time.Minute)) {
			t.Errorf("held seat 5 = %+v, want HELD until %v", m[4], held.HeldUntil)
		}
		if m[5].Status != SeatFree || !m[5].HeldUntil.IsZero() {
			t.Errorf("released seat 6 = %+v, want FREE", m[5])
		}
		if m[6].Status != SeatSold || !m[6].HeldUntil.IsZero() {
			t.Errorf("paid seat 7 = %+v, want SOLD", m[6])
		}
		if !sameSeats(freeOf(m), must(db.Seats(viewer, openSchedule)).in(t)) {
			t.Errorf("the map's FREE seats are not the free list")
		}

		clock.Advance(time.Minute - time.Millisecond)
		if s := must(db.SeatMap(viewer, openSchedule)).in(t)[4]; s.Status != SeatHeld {
			t.Errorf("1 ms before expiry: %v, want HELD", s.Status)
		}
		clock.Advance(time.Millisecond)
		m = must(db.SeatMap(viewer, openSchedule)).in(t)
		if m[4].Status != SeatFree || m[6].Status != SeatSold {
			t.Errorf("at expiry: seat 5 %v (want FREE), seat 7 %v (want SOLD)", m[4].Status, m[6].Status)
		}
		if !sameSeats(freeOf(m), must(db.Seats(viewer, openSchedule)).in(t)) {
			t.Errorf("after expiry the map's FREE seats are not the free list")
		}

		_, err := db.SeatMap("not-a-token", openSchedule)
		expectCode(t, "SeatMap(bad token)", err, ErrTokenInvalid)
		_, err = db.SeatMap(viewer, 999)
		expectCode(t, "SeatMap(unknown schedule)", err, ErrScheduleNotFound)
		_, err = db.SeatMap(viewer, pendingSchedule)
		expectCode(t, "SeatMap(pending concert)", err, ErrConcertNotBookable)
		_, err = db.SeatMap(viewer, pastSchedule)
		expectCode(t, "SeatMap(past schedule)", err, ErrBookingClosed)
	})
}

func TestSeatStatusNames(t *testing.T) {
	for s, want := range map[SeatStatus]string{SeatFree: "FREE", SeatHeld: "HELD", SeatSold: "SOLD",
		SeatStatus(9): "SeatStatus(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

// TestDBStats: calls grow with work and not with reading the stats; a
// caller's mistake is no store error.
func TestDBStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{})
		before := must(db.DBStats()).in(t)
		token := activeToken(t, db, alice)
		must(db.SeatMap(token, openSchedule)).in(t)
		after := must(db.DBStats()).in(t)
		if after.StorageCalls < before.StorageCalls+2 {
			t.Errorf("calls %d -> %d: the issue and the map were not counted",
				before.StorageCalls, after.StorageCalls)
		}
		if again := must(db.DBStats()).in(t); again != after {
			t.Errorf("reading the stats changed them: %+v -> %+v", after, again)
		}
		_, err := db.Reservation(token, 999999)
		expectCode(t, "Reservation(unknown)", err, ErrReservationNotFound)
		mistake := must(db.DBStats()).in(t)
		if mistake.StorageCalls <= after.StorageCalls || mistake.StorageErrors != 0 {
			t.Errorf("after a not-found: %+v (from %+v)", mistake, after)
		}
		db.Close()
		if _, err := db.DBStats(); !errors.Is(err, ErrClosed) {
			t.Errorf("DBStats after Close: %v, want ErrClosed", err)
		}
	})
}
