"""Run the validation: render the set, analyse every track with the real analysis pool
(`audio/batch.py` -> `audio/features.analyze_file`), score it with `scoring/axes.py`, and measure
how each axis follows the knob that controls it.

The axis functions run directly on the analysed features (not through Dagster or the
database): the same `axes.score_features` the `mood_scores` asset calls. Analysed features are
cached next to the audio (one JSON per track and analyzer version), so a re-run after an axis
change only re-scores.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.stats import spearmanr

from sidetrack_pipeline.audio.batch import analyze_many
from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.scoring import axes
from sidetrack_pipeline.validation import extras
from sidetrack_pipeline.validation.ground_truth import SWEEPS, Item, build_set, render_missing

BAR_RHO = 0.8
BAR_PAIRS = 0.9
# sweep group -> the axis it controls
CONTROLLED = {"tempo": "tempo", "brightness": "brightness", "width": "stereo_size",
              "ducking": "pumpiness", "density": "texture_density", "energy": "energy"}
FACTOR_LABEL = {"tempo": "tempo (BPM)", "brightness": "brightness (filter cutoff)",
                "width": "width (stereo)", "ducking": "ducking depth",
                "density": "density (layers)", "energy": "loudness × density × tempo composite",
                "loudness": "gain_db (loudness)"}


@dataclass
class AxisRow:
    axis: str
    group: str
    n: int
    rho: float  # pooled over every base track
    rho_per_base: dict[str, float]
    bar: float = BAR_RHO

    @property
    def met(self) -> bool:
        return math.isfinite(self.rho) and self.rho >= self.bar


@dataclass
class Result:
    method: str
    axis_rows: list[AxisRow]
    valence_pairs: int
    valence_wins: int
    cross: dict[str, dict[str, float]]  # sweep group -> axis -> pooled rho
    sections: dict[str, str]  # zero-shot / smoothing / calibration: markdown or "not run: ..."
    meta: dict = field(default_factory=dict)
    scored: list[tuple[Item, dict, dict]] = field(default_factory=list)  # item, features, axes

    @property
    def valence_share(self) -> float:
        return self.valence_wins / self.valence_pairs if self.valence_pairs else float("nan")


def default_cache() -> Path:
    home = Path(os.environ.get("SIDETRACK_HOME") or Path.home() / ".sidetrack")
    return home / "validation"


def _features_path(item: Item, cache: Path) -> Path:
    return cache / "features" / f"{item.key}-{ANALYZER_VERSION}.json"


def analyse(items: list[Item], cache: Path, workers: int = 2,
            progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Features of every item (key -> dict), from the cache or the analysis pool."""
    (cache / "features").mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    todo: dict[str, Item] = {}
    for item in items:
        path = _features_path(item, cache)
        if path.is_file():
            out[item.key] = json.loads(path.read_text())
        else:
            todo[str(item.path(cache))] = item
    for result in analyze_many(list(todo), workers=workers, excerpt_seconds=0.0):
        item = todo[result.path]
        if not result.ok:
            raise RuntimeError(f"analysis failed for {item.group}/{item.base}: {result.error}")
        _features_path(item, cache).write_text(json.dumps(result.features))
        out[item.key] = result.features
        if progress:
            progress(f"analysed {len(out)}/{len(items)}")
    return out


def _rho(x, y) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def evaluate(items: list[Item], features: dict[str, dict]) -> tuple[list, list[AxisRow], int, int, dict]:
    scored = []
    for item in items:
        feats = features[item.key]
        scores = {s.axis: s.value for s in axes.score_features(feats)}
        scored.append((item, feats, scores))
    rows = []
    for group, axis in CONTROLLED.items():
        members = [(i, s) for i, _, s in scored if i.group == group]
        if not members:
            continue
        per_base = {}
        for base in sorted({i.base for i, _ in members}):
            sub = [(i.factor, s[axis]) for i, s in members if i.base == base]
            if len(sub) >= 3:
                per_base[base] = _rho(*zip(*sub))
        rows.append(AxisRow(axis, group, len(members),
                            _rho([i.factor for i, _ in members], [s[axis] for _, s in members]),
                            per_base))
    pairs: dict[str, dict[float, float]] = {}
    for item, _, s in scored:
        if item.group == "mode":
            pairs.setdefault(item.pair, {})[item.factor] = s["valence"]
    complete = [p for p in pairs.values() if len(p) == 2]
    wins = sum(1 for p in complete if p[1.0] > p[0.0])
    cross = {}
    for group in list(SWEEPS) + ["energy"]:
        members = [(i.factor, s) for i, _, s in scored if i.group == group]
        if members:
            cross[group] = {a: _rho([f for f, _ in members], [s[a] for _, s in members])
                            for a in axes.AXES}
    return scored, rows, len(complete), wins, cross


def run(cache: Path | None = None, quick: bool = False, workers: int = 2,
        with_extras: bool = True, progress: Callable[[str], None] | None = None) -> Result:
    """Render, analyse, score and evaluate the validation set."""
    cache = Path(cache or default_cache()) / ("quick" if quick else "full")
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    items = build_set(quick=quick)
    rendered = render_missing(items, cache)
    t_render = time.perf_counter() - t0
    say(f"{len(items)} tracks ({rendered} rendered now) in {cache}")
    t1 = time.perf_counter()
    features = analyse(items, cache, workers=workers, progress=progress)
    t_analyse = time.perf_counter() - t1
    t2 = time.perf_counter()
    scored, rows, n_pairs, wins, cross = evaluate(items, features)
    t_score = time.perf_counter() - t2
    sections = {}
    t3 = time.perf_counter()
    if with_extras:
        sections = extras.run_all(scored, cache, say)
    t_extras = time.perf_counter() - t3
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "analyzer": ANALYZER_VERSION,
        "method": axes.METHOD,
        "tracks": len(items),
        "duration_s": items[0].spec.duration_s,
        "workers": workers,
        "cache": str(cache),
        "seconds": {"render": round(t_render, 1), "analyse": round(t_analyse, 1),
                    "score": round(t_score, 2), "extras": round(t_extras, 1),
                    "total": round(time.perf_counter() - t0, 1)},
        "quick": quick,
    }
    try:
        import essentia
        meta["essentia"] = essentia.__version__
    except Exception:  # noqa: BLE001 - a version string only
        pass
    return Result(axes.METHOD, rows, n_pairs, wins, cross, sections, meta, scored)
