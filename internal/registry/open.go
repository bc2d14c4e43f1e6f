package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// notifyChannel is the PostgreSQL LISTEN/NOTIFY channel changes are announced on.
const notifyChannel = "zosnet_changes"

// Open opens the store named by db: a postgres:// or postgresql:// DSN opens PostgreSQL,
// anything else is a SQLite file path (created if missing). The schema is migrated.
func Open(ctx context.Context, db string, log *slog.Logger) (Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return OpenPostgres(ctx, db, log)
	}
	return OpenSQLite(ctx, db, log)
}

// OpenSQLite opens (creating if needed) a SQLite database in WAL mode.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite: empty path")
	}
	dsn := "file:" + url.PathEscape(path) + "?_txlock=immediate&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxIdleConns(16) // each new connection re-runs the pragmas
	s := &sqlStore{db: db, d: &sqliteDialect, log: log}
	err = migrate(ctx, db, s.d)
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// OpenPostgres connects to PostgreSQL, migrates the schema and starts listening for
// changes made by any registry sharing the database.
func OpenPostgres(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32) // the default (2) reconnects, i.e. forks a backend, on every burst of watches
	s := &sqlStore{db: db, d: &postgresDialect, log: log}
	err = migrate(ctx, db, s.d)
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	conn, err := listen(ctx, dsn)
	if err != nil {
		db.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen, s.listenDone = cancel, make(chan struct{})
	go s.listenLoop(lctx, dsn, conn)
	return s, nil
}

func listen(ctx context.Context, dsn string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("postgres listener: %w", err)
	}
	return conn, nil
}

// listenLoop delivers notifications to subscribers; after a lost connection it
// reconnects with backoff and announces a change for all nodes (some may be missed).
func (s *sqlStore) listenLoop(ctx context.Context, dsn string, conn *pgx.Conn) {
	defer close(s.listenDone)
	backoff := 100 * time.Millisecond
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			var c Change
			if json.Unmarshal([]byte(n.Payload), &c) != nil {
				c = Change{}
			}
			s.publish(c)
			continue
		}
		conn.Close(context.Background())
		for {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("registry: postgres listener lost, reconnecting", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			if conn, err = listen(ctx, dsn); err == nil {
				backoff = 100 * time.Millisecond
				rev, _ := s.Revision(ctx)
				s.publish(Change{Revision: rev})
				break
			}
		}
	}
}

// notifyTx announces c on commit of tx. Payloads over PostgreSQL's limit degrade to a
// change for all nodes.
func notifyTx(ctx context.Context, tx *sql.Tx, c Change) error {
	payload := mustJSON(c)
	if len(payload) > 7000 {
		payload = mustJSON(Change{Revision: c.Revision})
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, payload); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
