package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations are applied in order, each once; {{serial}} is replaced per dialect.
// Never edit a released migration: append a new one.
var migrations = []string{
	`CREATE TABLE meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL);
INSERT INTO meta (k, v) VALUES ('revision', 0);
CREATE TABLE farms (id {{serial}}, name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, created BIGINT NOT NULL);
CREATE TABLE nodes (id {{serial}}, name TEXT NOT NULL UNIQUE, farm_id BIGINT NOT NULL REFERENCES farms(id),
  key TEXT NOT NULL UNIQUE, registered BIGINT NOT NULL, last_seen BIGINT NOT NULL,
  source_addr TEXT NOT NULL DEFAULT '', facts TEXT NOT NULL DEFAULT '{}', public_config TEXT,
  desired_rev BIGINT NOT NULL DEFAULT 0);
CREATE INDEX nodes_farm ON nodes(farm_id);
CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, ip_range TEXT NOT NULL,
  subnet_size INTEGER NOT NULL, doc TEXT NOT NULL, revision BIGINT NOT NULL, created BIGINT NOT NULL,
  UNIQUE (owner, name));
CREATE TABLE members (network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  node_id BIGINT NOT NULL REFERENCES nodes(id), PRIMARY KEY (network_id, node_id));
CREATE INDEX members_node ON members(node_id);
CREATE TABLE nr_reports (network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  node_id BIGINT NOT NULL REFERENCES nodes(id), doc TEXT NOT NULL, PRIMARY KEY (network_id, node_id));`,
	// signatures seen, shared by registries on one PostgreSQL (replays across instances)
	`CREATE TABLE seen_signatures (sig TEXT PRIMARY KEY, until BIGINT NOT NULL);
CREATE INDEX seen_signatures_until ON seen_signatures(until);`,
	// the farmer's egress allow list (issue 17), a JSON array of "prefix[:port/proto]"
	`ALTER TABLE farms ADD COLUMN egress_allow TEXT NOT NULL DEFAULT '[]'`,
	// workloads (issue 11) and the farms' public IPv4 pools; '' marks a free address
	`CREATE TABLE workloads (network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE, name TEXT NOT NULL,
  node_id BIGINT NOT NULL REFERENCES nodes(id), doc TEXT NOT NULL, report TEXT, PRIMARY KEY (network_id, name));
CREATE INDEX workloads_node ON workloads(node_id);
CREATE TABLE public_ips (ip TEXT PRIMARY KEY, farm_id BIGINT NOT NULL REFERENCES farms(id), prefix_len INTEGER NOT NULL,
  gateway TEXT NOT NULL, network_id TEXT NOT NULL, workload TEXT NOT NULL);
CREATE INDEX public_ips_farm ON public_ips(farm_id);`,
	// exposures (issue 12): claim is "name:<label>", "tcp:<port>" or "udp:<port>", unique per gateway
	`CREATE TABLE exposures (id TEXT PRIMARY KEY, owner TEXT NOT NULL,
  network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE, gateway BIGINT NOT NULL REFERENCES nodes(id),
  claim TEXT NOT NULL, doc TEXT NOT NULL, report TEXT, created BIGINT NOT NULL, UNIQUE (gateway, claim));
CREATE INDEX exposures_network ON exposures(network_id);
CREATE INDEX exposures_owner ON exposures(owner);`,
}

// migrate brings the schema up to date. Concurrent registries on one PostgreSQL
// serialize on an advisory lock; each migration runs in its own transaction.
func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	for i, m := range migrations {
		if err := migrateOne(ctx, db, d, i+1, strings.ReplaceAll(m, "{{serial}}", d.serial)); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, db *sql.DB, d *dialect, version int, stmts string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if d.lockStmt != "" {
		if _, err := tx.ExecContext(ctx, d.lockStmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL)"); err != nil {
		return err
	}
	var cur int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(v), 0) FROM schema_version").Scan(&cur); err != nil {
		return err
	}
	if cur >= version {
		return nil
	}
	for _, s := range strings.Split(stmts, ";\n") {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%q: %w", firstLine(s), err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.q("INSERT INTO schema_version (v) VALUES (?)"), version); err != nil {
		return err
	}
	return tx.Commit()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
