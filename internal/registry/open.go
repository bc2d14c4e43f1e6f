package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
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
	return open(ctx, dialectFor(db), db, log)
}

// OpenSQLite opens (creating if needed) a SQLite database in WAL mode.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (Store, error) {
	return open(ctx, &sqliteDialect, path, log)
}

// OpenPostgres connects to PostgreSQL, migrates the schema and starts listening for
// changes made by any registry sharing the database.
func OpenPostgres(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	return open(ctx, &postgresDialect, dsn, log)
}

// open opens db in dialect d, migrates the schema, prepares the hot statements and, on
// a shared database, starts listening for every registry's changes.
func open(ctx context.Context, d *dialect, db string, log *slog.Logger) (Store, error) {
	if db == "" {
		return nil, fmt.Errorf("open %s: empty database name", d.name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sdb, err := sql.Open(d.driver, d.dsn(db))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.describe(db), err)
	}
	sdb.SetMaxOpenConns(d.maxOpen)
	sdb.SetMaxIdleConns(d.maxIdle)
	s := &sqlStore{db: sdb, d: d, log: log}
	s.prepare()
	err = migrate(ctx, sdb, d)
	if err == nil && d.shared {
		err = s.startListener(ctx, db)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", d.describe(db), err)
	}
	s.stopFlush, s.flushDone = make(chan struct{}), make(chan struct{})
	go s.flushLoop(s.stopFlush, s.flushDone)
	return s, nil
}

// startListener listens for the changes of every registry sharing the database.
func (s *sqlStore) startListener(ctx context.Context, dsn string) error {
	conn, err := listen(ctx, dsn)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen, s.listenDone = cancel, make(chan struct{})
	go s.listenLoop(lctx, dsn, conn)
	return nil
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
