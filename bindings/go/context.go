package concert

import (
	"context"
	"time"
)

// The XxxContext methods: each is Xxx bounded by a context.Context, for a
// caller that must not wait longer than its own deadline (an HTTP
// handler's request context, say). See "Blocking calls" in the package
// doc. They exist beside the plain methods, as database/sql's QueryContext
// does beside Query.

// withContext runs f and returns its result, or ctx.Err() as soon as ctx
// ends, whichever comes first. The C call cannot be interrupted: when ctx
// wins, f still runs to completion on its own goroutine (within the store's
// bounds) and its effect may land; its result is dropped. A ctx already
// ended returns ctx.Err() without calling f, so nothing happens. A ctx that
// can never end (context.Background()) calls f directly.
func withContext[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if ctx.Done() == nil {
		return f()
	}
	done := make(chan ctxResult[T], 1) // buffered: an abandoned call never blocks on send
	go func() {
		v, err := f()
		done <- ctxResult[T]{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // finished too: a known outcome beats a guess
			return r.v, r.err
		default:
			return zero, ctx.Err()
		}
	}
}

// ctxResult carries a call's outcome from its goroutine (Go 1.19 allows
// no type declaration inside a generic function).
type ctxResult[T any] struct {
	v   T
	err error
}

// noValue adapts a call that returns only an error.
func noValue(f func() error) func() (struct{}, error) {
	return func() (struct{}, error) { return struct{}{}, f() }
}

// OpenContext is Open bounded by ctx (a PostgreSQL connect waits at most
// Options.ConnectTimeout per connection). If ctx ends first it returns
// ctx.Err(), and the store that Open may still open is closed when it
// arrives.
func OpenContext(ctx context.Context, uri string, opts Options) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		db  *DB
		err error
	}
	done := make(chan result, 1)
	abandoned := make(chan struct{})
	go func() {
		db, err := Open(uri, opts)
		select {
		case <-abandoned:
			if db != nil {
				db.Close()
			}
		case done <- result{db, err}:
		}
	}()
	select {
	case r := <-done:
		return r.db, r.err
	case <-ctx.Done():
		close(abandoned)
		// The goroutine either sent already (take it: it is open) or will
		// see abandoned and close what it opened.
		select {
		case r := <-done:
			return r.db, r.err
		default:
			return nil, ctx.Err()
		}
	}
}

// UsersContext is Users bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) UsersContext(ctx context.Context) ([]User, error) {
	return withContext(ctx, func() ([]User, error) { return db.Users() })
}

// VerifyContext is Verify bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) VerifyContext(ctx context.Context) (VerifyReport, error) {
	return withContext(ctx, func() (VerifyReport, error) { return db.Verify() })
}

// PruneContext is Prune bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) PruneContext(ctx context.Context, limit int) (PruneReport, error) {
	return withContext(ctx, func() (PruneReport, error) { return db.Prune(limit) })
}

// ReserveContext is Reserve bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ReserveContext(ctx context.Context, token string, scheduleID, seat int64) (Reservation, error) {
	return withContext(ctx, func() (Reservation, error) { return db.Reserve(token, scheduleID, seat) })
}

// ReservationContext is Reservation bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ReservationContext(ctx context.Context, token string, reservationID int64) (Reservation, error) {
	return withContext(ctx, func() (Reservation, error) { return db.Reservation(token, reservationID) })
}

// PayContext is Pay bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) PayContext(ctx context.Context, token string, reservationID int64, idemKey string) (Payment, error) {
	return withContext(ctx, func() (Payment, error) { return db.Pay(token, reservationID, idemKey) })
}

// PayOrderContext is PayOrder bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) PayOrderContext(ctx context.Context, token string, reservationIDs []int64, idemKey string) (Payment, error) {
	return withContext(ctx, func() (Payment, error) { return db.PayOrder(token, reservationIDs, idemKey) })
}

// ReleaseContext is Release bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ReleaseContext(ctx context.Context, token string, reservationID int64) (Reservation, error) {
	return withContext(ctx, func() (Reservation, error) { return db.Release(token, reservationID) })
}

// ConcertsContext is Concerts bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ConcertsContext(ctx context.Context, token string) ([]Concert, error) {
	return withContext(ctx, func() ([]Concert, error) { return db.Concerts(token) })
}

// AllConcertsContext is AllConcerts bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) AllConcertsContext(ctx context.Context) ([]Concert, error) {
	return withContext(ctx, func() ([]Concert, error) { return db.AllConcerts() })
}

// ConcertContext is Concert bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ConcertContext(ctx context.Context, token string, concertID int64) (Concert, error) {
	return withContext(ctx, func() (Concert, error) { return db.Concert(token, concertID) })
}

// SchedulesContext is Schedules bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) SchedulesContext(ctx context.Context, token string, concertID int64) ([]Schedule, error) {
	return withContext(ctx, func() ([]Schedule, error) { return db.Schedules(token, concertID) })
}

// SeatsContext is Seats bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) SeatsContext(ctx context.Context, token string, scheduleID int64) ([]Seat, error) {
	return withContext(ctx, func() ([]Seat, error) { return db.Seats(token, scheduleID) })
}

// SeatsVersionContext is SeatsVersion bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) SeatsVersionContext(ctx context.Context, token string, scheduleID int64) (ListVersion, error) {
	return withContext(ctx, func() (ListVersion, error) { return db.SeatsVersion(token, scheduleID) })
}

// SchedulesVersionContext is SchedulesVersion bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) SchedulesVersionContext(ctx context.Context, token string, concertID int64) (ListVersion, error) {
	return withContext(ctx, func() (ListVersion, error) { return db.SchedulesVersion(token, concertID) })
}

// LoadCatalogContext is LoadCatalog bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) LoadCatalogContext(ctx context.Context, cat Catalog) error {
	_, err := withContext(ctx, noValue(func() error { return db.LoadCatalog(cat) }))
	return err
}

// ChargeContext is Charge bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ChargeContext(ctx context.Context, userID, amount int64, idemKey string) (int64, error) {
	return withContext(ctx, func() (int64, error) { return db.Charge(userID, amount, idemKey) })
}

// BalanceContext is Balance bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) BalanceContext(ctx context.Context, userID int64) (int64, error) {
	return withContext(ctx, func() (int64, error) { return db.Balance(userID) })
}

// HistoryContext is History bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) HistoryContext(ctx context.Context, userID int64) ([]LedgerEntry, error) {
	return withContext(ctx, func() ([]LedgerEntry, error) { return db.History(userID) })
}

// HistoryPageContext is HistoryPage bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) HistoryPageContext(ctx context.Context, userID, beforeID int64, limit int) (HistoryPage, error) {
	return withContext(ctx, func() (HistoryPage, error) { return db.HistoryPage(userID, beforeID, limit) })
}

// QueueIssueContext is QueueIssue bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) QueueIssueContext(ctx context.Context, userID int64) (TokenInfo, error) {
	return withContext(ctx, func() (TokenInfo, error) { return db.QueueIssue(userID) })
}

// QueueStatusContext is QueueStatus bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) QueueStatusContext(ctx context.Context, token string) (TokenInfo, error) {
	return withContext(ctx, func() (TokenInfo, error) { return db.QueueStatus(token) })
}

// QueueLeaveContext is QueueLeave bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) QueueLeaveContext(ctx context.Context, token string) error {
	_, err := withContext(ctx, noValue(func() error { return db.QueueLeave(token) }))
	return err
}

// TokenOwnerContext is TokenOwner bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) TokenOwnerContext(ctx context.Context, token string) (int64, error) {
	return withContext(ctx, func() (int64, error) { return db.TokenOwner(token) })
}

// QueueStatsContext is QueueStats bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) QueueStatsContext(ctx context.Context) (QueueStats, error) {
	return withContext(ctx, func() (QueueStats, error) { return db.QueueStats() })
}

// QueueSettingsContext is QueueSettings bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) QueueSettingsContext(ctx context.Context) (QueueSettings, error) {
	return withContext(ctx, func() (QueueSettings, error) { return db.QueueSettings() })
}

// QueueUpdateContext is QueueUpdate bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) QueueUpdateContext(ctx context.Context, u QueueUpdate) (QueueSettings, error) {
	return withContext(ctx, func() (QueueSettings, error) { return db.QueueUpdate(u) })
}

// PauseContext is Pause bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) PauseContext(ctx context.Context) error {
	_, err := withContext(ctx, noValue(func() error { return db.Pause() }))
	return err
}

// ResumeContext is Resume bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ResumeContext(ctx context.Context) error {
	_, err := withContext(ctx, noValue(func() error { return db.Resume() }))
	return err
}

// CloseQueueContext is CloseQueue bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) CloseQueueContext(ctx context.Context) error {
	_, err := withContext(ctx, noValue(func() error { return db.CloseQueue() }))
	return err
}

// OpenQueueContext is OpenQueue bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) OpenQueueContext(ctx context.Context) error {
	_, err := withContext(ctx, noValue(func() error { return db.OpenQueue() }))
	return err
}

// ScheduleContext is Schedule bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) ScheduleContext(ctx context.Context, opensAt time.Time) error {
	_, err := withContext(ctx, noValue(func() error { return db.Schedule(opensAt) }))
	return err
}

// SeatMapContext is SeatMap bounded by ctx: it returns ctx.Err() when ctx ends first
// (the call still completes and its effect may land).
func (db *DB) SeatMapContext(ctx context.Context, token string, scheduleID int64) ([]SeatState, error) {
	return withContext(ctx, func() ([]SeatState, error) { return db.SeatMap(token, scheduleID) })
}
