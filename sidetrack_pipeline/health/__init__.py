"""Health of a SideTrack database: data checks (what the Dagster asset checks run) and the
per-user status report behind `sidetrack status`. Plain SQL over a psycopg2 connection."""
