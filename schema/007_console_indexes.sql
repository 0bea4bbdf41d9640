-- The console's overview counts the last hour's deliveries by minute.
CREATE INDEX deliveries_received_idx ON deliveries (received_at);
