package operate

import (
	"cmp"
	"context"
	"fmt"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
)

// DefaultReplayBatchSize is ReplayConfig.BatchSize's default.
const DefaultReplayBatchSize = 500

// ReplayConfig tunes a replay.
type ReplayConfig struct {
	// BatchSize is how many deliveries are re-derived in one transaction.
	// Defaults to 500.
	BatchSize int
	// Restart starts over instead of resuming an unfinished replay of the
	// same selection.
	Restart bool
	// Progress, if set, is told the checkpoint after each batch.
	Progress func(storage.ReplayCheckpoint)
}

// ReplayResult is what a replay did.
type ReplayResult struct {
	storage.ReplayCheckpoint
	// Unparsable counts deliveries today's parser could not read; their
	// events were left as they were.
	Unparsable int
}

// Replay re-derives the events of the stored deliveries job selects with
// today's parsers, after a parser fix, and stores those that are missing.
// It is idempotent: events already stored stay as they are. It works in
// batches, each committed with its checkpoint, so that a replay interrupted
// resumes where it stopped when run again with the same selection, and it
// ends at the newest delivery stored when it began, so it is safe beside
// running workers: they and it insert with the same unique keys.
func Replay(ctx context.Context, store *storage.Store, job storage.ReplayJob, cfg ReplayConfig) (ReplayResult, error) {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultReplayBatchSize)
	cp, err := store.StartReplay(ctx, job, cfg.Restart)
	if err != nil {
		return ReplayResult{}, err
	}
	res := ReplayResult{ReplayCheckpoint: cp}
	for {
		batch, err := store.ReplayDeliveries(ctx, cp, cfg.BatchSize)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			res.ReplayCheckpoint = cp
			return res, store.FinishReplay(ctx, cp)
		}
		records := make([]storage.Rederived, 0, len(batch))
		for _, d := range batch {
			events, err := parse(d.Provider, d.Body)
			if err != nil {
				res.Unparsable++
				continue
			}
			records = append(records, storage.Rederived{DeliveryID: d.ID, Record: storage.Record{Delivery: d.Delivery, Events: events}})
		}
		if _, err := store.Rederive(ctx, &cp, records, batch[len(batch)-1].ID); err != nil {
			return res, err
		}
		res.ReplayCheckpoint = cp
		if cfg.Progress != nil {
			cfg.Progress(cp)
		}
	}
}

func parse(providerName string, body []byte) ([]hooklane.Event, error) {
	p, ok := provider.Lookup(providerName)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", providerName)
	}
	return p.Events(body)
}
