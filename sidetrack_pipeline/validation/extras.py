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
MUSICNN_MODELS = ("msd-musicnn", "mtt-musicnn")


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

def musicnn_probabilities(items: list, cache: Path, say, model: str = "msd-musicnn"
                          ) -> tuple[tuple[str, ...], np.ndarray]:
    """(tags, (n_items, 50) mean tag probabilities of `model`): the real musicnn on CPU, weights
    from the musicnn wheel (fetched into the model cache on first use); cached per file."""
    from sidetrack_pipeline.models.musicnn.embed import embed_file
    from sidetrack_pipeline.models.registry import load_model

    tags = tuple(load_model(model).tags)
    folder = Path(cache) / "musicnn"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = model.split("-")[0]
    rows = []
    for n, item in enumerate(items):
        path = folder / f"{item.key}-{suffix}.json"
        if path.is_file():
            probs = json.loads(path.read_text())
        else:
            probs = dict(embed_file(item.path(cache), model, device="cpu").tags)
            path.write_text(json.dumps(probs))
            if n % 25 == 0:
                say(f"{model} {n + 1}/{len(items)}")
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
        words = zs.word_vectors(lexicon, embed_texts)
        chosen = [i for i, item in enumerate(items) if item.group == "zeroshot"]
        models, probs = {}, {}
        for name in MUSICNN_MODELS:   # the default EMBEDDING_MODEL: both vocabularies
            tags, library = musicnn_probabilities(items, cache, say, name)
            # the whole validation set is the library reference (>= MIN_LIBRARY tracks)
            models[name] = zs.tag_model(name, tags, words, embed_texts, library_probs=library)
            probs[name] = library[chosen]
        # the default (both vocabularies), then each alone for comparison
        runs = {names: _zeroshot_pairs(zs.score_words(lexicon, [models[n] for n in names],
                                                      {n: probs[n] for n in names}),
                                       chosen, items)
                for names in (MUSICNN_MODELS, *((n,) for n in MUSICNN_MODELS))}
    except Exception as exc:  # noqa: BLE001
        return f"not run: the zero-shot scoring failed ({type(exc).__name__}: {exc})"
    table = ["| tag vocabularies | comparisons | in the expected order | required | |",
             "|---|---:|---:|---:|---|"]
    for names, (total, wins, _) in runs.items():
        share = wins / total if total else float("nan")
        default = names == MUSICNN_MODELS
        verdict = ("met" if share >= 0.9 else "missed") if default else "(comparison)"
        table.append(f"| {' + '.join(names)}{' (default)' if default else ''} | {total} | "
                     f"{wins} ({share:.1%}) | ≥ 90 % | {verdict} |")
    lines = ["| pair | driving track: driving / aggressive / floaty / ethereal | "
             "floaty track: driving / aggressive / floaty / ethereal |", "|---|---|---|"]
    fmt = lambda d: " / ".join(f"{d[w]:.2f}" for w in ZS_HIGH + ZS_LOW)  # noqa: E731
    for pair_id, pair in runs[MUSICNN_MODELS][2]:
        lines.append(f"| {pair_id} | {fmt(pair['driving'])} | {fmt(pair['floaty'])} |")
    return (f"Method `{zs.METHOD_MUSICNN}` with the tag probabilities of "
            f"{' and '.join(MUSICNN_MODELS)} (the default EMBEDDING_MODEL); library reference = "
            f"the {len(items)} validation tracks. Driving tracks: dnb, 170–180 BPM, density 1, gain "
            f"0 dB; floaty tracks: downtempo, 70–80 BPM, density 0, gain −12 dB, dark, wide, no "
            f"ducking. MSD's vocabulary is mostly genres (its nearest tags to \"aggressive\" are "
            f"metal, then ambient and mellow, which MiniLM puts close); MTT's has \"loud\".\n\n"
            + "\n".join(table) + "\n\nWord scores with both vocabularies:\n\n" + "\n".join(lines))


def _zeroshot_pairs(results: list, chosen: list[int], items: list) -> tuple[int, int, list]:
    """(comparisons, in the expected order, [(pair, {base: {word: value}})])."""
    by_pair: dict[str, dict[str, dict]] = {}
    for i, words_of_track in zip(chosen, results):
        item = items[i]
        by_pair.setdefault(item.pair, {})[item.base] = {w: words_of_track[w].value
                                                         for w in ZS_HIGH + ZS_LOW}
    total = wins = 0
    pairs = []
    for pair_id, pair in sorted(by_pair.items()):
        if len(pair) != 2:
            continue
        for hi in ZS_HIGH:
            for lo in ZS_LOW:
                # driving track: the hi word above the lo word; floaty track: the reverse
                total += 2
                wins += pair["driving"][hi] > pair["driving"][lo]
                wins += pair["floaty"][lo] > pair["floaty"][hi]
        pairs.append((pair_id, pair))
    return total, wins, pairs


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
