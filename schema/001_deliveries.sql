-- Every authentic webhook request, stored exactly as the provider signed it.
CREATE TABLE deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    provider    text        NOT NULL,
    event_type  text        NOT NULL,
    dedupe_key  text        NOT NULL,
    request_id  text,
    headers     jsonb       NOT NULL,
    body        bytea       NOT NULL,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, dedupe_key)
);

COMMENT ON TABLE deliveries IS 'One row per authentic webhook request; a redelivery of the same request is not stored again.';
COMMENT ON COLUMN deliveries.source IS 'Configured source name, e.g. platica.';
COMMENT ON COLUMN deliveries.provider IS 'Provider kind: platica, meta, whatzmeapi or whapi.';
COMMENT ON COLUMN deliveries.event_type IS 'The delivery''s event type as the provider names it, e.g. message.created or messages.';
COMMENT ON COLUMN deliveries.dedupe_key IS 'The provider''s delivery id, else the SHA-256 of the body; unique per source.';
COMMENT ON COLUMN deliveries.request_id IS 'X-Request-Id of the HTTP request, if any.';
COMMENT ON COLUMN deliveries.headers IS 'Provider headers worth keeping, as {"Name": ["value", ...]}; never credentials.';
COMMENT ON COLUMN deliveries.body IS 'The raw request body, byte for byte as signed: convert_from(body, ''UTF8'')::jsonb reads it as JSON.';
COMMENT ON COLUMN deliveries.received_at IS 'When ingest read the request.';
COMMENT ON COLUMN deliveries.stored_at IS 'When the worker committed the delivery.';
