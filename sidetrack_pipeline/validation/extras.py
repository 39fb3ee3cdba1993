"""Validation sections whose code lives in other modules (zero-shot lexicon, smoothing of
tracks without audio, personal calibration). Each is imported lazily; when a module is missing
or fails, its section says "not run: <reason>" — nothing is ever filled in by hand."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

ZS_HIGH = ("driving", "aggressive")
ZS_LOW = ("floaty", "ethereal")


def _import(name: str):
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # noqa: BLE001 - reported in the doc
        return None, f"not run: `{name}` is not available ({type(exc).__name__}: {exc})"


def run_all(scored: list, cache: Path, say: Callable[[str], None]) -> dict[str, str]:
    return {"zero-shot": zeroshot_section(scored, cache, say),
            "smoothing": smoothing_section(scored, cache, say),
            "calibration": calibration_section(scored, say)}


# --------------------------------------------------------------------------- zero-shot

def musicnn_probabilities(items: list, cache: Path, say) -> tuple[tuple[str, ...], np.ndarray]:
    """(tags, (n_items, 50) mean msd-musicnn tag probabilities): the real model on CPU, weights
    from the musicnn wheel (fetched into the model cache on first use); cached per file."""
    from sidetrack_pipeline.models.musicnn.embed import embed_file
    from sidetrack_pipeline.models.registry import load_model

    tags = tuple(load_model("msd-musicnn").tags)
    folder = Path(cache) / "musicnn"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, item in enumerate(items):
        path = folder / f"{item.key}-msd.json"
        if path.is_file():
            probs = json.loads(path.read_text())
        else:
            probs = dict(embed_file(item.path(cache), "msd-musicnn", device="cpu").tags)
            path.write_text(json.dumps(probs))
            if n % 25 == 0:
                say(f"musicnn {n + 1}/{len(items)}")
        rows.append([probs[t] for t in tags])
    return tags, np.array(rows, dtype=float)


def zeroshot_section(scored: list, cache: Path, say) -> str:
    zs, reason = _import("sidetrack_pipeline.scoring.zeroshot")
    if zs is None:
        return reason
    try:
        from sidetrack_pipeline.models.minilm import embed_texts
        from sidetrack_pipeline.scoring.lexicon import load_lexicon

        lexicon = load_lexicon({})
        missing = [w for w in ZS_HIGH + ZS_LOW if w not in lexicon.words]
        if missing:
            return f"not run: the lexicon has no {missing}"
        items = [item for item, _, _ in scored]
        tags, probs = musicnn_probabilities(items, cache, say)
        words = zs.word_vectors(lexicon, embed_texts)
        # the whole validation set is the library reference (>= MIN_LIBRARY tracks)
        model = zs.tag_model("msd-musicnn", tags, words, embed_texts, library_probs=probs)
        chosen = [i for i, item in enumerate(items) if item.group == "zeroshot"]
        results = zs.score_words(lexicon, [model], {"msd-musicnn": probs[chosen]})
    except Exception as exc:  # noqa: BLE001
        return f"not run: the zero-shot scoring failed ({type(exc).__name__}: {exc})"
    by_pair: dict[str, dict[str, dict]] = {}
    for i, words_of_track in zip(chosen, results):
        item = items[i]
        by_pair.setdefault(item.pair, {})[item.base] = {w: words_of_track[w].value
                                                         for w in ZS_HIGH + ZS_LOW}
    total = wins = 0
    lines = ["| pair | driving track: driving / aggressive / floaty / ethereal | "
             "floaty track: driving / aggressive / floaty / ethereal |", "|---|---|---|"]
    for pair_id, pair in sorted(by_pair.items()):
        if len(pair) != 2:
            continue
        for hi in ZS_HIGH:
            for lo in ZS_LOW:
                # driving track: the hi word above the lo word; floaty track: the reverse
                total += 2
                wins += pair["driving"][hi] > pair["driving"][lo]
                wins += pair["floaty"][lo] > pair["floaty"][hi]
        fmt = lambda d: " / ".join(f"{d[w]:.2f}" for w in ZS_HIGH + ZS_LOW)  # noqa: E731
        lines.append(f"| {pair_id} | {fmt(pair['driving'])} | {fmt(pair['floaty'])} |")
    share = wins / total if total else float("nan")
    verdict = "met" if share >= 0.9 else "missed"
    return (f"Method `{zs.METHOD_MUSICNN}` (msd-musicnn, library reference = the {len(items)} "
            f"validation tracks). Driving tracks: dnb, 170–180 BPM, density 1, gain 0 dB; floaty "
            f"tracks: downtempo, 70–80 BPM, density 0, gain −12 dB, dark, wide, no ducking.\n\n"
            f"| comparisons | in the expected order | required | |\n|---:|---:|---:|---|\n"
            f"| {total} | {wins} ({share:.1%}) | ≥ 90 % | {verdict} |\n\n" + "\n".join(lines))


# --------------------------------------------------------------------------- smoothing

def smoothing_section(scored: list, cache: Path, say) -> str:
    sm, reason = _import("sidetrack_pipeline.scoring.smoothing_store")
    if sm is None:
        return reason
    try:
        from sidetrack_pipeline.validation.database import validation_database

        say("loading the validation set into an embedded database")
        with validation_database(scored, cache) as conn:
            result = sm.hidden_audio_experiment(conn, fraction=0.2, seed=0)
    except Exception as exc:  # noqa: BLE001
        return f"not run: the smoothing experiment failed ({type(exc).__name__}: {exc})"
    keys = [k for k in ("mae_smoothed", "mae_baseline", "improved", "n_hidden", "p_value")
            if k in result]
    table = ["| " + " | ".join(keys) + " |", "|" + "---:|" * len(keys),
             "| " + " | ".join(_cell(result[k]) for k in keys) + " |"]
    rest = {k: v for k, v in result.items() if k not in keys}
    return ("Database: the validation tracks (artist = base track / sweep, so an artist's tracks "
            "are variants of one another), their features, `mir-v2` scores and `mir-v1` vectors; "
            "fraction 0.2, seed 0.\n\n" + "\n".join(table) + f"\n\nAll returned values: `{rest!r}`")


def _cell(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- calibration

def calibration_section(scored: list, say) -> str:
    cal, reason = _import("sidetrack_pipeline.scoring.calibration")
    if cal is None:
        return reason
    from sidetrack_pipeline.scoring import vectors

    vecs = np.stack([vectors.track_vector(f) for _, f, _ in scored])
    generic = np.array([s["energy"] for _, _, s in scored])
    try:
        result = cal.simulate_calibration(vecs, generic, cal.default_hidden_rule, n_labels=50, seed=0)
    except Exception as exc:  # noqa: BLE001
        return f"not run: simulate_calibration failed ({type(exc).__name__}: {exc})"
    keys = ("n_tracks", "n_labels", "mae_uncalibrated", "mae_calibrated", "spearman_uncalibrated",
            "spearman_calibrated")
    table = ["| " + " | ".join(keys) + " |", "|" + "---:|" * len(keys),
             "| " + " | ".join(_cell(result.get(k)) for k in keys) + " |"]
    return ("Axis: `energy` (`mir-v2`) as the generic score; hidden rule: "
            "`calibration.default_hidden_rule` (a steep function of the generic axis plus a pull "
            "towards bright tracks); 50 labels, seed 0, the rest held out.\n\n" + "\n".join(table))
