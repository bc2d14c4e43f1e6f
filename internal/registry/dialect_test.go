package registry

import "testing"

// TestDialectFor: the --db value picks the dialect; only a postgres URL is PostgreSQL,
// and logs never show its credentials.
func TestDialectFor(t *testing.T) {
	cases := []struct{ db, name, describe string }{
		{"postgres://u:secret@h/grid", "postgres", "postgres"},
		{"postgresql://u:secret@h/grid?sslmode=disable", "postgres", "postgres"},
		{"./grid.db", "sqlite", "sqlite ./grid.db"},
		{"postgres-backup.db", "sqlite", "sqlite postgres-backup.db"},
		{"/var/lib/zosnet/grid.db", "sqlite", "sqlite /var/lib/zosnet/grid.db"},
	}
	for _, tc := range cases {
		d := dialectFor(tc.db)
		if d.name != tc.name || d.describe(tc.db) != tc.describe {
			t.Errorf("dialectFor(%q) = %s %q, want %s %q", tc.db, d.name, d.describe(tc.db), tc.name, tc.describe)
		}
	}
}

// TestDialectQuery: ? placeholders are numbered where the dialect wants it.
func TestDialectQuery(t *testing.T) {
	const q = "UPDATE nodes SET a = ? WHERE id IN (?,?)"
	if got := sqliteDialect.q(q); got != q {
		t.Errorf("sqlite: %q", got)
	}
	if got, want := postgresDialect.q(q), "UPDATE nodes SET a = $1 WHERE id IN ($2,$3)"; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
}
