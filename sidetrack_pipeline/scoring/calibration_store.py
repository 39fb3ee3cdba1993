"""Personal calibration against the database: fit each user's axes, store models and predictions.

Reads `labels_user` (several sources for one track and axis are averaged), the track vectors in
`embeddings` (`mir-v1`, plus `msd-musicnn` when every vectorised track has one) and the generic
audio scores in `mood_scores` (axes.METHOD, else the superseded `mir-v1`); writes
`user_axis_model` and `user_track_scores` (method `personal-v1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from psycopg2.extras import Json, execute_values

from sidetrack_pipeline.scoring import axes, calibration
from sidetrack_pipeline.scoring.calibration import METHOD, NotFitted, PersonalModel

MIR_MODEL = "mir-v1"
LEARNED_MODEL = "msd-musicnn"
# The generic score is the audio formula's (every vectorised track has one; fused/smoothed scores
# mix evidence that differs from track to track). The current method first, then the superseded.
GENERIC_METHODS = tuple(dict.fromkeys((axes.METHOD, "mir-v1")))   # first one a track has wins


@dataclass
class AxisReport:
    axis: str
    n_labels: int
    fitted: bool
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    tracks_scored: int = 0

    def summary(self) -> str:
        if not self.fitted:
            return f"{self.axis}: not fitted — {self.reason}"
        m = self.metrics
        return (f"{self.axis}: {self.n_labels} labels, CV MAE generic {m['cv_mae_generic']:.3f}, "
                f"raw {m['cv_mae_raw']:.3f}, calibrated {m['cv_mae_calibrated']:.3f} "
                f"({m['calibration']}); {self.tracks_scored} tracks scored")


@dataclass
class CalibrationReport:
    user_name: str
    axes: dict[str, AxisReport] = field(default_factory=dict)
    feature_blocks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.axes:
            return f"{self.user_name}: no labels yet"
        return "\n".join(r.summary() for r in self.axes.values())


def _user_id(cur, user_name: str) -> int:
    cur.execute("select user_id from users where user_name = %s", (user_name,))
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no SideTrack user {user_name!r}")
    return row[0]


def _parse_vector(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.strip("[]").split(",")], dtype=float)


def load_vectors(cur) -> tuple[list[int], dict[str, np.ndarray]]:
    """(track ids, {model: (n, d) array}) of tracks with a mir-v1 vector; the musicnn block only
    when every one of them has it (a partial block would make the features inconsistent)."""
    cur.execute("select track_id, model, embedding::text from embeddings where model in (%s, %s) "
                "order by track_id", (MIR_MODEL, LEARNED_MODEL))
    by_model: dict[str, dict[int, np.ndarray]] = {MIR_MODEL: {}, LEARNED_MODEL: {}}
    for track_id, model, text in cur.fetchall():
        by_model[model][track_id] = _parse_vector(text)
    track_ids = sorted(by_model[MIR_MODEL])
    if not track_ids:
        return [], {}
    blocks = {MIR_MODEL: np.vstack([by_model[MIR_MODEL][t] for t in track_ids])}
    learned = by_model[LEARNED_MODEL]
    if learned and all(t in learned for t in track_ids):
        blocks[LEARNED_MODEL] = np.vstack([learned[t] for t in track_ids])
    return track_ids, blocks


def _generic(cur, axis: str, track_ids: list[int],
             methods: tuple[str, ...] = GENERIC_METHODS) -> np.ndarray | None:
    """The generic score of `axis` per track (0.5 where missing), None if the axis has none."""
    cur.execute("select track_id, method, value from mood_scores where axis = %s and method = any(%s)",
                (axis, list(methods)))
    rows = cur.fetchall()
    if not rows:
        return None
    rank = {m: i for i, m in enumerate(methods)}
    best: dict[int, tuple[int, float]] = {}
    for track_id, method, value in rows:
        if track_id not in best or rank[method] < best[track_id][0]:
            best[track_id] = (rank[method], value)
    return np.array([best[t][1] if t in best else 0.5 for t in track_ids], dtype=float)


def _labels(cur, user_id: int) -> dict[str, dict[int, float]]:
    cur.execute("select axis, track_id, avg(value) from labels_user where user_id = %s "
                "group by axis, track_id", (user_id,))
    out: dict[str, dict[int, float]] = {}
    for axis, track_id, value in cur.fetchall():
        out.setdefault(axis, {})[track_id] = float(value)
    return out


@dataclass
class _AxisData:
    track_ids: list[int]
    features: calibration.Features
    rows: np.ndarray          # labelled rows (tracks with a vector)
    labels: np.ndarray
    labelled_ids: list[int]


def _axis_data(cur, axis: str, track_ids, blocks, axis_labels: dict[int, float]) -> _AxisData:
    features = calibration.build_features(blocks, _generic(cur, axis, track_ids))
    index = {t: i for i, t in enumerate(track_ids)}
    labelled_ids = sorted(t for t in axis_labels if t in index)
    rows = np.array([index[t] for t in labelled_ids], dtype=int)
    labels = np.array([axis_labels[t] for t in labelled_ids], dtype=float)
    return _AxisData(track_ids, features, rows, labels, labelled_ids)


def _clear(cur, user_id: int, axis: str) -> None:
    cur.execute("delete from user_axis_model where user_id = %s and axis = %s and method = %s",
                (user_id, axis, METHOD))
    cur.execute("delete from user_track_scores where user_id = %s and axis = %s and method = %s",
                (user_id, axis, METHOD))


def calibrate_user(conn, user_name: str) -> CalibrationReport:
    """Fit every axis the user has labelled (enough labels permitting), replace the stored model
    and the `personal-v1` scores of every vectorised track. Axes now without enough labels lose
    any older model and scores. Running it twice gives the same rows."""
    report = CalibrationReport(user_name)
    with conn.cursor() as cur:
        user_id = _user_id(cur, user_name)
        labels = _labels(cur, user_id)
        track_ids, blocks = load_vectors(cur)
        report.feature_blocks = list(blocks)
        cur.execute("select distinct axis from user_axis_model where user_id = %s and method = %s",
                    (user_id, METHOD))
        stale = {row[0] for row in cur.fetchall()} - set(labels)
        for axis in sorted(stale):
            _clear(cur, user_id, axis)
        for axis in sorted(labels):
            if not track_ids:
                _clear(cur, user_id, axis)
                report.axes[axis] = AxisReport(axis, len(labels[axis]), False,
                                               "no track has a mir-v1 vector yet")
                continue
            data = _axis_data(cur, axis, track_ids, blocks, labels[axis])
            model = calibration.fit_axis_model(axis, data.features, data.rows, data.labels)
            _clear(cur, user_id, axis)
            if isinstance(model, NotFitted):
                unvectorised = len(labels[axis]) - len(data.rows)
                reason = model.reason + (f" ({unvectorised} labelled track(s) have no vector)"
                                         if unvectorised else "")
                report.axes[axis] = AxisReport(axis, model.n_labels, False, reason)
                continue
            _store(cur, user_id, axis, model, data, report,
                   labels_without_vector=len(labels[axis]) - len(data.rows))
    return report


def _store(cur, user_id: int, axis: str, model: PersonalModel, data: _AxisData,
           report: CalibrationReport, labels_without_vector: int = 0) -> None:
    metrics = {**model.metrics, "feature_blocks": report.feature_blocks,
               "labels_without_vector": labels_without_vector}
    cur.execute("""insert into user_axis_model (user_id, axis, method, n_labels, params, metrics)
                   values (%s, %s, %s, %s, %s, %s)""",
                (user_id, axis, METHOD, model.n_labels, Json(model.params(data.labelled_ids)),
                 Json(metrics)))
    value, confidence = model.predict(data.features)
    execute_values(cur, """insert into user_track_scores (user_id, track_id, axis, method, value, confidence)
                           values %s""",
                   [(user_id, t, axis, METHOD, round(float(v), 6), round(float(c), 6))
                    for t, v, c in zip(data.track_ids, value, confidence)], page_size=2000)
    report.axes[axis] = AxisReport(axis, model.n_labels, True, metrics=metrics,
                                   tracks_scored=len(data.track_ids))


@dataclass(frozen=True)
class LabelSuggestion:
    track_id: int
    artist: str
    title: str
    uncertainty: float
    predicted: float | None
    reason: str


def label_suggestions(conn, user_name: str, axis: str, k: int = 10) -> list[LabelSuggestion]:
    """The `k` tracks most worth labelling next on `axis` for this user (see
    calibration.suggest_tracks_to_label), refitting the model from the current labels."""
    with conn.cursor() as cur:
        user_id = _user_id(cur, user_name)
        track_ids, blocks = load_vectors(cur)
        if not track_ids:
            return []
        data = _axis_data(cur, axis, track_ids, blocks, _labels(cur, user_id).get(axis, {}))
        model = calibration.fit_axis_model(axis, data.features, data.rows, data.labels)
        picks = calibration.suggest_tracks_to_label(data.features, data.rows, model, k=k)
        ids = [track_ids[p.row] for p in picks]
        cur.execute("select t.track_id, a.name, t.title from track t join artist a using (artist_id) "
                    "where t.track_id = any(%s)", (ids,))
        names = {t: (artist, title) for t, artist, title in cur.fetchall()}
    return [LabelSuggestion(t, *names.get(t, ("?", "?")), p.uncertainty, p.predicted, p.reason)
            for t, p in zip(ids, picks)]


def add_label(conn, user_name: str, track_id: int, axis: str, value: float,
              source: str = "cli") -> None:
    """Store (or replace) one label of the user's."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a label is a value in 0..1, got {value}")
    with conn.cursor() as cur:
        user_id = _user_id(cur, user_name)
        cur.execute("select 1 from track where track_id = %s", (track_id,))
        if cur.fetchone() is None:
            raise LookupError(f"no track with id {track_id}")
        cur.execute("""insert into labels_user (user_id, track_id, axis, value, source)
                       values (%s, %s, %s, %s, %s)
                       on conflict (user_id, track_id, axis, source)
                       do update set value = excluded.value, created_at = now()""",
                    (user_id, track_id, axis, value, source))
