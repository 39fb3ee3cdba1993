"""Summary marts (mart_vibe_summary, mart_artist_drift, mart_label_influence) vs an independent
pandas reference (tests/summary_reference.py), on real PostgreSQL with real dbt runs.

Random histories come from the weekly-marts property test (its generator and loader are imported,
not copied); labels and releases are added on top: tracks without a release, releases without a
label, co-released tracks (two or three labels), a label listed twice with two catalogue numbers,
two labels with the same name. A planted history checks that the marts find what was put there:
an artist whose tracks get steadily more energetic, a label that dominates one week, and a word
that is distinctive that week while another word is always high.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest

from tests import marts_reference as ref
from tests import summary_reference as sref
from tests.test_marts_properties import START, load, make_history, read, run_dbt

SUMMARY_MARTS = "+mart_vibe_summary +mart_artist_drift +mart_label_influence"
ALL_CONTRIBUTORS = "{label_influence_top_k: 100000}"
LABEL_NAMES = ["Warp", "Ninja Tune", "Kompakt", "Hyperdub", "Warp", "Ostgut Ton"]  # two 'Warp's


def add_labels(db_url: str, raw: dict, seed: int) -> tuple[dict[int, list[int]], dict[int, str]]:
    """Releases and labels for the loaded tracks. Returns track_id -> distinct label ids, label names."""
    rng = random.Random(seed * 7919 + 1)
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        label_ids = []
        for name in LABEL_NAMES:
            cur.execute("insert into label (name) values (%s) returning label_id", (name,))
            label_ids.append(cur.fetchone()[0])
        release_labels = {}
        for r in range(rng.randint(6, 12)):
            cur.execute("insert into release (release_key, title) values (%s, %s) returning release_id",
                        (f"name:release {r}", f"Release {r}"))
            release_id = cur.fetchone()[0]
            chosen = rng.sample(label_ids, rng.choices([0, 1, 2, 3], [0.2, 0.5, 0.2, 0.1])[0])
            for label_id in chosen:
                cur.execute("insert into release_label (release_id, label_id, catalog_number) "
                            "values (%s, %s, %s)", (release_id, label_id, f"CAT-{r}"))
            if chosen and rng.random() < 0.4:  # the same label again under a second catalogue number
                cur.execute("insert into release_label (release_id, label_id, catalog_number) "
                            "values (%s, %s, %s)", (release_id, chosen[0], f"CAT-{r}-B"))
            release_labels[release_id] = chosen
        track_labels = {}
        for track_id in raw["tracks"].track_id:
            if rng.random() < 0.85:
                release_id = rng.choice(list(release_labels))
                cur.execute("update track set release_id = %s where track_id = %s", (release_id, int(track_id)))
                track_labels[int(track_id)] = release_labels[release_id]
    conn.close()
    return track_labels, dict(zip(label_ids, LABEL_NAMES))


def artist_names(db_url: str) -> dict[int, str]:
    names = read(db_url, "select artist_id, name from artist")
    return dict(zip(names.artist_id, names.name))


def read_vibe(db_url: str) -> pd.DataFrame:
    return read(db_url, "select user_id, week, rank, word, summary_text, score, user_mean, lift, "
                        "word_listens, week_listens from marts.mart_vibe_summary")


def read_drift(db_url: str) -> pd.DataFrame:
    return read(db_url, "select user_id, artist_id, axis, weeks_observed, listens, first_week, last_week, "
                        "span_weeks, mean_value, first_period_mean, latest_period_mean, period_change, "
                        "slope_per_week, slope_se, fitted_change, drift_rank from marts.mart_artist_drift")


def read_influence(db_url: str) -> pd.DataFrame:
    got = read(db_url, "select user_id, week, axis, kind, rank, contributor_id, contributor_name, "
                       "weighted_listens, share, contributor_mean, contribution, week_listens, week_mean, "
                       "baseline_weeks, baseline_mean, deviation, contributors, others_contribution "
                       "from marts.mart_label_influence")
    got["contributor_id"] = [-1 if c is None else c for c in got.contributor_id]  # '(no label)'
    return got


DRIFT_KEYS = ["user_id", "artist_id", "axis", "first_week", "last_week"]
VIBE_KEYS = ["user_id", "week", "rank", "word", "summary_text"]
INFLUENCE_KEYS = ["user_id", "week", "axis", "kind", "rank", "contributor_id", "contributor_name"]


def check_against_reference(db_url: str, raw: dict, track_labels: dict, label_names: dict) -> pd.DataFrame:
    """The three marts (default vars) equal the reference; returns the local-week listens."""
    lw = ref.local_weeks(raw["listens"], raw["users"])
    ref.assert_frames_match(read_vibe(db_url), sref.vibe_summary(lw, raw["lexicon"]), VIBE_KEYS)
    ref.assert_frames_match(read_drift(db_url), sref.artist_drift(lw, raw["tracks"], raw["scores"]), DRIFT_KEYS)
    expected = sref.label_influence(lw, raw["tracks"], raw["scores"], track_labels, label_names,
                                    artist_names(db_url))
    ref.assert_frames_match(read_influence(db_url), expected, INFLUENCE_KEYS)
    return lw


def check_all_contributors(db_url: str, tmp_path: Path, raw: dict, lw: pd.DataFrame,
                           track_labels: dict, label_names: dict) -> pd.DataFrame:
    """Rebuild mart_label_influence with the cut out of reach: every contributor is a row, and per
    user × week × axis × kind the contributions sum to week_mean - baseline_mean."""
    run_dbt(db_url, tmp_path, "build", "--select", "mart_label_influence", "--vars", ALL_CONTRIBUTORS)
    got = read_influence(db_url)
    expected = sref.label_influence(lw, raw["tracks"], raw["scores"], track_labels, label_names,
                                    artist_names(db_url), keep_all=True)
    ref.assert_frames_match(got, expected, INFLUENCE_KEYS)
    assert (got.others_contribution.astype(float) == 0).all()
    groups = got.groupby(["user_id", "week", "axis", "kind"])
    sums = groups.contribution.apply(lambda c: float(sum(map(float, c))))
    deviation = groups.deviation.first().astype(float)
    assert np.allclose(sums, deviation, rtol=0, atol=1e-9), (sums - deviation).abs().max()
    assert (groups.size() == groups.contributors.first().astype(int)).all()
    # the label split keeps every listen whole: weighted listens of a kind add up to the week's N
    listens = groups.weighted_listens.apply(lambda c: float(sum(map(float, c))))
    assert np.allclose(listens, groups.week_listens.first().astype(float), rtol=0, atol=1e-9)
    return got


@pytest.mark.parametrize("seed", [11, 23])
def test_summary_marts_equal_pandas_reference(db_url: str, tmp_path: Path, seed: int) -> None:
    raw = load(db_url, make_history(seed))
    track_labels, label_names = add_labels(db_url, raw, seed)
    run_dbt(db_url, tmp_path, "build", "--select", SUMMARY_MARTS)
    lw = check_against_reference(db_url, raw, track_labels, label_names)

    # With the default cut, the kept contributions plus others_contribution are the deviation.
    top = read_influence(db_url)
    groups = top.groupby(["user_id", "week", "axis", "kind"])
    total = groups.contribution.apply(lambda c: float(sum(map(float, c)))) + \
        groups.others_contribution.first().astype(float)
    assert np.allclose(total, groups.deviation.first().astype(float), rtol=0, atol=1e-9)
    assert (groups.size() == groups.contributors.first().astype(int).clip(upper=sref.INFLUENCE_TOP_K)).all()
    # The baseline is mart_radar's (the weekly marts' reference for it).
    radar = ref.radar(ref.mood_week(lw, raw["scores"])).set_index(["user_id", "week", "axis"])
    for key, base in groups.baseline_mean.first().items():
        assert abs(float(base) - radar.baseline_mean[key[:3]]) < 1e-9, key

    full = check_all_contributors(db_url, tmp_path, raw, lw, track_labels, label_names)

    # A small cut prunes hardest (the model ranks only contributors at or above a lower bound of
    # the k-th largest |contribution|): still exactly the reference's top 2.
    run_dbt(db_url, tmp_path, "build", "--select", "mart_label_influence", "--vars", "{label_influence_top_k: 2}")
    ref.assert_frames_match(read_influence(db_url), sref.label_influence(
        lw, raw["tracks"], raw["scores"], track_labels, label_names, artist_names(db_url), top_k=2),
        INFLUENCE_KEYS)

    # Not vacuous: cuts happen, labels are split, '(no label)' occurs, drift and lift vary.
    assert (top.contributors.astype(int) > sref.INFLUENCE_TOP_K).any()
    assert (top.others_contribution.astype(float) != 0).any()
    labels = full[full.kind == "label"]
    assert (labels.contributor_name == sref.NO_LABEL).any()
    assert (labels.weighted_listens.astype(float) % 1 > 1e-9).any()
    drift = read_drift(db_url)
    assert len(drift) > 30 and (drift.slope_per_week.astype(float) > 0).any() \
        and (drift.slope_per_week.astype(float) < 0).any()
    assert drift.weeks_observed.astype(int).min() >= sref.DRIFT_MIN_WEEKS
    vibe = read_vibe(db_url)
    firsts = vibe[vibe["rank"] == 1]
    assert firsts.groupby("user_id").word.nunique().min() >= 3  # not the same word every week
    assert (vibe.lift.astype(float) > 0).any() and (vibe.lift.astype(float) < 0).any()


# --- planted history ------------------------------------------------------------------------------

WORDS = ["calm", "dark", "euphoric", "melancholic", "tense", "warm"]
PLANTED_WEEKS = 40
DOMINANT_WEEK = 30


def planted_history(seed: int = 3) -> tuple[dict, dict]:
    """One user, 40 weeks. Artist 0 ('Riser'): 10 tracks with energy 0.10, 0.18, ..., 0.82, played
    in that order (track i in weeks 4i..4i+3), two listens a week. Artists 1-4: five tracks each,
    random energy in [0.2, 0.8], six random listens a week. Artist 5: two tracks with energy 0.98,
    played 12 times in week 30 only, on a release of label 'Dominator' alone. Lexicon: 'warm' is
    0.9 on every track (always high, never distinctive); 'dark' is 0.99 on artist 5's tracks and
    random elsewhere; the other words are 0.05 on artist 5's tracks."""
    rng = random.Random(seed)
    artist_of = [0] * 10 + [1 + i // 5 for i in range(20)] + [5, 5]
    energy = [0.10 + 0.08 * i for i in range(10)] + [rng.uniform(0.2, 0.8) for _ in range(20)] + [0.98, 0.98]
    n_tracks = len(artist_of)
    scores = [(t, "energy", "smoothed-v1", energy[t]) for t in range(n_tracks)]
    scores += [(t, "valence", "mir-v2", rng.random()) for t in range(n_tracks)]
    lexicon = []
    for t in range(n_tracks):
        for word in WORDS:
            if word == "warm":
                value = 0.9
            elif artist_of[t] == 5:
                value = 0.99 if word == "dark" else 0.05
            else:
                value = rng.random()
            lexicon.append((t, word, ref.LEXICON_METHOD, value))
    listens = set()
    for week in range(PLANTED_WEEKS):
        monday = START + timedelta(weeks=week, hours=10)  # 2024-01-01 is a Monday; 11:00 in Berlin
        plays = [week // 4] * 2 + [rng.randrange(10, 30) for _ in range(6)]
        if week == DOMINANT_WEEK:
            plays += [30, 31] * 6
        for i, t in enumerate(plays):
            listens.add((0, t, monday + timedelta(hours=3 * i)))
    h = {
        "users": pd.DataFrame({"user_name": ["planted"], "timezone": ["Europe/Berlin"]}),
        "tracks": pd.DataFrame({"t": range(n_tracks), "a": artist_of}),
        "scores": pd.DataFrame(scores, columns=["t", "axis", "method", "value"]),
        "lexicon": pd.DataFrame(lexicon, columns=["t", "word", "method", "value"]),
        "vectors": {},
        "listens": pd.DataFrame(sorted(listens), columns=["u", "t", "played_at"]),
    }
    # releases: 0 = Riser's (label 'Steady'), 1-4 = one per background artist, 5 = artist 5's
    release_labels = {0: ["Steady"], 1: ["Dominator", "Kompakt"], 2: ["Kompakt"], 3: [], 4: ["Warp"],
                      5: ["Dominator"]}
    return h, {"release_of_track": artist_of, "release_labels": release_labels}


def load_planted_labels(db_url: str, raw: dict, plan: dict) -> tuple[dict, dict]:
    conn = psycopg2.connect(db_url)
    label_ids: dict[str, int] = {}
    track_labels = {}
    with conn, conn.cursor() as cur:
        release_ids = {}
        for r, names in plan["release_labels"].items():
            cur.execute("insert into release (release_key, title) values (%s, %s) returning release_id",
                        (f"name:planted {r}", f"Planted {r}"))
            release_ids[r] = cur.fetchone()[0]
            for name in names:
                if name not in label_ids:
                    cur.execute("insert into label (name) values (%s) returning label_id", (name,))
                    label_ids[name] = cur.fetchone()[0]
                cur.execute("insert into release_label (release_id, label_id) values (%s, %s)",
                            (release_ids[r], label_ids[name]))
        for track_id, r in zip(raw["tracks"].track_id, plan["release_of_track"]):
            cur.execute("update track set release_id = %s where track_id = %s", (release_ids[r], int(track_id)))
            track_labels[int(track_id)] = [label_ids[n] for n in plan["release_labels"][r]]
    conn.close()
    return track_labels, {v: k for k, v in label_ids.items()}


def test_planted_drift_label_and_word_are_found(db_url: str, tmp_path: Path) -> None:
    h, plan = planted_history()
    raw = load(db_url, h)
    track_labels, label_names = load_planted_labels(db_url, raw, plan)
    run_dbt(db_url, tmp_path, "build", "--select", SUMMARY_MARTS)
    check_against_reference(db_url, raw, track_labels, label_names)

    artist_id = dict(zip(h["tracks"].a, raw["tracks"].artist_id))
    riser, one_week_artist = artist_id[0], artist_id[5]
    week = (START + timedelta(weeks=DOMINANT_WEEK)).date()

    # Drift: the Riser's energy slope is positive and its drift is the largest of the user's artists.
    drift = read_drift(db_url)
    energy = drift[drift.axis == "energy"].set_index("artist_id")
    assert set(energy.index) == {artist_id[a] for a in range(5)}  # artist 5: one week < 4, left out
    assert float(energy.slope_per_week[riser]) > 0
    assert float(energy.slope_per_week[riser]) > 4 * float(energy.slope_se[riser])
    assert int(energy.drift_rank[riser]) == 1
    assert energy.fitted_change.astype(float).abs().idxmax() == riser
    assert energy.period_change.astype(float).abs().idxmax() == riser
    assert float(energy.period_change[riser]) > 0.3  # 0.26 -> 0.66 by construction

    # Influence: in the dominant week, label 'Dominator' and artist 5 pulled energy most, upwards.
    influence = read_influence(db_url)
    that_week = influence[(influence.week == week) & (influence.axis == "energy") & (influence["rank"] == 1)]
    top = that_week.set_index("kind")
    assert top.contributor_name["label"] == "Dominator"
    assert top.contributor_id["artist"] == one_week_artist
    assert float(top.contribution["label"]) > 0.2 and float(top.deviation["label"]) > 0.2
    # ...and not in an ordinary week (Dominator's other release is a co-release with Kompakt).
    other = influence[(influence.week == (START + timedelta(weeks=20)).date()) & (influence.axis == "energy")
                      & (influence.kind == "label") & (influence["rank"] == 1)]
    assert len(other) == 1 and abs(float(other.contribution.iloc[0])) < 0.2

    # Vibe summary: that week 'dark' is the distinctive word (rank 1) although 'warm', high on every
    # track, has the highest score of the week.
    vibe = read_vibe(db_url)
    mine = vibe[vibe.week == week].set_index("word")
    assert int(mine["rank"]["dark"]) == 1 and mine.summary_text.iloc[0].startswith("dark, ")
    lw = ref.local_weeks(raw["listens"], raw["users"])
    lex = raw["lexicon"][raw["lexicon"].method == ref.LEXICON_METHOD]
    week_scores = lw[lw.week == week].merge(lex, on="track_id").groupby("word").value.mean()
    assert week_scores.idxmax() == "warm" and week_scores["warm"] > float(mine.score["dark"])
    assert float(mine.lift["dark"]) > 0.1 and float(mine.lift["warm"]) < 1e-9  # warm: never distinctive
