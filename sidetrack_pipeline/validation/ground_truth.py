"""The validation set: tracks rendered by `demo/synth.py` that vary ONE factor at a time around
a few base tracks, so every axis can be checked against the knob that should control it.

`build_set(quick)` lists the items (no audio yet); `render_missing(items, cache)` writes each as
a 16-bit WAV under the cache folder, named by a hash of its spec, and skips files already there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import soundfile as sf

from sidetrack_pipeline.demo.synth import TrackSpec, render

SR = 44100


@dataclass(frozen=True)
class Item:
    """One rendered track and what it tests: `group` (sweep name or pair set), `base` (the base
    track it varies), `factor` (the controlled value) and, for pairs, `pair` (an id shared by
    the two members)."""

    group: str
    base: str
    factor: float
    spec: TrackSpec
    pair: str | None = None

    @property
    def key(self) -> str:
        blob = json.dumps(self.spec.to_dict(), sort_keys=True) + f"@{SR}"
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def path(self, cache: Path) -> Path:
        return Path(cache) / f"{self.key}.wav"


# Base tracks: different styles, keys, modes, seeds and tempos, so no result rests on one base.
BASES = {
    "downtempo-Am": TrackSpec(92.0, 9, "minor", brightness=0.45, density=0.5, width=0.5,
                              ducking=0.3, gain_db=-3.0, seed=11, style="downtempo"),
    "four-D": TrackSpec(124.0, 2, "major", brightness=0.55, density=0.5, width=0.5,
                        ducking=0.3, gain_db=-3.0, seed=22, style="four"),
    "dnb-Fm": TrackSpec(172.0, 5, "minor", brightness=0.5, density=0.5, width=0.5,
                        ducking=0.3, gain_db=-3.0, seed=33, style="dnb"),
}

SWEEPS = {  # group -> (spec field, full levels, quick levels)
    "tempo": ("tempo_bpm", (70, 85, 100, 115, 130, 145, 160, 180), (90, 110, 130, 150)),
    "brightness": ("brightness", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 1.0)),
    "density": ("density", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.1, 0.9)),
    "width": ("width", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 1.0)),
    "ducking": ("ducking", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 1.0)),
    "loudness": ("gain_db", (-24.0, -18.0, -12.0, -6.0, -3.0, 0.0), (-24.0, 0.0)),
}

# Mode pairs: identical specs but for major/minor, across keys, tempos, styles and seeds.
MODE_PAIRS = [(key, tempo, style, seed)
              for seed, (key, tempo, style) in enumerate(
                  [(0, 96, "downtempo"), (2, 124, "four"), (4, 172, "dnb"), (5, 88, "downtempo"),
                   (7, 128, "four"), (9, 165, "dnb"), (10, 110, "four"), (11, 80, "downtempo"),
                   (1, 136, "four"), (3, 174, "dnb"), (6, 100, "downtempo"), (8, 120, "four")],
                  start=100)]

# Energy grid: loudness x density x tempo (style follows the tempo, as in real music).
ENERGY_GAIN = (-18.0, -9.0, 0.0)
ENERGY_DENSITY = (0.1, 0.5, 0.9)
ENERGY_TEMPO = (80.0, 122.0, 170.0)

# Zero-shot contrast: fast, loud, drum-led tracks vs slow, sparse, quiet pads.
def _driving(i: int, duration: float) -> TrackSpec:
    return TrackSpec(170.0 + 2 * i, (3 * i) % 12, ("minor", "major")[i % 2], brightness=0.8,
                     density=1.0, width=0.4, ducking=0.5, gain_db=0.0, duration_s=duration,
                     seed=300 + i, style="dnb")


def _floaty(i: int, duration: float) -> TrackSpec:
    return TrackSpec(70.0 + 2 * i, (3 * i + 1) % 12, ("major", "minor")[i % 2], brightness=0.3,
                     density=0.0, width=1.0, ducking=0.0, gain_db=-12.0, duration_s=duration,
                     seed=400 + i, style="downtempo")


def build_set(quick: bool = False, duration_s: float | None = None) -> list[Item]:
    """Every item of the validation set (quick: fewer levels, one base, shorter tracks)."""
    duration = duration_s or (12.0 if quick else 20.0)
    bases = dict(list(BASES.items())[1:2]) if quick else BASES
    items: list[Item] = []
    for group, (field, levels, quick_levels) in SWEEPS.items():
        for name, base in bases.items():
            for level in (quick_levels if quick else levels):
                spec = replace(base, duration_s=duration, **{field: float(level)})
                items.append(Item(group, name, float(level), spec))
    for key, tempo, style, seed in (MODE_PAIRS[:2] if quick else MODE_PAIRS):
        for mode in ("major", "minor"):
            spec = TrackSpec(float(tempo), key, mode, brightness=0.5, density=0.5, width=0.5,
                             ducking=0.2, gain_db=-3.0, duration_s=duration, seed=seed,
                             style=style)
            items.append(Item("mode", f"{style}-{key}", 1.0 if mode == "major" else 0.0, spec,
                              pair=f"mode-{seed}"))
    if not quick:
        for gain in ENERGY_GAIN:
            for density in ENERGY_DENSITY:
                for tempo in ENERGY_TEMPO:
                    spec = TrackSpec(tempo, 7, "minor", brightness=0.5, density=density,
                                     width=0.5, ducking=0.3, gain_db=gain, duration_s=duration,
                                     seed=500 + int(tempo))
                    composite = ((gain - ENERGY_GAIN[0]) / (ENERGY_GAIN[-1] - ENERGY_GAIN[0])
                                 + (density - ENERGY_DENSITY[0]) / (ENERGY_DENSITY[-1] - ENERGY_DENSITY[0])
                                 + (tempo - ENERGY_TEMPO[0]) / (ENERGY_TEMPO[-1] - ENERGY_TEMPO[0])) / 3
                    items.append(Item("energy", f"g{gain:g}-d{density:g}-t{tempo:g}",
                                      round(composite, 6), spec))
    for i in range(2 if quick else 6):
        items.append(Item("zeroshot", "driving", 1.0, _driving(i, duration), pair=f"zs-{i}"))
        items.append(Item("zeroshot", "floaty", 0.0, _floaty(i, duration), pair=f"zs-{i}"))
    return items


def render_missing(items: list[Item], cache: Path, on_render=None) -> int:
    """Render every item whose WAV is not in `cache` yet; returns how many were rendered."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    rendered = 0
    for item in items:
        path = item.path(cache)
        if path.is_file():
            continue
        tmp = path.with_suffix(".tmp.wav")
        sf.write(tmp, render(item.spec, SR), SR, subtype="PCM_16")
        tmp.replace(path)
        rendered += 1
        if on_render is not None:
            on_render(item)
    return rendered
