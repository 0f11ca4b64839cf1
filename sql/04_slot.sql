-- The logical replication slot the relay consumes, with the pgoutput plugin. Run as a
-- superuser or a REPLICATION role, in the outbox's database. Idempotent.
-- A slot keeps WAL until the relay confirms it: drop it when you retire the relay
--   SELECT pg_drop_replication_slot('outbox_relay');
SELECT pg_catalog.pg_create_logical_replication_slot('outbox_relay', 'pgoutput')
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = 'outbox_relay');
