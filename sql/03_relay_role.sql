-- A least-privilege role for the relay: it may log in and stream logical replication,
-- and owns nothing. Set its password separately, outside scripts kept in git:
--   ALTER ROLE outbox_relay PASSWORD '...';   (or \password outbox_relay in psql)
-- pg_hba.conf must allow it a "host <database> outbox_relay" line for the replication
-- connection (replication=database connections match the database column).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'outbox_relay') THEN
        CREATE ROLE outbox_relay LOGIN REPLICATION;
    ELSE
        ALTER ROLE outbox_relay LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

-- Connect to this database (not granted to PUBLIC everywhere).
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO outbox_relay', current_database());
END
$$;

-- `outbox-relay backfill` reads the outbox table through the relay's connection: SELECT
-- only. (`run` needs no table privilege: logical decoding reads the WAL.)
GRANT USAGE ON SCHEMA public TO outbox_relay;
GRANT SELECT ON public.outbox TO outbox_relay;
