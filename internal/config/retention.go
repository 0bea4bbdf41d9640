package config

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

// Retention ages stored rows out. Each table keeps its rows forever unless
// its age is set; the workers purge in the background, one at a time.
type Retention struct {
	// Deliveries is how long a delivery, its raw body and its dedupe key are
	// kept. At least ProviderRetryHorizon, and it needs Events set no longer.
	Deliveries Age `yaml:"deliveries"`
	// Events is how long an event is kept.
	Events Age `yaml:"events"`
	// FlowExchanges is how long a flow exchange record is kept.
	FlowExchanges Age `yaml:"flow_exchanges"`
	// DeadLetters is how long a dead letter is kept.
	DeadLetters Age `yaml:"dead_letters"`
	// Interval is the time between two purges. Defaults to 1h.
	Interval time.Duration `yaml:"interval" validate:"gte=0"`
	// BatchSize is the most rows one delete takes. Defaults to 1000.
	BatchSize int `yaml:"batch_size" validate:"gte=0,lte=100000"`
	// Pause is a rest between two deletes, which leaves the database to the
	// workers while a long purge runs. Defaults to none.
	Pause time.Duration `yaml:"pause" validate:"gte=0,lte=10s"`
}

// ProviderRetryHorizon is the longest a provider is documented to retry a
// delivery: Meta retries for up to 7 days. Evolution-style gateways stop
// after about 25 minutes; Platica, WhatzMeAPI and whapi.co document none.
const ProviderRetryHorizon = 7 * 24 * time.Hour

// Age is a duration in the config file that may also be given in days,
// such as "30d", besides Go's "36h" or "90m".
type Age time.Duration

// UnmarshalYAML reads "30d", "1.5d" or a Go duration.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	if err := a.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// UnmarshalText reads "30d", "1.5d" or a Go duration.
func (a *Age) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var f float64
		f, err = strconv.ParseFloat(days, 64)
		d = time.Duration(f * float64(24*time.Hour))
	}
	if err != nil {
		return fmt.Errorf("%q is not an age such as 30d or 36h", s)
	}
	*a = Age(d)
	return nil
}

// String writes whole days as "30d", else as a Go duration.
func (a Age) String() string {
	d := time.Duration(a)
	if d != 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Off reports whether no table is aged.
func (r Retention) Off() bool {
	return r.Deliveries == 0 && r.Events == 0 && r.FlowExchanges == 0 && r.DeadLetters == 0
}

func (r *Retention) applyDefaults() {
	r.Interval = cmp.Or(r.Interval, operate.DefaultRetentionInterval)
	r.BatchSize = cmp.Or(r.BatchSize, storage.DefaultPurgeBatchSize)
}

// validate checks what the tags cannot: ages are positive, deliveries keep
// their dedupe keys for as long as providers retry, and events go no later
// than the deliveries they refer to.
func (r Retention) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		age  Age
	}{{"deliveries", r.Deliveries}, {"events", r.Events}, {"flow_exchanges", r.FlowExchanges}, {"dead_letters", r.DeadLetters}} {
		if f.age < 0 {
			errs = append(errs, fmt.Errorf("retention.%s: %s is negative; leave it out to keep the rows forever", f.name, f.age))
		}
	}
	if r.Deliveries <= 0 {
		return errors.Join(errs...)
	}
	if time.Duration(r.Deliveries) < ProviderRetryHorizon {
		errs = append(errs, fmt.Errorf("retention.deliveries: %s is shorter than %s, the longest provider retry horizon "+
			"(Meta retries a delivery for up to 7 days): a retry of a purged delivery would find no dedupe key and be stored twice",
			r.Deliveries, Age(ProviderRetryHorizon)))
	}
	if r.Events <= 0 || r.Events > r.Deliveries {
		errs = append(errs, fmt.Errorf("retention.events: set it to at most retention.deliveries (%s): "+
			"an event refers to its delivery, which cannot be purged before it", r.Deliveries))
	}
	return errors.Join(errs...)
}
