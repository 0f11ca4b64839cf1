-- Retention for the outbox: delete rows older than a retention period, in batches, each in
-- its own short transaction, so the table stays small without long locks or a huge DELETE.
--
-- Deleting never loses an event: the relay publishes inserts from the WAL (the publication
-- ignores deletes), and the slot keeps that WAL until the relay confirmed it, so a row may go
-- as soon as its transaction committed. What the retention period keeps is the history that
-- `outbox-relay backfill` can re-publish. Needs the created_at column (outbox_created_at_idx
-- makes the batches cheap). Idempotent. Run it as the table's owner, or a role with DELETE
-- on it, outside an explicit transaction block (the procedure commits each batch):
--
--   CALL outbox_prune('7 days');                -- all rows older than 7 days, 10,000 a batch
--   CALL outbox_prune('7 days', 5000, 100);     -- at most 100 batches of 5,000 rows
--   SELECT outbox_prune_batch('7 days', 5000);  -- one batch in the caller's transaction;
--                                               -- returns the rows deleted
--
-- deploy/k8s/outbox-prune-cronjob.yaml runs it on a schedule.

CREATE OR REPLACE FUNCTION public.outbox_prune_batch(keep interval, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE sql
AS $$
    -- Oldest first, over outbox_created_at_idx; rows another session holds are left for
    -- the next run instead of waiting for it.
    WITH doomed AS (
        SELECT id FROM public.outbox
        WHERE created_at < now() - keep
        ORDER BY created_at
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM public.outbox o USING doomed WHERE o.id = doomed.id RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;

CREATE OR REPLACE PROCEDURE public.outbox_prune(keep interval, batch_size integer DEFAULT 10000,
                                                max_batches integer DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    deleted bigint;
    total bigint := 0;
    batches integer := 0;
BEGIN
    IF keep IS NULL OR keep < interval '0' THEN
        RAISE EXCEPTION 'outbox_prune: keep must be an interval of at least 0, got %', keep;
    END IF;
    IF batch_size IS NULL OR batch_size < 1 OR max_batches < 1 THEN
        RAISE EXCEPTION 'outbox_prune: batch_size and max_batches must be at least 1, got % and %',
            batch_size, max_batches;
    END IF;
    LOOP
        deleted := public.outbox_prune_batch(keep, batch_size);
        total := total + deleted;
        batches := batches + 1;
        -- One transaction per batch: short row locks, and vacuum can reclaim as it goes.
        COMMIT;
        EXIT WHEN deleted < batch_size OR batches >= max_batches;
    END LOOP;
    RAISE NOTICE 'outbox_prune: deleted % rows older than % in % batches', total, keep, batches;
END
$$;

COMMENT ON PROCEDURE public.outbox_prune(interval, integer, integer) IS
    'Deletes outbox rows older than keep, batch_size rows per transaction (at most max_batches '
    'batches). Events are not lost: outbox-relay publishes inserts from the WAL.';
