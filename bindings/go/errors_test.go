package concert

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var allSentinels = []*Error{
	ErrInvalidArgument, ErrOutOfMemory, ErrStorageUnavailable, ErrStorageBusy, ErrNotSupported,
	ErrSchemaTooNew, ErrInternal, ErrConflict, ErrUserNotFound, ErrTokenInvalid, ErrTokenNotActive,
	ErrConcertNotFound, ErrConcertNotBookable, ErrScheduleNotFound, ErrBookingClosed, ErrSeatNotFound,
	ErrSeatTaken, ErrReservationNotFound, ErrForbidden, ErrHoldExpired, ErrAlreadyPaid,
	ErrInsufficientPoints, ErrInvalidAmount, ErrIdempotencyKeyReused, ErrQueueClosed, ErrHoldLimit,
}

// TestSentinelsMatchLibrary proves every Go code is one the library knows
// (a wrong value would be named "UNKNOWN") and that no two collide.
func TestSentinelsMatchLibrary(t *testing.T) {
	seen := map[Code]string{}
	for _, s := range allSentinels {
		if s.Code >= 0 || s.Name == "UNKNOWN" || s.Name == "" || s.Message == "" {
			t.Errorf("sentinel %+v is not a library error", s)
		}
		if other, dup := seen[s.Code]; dup {
			t.Errorf("%s and %s share code %d", s.Name, other, s.Code)
		}
		seen[s.Code] = s.Name
		if !strings.Contains(s.Error(), s.Name) {
			t.Errorf("Error() %q does not name %s", s.Error(), s.Name)
		}
	}
	if ErrSeatTaken.Name != "SEAT_TAKEN" || ErrInsufficientPoints.Name != "INSUFFICIENT_POINTS" {
		t.Errorf("names: %s, %s", ErrSeatTaken.Name, ErrInsufficientPoints.Name)
	}
	if Code(-999).Name() != "UNKNOWN" {
		t.Errorf("unknown code named %q", Code(-999).Name())
	}
}

// expectCode fails unless err matches want (and only want) and carries the
// library's message.
func expectCode(t *testing.T, what string, err error, want *Error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %s", what, want.Name)
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %s", what, err, want.Name)
		return
	}
	for _, other := range allSentinels {
		if other != want && errors.Is(err, other) {
			t.Errorf("%s: %v also matches %s", what, err, other.Name)
		}
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != want.Code || e.Name != want.Name || e.Message == "" {
		t.Errorf("%s: errors.As gave %+v", what, e)
	}
}

func TestErrorMapping(t *testing.T) {
	clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	db := openLoaded(t, "memory:", Options{MaxActive: 2, Clock: clock.Now})

	_, err := db.QueueIssue(999)
	expectCode(t, "QueueIssue(unknown user)", err, ErrUserNotFound)
	_, err = db.QueueStatus("no-such-token")
	expectCode(t, "QueueStatus(bogus)", err, ErrTokenInvalid)
	_, err = db.QueueStatus("bad\x00token")
	expectCode(t, "token with a NUL byte", err, ErrInvalidArgument)

	aliceToken := activeToken(t, db, alice)
	bobToken := activeToken(t, db, bob)
	carolWaiting := must(db.QueueIssue(carol)).in(t)
	_, err = db.Concerts(carolWaiting.Token)
	expectCode(t, "Concerts(waiting token)", err, ErrTokenNotActive)

	_, err = db.Concert(aliceToken, 99)
	expectCode(t, "Concert(99)", err, ErrConcertNotFound)
	_, err = db.Concert(aliceToken, pendingConcert)
	expectCode(t, "Concert(pending)", err, ErrConcertNotBookable)
	_, err = db.Schedules(aliceToken, pastConcert)
	expectCode(t, "Schedules(past concert)", err, ErrBookingClosed)
	_, err = db.Seats(aliceToken, 999)
	expectCode(t, "Seats(999)", err, ErrScheduleNotFound)
	_, err = db.Reserve(aliceToken, openSchedule, 999)
	expectCode(t, "Reserve(seat 999)", err, ErrSeatNotFound)

	held := must(db.Reserve(aliceToken, openSchedule, 1)).in(t)
	_, err = db.Reserve(bobToken, openSchedule, 1)
	expectCode(t, "Reserve(alice's seat)", err, ErrSeatTaken)
	_, err = db.Reservation(bobToken, held.ID)
	expectCode(t, "Reservation(alice's)", err, ErrForbidden)
	_, err = db.Reservation(bobToken, 9999)
	expectCode(t, "Reservation(9999)", err, ErrReservationNotFound)

	_, err = db.Pay(aliceToken, held.ID, "bad\x00key")
	expectCode(t, "Pay(key with NUL)", err, ErrInvalidArgument)
	must(db.Pay(aliceToken, held.ID, "k1")).in(t)
	// Paying ended alice's token, so carol (next in line) is admitted.
	carolToken := must(db.QueueStatus(carolWaiting.Token)).in(t)
	if !carolToken.Active() {
		t.Fatalf("carol not admitted: %+v", carolToken)
	}
	poor := must(db.Reserve(carolToken.Token, openSchedule, 2)).in(t)
	_, err = db.Pay(carolToken.Token, poor.ID, "")
	expectCode(t, "Pay(no points)", err, ErrInsufficientPoints)
	// bob gives his slot back so that alice gets a new active token.
	if err := db.QueueLeave(bobToken); err != nil {
		t.Fatal(err)
	}
	aliceAgain := activeToken(t, db, alice)
	_, err = db.Pay(aliceAgain, held.ID, "")
	expectCode(t, "Pay(paid reservation)", err, ErrAlreadyPaid)

	_, err = db.Charge(carol, 0, "")
	expectCode(t, "Charge(0)", err, ErrInvalidAmount)
	_, err = db.Charge(carol, MaxCharge+1, "")
	expectCode(t, "Charge(MaxCharge+1)", err, ErrInvalidAmount)
	if b := must(db.Charge(carol, 10, "top-up")).in(t); b != 10 {
		t.Errorf("balance after charging 10 = %d", b)
	}
	if b := must(db.Charge(carol, 10, "top-up")).in(t); b != 10 {
		t.Errorf("idempotent repeat of a charge changed the balance to %d", b)
	}
	_, err = db.Charge(carol, 20, "top-up")
	expectCode(t, "Charge(same key, other amount)", err, ErrIdempotencyKeyReused)
	_, err = db.Balance(999)
	expectCode(t, "Balance(999)", err, ErrUserNotFound)
	_, err = db.History(999)
	expectCode(t, "History(999)", err, ErrUserNotFound)

	err = db.LoadCatalog(testCatalog(clock.Now()))
	expectCode(t, "LoadCatalog twice", err, ErrConflict)
	bad := Catalog{Concerts: []CatalogConcert{{ID: 50, Title: "Bad", Status: ConcertOpen,
		Schedules: []CatalogSchedule{{ID: 51, StartsAt: clock.Now().Add(time.Hour),
			Seats: []SeatRange{{From: 5, To: 1, Grade: "R", Price: 1}}}}}}}
	err = db.LoadCatalog(bad)
	expectCode(t, "LoadCatalog(to < from)", err, ErrInvalidArgument)
	var e *Error
	if errors.As(err, &e) && !strings.Contains(e.Message, "concerts[0].schedules[0].seats[0]") {
		t.Errorf("catalog error does not name the field: %q", e.Message)
	}
	bad.Concerts[0].Schedules[0].Seats[0] = SeatRange{From: 1, To: 5, Grade: "R\x00", Price: 1}
	err = db.LoadCatalog(bad)
	expectCode(t, "LoadCatalog(NUL in grade)", err, ErrInvalidArgument)
	if errors.As(err, &e) && !strings.Contains(e.Message, "concerts[0].schedules[0].seats[0].grade") {
		t.Errorf("NUL error does not name the field: %q", e.Message)
	}

	_, err = Open("nosuchscheme:x", Options{})
	expectCode(t, "Open(unknown scheme)", err, ErrInvalidArgument)
	_, err = Open("memory:", Options{HoldTTL: -time.Second})
	expectCode(t, "Open(negative HoldTTL)", err, ErrInvalidArgument)
	_, err = Open("memory:", Options{BusyTimeout: 1000 * time.Hour})
	expectCode(t, "Open(BusyTimeout beyond int32 ms)", err, ErrInvalidArgument)
}
