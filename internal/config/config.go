// Package config is Berth's one configuration struct: defaults that run the embedded
// registry with no file at all, a YAML file whose unknown keys are errors, and a BERTH_*
// environment variable for every option (derived from its YAML path, so none can be
// forgotten). It does no I/O beyond reading the file and the environment it is given.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of `berth serve`. Every field is documented in
// docs/configuration.md (a test keeps the two in step).
type Config struct {
	// Addr is the host:port the registry listens on.
	Addr string `yaml:"addr"`
	// Data is the data directory of the embedded mode: metadata.db and blobs/ live there.
	Data string `yaml:"data"`
	// PublicURL is the registry's URL as clients reach it (e.g. https://registry.example.com),
	// used wherever Berth writes absolute URLs; empty means URLs relative to each request.
	PublicURL string `yaml:"public_url"`
	// ShutdownTimeout is how long in-flight requests (uploads) may take to finish after
	// SIGINT/SIGTERM before they are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             Log           `yaml:"log"`
	Registry        Registry      `yaml:"registry"`
	Flatpak         Flatpak       `yaml:"flatpak"`
}

// Flatpak configures the Flatpak registry index.
type Flatpak struct {
	// Index serves /index/static, /index/dynamic and the install files under /flatpak/.
	// Off by default; when off those paths are 404.
	Index bool `yaml:"index"`
	// Title names the registry in .flatpakrepo files.
	Title string `yaml:"title"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text, json, or auto (text on a terminal, JSON otherwise).
	Format string `yaml:"format"`
}

// Registry holds the rules of the registry API.
type Registry struct {
	// DeleteEnabled allows DELETE of tags, manifests and blobs; when false they answer
	// 405 UNSUPPORTED.
	DeleteEnabled bool `yaml:"delete_enabled"`
	// MaxManifestSize is the largest manifest accepted, in bytes (413 above).
	MaxManifestSize int64 `yaml:"max_manifest_size"`
	// MaxPageSize is the largest page of tags, repositories or referrers; a larger n is
	// clamped and answered with a Link to the next page.
	MaxPageSize int `yaml:"max_page_size"`
}

// Default returns the configuration used when nothing else is given: the embedded mode
// on 127.0.0.1:5000 with data in ./berth-data.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:5000",
		Data:            "./berth-data",
		ShutdownTimeout: 30 * time.Second,
		Log:             Log{Level: "info", Format: "auto"},
		Flatpak:         Flatpak{Title: "Berth"},
		Registry: Registry{
			DeleteEnabled:   true,
			MaxManifestSize: 4 << 20,
			MaxPageSize:     1000,
		},
	}
}

// Load returns the defaults overlaid with the YAML file at path (if path is not empty)
// and then with the BERTH_* variables of environ.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(raw, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func decodeYAML(raw []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if errors.Is(err, io.EOF) {
		return nil // an empty file is the defaults
	}
	return err
}

// Validate reports the first option whose value cannot work.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr must not be empty")
	case c.Data == "":
		return errors.New("data must not be empty")
	case c.ShutdownTimeout < 0:
		return errors.New("shutdown_timeout must not be negative")
	case c.Registry.MaxManifestSize < 4<<20:
		return fmt.Errorf("registry.max_manifest_size must be at least 4 MiB (the spec's minimum), got %d", c.Registry.MaxManifestSize)
	case c.Registry.MaxPageSize < 1:
		return fmt.Errorf("registry.max_page_size must be at least 1, got %d", c.Registry.MaxPageSize)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("public_url must be an http or https URL with a host and no path, got %q", c.PublicURL)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("log.format must be auto, text or json, got %q", c.Log.Format)
	}
	return nil
}
