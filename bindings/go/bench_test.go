package concert

import (
	"testing"
	"time"
)

// The cost of one call through the binding, without and with a Go clock
// (each library call then calls back into Go once).
func benchmarkQueueStatus(b *testing.B, opts Options) {
	db := openLoaded(b, "memory:", opts)
	token := activeToken(b, db, alice)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.QueueStatus(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueueStatusLibraryClock(b *testing.B) { benchmarkQueueStatus(b, Options{}) }
func BenchmarkQueueStatusGoClock(b *testing.B)      { benchmarkQueueStatus(b, Options{Clock: time.Now}) }

func BenchmarkQueueStatusParallel(b *testing.B) {
	db := openLoaded(b, "memory:", Options{})
	token := activeToken(b, db, alice)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.QueueStatus(token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
