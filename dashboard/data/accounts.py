"""Users: resolving the signed-in / local identity to a SideTrack user, and per-user settings."""

from __future__ import annotations


import pandas as pd

from dashboard.data import core
from dashboard.scope import UserScope


def user_names() -> list[str]:
    """Local mode only (the machine's owner picks among the users of this database)."""
    try:
        return core.read(core.database(), "select user_name from users order by user_name")["user_name"].tolist()
    except core.MartsMissing:
        return []


def scope_for(user_name: str, mode: str) -> UserScope:
    """The scope of `user_name`, creating the user (no listens, UTC) on first sign-in."""
    from sidetrack_pipeline.db.connection import connect
    from sidetrack_pipeline.users import get_user, set_user

    db = core.database()
    with connect(db) as conn:
        try:
            user = get_user(conn, user_name)
        except LookupError:
            user = set_user(conn, user_name)
    return UserScope(user.user_id, user.user_name, user.timezone, mode, db)


@core.scoped(ttl=30)
def settings(db: str, user_id: int) -> dict:
    """What the Settings page shows: never the token itself, only whether one is stored."""
    df = core.scoped_read(db, user_id, """
        select u.user_name, u.timezone, s.listenbrainz_user, s.lastfm_user,
               s.listenbrainz_token is not null as has_token
        from users u left join user_settings s using (user_id) where u.user_id = :user_id""")
    row = df.iloc[0].to_dict()
    row["has_token"] = bool(row["has_token"])
    return row


def set_account(scope: UserScope, **changes) -> None:
    """users.set_user for this user (timezone, listenbrainz_user/token, lastfm_user)."""
    from sidetrack_pipeline.users import set_user

    with core.connection(scope) as conn:
        set_user(conn, scope.user_name, **changes)
    settings.clear_cache()


def timezones() -> pd.Series:
    from zoneinfo import available_timezones

    return pd.Series(sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/")))
