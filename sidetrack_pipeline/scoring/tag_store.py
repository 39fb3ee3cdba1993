"""The database side of `tags-v1`: the tag → axis dictionary (`tag_axis_map`) and the tag-based
mood scores (`mood_scores` method 'tags-v1', provenance 'tags', with `score_contribution` rows).

Both functions rebuild their rows from scratch inside the caller's transaction, so running them
again gives the same tables, and tracks that lost all their tags lose their scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from psycopg2.extras import execute_values

from sidetrack_pipeline.scoring import tag_axes, tag_scoring
from sidetrack_pipeline.scoring.tag_scoring import METHOD, TrackTags

Embed = Callable[[Sequence[str]], np.ndarray]


def _default_embed(texts: Sequence[str]) -> np.ndarray:
    from sidetrack_pipeline.models.minilm import embed_texts

    return embed_texts(texts)


@dataclass
class TagMapReport:
    by_seed: int = 0          # tags of the `tag` table mapped by the seed (source 'seed'): seed
                              # tags, their spellings, and qualified tags following their head
    by_head: int = 0          # of those, by the head rule ("berlin techno" → techno)
    by_similarity: int = 0    # mapped through their nearest seed tag
    unmapped: list[str] = field(default_factory=list)   # neutral, nonsense, or too far from the seed


def build_tag_axis_map(conn, embed: Embed | None = None,
                       threshold: float = tag_axes.THRESHOLD) -> TagMapReport:
    """Rewrite `tag_axis_map`: every seed tag (source 'seed'); every tag of `tag` that is a
    spelling of a seed tag or a qualified seed tag (source 'seed', via_tag = the seed tag or the
    head); every other tag whose nearest seed tag is close enough (source 'similarity', with its
    cosine and via_tag). See `tag_axes.map_unseen`."""
    report = TagMapReport()
    with conn.cursor() as cur:
        cur.execute("select name from tag order by name")
        names = [row[0] for row in cur.fetchall()]
        rows = [(seed, axis, w, "seed", None, None)
                for seed, weights in tag_axes.SEED.items() for axis, w in weights.items()]
        others = [n for n in names if n not in tag_axes.SEED]
        report.by_seed = len(names) - len(others)
        mappings = tag_axes.map_unseen(others, embed or _default_embed, threshold) if others else []
        for m in mappings:
            if m.source == "seed":
                report.by_seed += 1
                report.by_head += m.rule == "head"
                rows += [(m.tag, axis, w, "seed", None, m.via_tag) for axis, w in m.weights.items()]
            elif m.source == "similarity":
                report.by_similarity += 1
                rows += [(m.tag, axis, w, "similarity", m.similarity, m.via_tag)
                         for axis, w in m.weights.items()]
            else:
                report.unmapped.append(m.tag)
        cur.execute("delete from tag_axis_map")
        execute_values(cur, """insert into tag_axis_map (tag, axis, weight, source, similarity, via_tag)
                               values %s""", rows, page_size=2000)
    return report


@dataclass
class TagScoreReport:
    tracks_scored: int = 0
    scores: int = 0            # mood_scores rows written
    tracks_with_tags: int = 0  # tracks with any tag (the IDF catalogue)


def _catalogue(cur) -> dict[int, TrackTags]:
    catalogue: dict[int, TrackTags] = {}
    cur.execute("""select tt.track_id, 'track', g.name, tt.weight
                   from track_tag tt join tag g using (tag_id)
                   union all
                   select t.track_id, 'artist', g.name, at.weight from track t
                   join artist_tag at on at.artist_id = t.artist_id join tag g using (tag_id)""")
    for track_id, level, name, weight in cur.fetchall():
        catalogue.setdefault(track_id, TrackTags()).add(level, tag_axes.canonical(name), weight)
    return catalogue


def _axis_map(cur) -> dict[str, dict[str, float]]:
    cur.execute("select tag, axis, weight from tag_axis_map order by tag, axis")
    return tag_scoring.group_map(cur.fetchall(), tag_axes.canonical)


def score_tracks_from_tags(conn) -> TagScoreReport:
    """Replace every `tags-v1` score and contribution from the current tags and dictionary."""
    with conn.cursor() as cur:
        catalogue = _catalogue(cur)
        scored = tag_scoring.score_catalogue(catalogue, _axis_map(cur))
        cur.execute("delete from score_contribution where method = %s", (METHOD,))
        cur.execute("delete from mood_scores where method = %s", (METHOD,))
        score_rows = [(t, s.axis, METHOD, s.value, s.confidence, "tags")
                      for t, scores in scored.items() for s in scores]
        contribution_rows = [(t, s.axis, METHOD, "tag", tag, c)
                             for t, scores in scored.items() for s in scores
                             for tag, c in sorted(s.contributions.items())]
        execute_values(cur, """insert into mood_scores (track_id, axis, method, value, confidence,
                                                        provenance) values %s""",
                       score_rows, page_size=2000)
        execute_values(cur, """insert into score_contribution (track_id, axis, method, kind, name,
                                                               contribution) values %s""",
                       contribution_rows, page_size=2000)
    return TagScoreReport(tracks_scored=sum(1 for s in scored.values() if s),
                          scores=len(score_rows), tracks_with_tags=len(catalogue))
