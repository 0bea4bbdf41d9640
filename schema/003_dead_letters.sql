-- Queued messages the worker gave up on, kept for inspection and replay.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream        text        NOT NULL,
    stream_seq    bigint      NOT NULL,
    subject       text        NOT NULL,
    source        text,
    headers       jsonb       NOT NULL,
    body          bytea       NOT NULL,
    reason        text        NOT NULL,
    num_delivered integer     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, stream_seq)
);

COMMENT ON TABLE dead_letters IS 'JetStream messages the worker could not store; dead-lettering a message twice keeps one row.';
COMMENT ON COLUMN dead_letters.stream IS 'JetStream stream the message came from.';
COMMENT ON COLUMN dead_letters.stream_seq IS 'The message''s sequence number in that stream.';
COMMENT ON COLUMN dead_letters.subject IS 'The message''s NATS subject.';
COMMENT ON COLUMN dead_letters.source IS 'Configured source name, if the message named one.';
COMMENT ON COLUMN dead_letters.headers IS 'The message''s NATS headers, as {"Name": ["value", ...]}.';
COMMENT ON COLUMN dead_letters.body IS 'The message''s data, byte for byte.';
COMMENT ON COLUMN dead_letters.reason IS 'Why the worker gave up on the message.';
COMMENT ON COLUMN dead_letters.num_delivered IS 'How many times JetStream had delivered the message.';
COMMENT ON COLUMN dead_letters.created_at IS 'When the message was dead-lettered.';
