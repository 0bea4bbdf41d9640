// Package config loads hooklane's YAML configuration: it expands ${VAR}
// references from the environment, applies the environment overrides and the
// defaults in one place, and validates the result with errors that name the
// file and the field.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/ingest"
	"github.com/hooklane/hooklane/internal/console"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/queue"
	"github.com/hooklane/hooklane/worker"
)

// Config is the whole configuration of every role.
type Config struct {
	// Addr is the HTTP listen address. HOOKLANE_ADDR overrides it.
	// Defaults to ":8080".
	Addr string `yaml:"addr"`
	// DatabaseURL is the Postgres URL the workers write to. DATABASE_URL
	// overrides it. Defaults to "postgres://postgres@127.0.0.1:5432/hooklane?sslmode=disable".
	DatabaseURL string `yaml:"database_url" validate:"required"`
	// NATS is where deliveries are queued.
	NATS NATS `yaml:"nats"`
	// Sources are the webhook senders hooklane accepts, one URL each.
	Sources []Source `yaml:"sources" validate:"unique=Name,dive"`
	// Ingest tunes the HTTP side.
	Ingest Ingest `yaml:"ingest"`
	// Worker tunes the consumers that persist events.
	Worker Worker `yaml:"worker"`
	// Retention ages stored rows out; off unless configured.
	Retention Retention `yaml:"retention"`

	// Model, when false, makes workers store events only, leaving the
	// messages, contacts and conversations tables alone. Defaults to true.
	Model *bool `yaml:"model"`
	// TLS, when set, serves the HTTP listener over HTTPS.
	TLS TLS `yaml:"tls"`

	// Skipped lists the sources left out because the variables their
	// secrets come from are not set. The caller logs them.
	Skipped []SkippedSource `yaml:"-"`
	// Console configures the web console.
	Console Console `yaml:"console"`
}

// ModelOn reports whether workers write the model tables (see Model).
func (c *Config) ModelOn() bool { return c.Model == nil || *c.Model }

// TLS is the certificate the HTTP listener serves HTTPS with. Set both or
// neither.
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file" validate:"required_with=KeyFile,omitempty,file"`
	// KeyFile is the PEM private key of the certificate.
	KeyFile string `yaml:"key_file" validate:"required_with=CertFile,omitempty,file"`
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// NATS configures the connection, the stream and the subjects.
type NATS struct {
	// URL of the NATS server. NATS_URL overrides it. When empty,
	// "hooklane all" embeds a server and the other roles refuse to start.
	URL string `yaml:"url"`
	// Listen, if set ("127.0.0.1:4223"), makes the embedded server take
	// client connections there too, so responders and more workers can
	// join "hooklane all". HOOKLANE_NATS_LISTEN overrides it. Defaults to
	// none: in-process only.
	Listen string `yaml:"listen" validate:"omitempty,listen_addr"`
	// StoreDir is the embedded server's JetStream directory.
	// Defaults to "./data/nats".
	StoreDir string `yaml:"store_dir"`
	// SubjectPrefix is the first token of every subject.
	// Defaults to "hooklane".
	SubjectPrefix string `yaml:"subject_prefix" validate:"subject_token"`
	// Stream is the JetStream stream holding deliveries.
	// Defaults to hooklane.DefaultStream, "HOOKLANE_EVENTS".
	Stream string `yaml:"stream" validate:"subject_token"`
	// Replicas of the stream (3 on a NATS cluster). Defaults to 1.
	Replicas int `yaml:"replicas" validate:"gte=0,lte=5"`
	// MaxBytes is the most the stream holds of deliveries no worker has
	// stored yet; once full, ingest answers 503 rather than anything being
	// dropped. -1, the default, is as much as the server's JetStream
	// storage allows.
	MaxBytes int64 `yaml:"max_bytes" validate:"gte=-1"`
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// retries before they reach a worker; the workers drop later ones. The
	// server holds every id of the window in memory. Defaults to 2m.
	DuplicateWindow time.Duration `yaml:"duplicate_window" validate:"gte=0"`

	// Token is the NATS credential: every role connects with it, and the
	// embedded server, when it listens, requires it of every client. A
	// listen address other than loopback refuses to start without it.
	// HOOKLANE_NATS_TOKEN overrides it. Defaults to none.
	Token string `yaml:"token"`
	// SyncAlways makes the embedded server sync each message to disk
	// before acknowledging it, so a power loss loses nothing acknowledged;
	// otherwise the file store syncs every 2 minutes. It costs most of the
	// publish rate (BenchmarkPublishSync). Defaults to false.
	SyncAlways bool `yaml:"sync_always"`
}

// Source is one webhook sender, served at /webhooks/<name>.
type Source struct {
	// Name is the source's URL path segment and subject token.
	Name string `yaml:"name" validate:"required,subject_token"`
	// Provider is the protocol the source speaks: a name in the provider
	// registry (platica, meta, whatzmeapi or whapi).
	Provider string `yaml:"provider" validate:"required,provider"`
	// Secrets are HMAC secrets; a delivery signed with any one is authentic,
	// so a secret can be rotated without downtime.
	Secrets []string `yaml:"secrets" validate:"dive,required"`
	// AllowUnsigned accepts unsigned deliveries when Secrets is empty.
	// Without it, a source with no secret refuses to start.
	AllowUnsigned bool `yaml:"allow_unsigned"`
	// VerifyToken answers Meta's GET verification handshake.
	VerifyToken string `yaml:"verify_token"`
	// BearerToken, if set, must match the Authorization: Bearer header.
	BearerToken string `yaml:"bearer_token"`
	// Flows configures WhatsApp Flows requests from this source.
	Flows Flows `yaml:"flows"`
}

// Flows configures the synchronous flow lane of a source.
type Flows struct {
	// Budget is the time from a request's arrival to hooklane's answer.
	// Defaults to 700ms for Platica and 10s otherwise.
	Budget time.Duration `yaml:"budget" validate:"gte=0"`
	// Fallback is the answer when no valid one comes in time.
	// Defaults to {"data":{"acknowledged":true}}.
	Fallback string `yaml:"fallback" validate:"omitempty,json"`
	// PrivateKey is the RSA private key (a PEM value or a file path) of
	// Meta's encrypted flow endpoint.
	PrivateKey string `yaml:"private_key"`
	// PrivateKeyPassphrase decrypts an encrypted PrivateKey.
	PrivateKeyPassphrase string `yaml:"private_key_passphrase"`
}

// Ingest tunes the HTTP side of the async lane.
type Ingest struct {
	// MaxBodyBytes is the largest body accepted. Defaults to 4 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" validate:"gte=0"`
	// PublishTimeout bounds the wait for JetStream's acknowledgement
	// before answering 503. Defaults to 1s.
	PublishTimeout time.Duration `yaml:"publish_timeout" validate:"gte=0"`
	// RetryAfter is the Retry-After sent with a 503. Defaults to 5s.
	RetryAfter time.Duration `yaml:"retry_after" validate:"gte=0"`
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	// Defaults to 25s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" validate:"gte=0"`

	// MaxUnauthenticatedBytes bounds the bytes that request bodies hold,
	// across the process, before their request is authenticated; past it
	// a request is answered 503 with Retry-After. It must exceed
	// MaxBodyBytes. Defaults to httpserver.DefaultBodyBudget, 64 MiB.
	MaxUnauthenticatedBytes int64 `yaml:"max_unauthenticated_bytes" validate:"gte=0"`
}

// Worker tunes the consumers that persist events.
type Worker struct {
	// Consumer is the durable consumer all workers share.
	// Defaults to "hooklane-worker".
	Consumer string `yaml:"consumer" validate:"subject_token"`
	// BatchSize is the most deliveries written in one transaction.
	// Defaults to 1024.
	BatchSize int `yaml:"batch_size" validate:"gte=0,lte=10000"`
	// BatchBytes bounds the messages fetched for one batch beyond its
	// first. Defaults to 8 MiB.
	BatchBytes int `yaml:"batch_bytes" validate:"gte=0"`
	// BatchEvents bounds the events one worker loop decodes and writes at
	// once. Defaults to 10000.
	BatchEvents int `yaml:"batch_events" validate:"gte=0"`
	// BatchWait is how long a batch waits for more deliveries once it has
	// one. Defaults to 10ms.
	BatchWait time.Duration `yaml:"batch_wait" validate:"gte=0,lte=10s"`
	// Concurrency is how many batches one worker writes at once.
	// Defaults to 2.
	Concurrency int `yaml:"concurrency" validate:"gte=0,lte=64"`
	// MaxDeliveries is how often a failing delivery is tried before it is
	// dead-lettered. Defaults to 20.
	MaxDeliveries int `yaml:"max_deliveries" validate:"gte=0"`
	// AckWait is how long JetStream waits for an ack before redelivering.
	// Defaults to 30s.
	AckWait time.Duration `yaml:"ack_wait" validate:"gte=0"`
}

// Console configures the web console, served by the console role.
type Console struct {
	// Addr is the console's listen address; any but a loopback one needs
	// Token, or User and Password. HOOKLANE_CONSOLE_ADDR overrides it.
	// Defaults to "127.0.0.1:8081".
	Addr string `yaml:"addr"`
	// Token, if set, is asked of every request, as a Bearer token or as the
	// password of basic auth. HOOKLANE_CONSOLE_TOKEN overrides it.
	Token string `yaml:"token"`
	// User and Password, if set, are asked of every request as basic auth.
	// HOOKLANE_CONSOLE_USER and HOOKLANE_CONSOLE_PASSWORD override them.
	User     string `yaml:"user" validate:"required_with=Password"`
	Password string `yaml:"password" validate:"required_with=User"`
}

// Default values of what no role's own Config has, applied by Load with
// the roles' defaults (ingest.DefaultMaxBodyBytes, worker.DefaultBatchSize,
// gateway.DefaultBudget...): each default is written once, in the package
// that uses it.
const (
	DefaultAddr        = ":8080"
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/hooklane?sslmode=disable"
	DefaultStoreDir    = "./data/nats"
	// DefaultFlowBudget is the flow budget of every provider but Platica,
	// whose is gateway.DefaultBudget.
	DefaultFlowBudget = 10 * time.Second
)

// Load reads the config file at path, expanding ${VAR} and ${VAR:-default}
// from getenv, and applies overrides, defaults and validation. getenv cannot
// tell an empty variable from an unset one: LoadLookup can.
func Load(path string, getenv func(string) string) (*Config, error) {
	return LoadLookup(path, func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
}

// LoadLookup is Load with a lookup that tells a variable set to "" from one
// not set at all, as os.LookupEnv does.
func LoadLookup(path string, lookup func(string) (string, bool)) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseLookup(raw, lookup)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load for a config already in memory.
func Parse(raw []byte, getenv func(string) string) (*Config, error) {
	return ParseLookup(raw, func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
}

// ParseLookup is LoadLookup for a config already in memory.
func ParseLookup(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	skipped, kept := skipUnset(&doc, lookup)
	cfg, err := parseDoc(&doc, lookup)
	if err != nil {
		if len(skipped) > 0 {
			err = renumber(err, kept)
		}
		return nil, err
	}
	cfg.Skipped = skipped
	return cfg, nil
}

// parseDoc expands, decodes, completes and validates doc.
func parseDoc(doc *yaml.Node, lookup func(string) (string, bool)) (*Config, error) {
	vars := map[string][]string{}
	if len(doc.Content) > 0 {
		if err := expand(doc.Content[0], "", lookup, vars); err != nil {
			return nil, err
		}
	}
	var cfg Config
	pos := positions{}
	if err := decode(doc, &cfg, pos); err != nil {
		return nil, err
	}
	cfg.override(lookup, vars)
	cfg.applyDefaults()
	if err := cfg.validate(pos, vars); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// override applies the environment variables that replace config keys,
// and records which variable each came from.
func (c *Config) override(lookup func(string) (string, bool), vars map[string][]string) {
	for _, o := range []struct {
		env, path string
		field     *string
	}{
		{EnvDatabaseURL, "database_url", &c.DatabaseURL},
		{EnvNATSURL, "nats.url", &c.NATS.URL},
		{EnvNATSListen, "nats.listen", &c.NATS.Listen},
		{EnvNATSToken, "nats.token", &c.NATS.Token},
		{EnvAddr, "addr", &c.Addr},
		{EnvConsoleAddr, "console.addr", &c.Console.Addr},
		{EnvConsoleToken, "console.token", &c.Console.Token},
		{EnvConsoleUser, "console.user", &c.Console.User},
		{EnvConsolePassword, "console.password", &c.Console.Password},
	} {
		if v, _ := lookup(o.env); v != "" {
			*o.field = v
			vars[o.path] = []string{o.env}
		}
	}
}

func (c *Config) applyDefaults() {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.DatabaseURL = cmp.Or(c.DatabaseURL, DefaultDatabaseURL)
	c.NATS.StoreDir = cmp.Or(c.NATS.StoreDir, DefaultStoreDir)
	c.NATS.SubjectPrefix = cmp.Or(c.NATS.SubjectPrefix, hooklane.DefaultPrefix)
	c.NATS.Stream = cmp.Or(c.NATS.Stream, hooklane.DefaultStream)
	c.NATS.Replicas = cmp.Or(c.NATS.Replicas, queue.DefaultReplicas)
	c.NATS.MaxBytes = cmp.Or(c.NATS.MaxBytes, queue.DefaultMaxBytes)
	c.NATS.DuplicateWindow = cmp.Or(c.NATS.DuplicateWindow, queue.DefaultDuplicateWindow)
	c.Ingest.MaxBodyBytes = cmp.Or(c.Ingest.MaxBodyBytes, ingest.DefaultMaxBodyBytes)
	c.Ingest.PublishTimeout = cmp.Or(c.Ingest.PublishTimeout, ingest.DefaultPublishTimeout)
	c.Ingest.RetryAfter = cmp.Or(c.Ingest.RetryAfter, ingest.DefaultRetryAfter)
	c.Ingest.ShutdownTimeout = cmp.Or(c.Ingest.ShutdownTimeout, httpserver.DefaultShutdownTimeout)
	c.Ingest.MaxUnauthenticatedBytes = cmp.Or(c.Ingest.MaxUnauthenticatedBytes, httpserver.DefaultBodyBudget)
	c.Worker.Consumer = cmp.Or(c.Worker.Consumer, worker.DefaultConsumer)
	c.Worker.BatchSize = cmp.Or(c.Worker.BatchSize, worker.DefaultBatchSize)
	c.Worker.BatchBytes = cmp.Or(c.Worker.BatchBytes, worker.DefaultBatchBytes)
	c.Worker.BatchEvents = cmp.Or(c.Worker.BatchEvents, worker.DefaultBatchEvents)
	c.Worker.BatchWait = cmp.Or(c.Worker.BatchWait, worker.DefaultBatchWait)
	c.Worker.Concurrency = cmp.Or(c.Worker.Concurrency, worker.DefaultConcurrency)
	c.Worker.MaxDeliveries = cmp.Or(c.Worker.MaxDeliveries, worker.DefaultMaxDeliveries)
	c.Worker.AckWait = cmp.Or(c.Worker.AckWait, worker.DefaultAckWait)
	c.Retention.applyDefaults()
	c.Console.Addr = cmp.Or(c.Console.Addr, console.DefaultAddr)
	for i := range c.Sources {
		s := &c.Sources[i]
		budget := DefaultFlowBudget
		if s.Provider == "platica" {
			budget = gateway.DefaultBudget
		}
		s.Flows.Budget = cmp.Or(s.Flows.Budget, budget)
		s.Flows.Fallback = cmp.Or(s.Flows.Fallback, gateway.Fallback)
	}
}

// Source returns the source named name.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// ErrNoSources reports a role that serves webhooks with none configured.
var ErrNoSources = errors.New("no sources configured: add at least one to the sources list")

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expand replaces ${VAR} and ${VAR:-default} in every scalar value, and
// records in vars which variables each value at a path came from. It works
// on parsed values, not on the file's text, so a secret holding YAML syntax
// cannot change the document's structure. ${VAR} takes VAR's value even
// when it is empty; ${VAR:-default} takes the default when VAR is unset or
// empty, as a shell does.
func expand(n *yaml.Node, path string, lookup func(string) (string, bool), vars map[string][]string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if !varRef.MatchString(n.Value) {
			return nil
		}
		var missing []string
		n.Value = varRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := varRef.FindStringSubmatch(ref)
			vars[path] = append(vars[path], m[1])
			v, ok := lookup(m[1])
			switch {
			case m[2] != "" && v == "":
				return m[3]
			case ok:
				return v
			}
			missing = append(missing, m[1])
			return ""
		})
		if len(missing) > 0 {
			return fmt.Errorf("line %d: %s: environment variable %s is not set (write ${%s:-} for an empty default)",
				n.Line, path, missing[0], missing[0])
		}
		if n.Style == 0 {
			n.Tag = "" // re-resolve a plain scalar: "${PORT}" may now be an int
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expand(n.Content[i+1], join(path, n.Content[i].Value), lookup, vars); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expand(c, fmt.Sprintf("%s[%d]", path, i), lookup, vars); err != nil {
				return err
			}
		}
	}
	return nil
}
