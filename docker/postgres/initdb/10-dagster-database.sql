-- Runs once, when the `pgdata` volume is initialised: Dagster's storage (runs, event logs,
-- schedules) gets a database of its own next to SideTrack's `sidetrack` database (both use
-- Alembic's alembic_version table, so they cannot share one). SideTrack's schema itself is
-- created by the `migrate` service (`sidetrack db upgrade`), not here.
CREATE DATABASE dagster;
