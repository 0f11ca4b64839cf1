-- The outbox table (DESIGN §3). Idempotent: safe to run again.
-- A service writes its business rows and one outbox row per event in the same
-- transaction; the relay publishes each inserted row to Kafka exactly once.
CREATE TABLE IF NOT EXISTS public.outbox (
    id             bigserial   PRIMARY KEY,          -- event id: header, consumers' dedup key
    aggregate_type text        NOT NULL,             -- routes to a topic (outbox.topic template)
    aggregate_id   text        NOT NULL,             -- Kafka key: per-aggregate order
    event_type     text        NOT NULL,             -- header; schema lookup
    payload        jsonb       NOT NULL,             -- the event body
    headers        jsonb,                            -- extra record headers (trace context, tenant)
    created_at     timestamptz NOT NULL DEFAULT now() -- Kafka record timestamp
);

-- Pruning published rows by age (sql/ retention scripts, backfill by time) uses it.
CREATE INDEX IF NOT EXISTS outbox_created_at_idx ON public.outbox (created_at);

COMMENT ON TABLE public.outbox IS
    'Transactional outbox, published to Kafka by outbox-relay. Rows may be deleted in the '
    'writing transaction or pruned later: the relay reads inserts from WAL, not the table.';
