"""Do a file's artist and title name the recording a listened track names? Fuzzy, but strict
about versions and durations.

Both sides are reduced to (artist, base title, version qualifiers):

* featured artists ("feat. X", "ft. X", "featuring X", in the artist or in the title) are dropped,
  so "Röyksopp feat. Robyn – Do It Again" is "Röyksopp – Do It Again (feat. Robyn)";
* neutral suffixes are dropped: "(Original Mix)" (how electronic music stores name the one
  version), "(Original Version)", "(Album Version)", "(Remastered 2011)", "- 2011 Remaster",
  "(Explicit)";
* version qualifiers are set apart: a bracketed or " - " suffix with a word such as mix, edit,
  remix, version, live, acoustic, dub ("(Radio Edit)", "(Extended Mix)", "- Live at Wembley");
  other brackets ("(Part 2)", "(Hey Hey)") stay in the title;
* then `normalise` (case, accents, punctuation), '&' read as 'and', a leading 'The' dropped from
  the artist ("The Chemical Brothers" = "Chemical Brothers").

A file is a candidate for a track when

* artist and base title each score at least FUZZY_THRESHOLD (rapidfuzz token_sort_ratio; the title
  also with spaces ignored, so "Teardrop" = "Tear Drop"); the score is the lower of the two;
* both durations, where known, agree within max(5 s, 5 %): a 3:30 radio edit is not the 7:00
  extended mix of the same name, whatever the tags say;
* the version qualifiers are equal, or only one side has any and both durations are known and
  agree ("Strobe" listened at 3:33 is the file "Strobe (Radio Edit)" of 3:34; with a duration
  missing, "Strobe" could be any edit). "Radio Edit" is never "Extended Mix".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.fuzz import ratio, token_sort_ratio

from sidetrack_pipeline.sources.listen import normalise

FUZZY_THRESHOLD = 90.0
DURATION_TOLERANCE_S = 5.0
DURATION_TOLERANCE_SHARE = 0.05

_BRACKETED = re.compile(r"[(\[]([^()\[\]]*)[)\]]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+(?P<suffix>[^-–—]+?)\s*$")
_INLINE_FEATURING = re.compile(r"\s(feat\.?|ft\.|featuring)\s.*$", re.IGNORECASE)
_FEATURING = re.compile(r"(feat|ft|featuring)\b.*")
_NEUTRAL = re.compile(r"original( mix| version)?|album version|explicit"
                      r"|(\d{4} )?(digital(ly)? )?remaster(ed)?( \d{4})?( version)?")
_VERSION_WORDS = frozenset(
    "mix remix edit version live acoustic instrumental dub demo vip rework bootleg reprise "
    "extended radio club unplugged acapella".split())


@dataclass(frozen=True)
class Names:
    artist: str
    title: str
    versions: frozenset[str]


@dataclass(frozen=True)
class Verdict:
    score: float | None             # None: not a candidate
    reason: str | None = None       # why not: 'names', 'duration' or 'version'
    versions_differ: bool = False   # accepted although only one side names a version


def _kind(segment: str) -> str:
    text = normalise(segment)
    if _FEATURING.fullmatch(text):
        return "featuring"
    if _NEUTRAL.fullmatch(text):
        return "neutral"
    if _VERSION_WORDS & set(text.split()):
        return "version"
    return "other"


def split_title(title: str) -> tuple[str, frozenset[str]]:
    """(normalised base title, normalised version qualifiers)."""
    versions: set[str] = set()

    def bracket(match: re.Match) -> str:
        kind = _kind(match.group(1))
        if kind == "version":
            versions.add(normalise(match.group(1)))
        return match.group(0) if kind == "other" else " "

    text = _BRACKETED.sub(bracket, title)
    while (match := _DASH_SUFFIX.search(text)) and (kind := _kind(match["suffix"])) != "other":
        if kind == "version":
            versions.add(normalise(match["suffix"]))
        text = text[:match.start()]
    return normalise(_INLINE_FEATURING.sub("", text)), frozenset(versions)


def artist_name(artist: str) -> str:
    """Normalised main credit: featured artists dropped, '&' as 'and', no leading 'the'."""
    text = _BRACKETED.sub(lambda m: " " if _kind(m.group(1)) == "featuring" else m.group(0), artist)
    words = normalise(_INLINE_FEATURING.sub("", text).replace("&", " and ")).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


def parse_names(artist: str, title: str) -> Names:
    base, versions = split_title(title)
    return Names(artist_name(artist), base, versions)


def durations_agree(a_s: float, b_s: float) -> bool:
    return abs(a_s - b_s) <= max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_SHARE * max(a_s, b_s))


def artist_score(a: str, b: str) -> float:
    return token_sort_ratio(a, b)


def title_score(a: str, b: str) -> float:
    return max(token_sort_ratio(a, b), ratio(a.replace(" ", ""), b.replace(" ", "")))


def compare(track: Names, file: Names, track_s: float | None, file_s: float | None) -> Verdict:
    """Whether `file` may be the recording `track` names (see the module docstring)."""
    score = round(min(artist_score(track.artist, file.artist), title_score(track.title, file.title)), 1)
    if score < FUZZY_THRESHOLD:
        return Verdict(None, "names")
    both_known = track_s is not None and file_s is not None
    if both_known and not durations_agree(track_s, file_s):
        return Verdict(None, "duration")
    differ = track.versions != file.versions
    if differ and ((track.versions and file.versions) or not both_known):
        return Verdict(None, "version")
    return Verdict(score, versions_differ=differ)
