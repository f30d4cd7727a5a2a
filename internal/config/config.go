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
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/lifecycle"
	"github.com/berth-registry/berth/internal/mirror"
	"github.com/berth-registry/berth/internal/quota"
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
	// Replica names this process in the records that say who changed what (tag history,
	// audit events); empty means the host name. Give each replica of a scaled deployment
	// its own.
	Replica string `yaml:"replica"`
	// ShutdownTimeout is how long in-flight requests (uploads) may take to finish after
	// SIGINT/SIGTERM before they are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustProxyHeaders makes Berth take the scheme and host of absolute URLs from
	// X-Forwarded-Proto and X-Forwarded-Host, for use behind a TLS-terminating reverse proxy
	// that sets them. Leave it off when clients can reach Berth directly.
	TrustProxyHeaders bool `yaml:"trust_proxy_headers"`
	// Metadata is the metadata store URL: empty for SQLite in the data directory,
	// sqlite:///PATH, or postgres://USER:PASS@HOST:PORT/DB?sslmode=... (flag --metadata).
	Metadata string `yaml:"metadata"`
	// Blobs is the blob store URL: empty for files in the data directory, file:///PATH, or
	// s3://BUCKET/PREFIX?endpoint=...&region=...&path_style=true (flag --blobs).
	Blobs    string   `yaml:"blobs"`
	S3       S3       `yaml:"s3"`
	TLS      TLS      `yaml:"tls"`
	Metrics  Metrics  `yaml:"metrics"`
	Limits   Limits   `yaml:"limits"`
	GC       GC       `yaml:"gc"`
	Log      Log      `yaml:"log"`
	Registry Registry `yaml:"registry"`
	Flatpak  Flatpak  `yaml:"flatpak"`
	// Lifecycle holds immutable-tag rules and retention policies (docs/lifecycle.md).
	Lifecycle lifecycle.Config `yaml:"lifecycle"`
	UI        UI               `yaml:"ui"`
	// Auth turns on access control (docs/auth.md); with no users and no external issuer
	// every request is allowed.
	Auth auth.Config `yaml:"auth"`
	// Quotas limits the storage of namespaces and the tags of repositories
	// (docs/lifecycle.md, "Quotas"); usage is counted either way.
	Quotas quota.Config `yaml:"quotas"`
	// Audit configures audit events (docs/lifecycle.md, "Audit events").
	Audit Audit `yaml:"audit"`
	// Mirrors are the upstreams of the pull-through cache (docs/mirror.md): each maps a
	// repository prefix in Berth to an upstream registry.
	Mirrors []mirror.Config `yaml:"mirrors"`
}

// Audit configures audit events: a log line each, and deliveries to webhooks.
type Audit struct {
	// Log writes every audit event as one line of Berth's log, with the message "audit".
	Log bool `yaml:"log"`
	// Source is the CloudEvents source of webhook deliveries; empty: public_url, else
	// "berth".
	Source string `yaml:"source"`
	// Webhooks are POSTed every event as a CloudEvent (JSON, structured mode).
	Webhooks []Webhook `yaml:"webhooks"`
	// QueueSize bounds the events waiting for each webhook; more are dropped, counted and
	// logged, so a slow webhook never slows a push.
	QueueSize int `yaml:"queue_size"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBackoff is the longest wait between two attempts of one delivery (the first
	// wait is a second, doubling after every failure).
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Webhook is a receiver of audit events.
type Webhook struct {
	// URL receives the events (http or https).
	URL string `yaml:"url"`
	// Secret, when set, signs every delivery: header X-Berth-Signature is
	// sha256=HEX(HMAC-SHA256(secret, body)).
	Secret string `yaml:"secret"`
}

// S3 holds what an s3:// blob store URL does not carry.
type S3 struct {
	// AccessKey and SecretKey are the credentials; empty means the usual AWS environment
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles).
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// Redirect answers blob GETs with a 307 to a presigned URL of the object store, so
	// blob bytes bypass Berth.
	Redirect bool `yaml:"redirect"`
	// RedirectExpiry is how long a presigned URL is valid.
	RedirectExpiry time.Duration `yaml:"redirect_expiry"`
}

// TLS configures HTTPS. With cert and key set Berth serves HTTPS (HTTP/2 included) and
// reloads the pair on SIGHUP or when the files change.
type TLS struct {
	// Cert and Key are PEM files (flags --tls-cert, --tls-key).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ACMEHosts lists, comma-separated, the host names to obtain certificates for
	// automatically with ACME (Let's Encrypt); Berth must be reachable on port 443 as them.
	ACMEHosts string `yaml:"acme_hosts"`
	// ACMEEmail is the contact address given to the ACME directory.
	ACMEEmail string `yaml:"acme_email"`
	// ACMEDirectory is the ACME directory URL (default Let's Encrypt production).
	ACMEDirectory string `yaml:"acme_directory"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Enabled serves /metrics.
	Enabled bool `yaml:"enabled"`
	// Addr is a separate host:port for /metrics (and /healthz, /readyz), so metrics need
	// not be public; empty serves them on the registry's own address, except /metrics
	// while access control is on.
	Addr string `yaml:"addr"`
}

// Limits protects the registry from abusive or broken clients.
type Limits struct {
	// RequestsPerSecond is the sustained request rate allowed per client address; above it
	// requests get 429 TOOMANYREQUESTS with Retry-After. 0 turns the limit off.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is how many requests a client may make at once above the sustained rate.
	Burst int `yaml:"burst"`
	// MaxConcurrentUploads bounds blob uploads (PATCH/PUT with a body) running at once;
	// more get 429. 0: no bound.
	MaxConcurrentUploads int `yaml:"max_concurrent_uploads"`
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout is how long a client may take to send its request headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// TransferIdleTimeout cuts a request or response body that makes no progress for this
	// long. There is no total limit: a slow 10 GiB upload that keeps moving is never cut.
	TransferIdleTimeout time.Duration `yaml:"transfer_idle_timeout"`
}

// GC configures online garbage collection, which runs in every replica.
type GC struct {
	// Enabled runs collection continuously.
	Enabled bool `yaml:"enabled"`
	// Interval is the pause between collection passes.
	Interval time.Duration `yaml:"interval"`
	// BlobGracePeriod keeps a blob no manifest refers to at least this long after it was
	// last linked, so a push in progress never loses a layer it uploaded.
	BlobGracePeriod time.Duration `yaml:"blob_grace_period"`
	// UntaggedManifests collects image manifests that no tag and no index refer to
	// (referrers of a kept manifest are kept).
	UntaggedManifests bool `yaml:"untagged_manifests"`
	// UploadExpiry abandons upload sessions without progress for this long.
	UploadExpiry time.Duration `yaml:"upload_expiry"`
}

// Flatpak configures the Flatpak registry index.
type Flatpak struct {
	// Index serves /index/static, /index/dynamic and the install files under /flatpak/.
	// Off by default; when off those paths are 404.
	Index bool `yaml:"index"`
	// Title names the registry in .flatpakrepo files.
	Title string `yaml:"title"`
	// Icons is how index answers carry app icons: "url" (the icons extracted at push,
	// served at /icons/) or "inline" (the data: URIs as pushed).
	Icons string `yaml:"icons"`
	// Deltas makes Flatpak image deltas in the background, so that `flatpak update`
	// downloads what changed rather than whole layers (docs/flatpak.md, "Deltas").
	Deltas Deltas `yaml:"deltas"`
}

// Deltas configures Flatpak image deltas.
type Deltas struct {
	// Enabled queues a delta job whenever a tag moves to a Flatpak image and runs the
	// jobs (flag --flatpak-deltas). Off by default.
	Enabled bool `yaml:"enabled"`
	// Window is how long an image that left a tag stays a source of deltas to its
	// successors; garbage collection keeps it that long.
	Window time.Duration `yaml:"window"`
	// Sources bounds the earlier images one new image gets deltas from (the newest).
	Sources int `yaml:"sources"`
	// Workers is how many jobs one replica runs at once, at low CPU priority.
	Workers int `yaml:"workers"`
	// MaxLayerSize bounds an uncompressed layer a delta is made of or to, in bytes; a
	// larger one (or a decompression bomb) is refused and logged. A job needs about
	// twice this in temp_dir.
	MaxLayerSize int64 `yaml:"max_layer_size"`
	// MinSavings is the part of the compressed layer a delta must save to be published
	// (0.2: at most 80% of the layer's size).
	MinSavings float64 `yaml:"min_savings"`
	// TempDir holds the unpacked layers of running jobs; empty: tmp/ in the data
	// directory.
	TempDir string `yaml:"temp_dir"`
}

// defaultDeltas are off, with flatpak-indexer's window of 30 days.
func defaultDeltas() Deltas {
	return Deltas{Window: 30 * 24 * time.Hour, Sources: 5, Workers: 1, MaxLayerSize: 4 << 30, MinSavings: 0.2}
}

// UI configures the web UI.
type UI struct {
	// Enabled serves the web UI at / and /ui/ (and the icons at /icons/).
	Enabled bool `yaml:"enabled"`
	// SessionExpiry is how long a login to the web UI lasts.
	SessionExpiry time.Duration `yaml:"session_expiry"`
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
		S3:              S3{RedirectExpiry: 5 * time.Minute},
		Metrics:         Metrics{Enabled: true},
		Limits: Limits{
			Burst:               100,
			MaxHeaderBytes:      1 << 20,
			ReadHeaderTimeout:   30 * time.Second,
			IdleTimeout:         2 * time.Minute,
			TransferIdleTimeout: 2 * time.Minute,
		},
		GC: GC{
			Enabled:         true,
			Interval:        10 * time.Minute,
			BlobGracePeriod: 24 * time.Hour,
			UploadExpiry:    24 * time.Hour,
		},
		Log:       Log{Level: "info", Format: "auto"},
		Auth:      auth.Config{Token: auth.TokenConfig{Expiry: auth.DefaultTokenExpiry}},
		Flatpak:   Flatpak{Title: "Berth", Icons: "url", Deltas: defaultDeltas()},
		UI:        UI{Enabled: true, SessionExpiry: 12 * time.Hour},
		Audit:     Audit{Log: true, QueueSize: 1000, Timeout: 10 * time.Second, MaxBackoff: time.Minute},
		Lifecycle: lifecycle.Default(),
		Registry: Registry{
			DeleteEnabled:   true,
			MaxManifestSize: 4 << 20,
			MaxPageSize:     1000,
		},
	}
}

// Load returns the defaults overlaid with the YAML file at path (if path is not empty)
// and then with the BERTH_* variables of environ. Every problem of the file and the
// environment comes back at once, as Problems; the Config returned then holds what
// could be read, so that Validate can add its own problems to the same report.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	var problems Problems
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(raw, &cfg); err != nil {
			var p Problems
			if !errors.As(err, &p) {
				return cfg, fmt.Errorf("config %s: %w", path, err)
			}
			for _, s := range p {
				problems = append(problems, path+": "+s)
			}
		}
	}
	problems = append(problems, applyEnv(&cfg, environ)...)
	if len(problems) > 0 {
		return cfg, problems
	}
	return cfg, nil
}

func decodeYAML(raw []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err // not YAML at all: yaml's message has the line
	}
	if len(doc.Content) == 0 {
		return nil // an empty file is the defaults
	}
	problems := checkYAML(&doc, reflect.TypeFor[Config]())
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(cfg) // fills in what is valid even when something is not
	if len(problems) > 0 {
		return problems
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// Validate reports every option whose value cannot work, as Problems.
func (c Config) Validate() error {
	var p Problems
	bad := func(cond bool, format string, args ...any) {
		if cond {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	bad(c.Addr == "", "addr must not be empty")
	bad(c.Data == "", "data must not be empty")
	bad(c.ShutdownTimeout < 0, "shutdown_timeout must not be negative, got %s", c.ShutdownTimeout)
	bad(c.Registry.MaxManifestSize < 4<<20, "registry.max_manifest_size must be at least 4 MiB (the spec's minimum, 4194304), got %d", c.Registry.MaxManifestSize)
	bad(c.Registry.MaxPageSize < 1, "registry.max_page_size must be at least 1, got %d", c.Registry.MaxPageSize)
	bad((c.TLS.Cert == "") != (c.TLS.Key == ""), "tls.cert and tls.key must be given together")
	bad(c.TLS.Cert != "" && c.TLS.ACMEHosts != "", "tls.acme_hosts and tls.cert exclude each other: certificates come from files or from ACME")
	bad(c.Limits.RequestsPerSecond < 0, "limits.requests_per_second must not be negative, got %g", c.Limits.RequestsPerSecond)
	bad(c.Limits.Burst < 0, "limits.burst must not be negative, got %d", c.Limits.Burst)
	bad(c.Limits.MaxConcurrentUploads < 0, "limits.max_concurrent_uploads must not be negative, got %d", c.Limits.MaxConcurrentUploads)
	bad(c.Limits.RequestsPerSecond > 0 && c.Limits.Burst < 1, "limits.burst must be at least 1 when limits.requests_per_second is set")
	bad(c.Limits.MaxHeaderBytes < 4096, "limits.max_header_bytes must be at least 4096, got %d", c.Limits.MaxHeaderBytes)
	for _, d := range []struct {
		name string
		v    time.Duration
		zero bool // whether 0 is allowed
	}{
		{"limits.read_header_timeout", c.Limits.ReadHeaderTimeout, false},
		{"limits.idle_timeout", c.Limits.IdleTimeout, false},
		{"limits.transfer_idle_timeout", c.Limits.TransferIdleTimeout, false},
		{"gc.interval", c.GC.Interval, false},
		{"gc.upload_expiry", c.GC.UploadExpiry, false},
		{"gc.blob_grace_period", c.GC.BlobGracePeriod, true},
		{"s3.redirect_expiry", c.S3.RedirectExpiry, false},
	} {
		bad(d.zero && d.v < 0, "%s must not be negative, got %s", d.name, d.v)
		bad(!d.zero && d.v <= 0, "%s must be positive, got %s", d.name, d.v)
	}
	bad(c.Flatpak.Icons != "url" && c.Flatpak.Icons != "inline", "flatpak.icons must be url or inline, got %q", c.Flatpak.Icons)
	bad(c.UI.SessionExpiry < time.Minute, "ui.session_expiry must be at least 1m, got %s", c.UI.SessionExpiry)
	bad(c.Flatpak.Deltas.Window <= 0, "flatpak.deltas.window must be positive, got %s", c.Flatpak.Deltas.Window)
	bad(c.Flatpak.Deltas.Sources < 1, "flatpak.deltas.sources must be at least 1, got %d", c.Flatpak.Deltas.Sources)
	bad(c.Flatpak.Deltas.Workers < 1, "flatpak.deltas.workers must be at least 1, got %d", c.Flatpak.Deltas.Workers)
	bad(c.Flatpak.Deltas.MaxLayerSize < 1<<20, "flatpak.deltas.max_layer_size must be at least 1 MiB (1048576), got %d", c.Flatpak.Deltas.MaxLayerSize)
	bad(c.Flatpak.Deltas.MinSavings <= 0 || c.Flatpak.Deltas.MinSavings >= 1, "flatpak.deltas.min_savings must be between 0 and 1 (exclusive), got %g", c.Flatpak.Deltas.MinSavings)
	bad(c.Audit.QueueSize < 1, "audit.queue_size must be at least 1, got %d", c.Audit.QueueSize)
	bad(c.Audit.Timeout <= 0, "audit.timeout must be positive, got %s", c.Audit.Timeout)
	bad(c.Audit.MaxBackoff <= 0, "audit.max_backoff must be positive, got %s", c.Audit.MaxBackoff)
	if err := c.Quotas.Validate(); err != nil {
		p = append(p, err.Error())
	}
	for i, w := range c.Audit.Webhooks {
		u, err := url.Parse(w.URL)
		bad(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "",
			"audit.webhooks[%d].url must be an http or https URL, got %q", i, redact(w.URL))
	}
	for _, u := range []struct {
		opt, val string
		schemes  []string
	}{
		{"metadata", c.Metadata, []string{"sqlite", "postgres", "postgresql"}},
		{"blobs", c.Blobs, []string{"file", "s3"}},
	} {
		if u.val == "" {
			continue
		}
		parsed, err := url.Parse(u.val)
		bad(err != nil || !slices.Contains(u.schemes, parsed.Scheme), "%s must be a URL with scheme %s, got %q", u.opt, strings.Join(u.schemes, ", "), redact(u.val))
	}
	if err := c.Auth.Validate(); err != nil {
		p = append(p, err.Error())
	}
	if err := mirror.Validate(c.Mirrors); err != nil {
		p = append(p, strings.Split(err.Error(), "\n")...) // one problem a line
	}
	if err := c.Lifecycle.Validate(); err != nil {
		p = append(p, err.Error())
	}
	// Collection takes an untagged manifest once gc.blob_grace_period has passed since its
	// push, which would cut retention's grace short: one of them decides.
	bad(c.GC.UntaggedManifests && c.Lifecycle.UntaggedGrace(),
		"gc.untagged_manifests and the untagged_grace of retention policies exclude each other: garbage collection would delete untagged manifests before their grace ends")
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		bad(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "",
			"public_url must be an http or https URL with a host and no path, got %q", c.PublicURL)
	}
	bad(!slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level), "log.level must be debug, info, warn or error, got %q", c.Log.Level)
	bad(!slices.Contains([]string{"auto", "text", "json"}, c.Log.Format), "log.format must be auto, text or json, got %q", c.Log.Format)
	if len(p) > 0 {
		return p
	}
	return nil
}

// redact hides the password of a URL for error messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
