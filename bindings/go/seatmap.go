package concert

/*
#include <concert/concert.h>
*/
import "C"

import (
	"strconv"
	"time"
	"unsafe"
)

// SeatStatus is a seat's state in a seat map.
type SeatStatus int32

const (
	SeatFree SeatStatus = C.CONCERT_SEAT_FREE // neither sold nor under a live hold
	SeatHeld SeatStatus = C.CONCERT_SEAT_HELD // under a live hold (anyone's: the map never says whose)
	SeatSold SeatStatus = C.CONCERT_SEAT_SOLD // paid for
)

// String is the library's name for the status ("FREE", "HELD", "SOLD").
func (s SeatStatus) String() string {
	switch s {
	case SeatFree, SeatHeld, SeatSold:
		return C.GoString(C.concert_seat_status_name(C.int(s)))
	}
	return "SeatStatus(" + strconv.Itoa(int(s)) + ")"
}

// SeatState is a seat and its state in a seat map.
type SeatState struct {
	Seat
	Status SeatStatus
	// HeldUntil is when a HELD seat's hold runs out (it is FREE from then
	// on); the zero time otherwise.
	HeldUntil time.Time
}

// SeatMap lists every seat of a bookable schedule with its state, in
// seat-number order, for drawing a seat map. Its FREE seats are exactly what
// Seats lists at the same moment, so SeatsVersion labels the map too. It
// never says whose a hold is. token must be ACTIVE. Errors: those of Seats,
// checked in the same order.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); SeatMapContext bounds the whole call.
func (db *DB) SeatMap(token string, scheduleID int64) ([]SeatState, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return nil, err
	}
	var m *C.concert_seat_map
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_seat_map_get(&m, h, ctoken, C.int64_t(scheduleID))
	})
	if err != nil {
		return nil, err
	}
	defer C.concert_seat_map_free(m)
	items := unsafe.Slice(m.items, int(m.count))
	out := make([]SeatState, len(items))
	for i := range items {
		s := &items[i]
		out[i] = SeatState{
			Seat: Seat{
				Number: int64(s.seat.number),
				Price:  int64(s.seat.price),
				Grade:  fixedString(s.seat.grade[:]),
			},
			Status: SeatStatus(s.status),
		}
		if out[i].Status == SeatHeld {
			out[i].HeldUntil = fromMs(s.held_until)
		}
	}
	return out, nil
}

// DBStats is what one DB did with its store since it was opened, for
// metrics. Counts only grow; another DB or process on the same store keeps
// its own.
type DBStats struct {
	StorageCalls      uint64 // steps the library asked the backend for
	StorageErrors     uint64 // of them, failed for the store's own trouble
	StorageRetries    uint64 // the backend's own retries (0 if it keeps none)
	StorageReconnects uint64 // connections the backend replaced
}

// DBStats reads the counts: cheap (atomic loads, no store access).
// Errors: ErrClosed after Close.
func (db *DB) DBStats() (DBStats, error) {
	var out C.concert_db_stats
	out.version = C.CONCERT_DB_STATS_VERSION
	err := db.call(func(h *C.concert_db) C.int { return C.concert_db_stats_get(&out, h) })
	if err != nil {
		return DBStats{}, err
	}
	return DBStats{
		StorageCalls:      uint64(out.storage_calls),
		StorageErrors:     uint64(out.storage_errors),
		StorageRetries:    uint64(out.storage_retries),
		StorageReconnects: uint64(out.storage_reconnects),
	}, nil
}
