"""Zero-shot lexicon: real MiniLM, real musicnn vocabularies (and weights for the audio check),
real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sidetrack_pipeline.db.connection import connect
from sidetrack_pipeline.models.minilm import embed_texts
from sidetrack_pipeline.scoring import zeroshot as zs
from sidetrack_pipeline.scoring.lexicon import (EXTRA_WORDS_ENV, FILE_ENV, MAX_WORDS, SEED_WORDS,
                                                LexiconError, load_lexicon)
from sidetrack_pipeline.scoring.zeroshot_store import score_lexicon

MODELS = ("msd-musicnn", "mtt-musicnn")
# Tag profiles built from the real vocabularies (checked against them below).
LOUD = {"msd-musicnn": ["electronic", "dance", "electro", "House", "party", "hard rock", "metal",
                        "heavy metal", "punk"],
        "mtt-musicnn": ["techno", "electronic", "fast", "drums", "beat", "beats", "loud", "dance",
                        "synth", "rock", "metal"]}
PAD = {"msd-musicnn": ["ambient", "chillout", "beautiful", "Mellow", "chill", "easy listening",
                       "instrumental", "sad"],
       "mtt-musicnn": ["ambient", "slow", "soft", "quiet", "new age", "synth", "no vocals", "strings"]}


@pytest.fixture(scope="module")
def vocab(models_cache: Path) -> dict[str, tuple[str, ...]]:
    """The 50 tag names of each musicnn model, as converted from the musicnn wheel."""
    out = {}
    for name in MODELS:
        payload = torch.load(models_cache / "musicnn" / f"{name}.pt", map_location="cpu",
                             weights_only=True)
        out[name] = tuple(payload["tags"])
    return out


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon({})


@pytest.fixture(scope="module")
def tag_models(vocab, lexicon) -> list[zs.TagEvidenceModel]:
    words = zs.word_vectors(lexicon, embed_texts)
    return [zs.tag_model(name, vocab[name], words, embed_texts) for name in MODELS]


def _profile(tags, high, high_p=0.7, low_p=0.05) -> np.ndarray:
    assert set(high) <= set(tags), set(high) - set(tags)
    return np.array([high_p if t in high else low_p for t in tags])


@pytest.mark.parametrize("subset", [("msd-musicnn",), ("mtt-musicnn",), MODELS])
def test_energetic_words_follow_the_tag_profile(subset, vocab, lexicon, tag_models):
    probs = {m: np.stack([_profile(vocab[m], LOUD[m]), _profile(vocab[m], PAD[m])]) for m in subset}
    loud, pad = zs.score_words(lexicon, tag_models, probs)
    for hot in ("driving", "aggressive"):
        for calm in ("floaty", "ethereal"):
            assert loud[hot].value > loud[calm].value, (subset, hot, calm, loud[hot], loud[calm])
            assert pad[calm].value > pad[hot].value, (subset, hot, calm, pad[hot], pad[calm])
    energy = {r.axis: r for r in zs.axis_scores(lexicon, loud)}["energy"]
    assert energy.value > {r.axis: r for r in zs.axis_scores(lexicon, pad)}["energy"].value
    for scores in (loud, pad):
        for s in scores.values():
            assert 0 < s.value < 1 and 0 <= s.confidence <= 1


def test_word_attention_lands_on_related_tags(vocab, lexicon, tag_models):
    msd = tag_models[0]
    top = {w: msd.tags[int(np.argmax(msd.attention[lexicon.words.index(w)]))]
           for w in ("aggressive", "ethereal", "melancholic", "euphoric", "groovy")}
    assert top.pop("melancholic") in ("sad", "Mellow")
    assert top == {"aggressive": "heavy metal", "ethereal": "ambient", "euphoric": "happy",
                   "groovy": "dance"}


@pytest.mark.parametrize("library", [False, True])
def test_calibration_is_within_unit_interval_and_monotone(library, vocab, lexicon, tag_models):
    name = "mtt-musicnn"
    model = tag_models[1]
    if library:   # a library of 60 random tracks becomes the reference
        rng = np.random.default_rng(0)
        model = zs.TagEvidenceModel(model.name, model.tags, model.similarity, model.attention,
                                    model.coverage)
        model.fit_reference(rng.beta(1, 6, size=(60, len(model.tags))))
        assert model.reference == "library"
    else:
        assert model.reference == "prior"
    # Raise the tags "driving" attends to, step by step: its score must never fall.
    focus = np.argsort(-model.attention[lexicon.words.index("driving")])[:3]
    levels = np.linspace(0.001, 0.999, 25)
    probs = np.full((len(levels), len(model.tags)), 0.1)
    probs[:, focus] = levels[:, None]
    values = np.array([s["driving"].value for s in zs.score_words(lexicon, [model], {name: probs})])
    assert ((values > 0) & (values < 1)).all()
    assert (np.diff(values) >= 0).all() and values[-1] - values[0] > 0.5
    z = np.linspace(-8, 8, 101)
    mapped = zs.logistic(z)
    assert (np.diff(mapped) > 0).all() and mapped[0] > 0 and mapped[-1] < 1
    assert zs.logistic(0.0) == pytest.approx(0.5)


def test_library_reference_centres_a_typical_track(vocab, lexicon, tag_models):
    rng = np.random.default_rng(1)
    library = rng.beta(1, 6, size=(80, len(vocab["msd-musicnn"])))
    model = zs.tag_model("msd-musicnn", vocab["msd-musicnn"], zs.word_vectors(lexicon, embed_texts),
                         embed_texts, library_probs=library)
    scores = zs.score_words(lexicon, [model], {"msd-musicnn": library})
    means = {w: np.mean([s[w].value for s in scores]) for w in lexicon.words}
    assert all(0.4 < m < 0.6 for m in means.values()), means


def test_axes_only_those_the_lexicon_informs(lexicon, vocab, tag_models):
    probs = {"msd-musicnn": _profile(vocab["msd-musicnn"], LOUD["msd-musicnn"])[None]}
    (scores,) = zs.score_words(lexicon, tag_models, probs)
    axes = {r.axis for r in zs.axis_scores(lexicon, scores)}
    assert axes == set(lexicon.informed_axes())
    assert {"pumpiness", "stereo_size", "tempo", "mode_confidence"}.isdisjoint(axes)
    extra_only = load_lexicon({EXTRA_WORDS_ENV: "dreamy"})
    assert zs.axis_scores(extra_only, {"dreamy": scores["driving"]}) == []


def test_lexicon_extension_from_env_and_file(tmp_path):
    words_file = tmp_path / "words.txt"
    words_file.write_text("# my words\nDusty  Tape\n\nsun-bleached  # trailing comment\nwarm\n")
    lexicon = load_lexicon({EXTRA_WORDS_ENV: " Dreamy, dark ,euphoric", FILE_ENV: str(words_file)})
    assert lexicon.words[:len(SEED_WORDS)] == SEED_WORDS
    assert lexicon.words[len(SEED_WORDS):] == ("dreamy", "dark", "dusty tape", "sun-bleached")
    assert lexicon.glosses["dreamy"] == "" and "dreamy" not in lexicon.axes
    assert load_lexicon({EXTRA_WORDS_ENV: ""}).words == SEED_WORDS


@pytest.mark.parametrize("env, message", [
    ({EXTRA_WORDS_ENV: "dreamy,,dark"}, "LEXICON_EXTRA_WORDS item 2: empty word"),
    ({EXTRA_WORDS_ENV: "dreamy;dark"}, "'dreamy;dark' is not a valid lexicon word"),
    ({EXTRA_WORDS_ENV: "9lives"}, "'9lives' is not a valid lexicon word"),
    ({EXTRA_WORDS_ENV: "x" * 41}, "is not a valid lexicon word"),
    ({FILE_ENV: "/nonexistent/words.txt"}, "LEXICON_FILE=/nonexistent/words.txt: no such file"),
    ({EXTRA_WORDS_ENV: ",".join(f"word{i}" for i in range(MAX_WORDS))}, "at most 200"),
])
def test_bad_lexicon_input_errors_clearly(env, message):
    with pytest.raises(LexiconError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_lexicon(env)


def test_bad_line_in_lexicon_file_names_the_line(tmp_path):
    words_file = tmp_path / "words.txt"
    words_file.write_text("dreamy\nbad/word\n")
    with pytest.raises(LexiconError, match=r"words.txt:2: 'bad/word' is not a valid lexicon word"):
        load_lexicon({FILE_ENV: str(words_file)})


def test_clap_scores_follow_the_audio_text_cosine(lexicon):
    rng = np.random.default_rng(2)
    text = rng.normal(size=(3, len(lexicon.words), 64))
    text /= np.linalg.norm(text, axis=-1, keepdims=True)
    driving, floaty = lexicon.words.index("driving"), lexicon.words.index("floaty")
    audio = np.stack([text[:, driving].mean(axis=0), text[:, floaty].mean(axis=0)])
    a, b = zs.clap_scores(lexicon, audio, text)
    assert a["driving"].value > 0.9 and a["driving"].value > a["floaty"].value
    assert b["floaty"].value > 0.9 and b["floaty"].value > b["driving"].value
    assert all(0 < s.value < 1 and 0 <= s.confidence <= 1 for s in [*a.values(), *b.values()])


# --- database ------------------------------------------------------------------------------------

def _add_track(cur, n: int) -> int:
    cur.execute("insert into artist (artist_key, name) values ('name:zs', 'ZS') on conflict "
                "(artist_key) do update set name = excluded.name returning artist_id")
    artist = cur.fetchone()[0]
    cur.execute("insert into track (track_key, name_key, title, artist_id) values (%s, %s, %s, %s) "
                "returning track_id", (f"zs:{n}", f"zs|{n}", f"Track {n}", artist))
    return cur.fetchone()[0]


def _write_tags(cur, track_id: int, model: str, tags, probs) -> None:
    cur.execute("delete from model_tags where track_id = %s and model = %s", (track_id, model))
    for tag, p in zip(tags, probs):
        cur.execute("insert into model_tags (track_id, model, tag, probability) values (%s, %s, %s, %s)",
                    (track_id, model, tag, float(p)))


def _library(db_url, vocab) -> tuple[int, int]:
    with connect(db_url) as conn, conn.cursor() as cur:
        loud, pad = _add_track(cur, 1), _add_track(cur, 2)
        for m in MODELS:
            _write_tags(cur, loud, m, vocab[m], _profile(vocab[m], LOUD[m]))
        _write_tags(cur, pad, "msd-musicnn", vocab["msd-musicnn"],
                    _profile(vocab["msd-musicnn"], PAD["msd-musicnn"]))   # MSD only
    return loud, pad


def _rows(db_url):
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select track_id, word, round(value::numeric, 6) from lexicon_scores "
                    "where method = 'zeroshot-musicnn-v1' order by 1, 2")
        lex = cur.fetchall()
        cur.execute("select track_id, axis, round(value::numeric, 6), provenance from mood_scores "
                    "where method = 'zeroshot-musicnn-v1' order by 1, 2")
        mood = cur.fetchall()
        cur.execute("select track_id, axis, kind, name from score_contribution "
                    "where method = 'zeroshot-musicnn-v1' order by 1, 2, 3, 4")
        contrib = cur.fetchall()
    return lex, mood, contrib


def test_store_writes_and_replaces_rows(db_url, vocab, lexicon, monkeypatch):
    monkeypatch.delenv("EMBEDDING_MODEL", raising=False)
    loud, pad = _library(db_url, vocab)
    with connect(db_url) as conn:
        report = score_lexicon(conn, lexicon)
    assert report.tracks_scored == {"zeroshot-musicnn-v1": 2}
    assert any("zeroshot-clap-v1: skipped, CLAP is not configured" in s for s in report.skipped)
    lex, mood, contrib = _rows(db_url)
    assert len(lex) == 2 * len(lexicon.words)
    assert {r[1] for r in mood} == set(lexicon.informed_axes()) and {r[3] for r in mood} == {"lexicon"}
    assert len(mood) == 2 * len(lexicon.informed_axes())
    assert {r[2] for r in contrib} == {"word", "tag"}
    assert any(r[3].startswith("mtt-musicnn:") for r in contrib if r[0] == loud)
    assert not any(r[3].startswith("mtt-musicnn:") for r in contrib if r[0] == pad)
    value = {(t, w): v for t, w, v in lex}
    assert value[(loud, "aggressive")] > value[(pad, "aggressive")]
    assert value[(pad, "ethereal")] > value[(loud, "ethereal")]

    with connect(db_url) as conn:      # same input: identical rows, nothing duplicated
        score_lexicon(conn, lexicon)
    assert _rows(db_url) == (lex, mood, contrib)

    with connect(db_url) as conn, conn.cursor() as cur:   # new evidence replaces the old rows
        _write_tags(cur, loud, "msd-musicnn", vocab["msd-musicnn"],
                    _profile(vocab["msd-musicnn"], PAD["msd-musicnn"]))
        cur.execute("delete from model_tags where track_id = %s and model = 'mtt-musicnn'", (loud,))
    with connect(db_url) as conn:
        score_lexicon(conn, lexicon)
    lex2, mood2, contrib2 = _rows(db_url)
    assert len(lex2) == len(lex) and len(mood2) == len(mood)
    value2 = {(t, w): v for t, w, v in lex2}
    assert value2[(loud, "ethereal")] == value2[(pad, "ethereal")]   # now the same evidence
    assert not any(r[3].startswith("mtt-musicnn:") for r in contrib2)

    with connect(db_url) as conn, conn.cursor() as cur:   # no tags left: the method's rows go
        cur.execute("delete from model_tags")
    with connect(db_url) as conn:
        report = score_lexicon(conn, lexicon)
    assert _rows(db_url) == ([], [], [])
    assert report.tracks_scored["zeroshot-musicnn-v1"] == 0


def test_store_uses_the_library_as_reference_and_chunks_alike(db_url, vocab, lexicon, monkeypatch):
    """40 tracks (>= MIN_LIBRARY): the library is the reference, so the per-word mean sits near
    0.5; scoring in chunks of 7 writes exactly the rows one chunk does."""
    from sidetrack_pipeline.scoring import zeroshot_store

    monkeypatch.delenv("EMBEDDING_MODEL", raising=False)
    rng = np.random.default_rng(3)
    with connect(db_url) as conn, conn.cursor() as cur:
        for n in range(40):
            track_id = _add_track(cur, n)
            for m in MODELS:
                _write_tags(cur, track_id, m, vocab[m], rng.beta(1, 6, size=len(vocab[m])))
    with connect(db_url) as conn:
        report = score_lexicon(conn, lexicon)
    assert report.reference == {"msd-musicnn": "library", "mtt-musicnn": "library"}
    assert report.tracks_scored["zeroshot-musicnn-v1"] == 40
    assert all(0.4 < m < 0.6 for m in report.word_means["zeroshot-musicnn-v1"].values())
    whole = _rows(db_url)
    monkeypatch.setattr(zeroshot_store, "CHUNK", 7)
    with connect(db_url) as conn:
        score_lexicon(conn, lexicon)
    assert _rows(db_url) == whole and len(whole[0]) == 40 * len(lexicon.words)


def test_asset_materializes(db_url, vocab, monkeypatch):
    import dagster as dg

    from sidetrack_pipeline.defs.assets.zeroshot import lexicon_scores
    from sidetrack_pipeline.defs.resources import DatabaseResource

    monkeypatch.setenv(EXTRA_WORDS_ENV, "dreamy")
    monkeypatch.delenv(FILE_ENV, raising=False)
    loud, pad = _library(db_url, vocab)
    result = dg.materialize([lexicon_scores], resources={"database": DatabaseResource(url=db_url)})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["tracks_scored"].value == 2
    means = meta["word_mean/zeroshot-musicnn-v1"].value
    assert set(means) == set(SEED_WORDS) | {"dreamy"}
    assert "clap" in meta["skipped"].value.lower()
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from lexicon_scores where word = 'dreamy'")
        assert cur.fetchone()[0] == 2


# --- real audio ----------------------------------------------------------------------------------

def test_real_audio_ordering(models_cache, lexicon, tag_models):
    """Two rendered tracks through the real musicnn models: the energetic words must rank the
    fast, dense, loud track above the slow, sparse, quiet one, and the calm words the reverse."""
    from sidetrack_pipeline.audio.decode import resample
    from sidetrack_pipeline.demo.synth import TrackSpec, render
    from sidetrack_pipeline.models.musicnn.embed import embed_signals
    from sidetrack_pipeline.models.registry import load_model

    specs = [TrackSpec(tempo_bpm=150, key=9, mode="minor", brightness=0.8, density=1.0, ducking=0.6,
                       duration_s=30, seed=1, style="four"),
             TrackSpec(tempo_bpm=70, key=0, mode="major", brightness=0.2, density=0.0, width=0.8,
                       duration_s=30, seed=2, style="downtempo", gain_db=-12)]
    signals = []
    for spec in specs:
        audio = np.asarray(render(spec))
        mono = audio.mean(axis=1) if audio.ndim == 2 and audio.shape[1] == 2 else audio.reshape(-1)
        signals.append(resample(mono.astype(np.float32), 44100, 16000))
    probs = {}
    for name in MODELS:
        model = load_model(name, cache_dir=models_cache)
        results = embed_signals(signals, model)
        probs[name] = np.array([[r.tags[t] for t in model.tags] for r in results])
    loud, pad = zs.score_words(lexicon, tag_models, probs)
    print({w: (round(loud[w].value, 3), round(pad[w].value, 3))
           for w in ("driving", "aggressive", "floaty", "ethereal")})
    # across tracks
    assert loud["driving"].value > pad["driving"].value
    for calm in ("floaty", "ethereal"):
        assert pad[calm].value > loud[calm].value, (calm, loud[calm].value, pad[calm].value)
    # within each track
    for hot in ("driving", "aggressive"):
        for calm in ("floaty", "ethereal"):
            assert pad[calm].value > pad[hot].value, (hot, calm, pad[hot].value, pad[calm].value)
        assert loud["driving"].value > loud[calm].value
    energy = [{a.axis: a.value for a in zs.axis_scores(lexicon, t)}["energy"] for t in (loud, pad)]
    assert energy[0] > energy[1] + 0.1, energy
    _real_tracks["scores"] = (loud, pad)


_real_tracks: dict = {}


@pytest.mark.xfail(strict=True, reason="known: 'aggressive' attends to MSD 'heavy metal'/'metal' "
                   "and MTT 'loud'; the synthetic techno track triggers none of them strongly, so "
                   "with both models it scores below 'floaty'/'ethereal' on the loud track")
def test_real_audio_aggressive_on_the_loud_track(models_cache, lexicon, tag_models):
    if "scores" not in _real_tracks:
        test_real_audio_ordering(models_cache, lexicon, tag_models)
    loud, _ = _real_tracks["scores"]
    assert loud["aggressive"].value > max(loud["floaty"].value, loud["ethereal"].value)


def test_clap_method_through_the_store(db_url, tmp_path, lexicon, vocab):
    """zeroshot-clap-v1 end to end with the real CLAP architecture (small, synthetic weights, as in
    test_model_loaders): tracks whose stored audio embedding is a word's text embedding score
    that word highest; rows are written with provenance 'lexicon' and replaced on re-run."""
    from benchmarks.clap_golden import checkpoint_dict, synthetic_state, tiny_vocab_size, write_tiny_tokenizer
    from sidetrack_pipeline.models.clap import ClapNet, load_clap
    from sidetrack_pipeline.scoring.embedding_store import save_vector

    text_config = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                   "intermediate_size": 64, "vocab_size": tiny_vocab_size(),
                   "max_position_embeddings": 80}
    htsat = {"embed_dim": 8, "depths": (2, 2, 2, 2), "num_heads": (1, 2, 2, 4), "num_classes": 5}
    torch.manual_seed(0)
    state = synthetic_state(ClapNet(htsat=htsat, text_config=text_config).state_dict())
    torch.save(checkpoint_dict(state), tmp_path / "clap-small.pt")
    clap = load_clap(tmp_path / "clap-small.pt", tokenizer=write_tiny_tokenizer(tmp_path / "tok"),
                     text_config=text_config)
    targets = ("driving", "floaty")
    prompts = {w: clap.embed_text([t.format(w) for t in zs.WORD_TEMPLATES]).mean(axis=0)
               for w in targets}
    with connect(db_url) as conn, conn.cursor() as cur:
        ids = {w: _add_track(cur, i) for i, w in enumerate(targets)}
        for w, track_id in ids.items():
            save_vector(cur, track_id, "hash", "clap", "test", prompts[w] / np.linalg.norm(prompts[w]))
    for _ in range(2):
        with connect(db_url) as conn:
            report = score_lexicon(conn, lexicon, clap_text_model=clap)
    assert report.tracks_scored["zeroshot-clap-v1"] == 2
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select track_id, word, value from lexicon_scores where method = 'zeroshot-clap-v1'")
        value = {(t, w): v for t, w, v in cur.fetchall()}
        cur.execute("select count(*), count(distinct provenance), min(provenance) from mood_scores "
                    "where method = 'zeroshot-clap-v1'")
        n, kinds, provenance = cur.fetchone()
    assert len(value) == 2 * len(lexicon.words)
    assert value[(ids["driving"], "driving")] > value[(ids["floaty"], "driving")]
    assert value[(ids["floaty"], "floaty")] > value[(ids["driving"], "floaty")]
    assert n == 2 * len(lexicon.informed_axes()) and (kinds, provenance) == (1, "lexicon")
