package concert

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// gatedClock is a fake clock that, once armed, stops the next library call
// inside the C library (the clock is read from inside the call) until the
// test opens the gate: a store call that blocks for as long as the test
// wants, with no lock contention and nothing timed.
type gatedClock struct {
	*fakeClock
	armed   atomic.Bool
	entered chan struct{} // the gated call is inside the library
	release chan struct{} // closed: it may go on
}

func newGatedClock(start time.Time) *gatedClock {
	return &gatedClock{fakeClock: newFakeClock(start),
		entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedClock) Now() time.Time {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.fakeClock.Now()
}

// TestContextCancelDuringCall: PayContext returns context.Canceled as soon
// as its context is cancelled, while the C call is still stopped inside the
// library (it cannot have waited for it: the call goes on only after the
// return). The abandoned payment then lands, and a retry with the same
// idempotency key replays it: one debit, one ledger entry.
func TestContextCancelDuringCall(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		clock := newGatedClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
		db := openLoaded(t, uri, Options{Clock: clock.Now})
		token := activeToken(t, db, alice)
		r := must(db.Reserve(token, openSchedule, 7)).in(t)

		ctx, cancel := context.WithCancel(context.Background())
		clock.armed.Store(true)
		errc := make(chan error, 1)
		go func() {
			_, err := db.PayContext(ctx, token, r.ID, "ctx-retry-1")
			errc <- err
		}()
		<-clock.entered // the payment is inside the library, stopped
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("PayContext after cancel: %v, want context.Canceled", err)
		}
		close(clock.release) // only now may the C call go on

		// Its effect lands: wait for the debit (the call is microseconds away).
		for must(db.Balance(alice)).in(t) == openingPoints {
			runtime.Gosched()
		}
		p := must(db.Pay(token, r.ID, "ctx-retry-1")).in(t) // the caller's retry
		if p.Amount != priceR || p.ReservationID != r.ID || p.Balance != openingPoints-priceR {
			t.Errorf("retry with the same key: %+v, want the one payment of %d", p, priceR)
		}
		if b := must(db.Balance(alice)).in(t); b != openingPoints-priceR {
			t.Errorf("balance %d, want %d: paid more than once", b, openingPoints-priceR)
		}
		payments := 0
		for _, e := range must(db.History(alice)).in(t) {
			if e.Type == LedgerPayment {
				payments++
			}
		}
		if payments != 1 {
			t.Errorf("%d payment entries in the ledger, want 1", payments)
		}
		if report := must(db.Verify()).in(t); !report.OK() {
			t.Errorf("Verify: %v", report.Violations)
		}
	})
}

// TestContextAlreadyEnded: a context already cancelled or past its deadline
// returns its error without calling the library, so nothing changes.
func TestContextAlreadyEnded(t *testing.T) {
	db := openLoaded(t, "memory:", Options{})
	token := activeToken(t, db, alice)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	_, err := db.ReserveContext(cancelled, token, openSchedule, 7)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ReserveContext(cancelled): %v, want context.Canceled", err)
	}
	_, err = db.ReserveContext(expired, token, openSchedule, 7)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReserveContext(expired): %v, want context.DeadlineExceeded", err)
	}
	if err := db.PauseContext(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("PauseContext(cancelled): %v, want context.Canceled", err)
	}
	for _, s := range must(db.SeatMap(token, openSchedule)).in(t) {
		if s.Number == 7 && s.Status != SeatFree {
			t.Errorf("seat 7 is %v after refused calls, want free", s.Status)
		}
	}
	if s := must(db.QueueSettings()).in(t); s.State != QueueOpen {
		t.Errorf("queue %v after a refused PauseContext, want OPEN", s.State)
	}
	if _, err := OpenContext(cancelled, "memory:", Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenContext(cancelled): %v, want context.Canceled", err)
	}
}

// TestContextPassesResults: with a live context the XxxContext methods give
// exactly what the plain ones give, values and library errors alike.
func TestContextPassesResults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := OpenContext(ctx, "memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.LoadCatalogContext(ctx, testCatalog(time.Now())); err != nil {
		t.Fatal(err)
	}
	tok := must(db.QueueIssueContext(ctx, alice)).in(t)
	r := must(db.ReserveContext(ctx, tok.Token, openSchedule, 3)).in(t)
	if r.SeatNumber != 3 || r.Status != ReservationHeld {
		t.Errorf("ReserveContext: %+v", r)
	}
	other := activeToken(t, db, bob)
	_, err = db.ReserveContext(context.Background(), other, openSchedule, 3)
	expectCode(t, "ReserveContext(taken seat)", err, ErrSeatTaken)
	_, err = db.ReserveContext(ctx, other, openSchedule, 3)
	expectCode(t, "ReserveContext(taken seat, cancellable ctx)", err, ErrSeatTaken)
	if err := db.QueueLeaveContext(ctx, "no-such-token"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("QueueLeaveContext(unknown): %v, want ErrTokenInvalid", err)
	}
}
