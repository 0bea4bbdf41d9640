-- The WhatsApp model: every provider's messages with their status, contacts and
-- conversations, merged from the events so that any arrival order gives the
-- same rows. The worker writes them in the transaction that stores the events;
-- hooklane reproject rebuilds them from what is stored.

-- The rank of a message status: a message's status only moves to a higher one.
CREATE FUNCTION message_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN CASE status
    WHEN 'pending' THEN 1 WHEN 'sent' THEN 2 WHEN 'received' THEN 2 WHEN 'failed' THEN 3
    WHEN 'delivered' THEN 4 WHEN 'read' THEN 5 WHEN 'played' THEN 6 ELSE 0 END;

COMMENT ON FUNCTION message_status_rank(text) IS 'Rank of a message status: pending 1 < sent, received 2 < failed 3 < delivered 4 < read 5 < played 6.';

CREATE TABLE messages (
    source          text        NOT NULL,
    message_id      text        NOT NULL,
    provider        text        NOT NULL,
    account         text,
    conversation_id text,
    contact         text,
    direction       text CHECK (direction IN ('in', 'out')),
    type            text,
    text            text,
    original_text   text,
    media           jsonb,
    reply_to        text,
    sent_at         timestamptz,
    status          text,
    status_at       timestamptz,
    delivered_at    timestamptz,
    read_at         timestamptz,
    played_at       timestamptz,
    failed_at       timestamptz,
    error           jsonb,
    edited_at       timestamptz,
    deleted_at      timestamptz,
    first_seen_at   timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (source, message_id)
) WITH (fillfactor = 90);

-- A status changes no indexed column (a failure's failed_at once), so its
-- update stays on the row's page (HOT) and writes no index entry.
CREATE INDEX messages_conversation_idx ON messages (source, conversation_id, sent_at);
CREATE INDEX messages_contact_idx ON messages (source, contact, sent_at);
CREATE INDEX messages_failed_idx ON messages (source, failed_at) WHERE failed_at IS NOT NULL;

COMMENT ON TABLE messages IS 'One row per message of a source, merged from its events in any order.';
COMMENT ON COLUMN messages.source IS 'Configured source name.';
COMMENT ON COLUMN messages.message_id IS 'The provider''s message id (a wamid, a Baileys key id...); for a whapi reaction, which has none, its event key.';
COMMENT ON COLUMN messages.provider IS 'Provider kind: platica, meta, whatzmeapi or whapi.';
COMMENT ON COLUMN messages.account IS 'Business phone number id, instance or workspace.';
COMMENT ON COLUMN messages.conversation_id IS 'The conversation (see conversations); set once.';
COMMENT ON COLUMN messages.contact IS 'The contact: phone number digits where there is one, else the JID, else Meta''s business-scoped user id; in a group, the member who wrote.';
COMMENT ON COLUMN messages.direction IS 'in (from the contact) or out (from the business).';
COMMENT ON COLUMN messages.type IS 'text, image, audio, video, document, sticker, location, contacts, interactive, button, reaction, order, system, unsupported, or the provider''s own word.';
COMMENT ON COLUMN messages.text IS 'The body or caption: the latest edit''s, if edited.';
COMMENT ON COLUMN messages.original_text IS 'The text before the first edit; NULL if never edited.';
COMMENT ON COLUMN messages.media IS 'The attachment as the provider gives it: id, url, mime_type, sha256, filename.';
COMMENT ON COLUMN messages.reply_to IS 'The quoted message''s id; for a reaction, the message reacted to.';
COMMENT ON COLUMN messages.sent_at IS 'The provider''s time of the message; for a message known only from its statuses, the earliest status time.';
COMMENT ON COLUMN messages.status IS 'pending, sent, received, failed, delivered, read or played: only ever moves up message_status_rank.';
COMMENT ON COLUMN messages.status_at IS 'The provider''s time of that status, the earliest reported.';
COMMENT ON COLUMN messages.delivered_at IS 'The provider''s earliest time of a delivered status.';
COMMENT ON COLUMN messages.read_at IS 'The provider''s earliest time of a read status.';
COMMENT ON COLUMN messages.played_at IS 'The provider''s earliest time of a played status.';
COMMENT ON COLUMN messages.failed_at IS 'The provider''s earliest time of a failed status.';
COMMENT ON COLUMN messages.error IS 'The error of the earliest failed status: Meta''s errors[], a gateway''s error.';
COMMENT ON COLUMN messages.edited_at IS 'The provider''s time of the latest edit.';
COMMENT ON COLUMN messages.deleted_at IS 'The provider''s earliest time of a deletion for everyone.';
COMMENT ON COLUMN messages.first_seen_at IS 'When hooklane received the first delivery about the message.';
COMMENT ON COLUMN messages.updated_at IS 'When hooklane received the latest delivery about the message.';

CREATE TABLE contacts (
    source           text        NOT NULL,
    account          text        NOT NULL,
    contact          text        NOT NULL,
    provider         text        NOT NULL,
    name             text,
    name_at          timestamptz,
    username         text,
    phone            text,
    jid              text,
    user_id          text,
    client_id        text,
    email            text,
    email_at         timestamptz,
    tags             jsonb,
    tags_at          timestamptz,
    owners           jsonb,
    owners_at        timestamptz,
    custom_fields    jsonb,
    custom_fields_at timestamptz,
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    last_inbound_at  timestamptz,
    window_expires_at timestamptz,
    PRIMARY KEY (source, account, contact)
) WITH (fillfactor = 80);

CREATE INDEX contacts_window_idx ON contacts (window_expires_at) WHERE window_expires_at IS NOT NULL;

COMMENT ON TABLE contacts IS 'One row per contact of a source''s account, merged from its events in any order.';
COMMENT ON COLUMN contacts.account IS 'Business phone number id, instance or workspace; empty if the events name none.';
COMMENT ON COLUMN contacts.contact IS 'Phone number digits where there is one, else the JID, else Meta''s business-scoped user id.';
COMMENT ON COLUMN contacts.name IS 'The contact''s name, the latest by the provider''s time (name_at).';
COMMENT ON COLUMN contacts.username IS 'Meta''s @username, with the latest name.';
COMMENT ON COLUMN contacts.phone IS 'Phone number digits, if known.';
COMMENT ON COLUMN contacts.jid IS 'WhatsApp JID, if known.';
COMMENT ON COLUMN contacts.user_id IS 'Meta''s business-scoped user id, if known.';
COMMENT ON COLUMN contacts.client_id IS 'Platica client id.';
COMMENT ON COLUMN contacts.email IS 'Platica client email, the latest (email_at).';
COMMENT ON COLUMN contacts.tags IS 'Platica client tags, the latest (tags_at).';
COMMENT ON COLUMN contacts.owners IS 'Platica client owners, the latest (owners_at).';
COMMENT ON COLUMN contacts.custom_fields IS 'Platica client custom fields, the latest (custom_fields_at).';
COMMENT ON COLUMN contacts.first_seen_at IS 'The provider''s earliest time of an event about the contact.';
COMMENT ON COLUMN contacts.last_seen_at IS 'The provider''s latest time of an event about the contact.';
COMMENT ON COLUMN contacts.last_inbound_at IS 'The provider''s time of the contact''s latest inbound message.';
COMMENT ON COLUMN contacts.window_expires_at IS 'last_inbound_at + 24 h: until then WhatsApp lets the business send free-form messages.';

CREATE TABLE conversations (
    source          text        NOT NULL,
    conversation_id text        NOT NULL,
    provider        text        NOT NULL,
    account         text,
    status          text,
    status_at       timestamptz,
    operation       text,
    operation_at    timestamptz,
    owners          jsonb,
    owners_at       timestamptz,
    tags            jsonb,
    tags_at         timestamptz,
    expired_at      timestamptz,
    last_message_at timestamptz,
    last_inbound_at timestamptz,
    message_count   bigint      NOT NULL DEFAULT 0,
    first_seen_at   timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (source, conversation_id)
) WITH (fillfactor = 70);

-- No index but the key: every message updates its conversation's row, which
-- then stays on its page (HOT). A conversation list sorts one row per chat.

COMMENT ON TABLE conversations IS 'One row per conversation of a source, merged from its events in any order.';
COMMENT ON COLUMN conversations.conversation_id IS 'Meta: <phone number id>:<contact or group id>; WhatzMeAPI, Evolution, whapi: the chat JID; Platica: its conversation id.';
COMMENT ON COLUMN conversations.status IS 'Platica conversation status, the latest by the provider''s time (status_at).';
COMMENT ON COLUMN conversations.operation IS 'Platica conversation operation, the latest (operation_at).';
COMMENT ON COLUMN conversations.owners IS 'Platica conversation owners, the latest (owners_at).';
COMMENT ON COLUMN conversations.tags IS 'Platica conversation tags, the latest (tags_at).';
COMMENT ON COLUMN conversations.expired_at IS 'Platica: when the conversation expired, the latest reported.';
COMMENT ON COLUMN conversations.last_message_at IS 'The provider''s time of the latest message, or of the latest sent (or pending) receipt of a message sent through the provider''s API.';
COMMENT ON COLUMN conversations.last_inbound_at IS 'The provider''s time of the latest inbound message.';
COMMENT ON COLUMN conversations.message_count IS 'How many messages rows belong to the conversation.';
COMMENT ON COLUMN conversations.first_seen_at IS 'When hooklane received the first delivery about the conversation.';
COMMENT ON COLUMN conversations.updated_at IS 'When hooklane received the latest delivery about the conversation.';
