package concert

import (
	"errors"
	"testing"
	"time"
)

// Issue 12 through the binding: the free lists' versions, Options.Retention
// and Prune, on the memory and SQLite stores with a fake clock.

const testRetention = 10 * time.Second

var retentionStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TestListVersions: a version stays equal while nothing in scope changes
// (reads, another token, time passing) and changes with a hold and a
// release, never returning to an earlier value.
func TestListVersions(t *testing.T) {
	forEachStore(t, testListVersions)
}

func testListVersions(t *testing.T, uri string) {
	clock := newFakeClock(retentionStart)
	db := openLoaded(t, uri, Options{Clock: clock.Now})
	a, b := activeToken(t, db, alice), activeToken(t, db, bob)
	seats0 := must(db.SeatsVersion(a, openSchedule)).in(t)
	concert0 := must(db.SchedulesVersion(a, openConcert)).in(t)

	must(db.Seats(a, openSchedule)).in(t)
	must(db.Schedules(a, openConcert)).in(t)
	clock.Advance(30 * time.Second)
	if got := must(db.SeatsVersion(b, openSchedule)).in(t); got != seats0 {
		t.Errorf("seats version moved with nothing changed: %+v, then %+v", seats0, got)
	}
	if got := must(db.SchedulesVersion(b, openConcert)).in(t); got != concert0 {
		t.Errorf("schedules version moved with nothing changed: %+v, then %+v", concert0, got)
	}

	r := must(db.Reserve(a, openSchedule, 7)).in(t)
	seats1 := must(db.SeatsVersion(a, openSchedule)).in(t)
	if seats1 == seats0 {
		t.Errorf("seats version unchanged by a hold: %+v", seats1)
	}
	if got := must(db.SchedulesVersion(a, openConcert)).in(t); got == concert0 {
		t.Errorf("schedules version unchanged by a hold: %+v", got)
	}
	if got := must(db.SeatsVersion(b, openSchedule)).in(t); got != seats1 {
		t.Errorf("seats version moved after the hold: %+v, then %+v", seats1, got)
	}

	must(db.Release(a, r.ID)).in(t)
	seen := map[ListVersion]bool{seats0: true, seats1: true}
	if seats2 := must(db.SeatsVersion(a, openSchedule)).in(t); seen[seats2] {
		t.Errorf("after the release the version is an earlier one: %+v", seats2)
	}
}

// TestListVersionErrors: a version call refuses what its listing refuses,
// except a concert whose schedules have all closed (the listing says why).
func TestListVersionErrors(t *testing.T) {
	db := openLoaded(t, "memory:", Options{})
	token := activeToken(t, db, alice)
	code := func(err error) Code {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("want a library error, got %v", err)
		}
		return e.Code
	}
	for _, id := range []int64{pendingSchedule, pastSchedule, 999} {
		_, listed := db.Seats(token, id)
		_, versioned := db.SeatsVersion(token, id)
		if code(versioned) != code(listed) {
			t.Errorf("schedule %d: SeatsVersion %v, Seats %v", id, versioned, listed)
		}
	}
	for _, id := range []int64{pendingConcert, closedConcert, 999} {
		_, listed := db.Schedules(token, id)
		_, versioned := db.SchedulesVersion(token, id)
		if code(versioned) != code(listed) {
			t.Errorf("concert %d: SchedulesVersion %v, Schedules %v", id, versioned, listed)
		}
	}
	_, err := db.Schedules(token, pastConcert)
	expectCode(t, "Schedules(past concert)", err, ErrBookingClosed)
	must(db.SchedulesVersion(token, pastConcert)).in(t)
	_, err = db.SeatsVersion("no-such-token", openSchedule)
	expectCode(t, "SeatsVersion(unknown token)", err, ErrTokenInvalid)
}

// TestPruneForgetsKeyedCharge: a keyed charge replays inside the retention;
// once Prune removed its record, the same key charges again.
func TestPruneForgetsKeyedCharge(t *testing.T) {
	forEachStore(t, testPruneForgetsKeyedCharge)
}

func testPruneForgetsKeyedCharge(t *testing.T, uri string) {
	clock := newFakeClock(retentionStart)
	db := openLoaded(t, uri, Options{Clock: clock.Now, Retention: testRetention})
	first := must(db.Charge(carol, 700, "topup-1")).in(t)
	clock.Advance(testRetention - time.Millisecond)
	if again := must(db.Charge(carol, 700, "topup-1")).in(t); again != first {
		t.Fatalf("a replay inside the retention charged again: %d, then %d", first, again)
	}
	if report := must(db.Prune(0)).in(t); report != (PruneReport{}) {
		t.Errorf("Prune inside the retention deleted %+v", report)
	}

	clock.Advance(time.Millisecond)
	report := must(db.Prune(0)).in(t)
	if report.Idempotency < 1 || report.More {
		t.Errorf("Prune after the retention: %+v, want the charge's record and no more", report)
	}
	if again := must(db.Charge(carol, 700, "topup-1")).in(t); again != first+700 {
		t.Errorf("after the retention the key should charge again: %d, then %d", first, again)
	}
	if v := must(db.Verify()).in(t); !v.OK() {
		t.Errorf("Verify: %v", v.Violations)
	}
}

// TestPruneLimit: a limit stops Prune with More set; the rest comes next.
func TestPruneLimit(t *testing.T) {
	forEachStore(t, testPruneLimit)
}

func testPruneLimit(t *testing.T, uri string) {
	clock := newFakeClock(retentionStart)
	db := openLoaded(t, uri, Options{Clock: clock.Now, Retention: testRetention})
	for _, key := range []string{"k0", "k1", "k2"} {
		must(db.Charge(carol, 100, key)).in(t)
	}
	clock.Advance(testRetention)
	for i, want := range []PruneReport{{Idempotency: 1, More: true}, {Idempotency: 2}, {}} {
		limit := 0
		if i == 0 {
			limit = 1
		}
		if got := must(db.Prune(limit)).in(t); got != want {
			t.Errorf("Prune(%d) #%d = %+v, want %+v", limit, i, got, want)
		}
	}
	_, err := db.Prune(-1)
	expectCode(t, "Prune(-1)", err, ErrInvalidArgument)
}

// TestRetentionRange: Options.Retention out of range fails Open.
func TestRetentionRange(t *testing.T) {
	const day = 24 * time.Hour
	for _, r := range []time.Duration{999 * time.Millisecond, time.Microsecond, -time.Second,
		366*day + time.Millisecond} {
		db, err := Open("memory:", Options{Retention: r})
		expectCode(t, "Open(Retention "+r.String()+")", err, ErrInvalidArgument)
		if err == nil {
			db.Close()
		}
	}
	for _, r := range []time.Duration{0, time.Second, 366 * day} {
		db, err := Open("memory:", Options{Retention: r})
		if err != nil {
			t.Errorf("Open(Retention %v): %v", r, err)
			continue
		}
		db.Close()
	}
}
