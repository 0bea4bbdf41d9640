package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane"
)

const flowExchangeSQL = `
INSERT INTO flow_exchanges (id, source, flow_id, flow_token, action, screen, request_id,
	request_data, answer, outcome, latency_ms, created_at)
VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''),
	NULLIF($8::text, '')::jsonb, NULLIF($9::text, '')::jsonb, $10, $11, $12)
ON CONFLICT (id) DO NOTHING`

// SaveFlowExchanges stores exchanges in one transaction and one round trip.
// An exchange already stored keeps its first row. Empty strings and JSON are
// stored as NULL. Text columns go through IndexKey, and JSON that jsonb
// refuses is stored with the refused parts replaced, as Save does.
func (s *Store) SaveFlowExchanges(ctx context.Context, exchanges []hooklane.FlowExchange) error {
	if len(exchanges) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, x := range exchanges {
		data, _ := storableJSON(x.RequestData)
		answer, _ := storableJSON(x.Answer)
		b.Queue(flowExchangeSQL, IndexKey(x.ID), IndexKey(x.Source), IndexKey(x.FlowID), IndexKey(x.FlowToken),
			IndexKey(x.Action), IndexKey(x.Screen), IndexKey(x.RequestID), data, answer, IndexKey(x.Outcome),
			x.LatencyMS, x.At)
	}
	if err := s.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("save flow exchanges: %w", err)
	}
	return nil
}
