-- What operating on stored data needs: the fate of a redriven dead letter,
-- replay checkpoints, and the index retention walks flow exchanges by.
ALTER TABLE dead_letters
    ADD COLUMN redrive_count          integer NOT NULL DEFAULT 0,
    ADD COLUMN redriven_at            timestamptz,
    ADD COLUMN redrive_outcome        text
        CHECK (redrive_outcome IN ('pending', 'unpublished', 'stored', 'duplicate', 'dead_lettered')),
    ADD COLUMN redrive_settled_at     timestamptz,
    ADD COLUMN redrive_delivery_id    bigint,
    ADD COLUMN redrive_dead_letter_id bigint,
    ADD COLUMN redrive_error          text;

CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);

COMMENT ON COLUMN dead_letters.redrive_count IS 'How many times the message was sent back through the workers.';
COMMENT ON COLUMN dead_letters.redriven_at IS 'When it was last sent back.';
COMMENT ON COLUMN dead_letters.redrive_outcome IS 'What became of the last redrive: pending, unpublished, stored, duplicate (already stored) or dead_lettered (again).';
COMMENT ON COLUMN dead_letters.redrive_settled_at IS 'When a worker reported the outcome.';
COMMENT ON COLUMN dead_letters.redrive_delivery_id IS 'The delivery the redrive stored or found, if it was one.';
COMMENT ON COLUMN dead_letters.redrive_dead_letter_id IS 'The new dead letter, when the redrive failed again.';
COMMENT ON COLUMN dead_letters.redrive_error IS 'Why the redrive could not be published, if it could not.';

CREATE INDEX flow_exchanges_created_idx ON flow_exchanges (created_at);

-- Where each replay got to, so an interrupted one resumes.
CREATE TABLE replay_checkpoints (
    job               text        PRIMARY KEY,
    source            text        NOT NULL,
    since             timestamptz,
    until             timestamptz,
    event_type        text,
    last_delivery_id  bigint      NOT NULL DEFAULT 0,
    until_delivery_id bigint      NOT NULL,
    deliveries        bigint      NOT NULL DEFAULT 0,
    events            bigint      NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);

COMMENT ON TABLE replay_checkpoints IS 'One row per replay (source and filters): how far it got.';
COMMENT ON COLUMN replay_checkpoints.job IS 'The replay''s source and filters as given, e.g. wa since=36h type=messages.';
COMMENT ON COLUMN replay_checkpoints.since IS 'The first receipt time replayed, as resolved when the replay began; NULL: from the first.';
COMMENT ON COLUMN replay_checkpoints.until IS 'The receipt time the replay stops before; NULL: no bound.';
COMMENT ON COLUMN replay_checkpoints.event_type IS 'The delivery type replayed; NULL: all.';
COMMENT ON COLUMN replay_checkpoints.last_delivery_id IS 'The last delivery re-derived; a resumed replay continues after it.';
COMMENT ON COLUMN replay_checkpoints.until_delivery_id IS 'The newest delivery when the replay began: it goes no further.';
COMMENT ON COLUMN replay_checkpoints.deliveries IS 'Deliveries re-derived so far.';
COMMENT ON COLUMN replay_checkpoints.events IS 'Events the replay stored that were missing.';
COMMENT ON COLUMN replay_checkpoints.finished_at IS 'When the replay reached until_delivery_id; NULL while unfinished.';
