package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// FlowExchange is one WhatsApp Flows data-exchange request and its answer.
type FlowExchange struct {
	ID          string          // unique exchange id
	Source      string          // configured source name
	FlowID      string          // the flow's id, if known
	FlowToken   string          // the request's flow_token
	Action      string          // INIT, BACK, data_exchange or ping
	Screen      string          // the screen the request came from, if any
	RequestID   string          // X-Request-Id of the HTTP request, if any
	RequestData json.RawMessage // the request's data, decrypted, if any
	Answer      json.RawMessage // the answer sent, before encryption, if any
	Outcome     string          // answered, timeout, no_responders, invalid or error
	Latency     time.Duration   // from receiving the request to answering it
	At          time.Time       // when the request was received
}

const flowExchangeSQL = `
INSERT INTO flow_exchanges (id, source, flow_id, flow_token, action, screen, request_id,
	request_data, answer, outcome, latency_ms, created_at)
VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''),
	NULLIF($8::text, '')::jsonb, NULLIF($9::text, '')::jsonb, $10, $11, $12)
ON CONFLICT (id) DO NOTHING`

// SaveFlowExchanges stores exchanges in one transaction and one round trip.
// An exchange already stored keeps its first row. Empty strings and JSON are
// stored as NULL.
func (s *Store) SaveFlowExchanges(ctx context.Context, exchanges []FlowExchange) error {
	if len(exchanges) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, x := range exchanges {
		b.Queue(flowExchangeSQL, x.ID, x.Source, x.FlowID, x.FlowToken, x.Action, x.Screen, x.RequestID,
			string(x.RequestData), string(x.Answer), x.Outcome,
			float64(x.Latency)/float64(time.Millisecond), x.At)
	}
	if err := s.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("save flow exchanges: %w", err)
	}
	return nil
}
