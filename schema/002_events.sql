-- The events each delivery carries: messages, statuses, conversation changes.
CREATE TABLE events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id     bigint      NOT NULL REFERENCES deliveries (id),
    source          text        NOT NULL,
    provider        text        NOT NULL,
    event_type      text        NOT NULL,
    event_key       text        NOT NULL,
    account         text,
    resource_type   text,
    resource_id     text,
    conversation_id text,
    phone           text,
    occurred_at     timestamptz,
    received_at     timestamptz NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    payload         jsonb       NOT NULL,
    UNIQUE (source, event_key)
);

CREATE INDEX events_type_occurred_idx ON events (event_type, occurred_at DESC);
CREATE INDEX events_type_received_idx ON events (event_type, received_at DESC);
CREATE INDEX events_resource_idx ON events (resource_type, resource_id);
CREATE INDEX events_conversation_idx ON events (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX events_phone_idx ON events (phone) WHERE phone IS NOT NULL;
CREATE INDEX events_account_received_idx ON events (account, received_at);
CREATE INDEX events_delivery_idx ON events (delivery_id);
CREATE INDEX events_payload_idx ON events USING gin (payload jsonb_path_ops);

COMMENT ON TABLE events IS 'One row per event a delivery carries; an event redelivered in another delivery is stored once.';
COMMENT ON COLUMN events.delivery_id IS 'The delivery that first carried the event.';
COMMENT ON COLUMN events.source IS 'Configured source name, as in deliveries.source.';
COMMENT ON COLUMN events.provider IS 'Provider kind: platica, meta, whatzmeapi or whapi.';
COMMENT ON COLUMN events.event_type IS 'The event''s type, e.g. message, status or conversation.created.';
COMMENT ON COLUMN events.event_key IS 'The event''s natural key, unique per source, e.g. message:<wamid> or status:<wamid>:read.';
COMMENT ON COLUMN events.account IS 'Workspace, phone number id or instance the event belongs to.';
COMMENT ON COLUMN events.resource_type IS 'Kind of resource the event is about, e.g. message, conversation or client.';
COMMENT ON COLUMN events.resource_id IS 'Id of that resource, e.g. the wamid or the conversation id.';
COMMENT ON COLUMN events.conversation_id IS 'Conversation or chat id, if any.';
COMMENT ON COLUMN events.phone IS 'The contact''s phone number or JID, if any.';
COMMENT ON COLUMN events.occurred_at IS 'The provider''s own time for the event; NULL if it gives none.';
COMMENT ON COLUMN events.received_at IS 'When ingest read the delivery.';
COMMENT ON COLUMN events.stored_at IS 'When the worker committed the event.';
COMMENT ON COLUMN events.payload IS 'The event''s JSON as the provider sent it; query with payload @> ''{...}'', which the GIN index serves.';
