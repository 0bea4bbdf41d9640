-- WhatsApp Flows data-exchange requests and how each was answered.
CREATE TABLE flow_exchanges (
    id           text             PRIMARY KEY,
    source       text             NOT NULL,
    flow_id      text,
    flow_token   text,
    action       text,
    screen       text,
    request_id   text,
    request_data jsonb,
    answer       jsonb,
    outcome      text             NOT NULL
        CHECK (outcome IN ('answered', 'timeout', 'no_responders', 'invalid', 'error')),
    latency_ms   double precision NOT NULL,
    created_at   timestamptz      NOT NULL
);

CREATE INDEX flow_exchanges_flow_idx ON flow_exchanges (source, flow_id, created_at DESC);
CREATE INDEX flow_exchanges_token_idx ON flow_exchanges (flow_token) WHERE flow_token IS NOT NULL;
CREATE INDEX flow_exchanges_outcome_idx ON flow_exchanges (outcome, created_at);

COMMENT ON TABLE flow_exchanges IS 'One row per Flows data-exchange request hooklane answered or failed to answer.';
COMMENT ON COLUMN flow_exchanges.id IS 'Unique exchange id; a redelivered record is not stored again.';
COMMENT ON COLUMN flow_exchanges.source IS 'Configured source name.';
COMMENT ON COLUMN flow_exchanges.flow_id IS 'The WhatsApp Flow''s id, if known.';
COMMENT ON COLUMN flow_exchanges.flow_token IS 'The flow_token that ties the exchange to a conversation.';
COMMENT ON COLUMN flow_exchanges.action IS 'The request''s action: INIT, BACK, data_exchange or ping.';
COMMENT ON COLUMN flow_exchanges.screen IS 'The screen the request came from, if any.';
COMMENT ON COLUMN flow_exchanges.request_id IS 'X-Request-Id of the HTTP request, if any.';
COMMENT ON COLUMN flow_exchanges.request_data IS 'The request''s data object, decrypted.';
COMMENT ON COLUMN flow_exchanges.answer IS 'The answer sent back, before encryption, if any.';
COMMENT ON COLUMN flow_exchanges.outcome IS 'answered, timeout, no_responders, invalid or error.';
COMMENT ON COLUMN flow_exchanges.latency_ms IS 'Milliseconds from receiving the request to answering it.';
COMMENT ON COLUMN flow_exchanges.created_at IS 'When the request was received.';
