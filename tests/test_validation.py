"""`sidetrack validate` on a quick set: real synthesized audio, the real analysis pool and the
real mir-v2 axes; each axis must order the tracks by the knob that controls it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidetrack_pipeline.scoring import axes
from sidetrack_pipeline.validation import report, run
from sidetrack_pipeline.validation.ground_truth import build_set, render_missing


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> run.Result:
    cache = tmp_path_factory.mktemp("validation")
    return run.run(cache=cache, quick=True, with_extras=False)


def _sweep(result: run.Result, group: str, axis: str) -> list[float]:
    """The axis values along one sweep, in increasing order of its knob."""
    members = sorted((i.factor, s[axis]) for i, _, s in result.scored if i.group == group)
    assert len(members) >= 2, group
    return [v for _, v in members]


def test_quick_set_renders_once_and_is_cached(tmp_path):
    items = build_set(quick=True)[:2]
    assert render_missing(items, tmp_path) == 2
    assert render_missing(items, tmp_path) == 0
    assert all(i.path(tmp_path).stat().st_size > 0 for i in items)


def test_tempo_axis_is_monotone_in_tempo(quick):
    values = _sweep(quick, "tempo", "tempo")
    assert len(values) == 4
    assert all(a < b for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("group, axis", [
    ("brightness", "brightness"),
    ("density", "texture_density"),
    ("width", "stereo_size"),
    ("ducking", "pumpiness"),
    ("loudness", "energy"),
])
def test_more_of_the_knob_reads_higher_on_its_axis(quick, group, axis):
    low, high = _sweep(quick, group, axis)
    assert low < high


def test_major_reads_happier_than_minor_in_every_pair(quick):
    assert quick.valence_pairs == 2
    assert quick.valence_wins == 2


def test_report_writes_a_row_per_axis(quick, tmp_path):
    out = report.write(quick, tmp_path / "validation.md")
    text = out.read_text()
    assert quick.method == axes.METHOD == "mir-v2"
    for row in quick.axis_rows:
        assert f"| {row.axis} | {run.FACTOR_LABEL[row.group]} |" in text
    assert {r.axis for r in quick.axis_rows} == {"tempo", "brightness", "stereo_size", "pumpiness",
                                                 "texture_density"}
    assert "| valence | major vs minor" in text and "2/2 pairs" in text
    assert "## Zero-shot lexicon" in text and "not run: skipped" in text
    assert quick.meta["tracks"] == len(build_set(quick=True))
