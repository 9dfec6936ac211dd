package concert

import (
	"testing"
	"time"
)

func etaKnown(_ time.Duration, known bool) bool { return known }

// TestETA: no estimate (false) before the queue has an admission rate and
// for an ACTIVE token; once buyers are admitted every 10 s of the fake
// clock, a waiting token and QueueStats have one (true, positive).
func TestETA(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		clock := newFakeClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
		db := openLoaded(t, uri, Options{MaxActive: 1, Clock: clock.Now,
			QueueRefresh: QueueRefreshAlways})
		users := []int64{racerBase + 1, racerBase + 2, racerBase + 3, racerBase + 4}
		var toks []TokenInfo
		for _, u := range users {
			toks = append(toks, must(db.QueueIssue(u)).in(t))
		}
		if d, ok := toks[0].ETA(); ok || !toks[0].Active() {
			t.Errorf("ACTIVE token: ETA() = %v, %v; want no estimate", d, ok)
		}
		if d, ok := toks[3].ETA(); ok {
			t.Errorf("before any admission: ETA() = %v, true; want no estimate", d)
		}
		// One admission every 10 s: the first buyer leaves, the next is admitted.
		var last TokenInfo
		for i := 0; i < 2; i++ {
			clock.Advance(10 * time.Second)
			must(db.QueueStatus(toks[i+1].Token)).in(t)
			if err := db.QueueLeave(toks[i].Token); err != nil {
				t.Fatal(err)
			}
			last = must(db.QueueStatus(toks[3].Token)).in(t)
		}
		if last.State != TokenWaiting || last.Position != 1 {
			t.Fatalf("last buyer: %+v, want WAITING at 1", last)
		}
		if d, ok := last.ETA(); !ok || d <= 0 || d >= time.Minute {
			t.Errorf("with a rate: ETA() = %v, %v; want about 10 s, true", d, ok)
		}
		s := must(db.QueueStats()).in(t)
		if d, ok := s.ETA(); !ok || d <= 0 {
			t.Errorf("QueueStats.ETA() = %v, %v; want a positive estimate", d, ok)
		}
	})
}
