"""Build a real, tagged music library for tests: short audio made with ffmpeg, tagged with
mutagen exactly as MusicBrainz Picard writes each format; listens written like every source does."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import mutagen
from mutagen.id3 import ID3, TALB, TIT2, TPE1, TSRC, TXXX, UFID
from mutagen.mp4 import MP4, MP4FreeForm

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.listen_writer import write_listens
from sidetrack_pipeline.sources.listen import Listen

_CODEC = {".flac": ["-c:a", "flac"], ".mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
          ".m4a": ["-c:a", "aac", "-b:a", "64k"], ".ogg": ["-c:a", "libvorbis"],
          ".opus": ["-c:a", "libopus"], ".wav": ["-c:a", "pcm_s16le"], ".aiff": ["-c:a", "pcm_s16be"]}
_seed = iter(range(1, 10_000))


def make_audio(path: Path, seconds: float = 4.0) -> Path:
    """A few seconds of noise and a tone, different for every file (so every sha256 differs),
    in the format the suffix names, with no tags at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = next(_seed)
    rate = 48000 if path.suffix == ".opus" else 22050
    if seconds > 60:  # long edits: a plain tone at a low rate keeps the file small
        source = ["-f", "lavfi", "-i", f"sine=frequency={200 + seed}:duration={seconds}:sample_rate=8000"]
    else:
        source = ["-f", "lavfi", "-i", f"anoisesrc=d={seconds}:a=0.2:seed={seed}:r={rate}",
                  "-f", "lavfi", "-i", f"sine=frequency={150 + 37 * seed}:duration={seconds}:sample_rate={rate}",
                  "-filter_complex", "amix=inputs=2"]
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *source, "-ac", "1", "-map_metadata", "-1",
                    *_CODEC[path.suffix], str(path)], check=True)
    audio = mutagen.File(path)
    if audio is not None and audio.tags is not None:  # ffmpeg's own encoder tag
        audio.delete()
    return path


def tag_like_picard(path: Path, *, artist=None, title=None, album=None, recording=None,
                    artist_ids=(), release=None, isrc=None, id3_version=4) -> Path:
    """Write tags the way Picard does: ID3 UFID/TXXX/TSRC, Vorbis MUSICBRAINZ_*/ISRC, MP4 freeform
    atoms. Several artist ids are separate values; in ID3v2.3 Picard joins them with '/'."""
    suffix = path.suffix
    if suffix in (".mp3", ".wav", ".aiff"):
        audio = mutagen.File(path)
        if audio.tags is None:
            audio.add_tags()
        tags: ID3 = audio.tags
        ids = ["/".join(artist_ids)] if id3_version == 3 and artist_ids else list(artist_ids)
        for frame, value in ((TPE1, artist), (TIT2, title), (TALB, album), (TSRC, isrc)):
            if value:
                tags.add(frame(encoding=3, text=[value]))
        if recording:
            tags.add(UFID(owner="http://musicbrainz.org", data=recording.encode("ascii")))
        if ids:
            tags.add(TXXX(encoding=3, desc="MusicBrainz Artist Id", text=ids))
        if release:
            tags.add(TXXX(encoding=3, desc="MusicBrainz Album Id", text=[release]))
        audio.save(v2_version=id3_version) if suffix == ".mp3" else audio.save()
    elif suffix == ".m4a":
        audio = MP4(path)
        if audio.tags is None:
            audio.add_tags()
        for atom, value in (("\xa9ART", artist), ("\xa9nam", title), ("\xa9alb", album)):
            if value:
                audio.tags[atom] = [value]
        for name, values in (("MusicBrainz Track Id", [recording]), ("MusicBrainz Artist Id", list(artist_ids)),
                             ("MusicBrainz Album Id", [release]), ("ISRC", [isrc])):
            if any(values):
                audio.tags[f"----:com.apple.iTunes:{name}"] = [MP4FreeForm(v.encode()) for v in values if v]
        audio.save()
    else:  # FLAC, Ogg Vorbis, Opus: Vorbis comments
        audio = mutagen.File(path)
        if audio.tags is None:
            audio.add_tags()
        for key, value in (("ARTIST", artist), ("TITLE", title), ("ALBUM", album), ("ISRC", isrc),
                           ("MUSICBRAINZ_TRACKID", recording), ("MUSICBRAINZ_ALBUMID", release)):
            if value:
                audio[key] = [value]
        if artist_ids:
            audio["MUSICBRAINZ_ARTISTID"] = list(artist_ids)
        audio.save()
    return path


def listen_history(cur, user: str, plays: list[dict], source: str = "listenbrainz") -> None:
    """Write plays through the one listen writer every source uses. Each play dict names
    artist, title and optionally recording_mbid, duration_ms, isrc and count (plays of it)."""
    user_id = ensure_user(cur, user)
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    listens, minute = [], 0
    for play in plays:
        for _ in range(play.get("count", 1)):
            minute += 7
            listens.append(Listen(played_at=start + timedelta(minutes=minute), artist_name=play["artist"],
                                  track_name=play["title"], recording_mbid=play.get("recording_mbid"),
                                  duration_ms=play.get("duration_ms"), isrc=play.get("isrc")))
    write_listens(cur, user_id, listens, source)
