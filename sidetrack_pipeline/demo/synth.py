"""A small, deterministic electronic-music synthesizer in pure numpy/scipy.

`render(spec)` turns a `TrackSpec` into a stereo float32 signal with kick, snare/clap, hats,
bass, chord pads and a lead arpeggio. Every musical property the analysis pipeline measures is
an explicit knob, so rendered tracks double as ground truth:

* tempo and drum pattern: the style is chosen from the tempo so that the beat is unambiguous
  (backbeat below 100 BPM, four-on-the-floor up to ~158 BPM, breakbeat above);
* key and mode: bass and pads play diatonic progressions that start on the tonic, a quiet
  tonic+fifth drone sits under the pads, the kick's pitch tail is tuned to the tonic and the
  lead's downbeats land on chord roots;
* brightness: harmonic roll-off (a low-pass cutoff) of pads, lead and bass; hat level and tone;
* density: how many layers play and how busy they are, plus master drive (dense = loud);
* width: mid/side mix of detuned pad oscillators (side energy ~ width**2), panned hats and a
  ping-pong lead echo (0 = exactly mono);
* ducking: side-chain gain reduction of all tonal layers (bass, pads, drone, lead), triggered
  by each kick and recovering over about half a beat (0 = dry).

The same spec and seed always give the same samples (all randomness comes from one seeded
generator consumed in a fixed order).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")
STYLES = ("downtempo", "four", "dnb")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Diatonic progressions as scale-degree roots (0 = tonic), each opening on the tonic chord.
PROGRESSIONS = {
    "minor": ((0, 5, 2, 6), (0, 0, 5, 6), (0, 3, 0, 6), (0, 5, 3, 4)),  # i-VI-III-VII, ...
    "major": ((0, 4, 5, 3), (0, 3, 0, 4), (0, 5, 3, 4), (0, 0, 3, 4)),  # I-V-vi-IV, ...
}

_TABLE_SIZE = 2048
_STEPS_PER_BAR = 16  # sixteenth-note grid, 4/4


@dataclass(frozen=True)
class TrackSpec:
    """Everything that determines a rendered track (and its ground truth)."""

    tempo_bpm: float
    key: int  # pitch class of the tonic, 0 = C ... 11 = B
    mode: str  # 'major' | 'minor'
    brightness: float = 0.5  # 0 dark .. 1 bright
    density: float = 0.5  # 0 sparse .. 1 dense
    width: float = 0.5  # 0 mono .. 1 wide
    ducking: float = 0.0  # side-chain depth, 0 dry .. 1 full
    duration_s: float = 32.0
    seed: int = 0
    style: str = "auto"  # 'auto' (from tempo) or one of STYLES
    gain_db: float = 0.0  # peak level relative to -0.5 dBFS (<= 0)

    def __post_init__(self) -> None:
        if not 40.0 <= self.tempo_bpm <= 240.0:
            raise ValueError(f"tempo_bpm {self.tempo_bpm} outside 40..240")
        if self.key not in range(12):
            raise ValueError(f"key must be a pitch class 0..11, got {self.key!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("brightness", "density", "width", "ducking"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, got {value}")
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")
        if self.style != "auto" and self.style not in STYLES:
            raise ValueError(f"style must be 'auto' or one of {STYLES}, got {self.style!r}")
        if self.gain_db > 0:
            raise ValueError("gain_db must be <= 0 (peaks are normalised below full scale)")

    @property
    def key_name(self) -> str:
        return PITCH_NAMES[self.key]

    @property
    def resolved_style(self) -> str:
        if self.style != "auto":
            return self.style
        if self.tempo_bpm < 100:
            return "downtempo"
        return "four" if self.tempo_bpm < 158 else "dnb"

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- patterns

@dataclass(frozen=True)
class _Pattern:
    """One bar of drums and bass as sixteenth-note steps."""

    kick: tuple[int, ...]
    snare: tuple[int, ...]
    hats: tuple[int, ...]
    open_hats: tuple[int, ...]
    bass: tuple[tuple[int, int], ...]  # (step, length in steps)


def _pattern(style: str, density: float) -> _Pattern:
    dense = density > 0.6
    if style == "four":
        return _Pattern(
            kick=(0, 4, 8, 12),
            snare=(4, 12),
            hats=tuple(range(16)) if dense else (2, 6, 10, 14),
            open_hats=(2, 6, 10, 14) if density > 0.4 else (),
            bass=((2, 2), (6, 2), (10, 2), (14, 2)) + (((3, 1), (11, 1)) if dense else ()),
        )
    if style == "downtempo":  # kick 1 & 3 (+ the 'and' of 3), snare backbeat on 2 & 4
        return _Pattern(
            kick=(0, 8, 10) if density > 0.45 else (0, 8),
            snare=(4, 12),
            hats=tuple(range(16)) if dense else tuple(range(0, 16, 2)),
            open_hats=(14,) if density > 0.4 else (),
            bass=((0, 6), (8, 2), (10, 6)),
        )
    # dnb / breakbeat: kick on 1 and 3 with a syncopated push, snare on 2 and 4
    return _Pattern(
        kick=(0, 8, 10) if density > 0.35 else (0, 8),
        snare=(4, 12),
        hats=tuple(range(0, 16, 2)) if not dense else tuple(range(16)),
        open_hats=(6,) if density > 0.4 else (),
        bass=((0, 8), (8, 8)),
    )


# --------------------------------------------------------------------------- oscillators

def _midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _place(pc: int, low: int) -> int:
    """The MIDI note of pitch class `pc` in the octave starting at `low`."""
    return low + (pc - low) % 12


@lru_cache(maxsize=512)
def _wavetable(f0: float, cutoff_hz: float, sr: int) -> np.ndarray:
    """One period of a band-limited sawtooth, softly low-passed at `cutoff_hz`."""
    kmax = max(1, int(min(cutoff_hz * 3.0, sr * 0.45) / f0))
    k = np.arange(1, kmax + 1, dtype=np.float64)
    amp = (1.0 / k) / (1.0 + (k * f0 / cutoff_hz) ** 4)
    phase = np.arange(_TABLE_SIZE + 1, dtype=np.float64) / _TABLE_SIZE
    table = np.sin(2.0 * np.pi * np.outer(phase, k)) @ amp
    table.setflags(write=False)
    return table


def _osc(f0: float, n: int, sr: int, cutoff_hz: float, phase0: float = 0.0) -> np.ndarray:
    table = _wavetable(round(f0, 3), round(cutoff_hz, -1), sr)
    pos = ((phase0 + f0 / sr * np.arange(n)) % 1.0) * _TABLE_SIZE
    return np.interp(pos, np.arange(_TABLE_SIZE + 1), table)


def _envelope(n: int, sr: int, attack_s: float, release_s: float, hold_n: int) -> np.ndarray:
    """Linear attack, sustain for `hold_n` samples, exponential release after that."""
    t = np.arange(n)
    env = np.minimum(1.0, t / max(1.0, attack_s * sr))
    tail = t >= hold_n
    env[tail] *= np.exp(-(t[tail] - hold_n) / max(1.0, release_s * sr))
    return env


# --------------------------------------------------------------------------- drum one-shots

def _kick(sr: int, tail_hz: float) -> np.ndarray:
    t = np.arange(int(0.40 * sr)) / sr
    freq = tail_hz + 120.0 * np.exp(-t / 0.025)
    body = np.sin(2.0 * np.pi * np.cumsum(freq) / sr)
    env = np.exp(-t / 0.16) * np.minimum(1.0, t / 0.002)
    return body * env


def _noise_burst(rng: np.random.Generator, sr: int, length_s: float, decay_s: float,
                 band: tuple[float, float]) -> np.ndarray:
    n = int(length_s * sr)
    band = (min(band[0], 0.3 * sr), min(band[1], 0.45 * sr))  # stay below Nyquist at low rates
    sos = signal.butter(2, band, btype="bandpass", fs=sr, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(n))
    t = np.arange(n) / sr
    return noise / (np.abs(noise).max() + 1e-9) * np.exp(-t / decay_s)


def _snare(rng: np.random.Generator, sr: int, style: str) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    tone = 0.6 * np.sin(2.0 * np.pi * 185.0 * t) * np.exp(-t / 0.05)
    if style == "four":  # clap: a few quick bursts
        noise = np.zeros_like(t)
        for delay in (0.0, 0.011, 0.022):
            start = int(delay * sr)
            noise[start:] += _noise_burst(rng, sr, 0.25, 0.05, (900.0, 4000.0))[: t.size - start]
        return 0.3 * tone + noise / 2.0
    return tone + _noise_burst(rng, sr, 0.25, 0.07, (1200.0, 9000.0))


# --------------------------------------------------------------------------- mixing helpers

class _Bus:
    """A stereo accumulation buffer."""

    def __init__(self, n: int) -> None:
        self.data = np.zeros((n, 2))

    def add(self, x: np.ndarray, start: int, gain: float = 1.0, pan: float = 0.0) -> None:
        """Add mono `x` at sample `start`, constant-power panned (-1 left .. 1 right)."""
        self.add_stereo(x, x, start, gain, pan)

    def add_stereo(self, left: np.ndarray, right: np.ndarray, start: int, gain: float = 1.0,
                   pan: float = 0.0) -> None:
        n = self.data.shape[0]
        if start >= n:
            return
        m = min(len(left), n - start)
        angle = (pan + 1.0) * math.pi / 4.0
        gl, gr = gain * math.cos(angle) * math.sqrt(2.0), gain * math.sin(angle) * math.sqrt(2.0)
        self.data[start:start + m, 0] += gl * left[:m]
        self.data[start:start + m, 1] += gr * right[:m]


def _duck_gain(n: int, sr: int, kick_starts: list[int], depth: float, beat_s: float) -> np.ndarray:
    """Side-chain gain curve: drops by `depth` at each kick and recovers over ~half a beat."""
    gain = np.ones(n)
    if depth <= 0.0:
        return gain
    release = int(min(0.55 * beat_s, 0.40) * sr)
    attack = int(0.004 * sr)
    tau = np.arange(release) / release
    curve = 1.0 - depth * (1.0 - tau) ** 2
    curve[:attack] = 1.0 - depth * np.arange(attack) / attack
    for start in kick_starts:
        m = min(release, n - start)
        if m > 0:
            gain[start:start + m] = np.minimum(gain[start:start + m], curve[:m])
    return gain


# --------------------------------------------------------------------------- the renderer

def render(spec: TrackSpec, sr: int = 44100) -> np.ndarray:
    """Synthesize `spec` as float32 stereo of shape (n, 2), peak-normalised without clipping."""
    rng = np.random.default_rng(spec.seed)
    style = spec.resolved_style
    n = int(round(spec.duration_s * sr))
    beat_s = 60.0 / spec.tempo_bpm
    step_s = beat_s / 4.0
    n_bars = int(math.ceil(spec.duration_s / (4.0 * beat_s)))
    pattern = _pattern(style, spec.density)
    scale = SCALES[spec.mode]
    progression = PROGRESSIONS[spec.mode][int(rng.integers(len(PROGRESSIONS[spec.mode])))]
    bars_per_chord = 2 if spec.tempo_bpm > 140 else 1

    def chord_root_pc(bar: int) -> int:
        return (spec.key + scale[progression[(bar // bars_per_chord) % 4]]) % 12

    def triad(bar: int) -> list[int]:
        degree = progression[(bar // bars_per_chord) % 4]
        return [(spec.key + scale[(degree + i) % 7]) % 12 for i in (0, 2, 4)]

    def at(bar: int, step: float) -> int:
        return int(round(((bar * _STEPS_PER_BAR) + step) * step_s * sr))

    drums, tonal = _Bus(n), _Bus(n)
    kick_starts = _render_drums(drums, rng, spec, style, pattern, n_bars, at, sr)
    _render_bass(tonal, spec, pattern, n_bars, chord_root_pc, at, step_s, sr)
    _render_pads(tonal, rng, spec, n_bars, triad, bars_per_chord, at, sr)
    if spec.density >= 0.25:
        _render_lead(tonal, rng, spec, n_bars, triad, at, step_s, sr)

    duck = _duck_gain(n, sr, kick_starts, spec.ducking, beat_s)
    mix = drums.data + tonal.data * duck[:, None]
    return _master(mix, spec)


def _render_drums(bus: _Bus, rng: np.random.Generator, spec: TrackSpec, style: str,
                  pattern: _Pattern, n_bars: int, at, sr: int) -> list[int]:
    kick = _kick(sr, _midi_hz(_place(spec.key, 28)))
    snare = _snare(rng, sr, style)
    # darker tracks get duller, quieter hats
    hat_band = (5000.0 + 2500.0 * spec.brightness, 9000.0 + 7000.0 * spec.brightness)
    hat = _noise_burst(rng, sr, 0.08, 0.018, hat_band)
    open_hat = _noise_burst(rng, sr, 0.35, 0.09, (hat_band[0] - 1000.0, hat_band[1] - 1000.0))
    hat_level = 0.05 + 0.18 * spec.brightness
    pan = 0.7 * spec.width
    kick_starts = []
    for bar in range(n_bars):
        for step in pattern.kick:
            velocity = 1.0 if step % 4 == 0 else 0.8
            start = at(bar, step)
            bus.add(kick, start, 0.95 * velocity)
            kick_starts.append(start)
        if spec.density >= 0.15 or bar % 2 == 1:
            for step in pattern.snare:
                bus.add(snare, at(bar, step), 0.45)
        if bar % 4 == 3 and spec.density > 0.5:  # small fill into the next phrase
            for step in (14, 15):
                bus.add(snare, at(bar, step), 0.25)
        for step in pattern.hats:
            accent = 1.0 if step % 2 == 0 else 0.55
            jitter = 0.9 + 0.2 * rng.random()
            bus.add(hat, at(bar, step), hat_level * accent * jitter, pan if step % 4 else -pan)
        for step in pattern.open_hats:
            bus.add(open_hat, at(bar, step), 0.8 * hat_level, -0.5 * pan)
    return [s for s in kick_starts if s < bus.data.shape[0]]


def _render_bass(bus: _Bus, spec: TrackSpec, pattern: _Pattern, n_bars: int, chord_root_pc,
                 at, step_s: float, sr: int) -> None:
    cutoff = 180.0 + 700.0 * spec.brightness
    intro_bars = 1 if n_bars > 4 else 0
    for bar in range(intro_bars, n_bars):
        f0 = _midi_hz(_place(chord_root_pc(bar), 33))
        for step, length in pattern.bass:
            hold = int(length * step_s * sr * 0.85)
            m = hold + int(0.06 * sr)
            tone = _osc(f0, m, sr, cutoff) * 0.5 + np.sin(2 * np.pi * f0 * np.arange(m) / sr)
            bus.add(tone * _envelope(m, sr, 0.012, 0.03, hold), at(bar, step), 0.30)


def _render_pads(bus: _Bus, rng: np.random.Generator, spec: TrackSpec, n_bars: int, triad,
                 bars_per_chord: int, at, sr: int) -> None:
    """Chord pads: two slightly detuned oscillators per note, mixed mid/side so that the side
    (L-R) energy grows with width**2 and width 0 is exactly mono. A quiet tonic+fifth drone
    underneath keeps the key centre audible through every chord of the progression."""
    cutoff = 350.0 * 2.0 ** (4.4 * spec.brightness)
    detune = 0.004
    voices_per_chord = 3 if spec.density < 0.5 else 4
    drone = [_place(spec.key, 48), _place(spec.key, 48) + 7]
    for bar in range(0, n_bars, bars_per_chord):
        start, end = at(bar, 0), at(bar + bars_per_chord, 0)
        m = end - start + int(0.25 * sr)
        env = _envelope(m, sr, 0.08, 0.12, end - start)
        notes = [_place(pc, 53) for pc in triad(bar)]
        if voices_per_chord == 4:
            notes.append(notes[0] + 12)
        for midi, gain in [(n, 0.16) for n in notes] + [(n, 0.07) for n in drone]:
            f0 = _midi_hz(midi)
            a = _osc(f0 * (1.0 - detune), m, sr, cutoff, rng.random())
            b = _osc(f0 * (1.0 + detune), m, sr, cutoff, rng.random())
            mid, side = (a + b) * 0.5 * env, (a - b) * 0.5 * spec.width * env
            bus.add_stereo(mid + side, mid - side, start, gain)


def _render_lead(bus: _Bus, rng: np.random.Generator, spec: TrackSpec, n_bars: int, triad,
                 at, step_s: float, sr: int) -> None:
    cutoff = 700.0 * 2.0 ** (3.6 * spec.brightness)
    every = 1 if spec.density > 0.65 else 2  # sixteenths when dense, else eighths
    echo = int(3 * step_s * sr)
    first_bar = max(1, n_bars // 4)
    for bar in range(first_bar, n_bars):
        chord = triad(bar)
        tones = [_place(pc, 67) for pc in chord] + [_place(spec.key, 67) + 12]
        for step in range(0, _STEPS_PER_BAR, every):
            if step != 0 and rng.random() > 0.35 + 0.5 * spec.density:
                continue
            # downbeats land on the chord root (tonic on tonic chords); others walk the chord
            midi = tones[0] if step == 0 else tones[int(rng.integers(len(tones)))]
            hold = int(every * step_s * sr * 0.7)
            m = hold + int(0.08 * sr)
            tone = _osc(_midi_hz(midi), m, sr, cutoff) * _envelope(m, sr, 0.005, 0.04, hold)
            start = at(bar, step)
            bus.add(tone, start, 0.13)
            if spec.width > 0:  # ping-pong echo widens the lead
                bus.add(tone, start + echo, 0.06 * spec.width, -0.9)
                bus.add(tone, start + 2 * echo, 0.04 * spec.width, 0.9)


def _master(mix: np.ndarray, spec: TrackSpec) -> np.ndarray:
    """Soft-saturate (dense tracks are driven harder, hence louder) and peak-normalise."""
    peak = np.abs(mix).max()
    if peak <= 0:
        return mix.astype(np.float32)
    drive = 1.0 + 1.0 * spec.density  # gentle: heavy drive would pump the mix by itself
    shaped = np.tanh(drive * mix / peak) / math.tanh(drive)
    target = 0.944 * 10.0 ** (spec.gain_db / 20.0)  # -0.5 dBFS at gain_db = 0
    out = shaped * (target / np.abs(shaped).max())
    return out.astype(np.float32)
