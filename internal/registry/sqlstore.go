package registry

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// sqlStore implements Store on database/sql for SQLite and PostgreSQL.
type sqlStore struct {
	db  *sql.DB
	d   *dialect
	log *slog.Logger

	mu   sync.Mutex
	subs map[int]func(Change)
	next int

	beats *beats           // heartbeats held in memory, flushed every FlushInterval
	seen  *group[seenItem] // request signatures on a shared database, group-committed
	cache netCache         // desired networks, see desiredNetwork
	// wmu serializes this process's writes on SQLite (one writer at a time anyway):
	// waiting on a mutex beats SQLite's busy-retry sleeps under load.
	wmu       sync.Mutex
	lastPurge time.Time // of seen_signatures; guarded by mu

	stopListen  context.CancelFunc
	listenDone  chan struct{}
	stopFlush   chan struct{} // closed by Close: write the held heartbeats and stop
	flushDone   chan struct{}
	flushMu     sync.Mutex // one flushBeats at a time
	flushErrors atomic.Int64
	closeOnce   sync.Once
}

func (s *sqlStore) publish(c Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fn := range s.subs {
		fn(c)
	}
}

// Subscribe implements Store.
func (s *sqlStore) Subscribe(ctx context.Context, fn func(Change)) error {
	s.mu.Lock()
	id := s.next
	s.next++
	if s.subs == nil {
		s.subs = make(map[int]func(Change))
	}
	s.subs[id] = fn
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}()
	return nil
}

// Close implements Store: the heartbeats held in memory are written first.
func (s *sqlStore) Close() error {
	if s.stopFlush != nil {
		s.closeOnce.Do(func() { close(s.stopFlush) })
		<-s.flushDone
	}
	if s.stopListen != nil {
		s.stopListen()
		<-s.listenDone
	}
	return s.db.Close()
}

func (s *sqlStore) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, s.d.q(q), args...)
}

// write runs fn in a transaction that first takes the next revision (which serializes
// writers, also across registry processes), then bumps the desired revision of the
// nodes fn says are affected and announces the change.
func (s *sqlStore) write(ctx context.Context, fn func(tx *sql.Tx, rev int64) ([]int64, error)) error {
	unlock := s.lockWrites()
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var rev int64
	if err := tx.QueryRowContext(ctx, "UPDATE meta SET v = v + 1 WHERE k = 'revision' RETURNING v").Scan(&rev); err != nil {
		return fmt.Errorf("next revision: %w", err)
	}
	nodes, err := fn(tx, rev)
	if err != nil {
		return err
	}
	nodes = uniq(nodes)
	if len(nodes) > 0 {
		q := "UPDATE nodes SET desired_rev = ? WHERE id IN (" + placeholders(len(nodes)) + ")"
		args := append([]any{rev}, int64s(nodes)...)
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("bump desired revisions: %w", err)
		}
	}
	ch := Change{Revision: rev, Nodes: nodes}
	if s.d.shared { // every registry on the database hears it, this one through LISTEN
		if err := notifyTx(ctx, tx, ch); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if !s.d.shared {
		s.publish(ch)
	}
	return nil
}

// lockWrites takes this process's write lock where the dialect has one writer at a
// time (a no-op otherwise) and returns its unlock.
func (s *sqlStore) lockWrites() func() {
	if !s.d.serialWrites {
		return func() {}
	}
	s.wmu.Lock()
	return s.wmu.Unlock
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func int64s(v []int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

func uniq(v []int64) []int64 {
	seen := make(map[int64]bool, len(v))
	out := v[:0:0]
	for _, x := range v {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Revision implements Store.
func (s *sqlStore) Revision(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, "SELECT v FROM meta WHERE k = 'revision'").Scan(&v)
	return v, err
}

func nowNano() int64 { return time.Now().UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// CreateFarm implements Store.
func (s *sqlStore) CreateFarm(ctx context.Context, actor string, f gridapi.FarmCreate) (gridapi.Farm, error) {
	if err := f.Validate(); err != nil {
		return gridapi.Farm{}, err
	}
	out := gridapi.Farm{Name: f.Name, Owner: actor, Created: fromNano(nowNano())}
	err := s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		var n int
		if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM farms WHERE name = ?"), f.Name).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, conflict("name", "farm %q exists", f.Name)
		}
		return nil, tx.QueryRowContext(ctx, s.d.q("INSERT INTO farms (name, owner, created) VALUES (?, ?, ?) RETURNING id"),
			f.Name, actor, out.Created.UnixNano()).Scan(&out.ID)
	})
	return out, err
}

const farmCols = "id, name, owner, created, egress_allow"

func scanFarm(sc interface{ Scan(...any) error }) (gridapi.Farm, error) {
	var f gridapi.Farm
	var created int64
	var allow string
	err := sc.Scan(&f.ID, &f.Name, &f.Owner, &created, &allow)
	f.Created = fromNano(created)
	if err == nil {
		err = json.Unmarshal([]byte(allow), &f.EgressAllow)
	}
	if f.EgressAllow == nil {
		f.EgressAllow = []string{}
	}
	return f, err
}

// SetFarmEgressAllow implements Store.
func (s *sqlStore) SetFarmEgressAllow(ctx context.Context, actor string, farm int64, a gridapi.FarmEgressAllow) (gridapi.Farm, error) {
	if err := a.Validate(); err != nil {
		return gridapi.Farm{}, err
	}
	if a.Allow == nil {
		a.Allow = []string{}
	}
	err := s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		var owner string
		err := tx.QueryRowContext(ctx, s.d.q("SELECT owner FROM farms WHERE id = ?"), farm).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("farm", farm)
		}
		if err != nil {
			return nil, err
		}
		if owner != actor {
			return nil, forbidden("only the owner of farm %d may set its egress allow list", farm)
		}
		if _, err := s.exec(ctx, tx, "UPDATE farms SET egress_allow = ? WHERE id = ?", mustJSON(a.Allow), farm); err != nil {
			return nil, err
		}
		return s.farmNodes(ctx, tx, farm)
	})
	if err != nil {
		return gridapi.Farm{}, err
	}
	return s.Farm(ctx, itoa(farm))
}

// farmNodes returns the ids of farm's nodes (to wake them).
func (s *sqlStore) farmNodes(ctx context.Context, tx *sql.Tx, farm int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT id FROM nodes WHERE farm_id = ?"), farm)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Farms implements Store.
func (s *sqlStore) Farms(ctx context.Context) ([]gridapi.Farm, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+farmCols+" FROM farms ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []gridapi.Farm{}
	for rows.Next() {
		f, err := scanFarm(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Farm implements Store.
func (s *sqlStore) Farm(ctx context.Context, idOrName string) (gridapi.Farm, error) {
	col, arg := idOrNameArg(idOrName)
	f, err := scanFarm(s.db.QueryRowContext(ctx, s.d.q("SELECT "+farmCols+" FROM farms WHERE "+col+" = ?"), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound("farm", idOrName)
	}
	return f, err
}

// idOrNameArg picks the id column for all-digit strings, else the name column.
func idOrNameArg(s string) (string, any) {
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		return "id", id
	}
	return "name", s
}

func randomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	if b[0] >= '0' && b[0] <= '9' { // ids start with a letter
		b[0] = 'n'
	}
	return string(b[:])
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: marshal %T: %v", v, err))
	}
	return string(b)
}

// markSeen records a request signature until the given time; false when another
// registry sharing the database already accepted it (a replay). Only shared databases
// record signatures; expired ones are purged about once a minute.
func (s *sqlStore) markSeen(ctx context.Context, sig string, until time.Time) (bool, error) {
	if !s.d.shared {
		return true, nil
	}
	now := time.Now()
	s.mu.Lock()
	purge := now.Sub(s.lastPurge) > time.Minute
	if purge {
		s.lastPurge = now
	}
	s.mu.Unlock()
	if purge {
		if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM seen_signatures WHERE until < ?"), now.UnixNano()); err != nil {
			return false, fmt.Errorf("purge signatures: %w", err)
		}
	}
	err := s.seen.do(ctx, seenItem{sig: sig, until: until.UnixNano()})
	if errors.Is(err, errReplaySeen) {
		return false, nil
	}
	return err == nil, err
}
