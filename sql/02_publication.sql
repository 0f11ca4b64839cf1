-- The publication the relay streams (pgoutput). Inserts only: updates, deletes and
-- truncates of the outbox (pruning, insert-then-delete) never reach the relay.
-- Idempotent: creates it, or brings an existing one to the same shape.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'outbox_pub') THEN
        CREATE PUBLICATION outbox_pub FOR TABLE public.outbox WITH (publish = 'insert');
    ELSE
        ALTER PUBLICATION outbox_pub SET TABLE public.outbox;
        ALTER PUBLICATION outbox_pub SET (publish = 'insert');
    END IF;
END
$$;
