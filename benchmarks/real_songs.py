"""Real recordings with a known tempo: the Frets on Fire songs packaged by Debian.

`apt-get install fretsonfire-songs-sectoid fretsonfire-songs-muldjord` installs 8 songs (rock and
metal, 95-190 BPM) under /usr/share/games/fretsonfire/data/songs/<pack>/<song>/ with a backing
track `song.ogg`, the guitar stem `guitar.ogg` and the chart `notes.mid`, whose tempo map gives
the ground truth (each of these songs has a single tempo). The full mix is song + guitar, summed in
numpy and cached as a 16-bit WAV (so every tool reads the same PCM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SONG_ROOT = Path("/usr/share/games/fretsonfire/data/songs")


@dataclass(frozen=True)
class RealSong:
    name: str
    folder: Path
    tempo: float
    tempo_changes: int


def midi_tempi(path: Path) -> list[float]:
    """Distinct tempi (BPM) in a MIDI file's tempo map, in order of appearance."""
    import mido

    tempi: list[float] = []
    for track in mido.MidiFile(str(path)).tracks:
        for msg in track:
            if msg.type == "set_tempo":
                bpm = round(float(mido.tempo2bpm(msg.tempo)), 3)
                if bpm not in tempi:
                    tempi.append(bpm)
    return tempi


def find_songs(root: Path = SONG_ROOT) -> list[RealSong]:
    songs = []
    for chart in sorted(root.glob("*/*/notes.mid")):
        folder = chart.parent
        if not (folder / "song.ogg").is_file():
            continue
        tempi = midi_tempi(chart)
        if tempi:
            songs.append(RealSong(folder.name, folder, tempi[0], len(tempi)))
    return songs


def full_mix_path(song: RealSong, cache: Path) -> Path:
    """song.ogg + guitar.ogg (when present) as a 16-bit WAV in `cache`, written once."""
    out = cache / f"{song.name.replace(' ', '_')}.wav"
    if out.is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    x, sr = sf.read(str(song.folder / "song.ogg"), dtype="float64", always_2d=True)
    guitar = song.folder / "guitar.ogg"
    if guitar.is_file():
        g, gsr = sf.read(str(guitar), dtype="float64", always_2d=True)
        if gsr == sr:
            n = max(x.shape[0], g.shape[0])
            x = np.pad(x, ((0, n - x.shape[0]), (0, 0))) + np.pad(g, ((0, n - g.shape[0]), (0, 0)))
    peak = np.abs(x).max()
    if peak > 0.999:
        x *= 0.999 / peak
    tmp = out.with_suffix(".part.wav")
    sf.write(str(tmp), x.astype(np.float32), sr, subtype="PCM_16")
    tmp.replace(out)
    return out
