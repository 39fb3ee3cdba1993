"""Taste map reuse/refit, HDBSCAN clusters, dominant weekly clusters and outliers, on planted data;
and the analytics assets (the global taste map and clusters, the weekly-partitioned positions,
dominant clusters and outliers) materialised by Dagster against a real PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from sidetrack_pipeline.analytics import clusters, trajectory
from sidetrack_pipeline.db import connect
from sidetrack_pipeline.scoring import vectors as mir

DIM = 16
CENTRES = 4


def planted(per_cluster: int, seed: int = 0, far: int = 0):
    """`CENTRES` tight Gaussian blobs in 16-d (labels 0..3) plus `far` isolated points (label -1)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 4, size=(CENTRES, DIM))
    labels = np.repeat(np.arange(CENTRES), per_cluster)
    points = centres[labels] + rng.normal(0, 0.5, size=(len(labels), DIM))
    if far:
        points = np.vstack([points, rng.normal(0, 1, size=(far, DIM)) + 25])
        labels = np.concatenate([labels, np.full(far, -1)])
    return points, labels


def test_refit_decision_new_tracks_and_vector_model():
    points, _ = planted(30)
    ids = list(range(len(points)))  # 120 tracks
    fitted = trajectory.fit(ids, points, "mir-v1")
    assert trajectory.refit_reason(None, ids, points, "mir-v1") == "no fitted map"
    assert trajectory.refit_reason(fitted, ids, points, "mir-v1") is None
    extra, _ = planted(8, seed=1)  # 32 tracks
    few = ids + [1000 + i for i in range(20)]  # 20 of 140 new (14 %): reuse
    assert trajectory.refit_reason(fitted, few, np.vstack([points, extra[:20]]), "mir-v1") is None
    many = ids + [1000 + i for i in range(32)]  # 32 of 152 new (21 %): refit
    assert "32 of 152" in trajectory.refit_reason(fitted, many, np.vstack([points, extra]), "mir-v1")
    assert "vector model changed" in trajectory.refit_reason(fitted, ids, points, "msd-musicnn")
    # a re-analysed track (same id, other vector) counts as new
    changed = points.copy()
    changed[:30] += 1.0
    assert "30 of 120" in trajectory.refit_reason(fitted, ids, changed, "mir-v1")


def test_reuse_keeps_old_positions_and_places_new_tracks_by_their_cluster(tmp_path):
    points, labels = planted(50)
    ids = list(range(len(points)))
    first, xy, reason = trajectory.update(None, ids, points, "mir-v1")
    assert reason == "no fitted map"
    path = trajectory.model_path(tmp_path, "mir-v1")
    trajectory.save(first, path)
    extra, extra_labels = planted(5, seed=7)  # 20 new of 220: 9 %
    loaded = trajectory.load(path)
    again, xy2, reason2 = trajectory.update(loaded, ids + [500 + i for i in range(20)],
                                            np.vstack([points, extra]), "mir-v1")
    assert reason2 is None and again.fitted_at == first.fitted_at
    assert np.array_equal(xy2[:len(ids)], xy)  # identical, not merely close
    centroids = np.array([xy[labels == c].mean(axis=0) for c in range(CENTRES)])
    nearest = np.argmin(np.linalg.norm(xy2[len(ids):, None, :] - centroids[None], axis=2), axis=1)
    assert (nearest == extra_labels).mean() >= 0.9


def test_hdbscan_recovers_planted_clusters():
    points, labels = planted(60, seed=3, far=4)
    found = clusters.cluster_tracks(points)
    assert adjusted_rand_score(labels[labels >= 0], found[labels >= 0]) >= 0.9
    assert len(set(found[labels >= 0]) - {clusters.NOISE}) == CENTRES


def test_dominant_cluster_of_a_week():
    labels = pd.DataFrame({"track_id": [1, 2, 3, 4, 5], "cluster": [0, 0, 1, -1, 2]})
    w1, w2, w3 = date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15)
    rows = ([(1, 1, w1)] * 2 + [(1, 2, w1)] + [(1, 3, w1)] * 2 + [(1, 4, w1)] * 4  # 3 x c0, 2 x c1, 4 noise
            + [(1, 5, w2)] * 2 + [(1, 3, w2)] * 2  # tie c1/c2 -> lower id
            + [(1, 4, w3)] + [(2, 3, w1)])
    listens = pd.DataFrame(rows, columns=["user_id", "track_id", "week"])
    out = clusters.dominant_clusters(listens, labels).set_index(["user_id", "week"])
    assert out.loc[(1, w1), "cluster"] == 0 and out.loc[(1, w1), "share"] == pytest.approx(3 / 9)
    assert out.loc[(1, w2), "cluster"] == 1
    assert out.loc[(1, w3), "cluster"] == -1
    assert out.loc[(2, w1), "cluster"] == 1


def _listens(n_main: int, far_ids: list[int], old_far: int, end: datetime, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = [(1, int(rng.integers(0, n_main)), end - timedelta(days=float(rng.uniform(0, 80)))) for _ in range(600)]
    rows += [(1, t, end - timedelta(days=10 + i)) for i, t in enumerate(far_ids)]
    rows += [(1, old_far, end - timedelta(days=120))] * 5  # far away, but outside the 90 days
    return pd.DataFrame(rows, columns=["user_id", "track_id", "played_at"])


def test_outliers_are_the_planted_far_tracks():
    points, labels = planted(60, seed=5, far=4)  # the user plays clusters 0 and 1 and three far tracks
    far = [int(i) for i in np.flatnonzero(labels == -1)]
    listens = _listens(120, far[:3], far[3], datetime(2024, 6, 1, tzinfo=timezone.utc))
    found = clusters.outliers(listens, list(range(len(points))), points, top_n=5)
    assert set(found.head(3)["track_id"]) == set(far[:3])
    assert far[3] not in set(found["track_id"])
    assert (found.head(3)["z"] > 2).all() and list(found["rank"]) == [1, 2, 3, 4, 5]


def _seed_database(url: str, points: np.ndarray, listens: pd.DataFrame) -> list[int]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("insert into users (user_name) values ('ana') returning user_id")
        user = cur.fetchone()[0]
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') returning artist_id")
        artist = cur.fetchone()[0]
        ids = []
        for i, vector in enumerate(points):
            cur.execute("""insert into track (track_key, name_key, title, artist_id) values (%s, %s, %s, %s)
                           returning track_id""", (f"k{i}", f"k{i}", f"T{i}", artist))
            ids.append(cur.fetchone()[0])
            cur.execute("insert into embeddings (track_id, model, dim, embedding) values (%s, %s, %s, %s::vector)",
                        (ids[-1], mir.MODEL, DIM, "[" + ",".join(map(str, vector)) + "]"))
        # Stand-in for dbt's int_listens_local view (its columns used here), so dbt need not run.
        cur.execute("create schema if not exists intermediate")
        cur.execute("create table intermediate.int_listens_local (user_id int, track_id int, week date, "
                    "played_at timestamptz, timezone text)")
        for row in listens.itertuples(index=False):
            played = row.played_at
            cur.execute("insert into intermediate.int_listens_local values (%s, %s, %s, %s, 'UTC')",
                        (user, ids[row.track_id], (played - timedelta(days=played.weekday())).date(), played))
    return ids


def _rows(url, sql):
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _projection(url):
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select track_id, x, y from track_projection where method = %s order by track_id",
                    (trajectory.METHOD,))
        return cur.fetchall()


def _weekly(assets, resources, first, last):
    """One single-run backfill of the weekly partitions first..last (Mondays, inclusive)."""
    from sidetrack_pipeline.defs.partitions import range_tags

    result = dg.materialize(assets, resources=resources, tags=range_tags(first, last))
    assert result.success
    return result


def test_assets_materialize_on_a_real_database(db_url, tmp_path, monkeypatch):
    from sidetrack_pipeline.defs.assets.analytics import taste_trajectory, track_projection
    from sidetrack_pipeline.defs.assets.clusters import cluster_weeks, listening_outliers, track_clusters
    from sidetrack_pipeline.defs.resources import DatabaseResource

    assert mir.DIM == DIM
    monkeypatch.setenv("SIDETRACK_HOME", str(tmp_path))  # the fitted map goes to <home>/models
    points, labels = planted(40, seed=11, far=4)
    far = [int(i) for i in np.flatnonzero(labels == -1)]
    listens = _listens(80, far[:3], far[3], datetime(2024, 6, 1, tzinfo=timezone.utc))
    ids = _seed_database(db_url, points, listens)
    resources = {"database": DatabaseResource(url=db_url)}
    mondays = sorted(listens["played_at"].map(lambda p: (p - timedelta(days=p.weekday())).date()).unique())
    weeks = len(mondays)

    result = dg.materialize([track_projection, track_clusters], resources=resources)
    assert result.success
    traj = result.asset_materializations_for_node("track_projection")[0].metadata
    assert traj["refitted"].value is True and traj["fit_tracks"].value == len(points)
    assert len(list((tmp_path / "models").glob("umap-*.pkl"))) == 1
    before = _projection(db_url)
    assert len(before) == len(points)
    assert _rows(db_url, "select vector_model, n_tracks, last_decision from projection_fit") == [
        (mir.MODEL, len(points), "refit: no fitted map")]
    meta = result.asset_materializations_for_node("track_clusters")[0].metadata
    assert meta["clusters"].value == CENTRES
    stored = dict(_rows(db_url, "select track_id, cluster from track_cluster"))
    planted_ok = labels >= 0
    assert adjusted_rand_score(labels[planted_ok], [stored[ids[i]] for i in np.flatnonzero(planted_ok)]) >= 0.9

    weekly = _weekly([taste_trajectory, cluster_weeks, listening_outliers], resources, mondays[0], mondays[-1])
    arrows = weekly.asset_materializations_for_node("taste_trajectory")[0].metadata["weekly_arrows"].value.records
    assert len(arrows) == weeks - 1  # one user: one arrow between consecutive weeks
    assert all(abs(a.data["step"] - np.hypot(a.data["dx"], a.data["dy"])) < 1e-9 for a in arrows)
    steps = _rows(db_url, "select dx, dy, step from taste_trajectory_step order by week")
    assert len(steps) == weeks - 1 and all(abs(s - np.hypot(dx, dy)) < 1e-9 for dx, dy, s in steps)
    assert _rows(db_url, "select count(*) from cluster_week")[0][0] == weeks
    assert _rows(db_url, "select count(distinct week) from listening_outlier")[0][0] == weeks
    # as of the last week's end: the planted far tracks; the old one is outside the 90 days
    out = _rows(db_url, "select track_id from listening_outlier where rank <= 3 and week = "
                        "(select max(week) from listening_outlier)")
    assert {t for (t,) in out} == {ids[i] for i in far[:3]}
    # an earlier week's outliers only see listens up to that week's end
    early = _rows(db_url, "select min(window_end), count(*) from listening_outlier where week = %s" % f"'{mondays[2]}'")
    assert early[0][0].date() == mondays[3] and early[0][1] > 0

    # re-materialising one week replaces its rows: same tables afterwards
    tables = ("taste_trajectory_week", "cluster_week", "listening_outlier")
    snapshot = {t: sorted(_rows(db_url, f"select * from {t}")) for t in tables}
    _weekly([taste_trajectory, cluster_weeks, listening_outliers], resources, mondays[4], mondays[4])
    for t in tables:
        assert sorted(_rows(db_url, f"select * from {t}")) == snapshot[t], t

    # a labelling that differs from the stored one (here: other cluster ids) re-derives the weeks
    # already in cluster_week, so they never name clusters that no longer exist
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("update track_cluster set cluster = cluster + 100 where cluster >= 0")
        cur.execute("update cluster_week set cluster = cluster + 100 where cluster >= 0")
    relabelled = dg.materialize([track_clusters], resources=resources)
    meta3 = relabelled.asset_materializations_for_node("track_clusters")[0].metadata
    assert meta3["labelling_changed"].value is True and meta3["stored_weeks_replaced"].value == weeks
    assert sorted(_rows(db_url, "select * from cluster_week")) == snapshot["cluster_week"]

    # two new tracks (1 %): the map is reused and every old track keeps its position exactly
    extra, _ = planted(1, seed=12)
    with connect(db_url) as conn, conn.cursor() as cur:
        for i, vector in enumerate(extra[:2]):
            cur.execute("insert into track (track_key, name_key, title, artist_id) select %s, %s, %s, min(artist_id) "
                        "from artist returning track_id", (f"n{i}", f"n{i}", f"N{i}"))
            cur.execute("insert into embeddings (track_id, model, dim, embedding) values (%s, %s, %s, %s::vector)",
                        (cur.fetchone()[0], mir.MODEL, DIM, "[" + ",".join(map(str, vector)) + "]"))
    again = dg.materialize([track_projection], resources=resources)
    meta2 = again.asset_materializations_for_node("track_projection")[0].metadata
    assert meta2["refitted"].value is False and meta2["fitted_at"].value == traj["fitted_at"].value
    after = _projection(db_url)
    assert len(after) == len(points) + 2 and after[:len(before)] == before
    assert _rows(db_url, "select n_tracks, last_decision from projection_fit") == [
        (len(points), "reused the fitted map")]
    assert sorted(_rows(db_url, "select * from taste_trajectory_week")) == snapshot["taste_trajectory_week"]

    # a refit (here: the saved map is gone) re-places the stored weeks on the new map
    for pickle in (tmp_path / "models").glob("umap-*.pkl"):
        pickle.unlink()
    refit = dg.materialize([track_projection], resources=resources)
    meta4 = refit.asset_materializations_for_node("track_projection")[0].metadata
    assert meta4["refitted"].value is True and meta4["stored_weeks_replaced"].value == weeks
    coords = {t: (x, y) for t, x, y in _projection(db_url)}
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select l.week, avg(p.x), avg(p.y) from intermediate.int_listens_local l
                       join track_projection p using (track_id) group by l.week order by l.week""")
        expected = cur.fetchall()
    stored = _rows(db_url, "select week, x, y from taste_trajectory_week order by week")
    assert len(coords) == len(points) + 2 and len(stored) == len(expected) == weeks
    assert all(a[0] == b[0] and abs(a[1] - b[1]) < 1e-9 and abs(a[2] - b[2]) < 1e-9 for a, b in zip(stored, expected))
