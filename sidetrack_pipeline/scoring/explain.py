"""Why a track scores what it scores: per axis the final value and everything that moved it.

`explain_track(conn, "artist - title" | track id)` returns a `TrackExplanation`: per axis the
score of the preferred method (the same order as dbt's `axis_method_preference`), its
confidence and provenance, and the signed contributions behind it, level by level:

* smoothed-v1: own fused evidence (kind 'method'), partial pooling and prior ('prior'),
  neighbours ('neighbour', named "artist - title");
* fused-v1: each evidence method's pull ('method');
* the evidence methods: tags ('tag', tags-v1), lexicon words ('word', zeroshot-*), and audio
  features ('feature') — stored rows where the method writes them, else recomputed from the
  stored features: the current audio method (axes.METHOD) through axes.score_features, the
  older mir-v1 with its formula weights (scoring/audio_contributions.py).

Every contribution is a signed pull away from the neutral 0.5 within its own method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sidetrack_pipeline.scoring import audio_contributions, axes
from sidetrack_pipeline.scoring.axes import AXES
from sidetrack_pipeline.scoring.store import FEATURE_COLUMNS

# Same order as dbt_project.yml's axis_method_preference.
METHOD_PREFERENCE = ("smoothed-v1", "fused-v1", "mir-v2", "mir-v1", "tags-v1")
KIND_ORDER = ("method", "neighbour", "prior", "feature", "tag", "word")


@dataclass
class Contribution:
    method: str
    kind: str
    name: str
    contribution: float


@dataclass
class AxisExplanation:
    axis: str
    value: float | None
    confidence: float | None
    provenance: str | None
    method: str | None
    methods: dict[str, float] = field(default_factory=dict)      # every method's value on this axis
    contributions: list[Contribution] = field(default_factory=list)


@dataclass
class TrackExplanation:
    track_id: int
    artist: str
    title: str
    axes: list[AxisExplanation]


def find_track(cur, query: str | int) -> int:
    """A track id from an id or an "artist - title" search (case-insensitive, best match first)."""
    text = str(query).strip()
    if re.fullmatch(r"\d+", text):
        cur.execute("select track_id from track where track_id = %s", (int(text),))
        row = cur.fetchone()
        if row:
            return row[0]
    artist, _, title = text.partition(" - ")
    searches = []
    if title:
        searches.append(("a.name ilike %(a)s and t.title ilike %(t)s",
                         {"a": f"%{artist.strip()}%", "t": f"%{title.strip()}%"}))
    searches.append(("(a.name || ' - ' || t.title) ilike %(q)s", {"q": f"%{text}%"}))
    for where, params in searches:
        params["exact"] = text.lower()
        cur.execute(f"""
            select t.track_id from track t join artist a on a.artist_id = t.artist_id
            where {where}
            order by lower(a.name || ' - ' || t.title) = %(exact)s desc,
                     (select count(*) from listen l where l.track_id = t.track_id) desc, t.track_id
            limit 1""", params)
        row = cur.fetchone()
        if row is not None:
            return row[0]
    raise LookupError(f"no track matches {text!r}")


def _features(cur, track_id: int) -> dict | None:
    cur.execute(f"select {', '.join(FEATURE_COLUMNS)}, extra from features where track_id = %s", (track_id,))
    row = cur.fetchone()
    if row is None:
        return None
    features = dict(zip(FEATURE_COLUMNS, row[:-1]))
    features["extra"] = row[-1] or {}
    features["channels"] = features["extra"].get("channels", 2)
    return features


def _track_names(cur, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    cur.execute("""select t.track_id, a.name || ' - ' || t.title from track t
                   join artist a on a.artist_id = t.artist_id where t.track_id = any(%s)""", (list(ids),))
    return dict(cur.fetchall())


def _computed_feature_contributions(features: dict) -> dict[str, dict[str, dict[str, float]]]:
    """{audio method: {axis: {feature: contribution}}} recomputed from the stored features: the
    current audio method (axes.METHOD) from its own AxisScore contributions, mir-v1 from its
    formula (audio_contributions) — used where a method stored no contribution rows."""
    current = {s.axis: dict(getattr(s, "contributions", ()) or ()) for s in axes.score_features(features)}
    out = {method: audio_contributions.feature_contributions(features) for method in audio_contributions.METHODS}
    if any(current.values()):
        out[axes.METHOD] = current
    return out


def _method_rank(method: str) -> tuple:
    return (METHOD_PREFERENCE.index(method), "") if method in METHOD_PREFERENCE else (len(METHOD_PREFERENCE), method)


def explain_track(conn, query: str | int) -> TrackExplanation:
    with conn.cursor() as cur:
        track_id = find_track(cur, query)
        cur.execute("""select a.name, t.title from track t join artist a on a.artist_id = t.artist_id
                       where t.track_id = %s""", (track_id,))
        artist, title = cur.fetchone()
        cur.execute("select axis, method, value, confidence, provenance from mood_scores where track_id = %s",
                    (track_id,))
        scores: dict[str, dict[str, tuple]] = {}
        for axis, method, value, confidence, provenance in cur.fetchall():
            scores.setdefault(axis, {})[method] = (value, confidence, provenance)
        cur.execute("select axis, method, kind, name, contribution from score_contribution where track_id = %s",
                    (track_id,))
        stored: dict[str, list[Contribution]] = {}
        with_rows: set[tuple[str, str]] = set()
        for axis, method, kind, name, contribution in cur.fetchall():
            stored.setdefault(axis, []).append(Contribution(method, kind, name, contribution))
            with_rows.add((axis, method))
        features = _features(cur, track_id)
        neighbour_ids = {int(c.name.split(":", 1)[1]) for cs in stored.values() for c in cs
                         if c.kind == "neighbour" and re.fullmatch(r"track:\d+", c.name)}
        names = _track_names(cur, neighbour_ids)

    computed = _computed_feature_contributions(features) if features else {}
    explanations = []
    for axis in list(AXES) + sorted(set(scores) - set(AXES)):
        by_method = scores.get(axis, {})
        contributions = []
        for c in stored.get(axis, []):
            if c.kind == "neighbour" and re.fullmatch(r"track:\d+", c.name):
                tid = int(c.name.split(":", 1)[1])
                c = Contribution(c.method, c.kind, f"{names.get(tid, '?')} (track {tid})", c.contribution)
            contributions.append(c)
        for method in by_method:
            if (axis, method) not in with_rows and axis in computed.get(method, {}):
                contributions += [Contribution(method, "feature", name, value)
                                  for name, value in computed[method][axis].items()]
        contributions.sort(key=lambda c: (_method_rank(c.method), KIND_ORDER.index(c.kind)
                                          if c.kind in KIND_ORDER else 99, -abs(c.contribution)))
        if by_method:
            final = min(by_method, key=_method_rank)
            value, confidence, provenance = by_method[final]
        else:
            final = value = confidence = provenance = None
        explanations.append(AxisExplanation(axis, value, confidence, provenance, final,
                                            {m: v[0] for m, v in sorted(by_method.items(),
                                                                        key=lambda kv: _method_rank(kv[0]))},
                                            contributions))
    return TrackExplanation(track_id, artist, title, explanations)


def format_explanation(explanation: TrackExplanation, axis: str | None = None, top: int = 8) -> str:
    """Plain text: per axis the final score, then each method's biggest pulls (signed)."""
    lines = [f"{explanation.artist} - {explanation.title} (track {explanation.track_id})"]
    for ax in explanation.axes:
        if axis is not None and ax.axis != axis:
            continue
        if ax.value is None:
            lines.append(f"\n{ax.axis}: no score")
            continue
        lines.append(f"\n{ax.axis}: {ax.value:.3f}  confidence {ax.confidence:.2f}  "
                     f"provenance {ax.provenance}  ({ax.method})")
        others = ", ".join(f"{m} {v:.3f}" for m, v in ax.methods.items() if m != ax.method)
        if others:
            lines.append(f"  other methods: {others}")
        by_method: dict[str, list[Contribution]] = {}
        for c in ax.contributions:
            by_method.setdefault(c.method, []).append(c)
        for method, cs in by_method.items():
            lines.append(f"  {method}: (pulls from 0.5)")
            for c in cs[:top]:
                lines.append(f"    {c.contribution:+.3f}  {c.kind:<9} {c.name}")
            if len(cs) > top:
                rest = sum(c.contribution for c in cs[top:])
                lines.append(f"    {rest:+.3f}  ({len(cs) - top} more)")
    return "\n".join(lines)
