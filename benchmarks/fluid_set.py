"""A ground-truth set of General MIDI songs rendered with FluidSynth (tempo, key, mode, ducking).

Each track is generated as four MIDI stems - drums (channel 10: kick, snare/clap, hats, rides,
crashes), bass, chords/pads and lead - rendered separately by the `fluidsynth` binary with the
FluidR3 GM soundfont, then mixed in numpy so that a side-chain-style ducking of the bass and
chord stems (triggered by the kick notes of the MIDI) can be applied at any depth.

The generator knows nothing about the analysis code: tempo 70-180 BPM (stratified), key and mode
cover all 24 combinations, styles follow common genre conventions for the tempo (hip-hop and
trip-hop, pop/funk and nu-disco, house and techno, trance, breakbeat and hard techno, drum & bass
and jungle), each with its own drum pattern, bass line, chord rhythm and instruments. Chord
progressions are diatonic loops that open on the tonic; melodies walk the scale and land on chord
tones on strong beats.

Rendering needs `apt-get install fluidsynth fluid-soundfont-gm` and `pip install mido`. Rendered
audio is cached (keyed by a hash of the spec) under the cache directory, never in the repo.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR = 44100
TPB = 480  # MIDI ticks per beat
GENERATOR_VERSION = "fluid-1"
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = {  # scale degrees (0 = tonic), each loop opening on the tonic
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (0, 3, 0, 4), (0, 2, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 5, 4), (0, 5, 3, 4)),
}
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
STEMS = ("drums", "bass", "chords", "lead")

# GM drum notes
KICK, SNARE, RIM, CLAP, E_SNARE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = (
    36, 38, 37, 39, 40, 42, 44, 46, 49, 51)


@dataclass(frozen=True)
class Style:
    name: str
    kick: tuple[int, ...]  # sixteenth steps of one 4/4 bar
    snare: tuple[int, ...]
    hats: tuple[int, ...]
    open_hats: tuple[int, ...] = ()
    snare_note: int = SNARE
    ghosts: tuple[int, ...] = ()  # quiet snare notes
    ride: tuple[int, ...] = ()
    bass: tuple[tuple[int, int], ...] = ((0, 4),)  # (step, length in steps)
    chords: tuple[tuple[int, int], ...] = ((0, 16),)  # chord hits (step, length)
    lead_every: int = 2  # lead rhythm grid in steps
    bass_programs: tuple[int, ...] = (38,)
    chord_programs: tuple[int, ...] = (89,)
    lead_programs: tuple[int, ...] = (81,)


STYLES: dict[str, Style] = {s.name: s for s in (
    Style("hiphop", kick=(0, 7, 10), snare=(4, 12), hats=tuple(range(0, 16, 2)),
          bass=((0, 6), (7, 3), (10, 6)), chords=((0, 16),), lead_every=4,
          bass_programs=(33, 38), chord_programs=(4, 0, 48), lead_programs=(11, 73, 80)),
    Style("triphop", kick=(0, 6, 8), snare=(4, 12), hats=tuple(range(0, 16, 2)),
          ride=(2, 6, 10, 14), bass=((0, 8), (8, 8)), chords=((0, 16),), lead_every=4,
          bass_programs=(33, 38), chord_programs=(48, 89, 4), lead_programs=(73, 11)),
    Style("funk", kick=(0, 3, 8, 10), snare=(4, 12), hats=tuple(range(0, 16, 2)),
          ghosts=(7, 15), bass=tuple((s, 2) for s in range(0, 16, 2)),
          chords=((0, 3), (4, 3), (8, 3), (12, 3)), lead_every=2,
          bass_programs=(34, 33), chord_programs=(0, 16, 27), lead_programs=(65, 56, 81)),
    Style("nudisco", kick=(0, 4, 8, 12), snare=(4, 12), snare_note=CLAP,
          hats=tuple(range(0, 16, 2)), open_hats=(2, 6, 10, 14),
          bass=tuple((s, 1) for s in range(0, 16, 2)), chords=((2, 2), (6, 2), (10, 2), (14, 2)),
          lead_every=2, bass_programs=(38, 34), chord_programs=(16, 0, 4),
          lead_programs=(81, 62)),
    Style("house", kick=(0, 4, 8, 12), snare=(4, 12), snare_note=CLAP,
          hats=tuple(range(16)), open_hats=(2, 6, 10, 14), bass=((2, 2), (6, 2), (10, 2), (14, 2)),
          chords=((0, 3), (6, 3), (10, 3)), lead_every=2,
          bass_programs=(38, 39), chord_programs=(0, 16, 89), lead_programs=(80, 81)),
    Style("techno", kick=(0, 4, 8, 12), snare=(4, 12), snare_note=RIM,
          hats=tuple(range(16)), open_hats=(2, 6, 10, 14),
          bass=tuple((s, 1) for s in range(16) if s % 4), chords=((0, 16),), lead_every=1,
          bass_programs=(38, 39), chord_programs=(90, 95, 88), lead_programs=(81, 80)),
    Style("trance", kick=(0, 4, 8, 12), snare=(4, 12), snare_note=CLAP,
          hats=tuple(range(0, 16, 2)), open_hats=(2, 6, 10, 14),
          bass=tuple((s, 1) for s in range(16) if s % 4), chords=((0, 16),), lead_every=1,
          bass_programs=(38, 39), chord_programs=(90, 89, 48), lead_programs=(81, 80)),
    Style("hardtechno", kick=(0, 4, 8, 12), snare=(4, 12), snare_note=CLAP,
          hats=tuple(range(0, 16, 2)), open_hats=(2, 6, 10, 14),
          bass=tuple((s, 1) for s in (2, 6, 10, 14)), chords=((0, 16),), lead_every=2,
          bass_programs=(39, 38), chord_programs=(90, 95), lead_programs=(80, 81)),
    Style("breakbeat", kick=(0, 6, 10), snare=(4, 12), hats=tuple(range(0, 16, 2)),
          ghosts=(9, 15), bass=((0, 6), (6, 4), (10, 6)), chords=((0, 16),), lead_every=2,
          bass_programs=(38, 39), chord_programs=(90, 89), lead_programs=(81, 80)),
    Style("dnb", kick=(0, 10), snare=(4, 12), snare_note=E_SNARE, hats=tuple(range(0, 16, 2)),
          ghosts=(7, 14), bass=((0, 10), (10, 6)), chords=((0, 16),), lead_every=4,
          bass_programs=(38, 39, 87), chord_programs=(89, 91, 4), lead_programs=(81, 73)),
    Style("jungle", kick=(0, 10), snare=(4, 12), hats=tuple(range(0, 16, 2)), ride=(2, 6, 10, 14),
          ghosts=(7, 9, 15), bass=((0, 16),), chords=((0, 16),), lead_every=4,
          bass_programs=(38, 33), chord_programs=(89, 48), lead_programs=(73, 11)),
)}
TEMPO_STYLES = (  # (upper tempo bound, candidate styles)
    (95.0, ("hiphop", "triphop")),
    (116.0, ("funk", "nudisco")),
    (132.0, ("house", "techno")),
    (148.0, ("trance", "techno")),
    (165.0, ("breakbeat", "hardtechno")),
    (999.0, ("dnb", "jungle")),
)


@dataclass(frozen=True)
class FluidSpec:
    name: str
    tempo: float
    key: int
    mode: str
    style: str
    ducking: float  # depth of the "default" mix used for tempo/key accuracy
    seed: int
    programs: tuple[int, int, int]  # bass, chords, lead
    progression: tuple[int, ...]
    gains_db: tuple[float, float, float, float]  # drums, bass, chords, lead
    duration_s: float = 30.0
    version: str = field(default=GENERATOR_VERSION)

    @property
    def key_name(self) -> str:
        return PITCH_NAMES[self.key]

    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


def plan(n_tracks: int = 36, seed: int = 2024, duration_s: float = 30.0) -> list[FluidSpec]:
    """n_tracks specs: stratified tempos, every (key, mode) at least once when n >= 24."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(70.0, 180.0, n_tracks + 1)
    tempos = np.round(edges[:-1] + rng.random(n_tracks) * np.diff(edges), 1)
    combos = [(k, m) for m in ("minor", "major") for k in range(12)]
    order = list(rng.permutation(len(combos)))
    while len(order) < n_tracks:
        order += list(rng.permutation(len(combos)))
    keymodes = [combos[i] for i in order[:n_tracks]]
    keymodes = [keymodes[i] for i in rng.permutation(n_tracks)]
    ducked = set(rng.permutation(n_tracks)[: n_tracks // 2].tolist())
    specs = []
    for i, tempo in enumerate(tempos):
        choices = next(styles for bound, styles in TEMPO_STYLES if tempo < bound)
        style = STYLES[choices[int(rng.integers(len(choices)))]]
        key, mode = keymodes[i]
        programs = (int(rng.choice(style.bass_programs)), int(rng.choice(style.chord_programs)),
                    int(rng.choice(style.lead_programs)))
        progression = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
        gains = (0.0, -2.0 + rng.uniform(-1.5, 1.5), -5.0 + rng.uniform(-1.5, 1.5),
                 -7.0 + rng.uniform(-1.5, 1.5))
        depth = round(float(rng.uniform(0.4, 0.9)), 2) if i in ducked else 0.0
        specs.append(FluidSpec(
            name=f"{i:02d}_{style.name}_{int(round(tempo))}_{PITCH_NAMES[key]}{mode[:3]}",
            tempo=float(tempo), key=int(key), mode=mode, style=style.name, ducking=depth,
            seed=seed * 100 + i, programs=programs, progression=tuple(progression),
            gains_db=tuple(round(float(g), 2) for g in gains), duration_s=duration_s))
    return specs


# --------------------------------------------------------------------------- composition

def _place(pc: int, low: int) -> int:
    return low + (pc - low) % 12


def compose(spec: FluidSpec) -> dict[str, list[tuple[float, int, int, float]]]:
    """Notes per stem: (start in beats, MIDI note, velocity, length in beats)."""
    rng = np.random.default_rng(spec.seed)
    style = STYLES[spec.style]
    scale = SCALES[spec.mode]
    n_bars = int(math.ceil(spec.duration_s * spec.tempo / 240.0)) + 1
    bars_per_chord = 1 if spec.tempo < 120 else 2

    def degree_pc(degree: int) -> int:
        return (spec.key + scale[degree % 7]) % 12

    def triad(bar: int) -> list[int]:
        d = spec.progression[(bar // bars_per_chord) % len(spec.progression)]
        return [degree_pc(d + i) for i in (0, 2, 4)]

    notes: dict[str, list] = {s: [] for s in STEMS}
    step = 0.25  # one sixteenth in beats
    # drums
    for bar in range(n_bars):
        b0 = bar * 4.0
        fill = bar % 8 == 7
        if bar % 8 == 0:
            notes["drums"].append((b0, CRASH, 100, 1.0))
        for s in style.kick:
            notes["drums"].append((b0 + s * step, KICK, 118 if s % 4 == 0 else 105, 0.25))
        for s in style.snare:
            notes["drums"].append((b0 + s * step, style.snare_note, 110, 0.25))
        for s in style.ghosts:
            notes["drums"].append((b0 + s * step, SNARE, 45, 0.25))
        for s in style.hats:
            vel = 90 if s % 4 == 0 else (75 if s % 2 == 0 else 55)
            notes["drums"].append((b0 + s * step, CLOSED_HAT, int(vel + rng.integers(-8, 8)), 0.25))
        for s in style.open_hats:
            notes["drums"].append((b0 + s * step, OPEN_HAT, 80, 0.5))
        for s in style.ride:
            notes["drums"].append((b0 + s * step, RIDE, 70, 0.5))
        if fill:
            for s in (13, 14, 15):
                notes["drums"].append((b0 + s * step, SNARE, 70 + 10 * (s - 13), 0.25))
    # bass: chord roots (an octave or fifth now and then)
    for bar in range(n_bars):
        root = _place(triad(bar)[0], 36)
        for j, (s, length) in enumerate(style.bass):
            note = root
            if j and rng.random() < 0.2:
                note = root + (12 if rng.random() < 0.5 else 7)
            notes["bass"].append((bar * 4.0 + s * step, note, int(100 + rng.integers(-10, 10)),
                                  length * step * 0.9))
    # chords: voice-led triads around middle C, + the root an octave up on sustained chords
    voicing: list[int] = []
    for bar in range(n_bars):
        pcs = triad(bar)
        if not voicing:
            voicing = sorted(_place(pc, 55) for pc in pcs)
        else:
            voicing = sorted(min((_place(pc, 48) + 12 * o for o in range(3)),
                                 key=lambda n: min(abs(n - v) for v in voicing)) for pc in pcs)
            voicing = [n if 50 <= n <= 76 else _place(n % 12, 55) for n in voicing]
        for s, length in style.chords:
            for n in voicing:
                notes["chords"].append((bar * 4.0 + s * step, n, 80, length * step * 0.95))
    # lead: from bar 2; chord tones on strong steps, scale walk in between
    scale_notes = [n for n in range(60, 88) if (n - spec.key) % 12 in scale]
    current = _place(spec.key, 67)
    for bar in range(2, n_bars):
        chord = triad(bar)
        for s in range(0, 16, style.lead_every):
            strong = s % 8 == 0
            if not strong and rng.random() < 0.3:
                continue  # a rest
            if strong:
                options = [n for n in scale_notes if n % 12 in chord and 64 <= n <= 84]
            else:
                i = scale_notes.index(min(scale_notes, key=lambda n: abs(n - current)))
                options = scale_notes[max(0, i - 2):i + 3]
            current = min(options, key=lambda n: abs(n - current) + 3 * rng.random())
            length = style.lead_every * step * (0.9 if rng.random() < 0.7 else 1.8)
            notes["lead"].append((bar * 4.0 + s * step, current, int(95 + rng.integers(-10, 10)),
                                  length))
    return notes


def kick_times(spec: FluidSpec) -> np.ndarray:
    beats = [t for t, note, _v, _l in compose(spec)["drums"] if note == KICK]
    return np.array(sorted(beats)) * 60.0 / spec.tempo


def _midi_bytes(spec: FluidSpec, stem: str, notes: list) -> bytes:
    import io

    import mido

    mid = mido.MidiFile(ticks_per_beat=TPB)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.tempo), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    channel = 9 if stem == "drums" else {"bass": 0, "chords": 1, "lead": 2}[stem]
    if stem != "drums":
        program = spec.programs[{"bass": 0, "chords": 1, "lead": 2}[stem]]
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    events = []
    for start, note, vel, length in notes:
        on = int(round(start * TPB))
        off = on + max(1, int(round(length * TPB)))
        events.append((on, 1, note, max(1, min(127, vel))))
        events.append((off, 0, note, 0))
    events.sort()
    now = 0
    for tick, kind, note, vel in events:
        msg = "note_on" if kind else "note_off"
        track.append(mido.Message(msg, channel=channel, note=note, velocity=vel, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=TPB))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- rendering

def _render_stem(midi_path: Path, wav_path: Path) -> None:
    cmd = ["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SR), "-O", "s16", "-T", "wav",
           "-F", str(wav_path), str(SOUNDFONT), str(midi_path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)


def _track_dir(cache: Path, spec: FluidSpec) -> Path:
    return cache / f"{spec.name}-{spec.digest()}"


def render_track(spec: FluidSpec, cache: Path) -> Path:
    """Render the four stems (cached) and return the track directory."""
    out = _track_dir(cache, spec)
    done = out / "stems.json"
    if done.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    notes = compose(spec)
    for stem in STEMS:
        mid = out / f"{stem}.mid"
        mid.write_bytes(_midi_bytes(spec, stem, notes[stem]))
        _render_stem(mid, out / f"{stem}.wav")
    done.write_text(json.dumps(asdict(spec), indent=1))
    return out


def duck_gain(n: int, kicks_s: np.ndarray, depth: float, tempo: float) -> np.ndarray:
    """Side-chain gain: drops by `depth` at each kick, recovers over ~half a beat (quadratic)."""
    gain = np.ones(n)
    if depth <= 0:
        return gain
    release = int(min(0.55 * 60.0 / tempo, 0.40) * SR)
    attack = int(0.004 * SR)
    tau = np.arange(release) / release
    curve = 1.0 - depth * (1.0 - tau) ** 2
    curve[:attack] = 1.0 - depth * np.arange(attack) / attack
    for t in kicks_s:
        start = int(round(t * SR))
        m = min(release, n - start)
        if m > 0:
            gain[start:start + m] = np.minimum(gain[start:start + m], curve[:m])
    return gain


def mix(spec: FluidSpec, track_dir: Path, depth: float,
        only: tuple[str, ...] = STEMS) -> np.ndarray:
    """Stereo float32 mix at `depth` (bass and chord stems ducked), peak-normalised to -1 dBFS;
    `only` leaves the other stems out (the pumpiness ceiling uses the ducked stems alone)."""
    n = int(round(spec.duration_s * SR))
    stems = {}
    for stem in STEMS:
        x, sr = sf.read(str(track_dir / f"{stem}.wav"), dtype="float64", always_2d=True)
        assert sr == SR
        x = x[:n] if x.shape[0] >= n else np.pad(x, ((0, n - x.shape[0]), (0, 0)))
        if x.shape[1] == 1:
            x = np.repeat(x, 2, axis=1)
        rms = math.sqrt(float(np.mean(x[np.abs(x).max(axis=1) > 1e-4] ** 2) or 1e-12))
        stems[stem] = x / max(rms, 1e-9)
    gains = dict(zip(STEMS, spec.gains_db))
    duck = duck_gain(n, kick_times(spec), depth, spec.tempo)[:, None]
    out = np.zeros((n, 2))
    for stem in only:
        y = stems[stem] * 10.0 ** (gains[stem] / 20.0)
        out += y * duck if stem in ("bass", "chords") else y
    out *= 10.0 ** (-1.0 / 20.0) / max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


def mix_path(spec: FluidSpec, cache: Path, depth: float) -> Path:
    """A 16-bit WAV of the mix at `depth` (rendered and written once)."""
    track_dir = render_track(spec, cache)
    path = track_dir / f"mix_{int(round(depth * 100)):03d}.wav"
    if not path.is_file():
        tmp = path.with_suffix(".part.wav")
        sf.write(str(tmp), mix(spec, track_dir, depth), SR, subtype="PCM_16")
        tmp.replace(path)
    return path


def _build_one(args: tuple[FluidSpec, str, tuple[float, ...]]) -> None:
    spec, cache, depths = args
    for depth in depths:
        mix_path(spec, Path(cache), depth)


def build(specs: list[FluidSpec], cache: Path, depths: tuple[float, ...] = DEPTHS,
          workers: int = 2) -> None:
    """Render every spec and write its mixes at `depths` and at its own default depth."""
    if shutil.which("fluidsynth") is None or not SOUNDFONT.is_file():
        raise RuntimeError("needs `apt-get install fluidsynth fluid-soundfont-gm`")
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(s, str(cache), tuple(sorted(set(depths) | {s.ducking}))) for s in specs]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_build_one, jobs))
    else:
        for job in jobs:
            _build_one(job)
