"""The tools under comparison, each wrapped as `fn(path) -> (result dict, cpu seconds)`.

* SideTrack: `analyze_file` (soundfile decode + the full handcrafted pass).
* Essentia (reference algorithms): MonoLoader + RhythmExtractor2013(method="multifeature") for
  tempo, KeyExtractor() with its default profile ("bgate" in this Essentia build) and with
  profileType="edma" for key.
* Essentia MusicExtractor (default profile; what a user would run instead of SideTrack): one
  call per file on a path; its tempo (`rhythm.bpm`), EDMA key and loudness/danceability/onset
  rate are kept for the agreement table.
* librosa: `beat_track` tempo; key = best Krumhansl-Kessler template correlation of the mean
  CQT chroma. `librosa_feature_set` is the librosa counterpart of SideTrack's feature set, for
  the speed table (see `LIBROSA_FEATURES`).

Timing is CPU time of this (single-threaded) process, so other load on the machine does not
count; wall time is recorded as well.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

FLAT_TO_SHARP = {"Bb": "A#", "Eb": "D#", "Ab": "G#", "Db": "C#", "Gb": "F#"}
PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl & Kessler (1982) probe-tone profiles, index 0 = tonic
KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
LIBROSA_FEATURES = (
    "load (22.05 kHz mono, soxr)", "STFT 2048/512", "spectral centroid/rolloff/flatness",
    "zero-crossing rate", "RMS", "mel + 13 MFCC", "CQT chroma + KK key", "HPSS (median filter)",
    "onset strength + onset detection", "beat_track tempo",
)


def _timed(fn, *args):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def _sharp(key: str | None) -> str | None:
    return FLAT_TO_SHARP.get(key, key) if key else key


# --------------------------------------------------------------------------- SideTrack

def sidetrack(path: Path) -> tuple[dict, float, float]:
    from sidetrack_pipeline.audio.features import analyze_file

    r, cpu, wall = _timed(analyze_file, path)
    return r, cpu, wall


def sidetrack_key_without_opening(path: Path) -> tuple[str | None, str | None]:
    """SideTrack's key with the opening-chord tie-break switched off (the ablation)."""
    from sidetrack_pipeline.audio import spectral, tonal
    from sidetrack_pipeline.audio.decode import load_audio

    d = load_audio(path)
    mono = (d.samples[:, 0] + d.samples[:, 1]) * np.float32(0.5)
    m22 = spectral.resample(mono, d.sample_rate, spectral.SR)
    r = tonal.analyse(spectral.resample(m22, spectral.SR, tonal.SR), at_start=False)
    return r["key"], r["mode"]


# --------------------------------------------------------------------------- Essentia

def _essentia():
    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    import essentia.standard as es

    return essentia, es


def essentia_reference(path: Path) -> tuple[dict, float, float]:
    """RhythmExtractor2013 (multifeature) + KeyExtractor (default and edma)."""
    _e, es = _essentia()

    def run(p: Path) -> dict:
        audio = es.MonoLoader(filename=str(p), sampleRate=44100)()
        bpm = float(es.RhythmExtractor2013(method="multifeature")(audio)[0])
        out = {"bpm": bpm}
        for name, kwargs in (("default", {}), ("edma", {"profileType": "edma"})):
            key, scale, strength = es.KeyExtractor(**kwargs)(audio)
            out[f"key_{name}"] = (_sharp(key), scale)
        return out

    return _timed(run, path)


_MUSIC_EXTRACTOR = None


def music_extractor(path: Path) -> tuple[dict, float, float]:
    global _MUSIC_EXTRACTOR
    _e, es = _essentia()
    if _MUSIC_EXTRACTOR is None:
        _MUSIC_EXTRACTOR = es.MusicExtractor()

    def run(p: Path) -> dict:
        pool, _frames = _MUSIC_EXTRACTOR(str(p))
        get = lambda name: pool[name] if name in pool.descriptorNames() else None  # noqa: E731
        return {
            "bpm": float(get("rhythm.bpm")),
            "key_edma": (_sharp(get("tonal.key_edma.key")), get("tonal.key_edma.scale")),
            "loudness_lufs": float(get("lowlevel.loudness_ebu128.integrated")),
            "loudness_range_lu": float(get("lowlevel.loudness_ebu128.loudness_range")),
            "danceability": float(get("rhythm.danceability")),
            "onset_rate": float(get("rhythm.onset_rate")),
        }

    return _timed(run, path)


# --------------------------------------------------------------------------- librosa

def _librosa():
    import librosa

    return librosa


def librosa_key(chroma_mean: np.ndarray) -> tuple[str, str]:
    """Best of the 24 rotated Krumhansl-Kessler profiles (Pearson correlation)."""
    best, best_r = (0, "major"), -2.0
    x = chroma_mean - chroma_mean.mean()
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        p = np.asarray(profile)
        for tonic in range(12):
            q = np.roll(p, tonic) - p.mean()
            r = float(np.dot(x, q) / (np.linalg.norm(x) * np.linalg.norm(q) + 1e-12))
            if r > best_r:
                best, best_r = (tonic, mode), r
    return PITCHES[best[0]], best[1]


def librosa_reference(path: Path) -> tuple[dict, float, float]:
    """Tempo (beat_track) and key (CQT chroma + Krumhansl-Kessler) only."""
    librosa = _librosa()

    def run(p: Path) -> dict:
        y, sr = librosa.load(str(p), sr=22050, mono=True)
        tempo, _beats = librosa.beat.beat_track(y=y, sr=sr)
        chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
        key, mode = librosa_key(chroma.mean(axis=1))
        return {"bpm": float(np.atleast_1d(tempo)[0]), "key": (key, mode)}

    return _timed(run, path)


def librosa_feature_set(path: Path) -> tuple[dict, float, float]:
    """The librosa counterpart of SideTrack's feature set (LIBROSA_FEATURES), for timing."""
    librosa = _librosa()

    def run(p: Path) -> dict:
        y, sr = librosa.load(str(p), sr=22050, mono=True)
        stft = librosa.stft(y, n_fft=2048, hop_length=512)
        mag = np.abs(stft)
        power = mag ** 2
        out = {
            "centroid": float(librosa.feature.spectral_centroid(S=mag, sr=sr).mean()),
            "rolloff": float(librosa.feature.spectral_rolloff(S=mag, sr=sr).mean()),
            "flatness": float(librosa.feature.spectral_flatness(S=mag).mean()),
            "zcr": float(librosa.feature.zero_crossing_rate(y).mean()),
            "rms": float(librosa.feature.rms(S=mag).mean()),
        }
        mel = librosa.feature.melspectrogram(S=power, sr=sr)
        out["mfcc"] = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13).mean(axis=1)
        chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
        out["key"] = librosa_key(chroma.mean(axis=1))
        harm, perc = librosa.decompose.hpss(mag)
        out["percussive_fraction"] = float((perc ** 2).sum() / ((harm ** 2).sum() + (perc ** 2).sum()))
        env = librosa.onset.onset_strength(y=y, sr=sr)
        onsets = librosa.onset.onset_detect(onset_envelope=env, sr=sr)
        out["onset_rate"] = len(onsets) / (len(y) / sr)
        tempo, _beats = librosa.beat.beat_track(onset_envelope=env, sr=sr)
        out["bpm"] = float(np.atleast_1d(tempo)[0])
        return out

    return _timed(run, path)


def decode_only(path: Path) -> tuple[dict, float, float]:
    from sidetrack_pipeline.audio.decode import load_audio

    return _timed(lambda p: {"frames": load_audio(p).samples.shape[0]}, path)


# --------------------------------------------------------------------------- scoring helpers

def tempo_ok(estimate: float | None, truth: float, tolerance: float = 0.04) -> bool:
    return (estimate is not None and math.isfinite(estimate) and estimate > 0
            and abs(estimate / truth - 1.0) <= tolerance)


def octave_ok(estimate: float | None, truth: float) -> bool:
    return estimate is not None and any(tempo_ok(estimate * f, truth) for f in (0.5, 1.0, 2.0))


def auc(positives: list[float], negatives: list[float]) -> float:
    """P(a random positive scores above a random negative), ties count half."""
    if not positives or not negatives:
        return float("nan")
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))
