package concert

import (
	"path/filepath"
	"sort"
	"testing"
	"time"
)

var queueStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestQueueStateNames(t *testing.T) {
	for _, s := range []QueueState{QueueOpen, QueuePaused, QueueClosed, QueueScheduled} {
		parsed, err := ParseQueueState(s.String())
		if err != nil || parsed != s {
			t.Errorf("ParseQueueState(%q) = %v, %v", s.String(), parsed, err)
		}
	}
	if QueuePaused.String() != "PAUSED" || QueueScheduled.String() != "SCHEDULED" {
		t.Errorf("names: %s, %s", QueuePaused, QueueScheduled)
	}
	if got := QueueState(9).String(); got != "QueueState(9)" {
		t.Errorf("QueueState(9).String() = %q", got)
	}
	for _, bad := range []string{"paused", "HALTED", "", "OPEN\x00"} {
		_, err := ParseQueueState(bad)
		expectCode(t, "ParseQueueState("+bad+")", err, ErrInvalidArgument)
	}
}

// TestQueueOptionsSeedANewStore: MaxActive and AdmitPerMinute only seed a
// store without settings; a store that has them keeps them.
func TestQueueOptionsSeedANewStore(t *testing.T) {
	uri := "sqlite:" + filepath.Join(t.TempDir(), "seeded.db")
	db, err := Open(uri, Options{MaxActive: 7, AdmitPerMinute: 30})
	if err != nil {
		t.Fatal(err)
	}
	want := QueueSettings{MaxActive: 7, AdmitPerMinute: 30, State: QueueOpen}
	if got := must(db.QueueSettings()).in(t); got != want {
		t.Errorf("new store: %+v, want %+v", got, want)
	}
	db.Close()
	db, err = Open(uri, Options{MaxActive: 9, AdmitPerMinute: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := must(db.QueueSettings()).in(t); got != want {
		t.Errorf("reopened with other options: %+v, want %+v", got, want)
	}
	stats := must(db.QueueStats()).in(t)
	if stats.MaxActive != 7 || stats.AdmitPerMinute != 30 || stats.State != QueueOpen {
		t.Errorf("QueueStats = %+v", stats)
	}
}

func TestQueueOptionsOutOfRange(t *testing.T) {
	for _, opts := range []Options{
		{QueueRefresh: 61 * time.Second},
		{QueueRefresh: -5 * time.Millisecond},
		{AdmitPerMinute: -1},
		{AdmitPerMinute: 6000001},
	} {
		db, err := Open("memory:", opts)
		if err == nil {
			db.Close()
		}
		expectCode(t, "Open with bad queue options", err, ErrInvalidArgument)
	}
}

// TestQueueRefreshAlways: with the cache off a join is counted at once;
// with the default cache and a clock that does not move, it is not yet.
func TestQueueRefreshAlways(t *testing.T) {
	for _, c := range []struct {
		refresh time.Duration
		waiting int64
	}{{QueueRefreshAlways, 1}, {0, 0}, {time.Minute, 0}} {
		clock := newFakeClock(queueStart)
		db := openLoaded(t, "memory:", Options{Clock: clock.Now, QueueRefresh: c.refresh})
		if err := db.Pause(); err != nil {
			t.Fatal(err)
		}
		if s := must(db.QueueStats()).in(t); s.Waiting != 0 {
			t.Fatalf("waiting before any join: %d", s.Waiting)
		}
		must(db.QueueIssue(alice)).in(t)
		if s := must(db.QueueStats()).in(t); s.Waiting != c.waiting {
			t.Errorf("QueueRefresh %v: waiting %d right after a join, want %d",
				c.refresh, s.Waiting, c.waiting)
		}
	}
}

// TestQueueUpdate changes each setting, and refuses bad changes without
// changing anything, on every store.
func TestQueueUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		clock := newFakeClock(queueStart)
		db := openLoaded(t, uri, Options{Clock: clock.Now})

		got := must(db.QueueUpdate(QueueUpdate{MaxActive: Int64(2)})).in(t)
		if want := (QueueSettings{MaxActive: 2, State: QueueOpen}); got != want {
			t.Errorf("after MaxActive: %+v, want %+v", got, want)
		}
		got = must(db.QueueUpdate(QueueUpdate{AdmitPerMinute: Int64(600), State: QueuePaused})).in(t)
		if want := (QueueSettings{MaxActive: 2, AdmitPerMinute: 600, State: QueuePaused}); got != want {
			t.Errorf("after AdmitPerMinute+State: %+v, want %+v", got, want)
		}
		if read := must(db.QueueSettings()).in(t); read != got {
			t.Errorf("QueueSettings() = %+v, want %+v", read, got)
		}
		got = must(db.QueueUpdate(QueueUpdate{AdmitPerMinute: Int64(0), State: QueueOpen,
			ExpectState: QueuePaused})).in(t)
		if want := (QueueSettings{MaxActive: 2, State: QueueOpen}); got != want {
			t.Errorf("after unlimited rate, OPEN: %+v, want %+v", got, want)
		}

		before := got
		bad := []QueueUpdate{
			{},
			{MaxActive: Int64(0)},
			{MaxActive: Int64(-1)},
			{MaxActive: Int64(100000001)},
			{AdmitPerMinute: Int64(-1)},
			{AdmitPerMinute: Int64(6000001)},
			{MaxActive: Int64(5), AdmitPerMinute: Int64(-7)}, // the good one is not applied
			{State: QueueScheduled},
			{State: QueueState(9)},
			{State: QueueState(-1)},
			{OpensAt: queueStart},
			{OpensAt: queueStart.Add(-time.Second)},
			{State: QueueClosed, OpensAt: queueStart.Add(time.Hour)},
		}
		for _, u := range bad {
			_, err := db.QueueUpdate(u)
			expectCode(t, "QueueUpdate(bad)", err, ErrInvalidArgument)
		}
		_, err := db.QueueUpdate(QueueUpdate{State: QueueClosed, ExpectState: QueuePaused})
		expectCode(t, "QueueUpdate(expect PAUSED)", err, ErrConflict)
		if after := must(db.QueueSettings()).in(t); after != before {
			t.Errorf("bad updates changed the settings: %+v, was %+v", after, before)
		}

		// The new limit applies to this DB at once.
		activeToken(t, db, alice)
		activeToken(t, db, bob)
		if w := must(db.QueueIssue(carol)).in(t); w.State != TokenWaiting || w.Position != 1 {
			t.Errorf("third join under MaxActive 2: %+v", w)
		}
	})
}

// TestQueueStates: pause, resume, close and open, on every store.
func TestQueueStates(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		clock := newFakeClock(queueStart)
		db := openLoaded(t, uri, Options{Clock: clock.Now})
		state := func() QueueState { return must(db.QueueSettings()).in(t).State }

		if err := db.Pause(); err != nil || state() != QueuePaused {
			t.Fatalf("Pause: %v, state %v", err, state())
		}
		first := must(db.QueueIssue(alice)).in(t)
		if first.State != TokenWaiting || first.Position != 1 {
			t.Errorf("join while paused: %+v, want WAITING at 1", first)
		}
		clock.Advance(time.Second) // past the refresh interval: counts are read again
		if s := must(db.QueueStats()).in(t); s.State != QueuePaused || s.Active != 0 ||
			s.Waiting != 1 || etaKnown(s.ETA()) {
			t.Errorf("QueueStats while paused: %+v", s)
		}
		if err := db.Resume(); err != nil || state() != QueueOpen {
			t.Fatalf("Resume: %v, state %v", err, state())
		}
		if s := must(db.QueueStatus(first.Token)).in(t); !s.Active() {
			t.Errorf("after Resume: %+v, want ACTIVE", s)
		}
		expectCode(t, "Resume(OPEN)", db.Resume(), ErrConflict)

		if err := db.CloseQueue(); err != nil || state() != QueueClosed {
			t.Fatalf("CloseQueue: %v, state %v", err, state())
		}
		if _, err := db.Backend(); err != nil {
			t.Errorf("CloseQueue closed the DB: %v", err)
		}
		_, err := db.QueueIssue(bob)
		expectCode(t, "QueueIssue(closed)", err, ErrQueueClosed)
		if again := must(db.QueueIssue(alice)).in(t); again.Token != first.Token {
			t.Errorf("a live token is returned while closed: %+v", again)
		}
		if err := db.OpenQueue(); err != nil || state() != QueueOpen {
			t.Fatalf("OpenQueue: %v, state %v", err, state())
		}
		if tok := must(db.QueueIssue(bob)).in(t); !tok.IsNew {
			t.Errorf("join after OpenQueue: %+v", tok)
		}
	})
}

// TestScheduledOpening: joins before OpensAt are pre-queued; at OpensAt
// they get places 0..n-1 in some order, and a later join is behind them.
func TestScheduledOpening(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		clock := newFakeClock(queueStart)
		db := openLoaded(t, uri, Options{Clock: clock.Now, MaxActive: 1})
		opensAt := queueStart.Add(2 * time.Minute) // within WaitTTL: nobody drops out
		if err := db.Schedule(queueStart.Add(-time.Minute)); err == nil {
			t.Fatal("Schedule in the past succeeded")
		}
		if err := db.Schedule(opensAt); err != nil {
			t.Fatal(err)
		}
		if s := must(db.QueueSettings()).in(t); s.State != QueueScheduled || !s.OpensAt.Equal(opensAt) {
			t.Fatalf("after Schedule: %+v", s)
		}

		var early []TokenInfo
		for _, user := range []int64{alice, bob, carol} {
			tok := must(db.QueueIssue(user)).in(t)
			if !tok.Prequeued() || tok.State != TokenWaiting || tok.Position != PositionPrequeue ||
				etaKnown(tok.ETA()) {
				t.Fatalf("join before the opening: %+v", tok)
			}
			early = append(early, tok)
		}
		clock.Advance(time.Second)
		if s := must(db.QueueStats()).in(t); s.State != QueueScheduled || s.Prequeued != 3 ||
			s.Active != 0 || !s.OpensAt.Equal(opensAt) {
			t.Errorf("QueueStats before the opening: %+v", s)
		}

		clock.Advance(2 * time.Minute)
		late := must(db.QueueIssue(racerBase + 1)).in(t)
		if late.Prequeued() || late.State != TokenWaiting {
			t.Fatalf("join after the opening: %+v", late)
		}
		var places []int
		for _, tok := range early {
			places = append(places, int(must(db.QueueStatus(tok.Token)).in(t).Position))
		}
		sort.Ints(places)
		if places[0] != 0 || places[1] != 1 || places[2] != 2 {
			t.Errorf("places after the lottery: %v, want 0, 1, 2 in some order", places)
		}
		if p := must(db.QueueStatus(late.Token)).in(t).Position; p != 3 {
			t.Errorf("late join at %d, want 3 (behind the pre-queue)", p)
		}
		clock.Advance(time.Second)
		if s := must(db.QueueStats()).in(t); s.State != QueueOpen || s.Prequeued != 0 || !s.OpensAt.IsZero() {
			t.Errorf("QueueStats after the opening: %+v", s)
		}
	})
}
