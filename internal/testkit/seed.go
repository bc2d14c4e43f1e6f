package testkit

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// SeedEnv names the environment variable that replays a randomized test: set it to the
// seed a failed run logged.
const SeedEnv = "ZOSNET_TEST_SEED"

// Seed returns the seed for a randomized test and logs it, so a failure can be replayed
// (ZOSNET_TEST_SEED=<seed> go test -run <test>). Without the variable the seed comes
// from the clock; a malformed value fails the test.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(SeedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned decimal seed: %v", SeedEnv, v, err)
		}
		seed = s
	}
	t.Logf("random seed %d (replay with %s=%d)", seed, SeedEnv, seed)
	return seed
}
