package ingest

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// DefaultSummaryInterval is how often RunSummary logs by default.
const DefaultSummaryInterval = 30 * time.Second

// RunSummary logs, every interval (DefaultSummaryInterval if zero) in which
// there was traffic, one info line counting the requests answered since the
// last line, by source and outcome, so that accepted deliveries leave a
// trace at the default level without a line each. The first line counts
// from when the Handler was made, so that requests served before RunSummary
// started are counted too; run it once a Handler. It reads the counts of
// hooklane_ingest_deliveries_total, so serving requests costs nothing more.
// When ctx is done it logs what the last interval counted and returns nil.
func (h *Handler) RunSummary(ctx context.Context, interval time.Duration) error {
	interval = cmp.Or(interval, DefaultSummaryInterval)
	last, since := map[outcomeKey]float64{}, h.created
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			h.logSummary(last, since)
			return nil
		case <-tick.C:
			last = h.logSummary(last, since)
			since = time.Now()
		}
	}
}

// outcomeKey is one source's outcome.
type outcomeKey struct{ source, outcome string }

// counts reads the deliveries counter, summed over providers.
func (h *Handler) counts() map[outcomeKey]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		h.metrics.deliveries.Collect(ch)
		close(ch)
	}()
	counts := map[outcomeKey]float64{}
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		var k outcomeKey
		for _, l := range pb.GetLabel() {
			switch l.GetName() {
			case "source":
				k.source = l.GetValue()
			case "outcome":
				k.outcome = l.GetValue()
			}
		}
		counts[k] += pb.GetCounter().GetValue()
	}
	return counts
}

// logSummary logs the counts since last, if there are any, and returns
// the counts now.
func (h *Handler) logSummary(last map[outcomeKey]float64, since time.Time) map[outcomeKey]float64 {
	now := h.counts()
	bySource := map[string][]any{}
	var total int64
	for _, k := range slices.SortedFunc(maps.Keys(now), func(a, b outcomeKey) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.outcome, b.outcome))
	}) {
		if n := int64(now[k] - last[k]); n > 0 {
			bySource[k.source] = append(bySource[k.source], slog.Int64(k.outcome, n))
			total += n
		}
	}
	if total == 0 {
		return now
	}
	attrs := []any{slog.Int64("total", total), slog.String("over", time.Since(since).Round(time.Second).String())}
	for _, source := range slices.Sorted(maps.Keys(bySource)) {
		attrs = append(attrs, slog.Group(source, bySource[source]...))
	}
	h.log.Info("requests answered", attrs...)
	return now
}
