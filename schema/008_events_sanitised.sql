-- Events whose JSON jsonb could not hold as sent are stored with the
-- offending parts replaced, and marked.
ALTER TABLE events ADD COLUMN sanitised boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN events.sanitised IS 'The payload had text or numbers jsonb refuses (raw invalid UTF-8, \u0000, a lone surrogate, a number beyond numeric''s range): those strings hold U+FFFD instead and such numbers are strings; the delivery''s body keeps the original bytes.';
COMMENT ON COLUMN events.event_key IS 'The event''s natural key, unique per source, e.g. message:<wamid> or status:<wamid>:read; a value over 256 bytes, or not valid text, is stored as its prefix, "~sha256:" and the hash of the whole (storage.IndexKey).';
