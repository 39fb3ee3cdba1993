-- One row per user, with a time zone PostgreSQL knows (unknown names fall back to UTC).
with users as (
    select * from {{ source('sidetrack', 'users') }}
),

known_zones as (
    select name from pg_catalog.pg_timezone_names
)

select
    users.user_id,
    users.user_name,
    case
        when users.timezone in (select name from known_zones) then users.timezone
        else 'UTC'
    end as timezone,
    users.timezone as timezone_raw,
    users.timezone in (select name from known_zones) as timezone_is_valid,
    users.created_at
from users
