"""Every query the dashboard makes, in small modules by page; pages never write SQL.

Each public function takes the `UserScope` (dashboard/scope.py) first and reads only that user's
rows: `core.scoped` turns a function of (db, user_id, ...) into one of (scope, ...), caches it
with `st.cache_data` keyed by (database, user id, arguments), and `core.scoped_read` refuses SQL
that does not filter on `:user_id`. Reads go to the dbt marts and the small per-user analytics
tables, aggregated in SQL with row limits — never a whole listen table into pandas.
"""
