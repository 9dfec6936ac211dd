package concert

import (
	"errors"
	"sync"
	"testing"
)

// TestRaceForOneSeat: 64 goroutines, each with its own user and token,
// reserve the same seat at once; exactly one wins, the rest get
// ErrSeatTaken, and the winner can pay.
func TestRaceForOneSeat(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{})
		tokens := make([]string, racers)
		for i := range tokens {
			tokens[i] = activeToken(t, db, int64(racerBase+1+i))
		}

		const seat = 42
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			results = make([]Reservation, racers)
			errs    = make([]error, racers)
		)
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				results[i], errs[i] = db.Reserve(tokens[i], openSchedule, seat)
			}(i)
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("racers %d and %d both hold seat %d", winner, i, seat)
				}
				winner = i
			case errors.Is(err, ErrSeatTaken):
			default:
				t.Errorf("racer %d: %v, want a hold or ErrSeatTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no racer got the seat")
		}
		r := results[winner]
		if r.UserID != int64(racerBase+1+winner) || r.SeatNumber != seat {
			t.Errorf("winning reservation %+v", r)
		}
		must(db.Pay(tokens[winner], r.ID, "")).in(t)
		report := must(db.Verify()).in(t)
		if !report.OK() || report.SeatsSold != 1 || report.Payments != 1 {
			t.Errorf("Verify after the race = %+v", report)
		}
	})
}

// TestConcurrentCallsAndClose: calls racing with Close either succeed or
// return ErrClosed; none crashes or touches a freed handle.
func TestConcurrentCallsAndClose(t *testing.T) {
	db := openLoaded(t, "memory:", Options{})
	var wg sync.WaitGroup
	failures := make(chan error, racers)
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func(user int64) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if _, err := db.QueueIssue(user); err != nil {
					if !errors.Is(err, ErrClosed) {
						failures <- err
					}
					return
				}
			}
		}(int64(racerBase + 1 + i))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("call during Close: %v", err)
	}
}
