package gateway

import (
	"fmt"

	"github.com/zosnet/zosnet/internal/store"
)

// stateFile is the gateway's persisted config in its state directory.
const stateFile = "gateway.json"

// SaveConfig writes cfg to dir atomically (what a restart serves without a registry).
func SaveConfig(dir *store.Dir, cfg Config) error {
	if _, err := Build(cfg); err != nil {
		return fmt.Errorf("gateway: refusing to persist an invalid config: %w", err)
	}
	return dir.WriteJSON(stateFile, cfg)
}

// LoadConfig reads the persisted config; a missing file is an empty config. A file
// that does not build (edited by hand, truncated) is an error naming the file.
func LoadConfig(dir *store.Dir) (Config, error) {
	var cfg Config
	ok, err := dir.ReadJSON(stateFile, &cfg)
	if err != nil || !ok {
		return Config{}, err
	}
	if _, err := Build(cfg); err != nil {
		return Config{}, fmt.Errorf("gateway: %s/%s: %w", dir.Path(), stateFile, err)
	}
	return cfg, nil
}
