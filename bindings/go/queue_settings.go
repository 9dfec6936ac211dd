package concert

/*
#include <concert/concert.h>
*/
import "C"

import "time"

// QueueSettings are the settings every process sharing a store obeys; they
// live in the store. A new store starts QueueOpen with the Options'
// MaxActive and AdmitPerMinute; after that only QueueUpdate changes them.
type QueueSettings struct {
	MaxActive      int64 // ACTIVE tokens at once
	AdmitPerMinute int64 // new admissions per minute; 0 = unlimited
	State          QueueState
	OpensAt        time.Time // when a scheduled queue opens; zero otherwise
}

func queueSettingsFromC(c *C.concert_queue_settings) QueueSettings {
	return QueueSettings{
		MaxActive:      int64(c.max_active),
		AdmitPerMinute: int64(c.admit_per_minute),
		State:          QueueState(c.state),
		OpensAt:        optionalTime(c.opens_at),
	}
}

// QueueUpdate is a change of the shared settings. A nil pointer or a zero
// value leaves that setting as it is; at least one must be given.
type QueueUpdate struct {
	MaxActive      *int64 // 1 to 100,000,000 (use concert.Int64(n))
	AdmitPerMinute *int64 // 0 = unlimited, up to 6,000,000
	// State is QueueOpen, QueuePaused or QueueClosed; 0 leaves it.
	// (QueueScheduled cannot be set directly: give OpensAt.)
	State QueueState
	// OpensAt, if not zero, must be in the future: the queue becomes
	// scheduled to open then. Not together with State.
	OpensAt time.Time
	// ExpectState, if not 0, refuses the change with ErrConflict unless the
	// queue is in this state.
	ExpectState QueueState
}

// Int64 returns a pointer to v, for the optional fields of QueueUpdate.
func Int64(v int64) *int64 { return &v }

// QueueSettings reads the shared settings from the store (no cache).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); QueueSettingsContext bounds the whole call.
func (db *DB) QueueSettings() (QueueSettings, error) {
	var out C.concert_queue_settings
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_settings_get(&out, h)
	})
	if err != nil {
		return QueueSettings{}, err
	}
	return queueSettingsFromC(&out), nil
}

// QueueUpdate changes the shared settings atomically and returns them as
// they are after the change. Every process sharing the store obeys it within
// its Options.QueueRefresh; this DB at once. Setting a state on a scheduled
// queue runs its opening lottery at once.
// Errors: ErrInvalidArgument (nothing to change, a value out of range,
// OpensAt not in the future, an unknown state), ErrConflict (ExpectState not
// met), storage errors. Nothing changes on error.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); QueueUpdateContext bounds the whole call.
func (db *DB) QueueUpdate(u QueueUpdate) (QueueSettings, error) {
	var cu C.concert_queue_update
	if rc := C.concert_queue_update_init(&cu, C.CONCERT_QUEUE_UPDATE_VERSION); rc < 0 {
		return QueueSettings{}, newError(Code(rc), "concert_queue_update_init failed: header and library disagree")
	}
	if u.MaxActive != nil {
		cu.fields |= C.CONCERT_QUEUE_SET_MAX_ACTIVE
		cu.max_active = C.int64_t(*u.MaxActive)
	}
	if u.AdmitPerMinute != nil {
		cu.fields |= C.CONCERT_QUEUE_SET_ADMIT_PER_MINUTE
		cu.admit_per_minute = C.int64_t(*u.AdmitPerMinute)
	}
	if u.State != 0 {
		cu.fields |= C.CONCERT_QUEUE_SET_STATE
		cu.state = C.int32_t(u.State)
	}
	if !u.OpensAt.IsZero() {
		cu.fields |= C.CONCERT_QUEUE_SET_OPENS_AT
		cu.opens_at = toMs(u.OpensAt)
	}
	cu.expect_state = C.int32_t(u.ExpectState)
	var out C.concert_queue_settings
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_update_apply(&out, h, &cu)
	})
	if err != nil {
		return QueueSettings{}, err
	}
	return queueSettingsFromC(&out), nil
}

// Pause stops admission ("queue all"): joins still queue, nobody is
// admitted, ACTIVE tokens keep going.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); PauseContext bounds the whole call.
func (db *DB) Pause() error {
	return db.call(func(h *C.concert_db) C.int { return C.concert_queue_pause(h) })
}

// Resume admits again after Pause. Errors: ErrConflict unless the queue is
// paused.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ResumeContext bounds the whole call.
func (db *DB) Resume() error {
	return db.call(func(h *C.concert_db) C.int { return C.concert_queue_resume(h) })
}

// CloseQueue refuses new joins (ErrQueueClosed); tokens already in line
// keep their place. (Close closes the DB itself.)
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); CloseQueueContext bounds the whole call.
func (db *DB) CloseQueue() error {
	return db.call(func(h *C.concert_db) C.int { return C.concert_queue_close(h) })
}

// OpenQueue opens the queue now, from any state; a scheduled queue runs its
// opening lottery at once.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); OpenQueueContext bounds the whole call.
func (db *DB) OpenQueue() error {
	return db.call(func(h *C.concert_db) C.int { return C.concert_queue_open(h) })
}

// Schedule opens the sale at opensAt (in the future): joins before it are
// pre-queued, and at opensAt they are put in line in a uniformly random
// order, ahead of later joins. Errors: ErrInvalidArgument when opensAt is
// not in the future.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ScheduleContext bounds the whole call.
func (db *DB) Schedule(opensAt time.Time) error {
	ms := toMs(opensAt)
	return db.call(func(h *C.concert_db) C.int { return C.concert_queue_schedule(h, ms) })
}
