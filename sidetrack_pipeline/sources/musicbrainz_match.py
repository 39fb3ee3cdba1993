"""Choosing a MusicBrainz recording from a search by artist and title (plain functions).

The search (`recording:"…" AND artist:"…"`) is Lucene syntax, so user text is escaped. A hit is
accepted only when it is confidently the track:

* its `score` is at least `min_score` (90 by default; MusicBrainz scores 0–100);
* when both lengths are known, it lasts within max(10 s, 5 %) of the track;
* it is not *ambiguous*: when several different songs (different normalised title or artist
  credit) share the best remaining score, nothing is chosen. Several recordings of one song at
  the top score are not ambiguous; the one closest in length (then the first) is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidetrack_pipeline.sources.listen import normalise

MIN_SCORE = 90
DURATION_TOLERANCE_MS = 10_000
DURATION_TOLERANCE_FRACTION = 0.05

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/,')


def lucene_escape(text: str) -> str:
    """Backslash-escape every character Lucene's query parser treats specially."""
    return "".join("\\" + ch if ch in _LUCENE_SPECIAL else ch for ch in text)


def recording_query(title: str, artist: str) -> str:
    """The search query for one recording by title and artist name (both as phrases)."""
    if not title.strip() or not artist.strip():
        raise ValueError("a recording search needs both a title and an artist name")
    return f'recording:"{lucene_escape(title.strip())}" AND artist:"{lucene_escape(artist.strip())}"'


def credit_name(artist_credit: list[dict]) -> str:
    """The credit as printed: names joined by their join phrases ("A feat. B")."""
    return "".join(c.get("name", "") + c.get("joinphrase", "") for c in artist_credit or [])


def duration_fits(hit_length_ms: int | None, duration_ms: int | None) -> bool:
    if not hit_length_ms or not duration_ms:
        return True  # unknown on either side: the length cannot rule a hit out
    tolerance = max(DURATION_TOLERANCE_MS, DURATION_TOLERANCE_FRACTION * duration_ms)
    return abs(hit_length_ms - duration_ms) <= tolerance


@dataclass(frozen=True)
class SearchMatch:
    status: str                 # 'matched' | 'not_found' | 'ambiguous'
    recording: dict | None = None
    reason: str = ""

    @property
    def mbid(self) -> str | None:
        return self.recording["id"] if self.recording else None


def _song(hit: dict) -> tuple[str, str]:
    return normalise(hit.get("title", "")), normalise(credit_name(hit.get("artist-credit", [])))


def choose_recording(hits: list[dict], duration_ms: int | None = None,
                     min_score: int = MIN_SCORE) -> SearchMatch:
    """Pick the recording a search means, or say why none is picked."""
    scored = [h for h in hits if int(h.get("score", 0)) >= min_score]
    if not scored:
        return SearchMatch("not_found", reason=f"no hit scored {min_score} or more")
    fitting = [h for h in scored if duration_fits(h.get("length"), duration_ms)]
    if not fitting:
        return SearchMatch("not_found", reason="no well-scored hit has a matching length")
    best = max(int(h["score"]) for h in fitting)
    top = [h for h in fitting if int(h["score"]) == best]
    if len({_song(h) for h in top}) > 1:
        songs = sorted({f"{credit_name(h.get('artist-credit', []))} – {h.get('title')}" for h in top})
        return SearchMatch("ambiguous", reason=f"{len(songs)} different songs score {best}: " + "; ".join(songs))
    if duration_ms:
        top.sort(key=lambda h: abs(h["length"] - duration_ms) if h.get("length") else float("inf"))
    return SearchMatch("matched", top[0], reason=f"score {best}")
