"""Mixtape files: extended M3U (local paths) and JSPF for ListenBrainz (recording MBIDs only).

ListenBrainz (`POST /1/playlist/create`) needs `playlist.title`, the
`extension["https://musicbrainz.org/doc/jspf#playlist"].public` flag, and for every track an
`identifier` list whose first item is `https://musicbrainz.org/recording/<mbid>`. Tracks without
a recording MBID cannot be in a ListenBrainz playlist: `to_jspf` leaves them out and returns them.
"""

from __future__ import annotations

from pathlib import Path

from sidetrack_pipeline.analytics.mixtape import Mixtape, MixTrack

PLAYLIST_EXT = "https://musicbrainz.org/doc/jspf#playlist"
RECORDING_URI = "https://musicbrainz.org/recording/"


def title(mix: Mixtape) -> str:
    return f"SideTrack mixtape {mix.week} ({mix.user})"


def to_m3u(mix: Mixtape) -> str:
    lines = ["#EXTM3U", f"#PLAYLIST:{title(mix)}"]
    for t in mix.tracks:
        name = f"{t.artist} - {t.title}".replace("\n", " ")
        lines += [f"#EXTINF:{round(t.duration_s)},{name}", t.path]
    return "\n".join(lines) + "\n"


def write_m3u(mix: Mixtape, path: Path) -> Path:
    path.write_text(to_m3u(mix), encoding="utf-8")
    return path


def to_jspf(mix: Mixtape, public: bool = False) -> tuple[dict, list[MixTrack]]:
    """(JSPF document, tracks left out because they have no recording MBID)."""
    tracks, left_out = [], []
    for t in mix.tracks:
        if not t.recording_mbid:
            left_out.append(t)
            continue
        tracks.append({"title": t.title, "creator": t.artist,
                       "duration": int(round(t.duration_s * 1000)),
                       "identifier": [RECORDING_URI + t.recording_mbid]})
    minutes = round(mix.total_s / 60)
    doc = {"playlist": {
        "title": title(mix),
        "annotation": f"{len(mix.tracks)} tracks, {minutes} min, from the week's dominant sound cluster",
        "extension": {PLAYLIST_EXT: {"public": public}},
        "track": tracks}}
    return doc, left_out
