"""mart_listens_week and mart_overview vs a plain pandas reference on random histories (the
weekly mood marts are checked the same way in test_marts_properties.py, the summaries in
test_summary_marts.py, the change-points against their Python twin in test_change_points.py).

The histories are those of test_marts_properties (users in three time zones, listens around the
DST switches), plus a user without any listen, who must appear in mart_overview with zeros."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from tests import marts_reference as ref
from tests.test_marts_properties import load, make_history, read, run_dbt


def listens_week_reference(lw: pd.DataFrame) -> pd.DataFrame:
    return (lw.groupby(["user_id", "week"])
              .agg(listens=("track_id", "size"), unique_tracks=("track_id", "nunique"),
                   unique_artists=("artist_id", "nunique"))
              .reset_index())


def overview_reference(lw: pd.DataFrame, users: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    analysed = set(ref.preferred_scores(scores).track_id)
    rows = []
    for user_id in users.user_id:
        mine = lw[lw.user_id == user_id]
        tracks = set(mine.track_id)
        rows.append({"user_id": user_id, "listens": len(mine), "unique_tracks": len(tracks),
                     "unique_artists": mine.artist_id.nunique(), "weeks": mine.week.nunique(),
                     "first_week": mine.week.min() if len(mine) else None,
                     "last_week": mine.week.max() if len(mine) else None,
                     "analysed_tracks": len(tracks & analysed)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [7, 19])
def test_listens_week_and_overview_equal_pandas_reference(db_url: str, tmp_path: Path, seed: int) -> None:
    raw = load(db_url, make_history(seed))
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute("insert into users (user_name, timezone) values ('nobody yet', 'Europe/Paris') returning user_id")
        silent = cur.fetchone()[0]
    conn.close()
    users = pd.concat([raw["users"], pd.DataFrame({"user_id": [silent], "timezone": ["Europe/Paris"]})],
                      ignore_index=True)
    run_dbt(db_url, tmp_path, "build", "--select", "+mart_listens_week +mart_overview")

    listens = raw["listens"].drop(columns=["artist_id"], errors="ignore").merge(raw["tracks"], on="track_id")
    lw = ref.local_weeks(listens, raw["users"])
    ref.assert_frames_match(
        read(db_url, "select user_id, week, listens, unique_tracks, unique_artists from marts.mart_listens_week"),
        listens_week_reference(lw), ["user_id", "week"])
    overview = overview_reference(lw, users, raw["scores"])
    got = read(db_url, "select user_id, listens, unique_tracks, unique_artists, weeks, first_week, last_week, "
                       "analysed_tracks from marts.mart_overview")
    bounds = ["first_week", "last_week"]   # dates: compared as they are, not as numbers
    ref.assert_frames_match(got.drop(columns=bounds), overview.drop(columns=bounds), ["user_id"])
    assert {r.user_id: (r.first_week, r.last_week) for r in got.itertuples()} == \
        {r.user_id: (r.first_week, r.last_week) for r in overview.itertuples()}

    # Not vacuous: several weeks per user, some listened tracks without a score, the silent user.
    assert (overview.weeks > 20).sum() == len(raw["users"])
    assert (overview.analysed_tracks < overview.unique_tracks).any()
    assert overview.set_index("user_id").loc[silent, "listens"] == 0
