"""The instance-wide analysis switches (GPU, Demucs stems, excerpts, extra lexicon words).

Audio analysis and the lexicon are shared by every user of a SideTrack server, so these are not
per-user settings: they live in $SIDETRACK_HOME/preferences.json (sidetrack_pipeline.settings),
which the pipeline reads. An environment variable set on the server wins and locks the switch."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sidetrack_pipeline import settings as pipeline_settings


@dataclass(frozen=True)
class AnalysisSwitches:
    use_gpu: bool
    use_stems: bool
    excerpts: bool
    extra_words: list[str]
    locked: frozenset[str]          # preference keys fixed by the server's environment


EXCERPT_SECONDS = 30


def current() -> AnalysisSwitches:
    env = pipeline_settings.effective_env()
    s = pipeline_settings.get_settings()
    words = [w.strip() for w in env.get("LEXICON_EXTRA_WORDS", "").split(",") if w.strip()]
    return AnalysisSwitches(use_gpu=s.torch_device != "cpu", use_stems=s.use_demucs, excerpts=s.excerpt_seconds > 0,
                            extra_words=words,
                            locked=frozenset(k for k in pipeline_settings.PREFERENCE_KEYS if k in os.environ))


def save(use_gpu: bool, use_stems: bool, excerpts: bool, extra_words: list[str]) -> None:
    """Write the switches the environment does not fix."""
    values = {"TORCH_DEVICE": "auto" if use_gpu else "cpu", "USE_DEMUCS": "true" if use_stems else "false",
              "EXCERPT_SECONDS": str(EXCERPT_SECONDS if excerpts else 0),
              "LEXICON_EXTRA_WORDS": ",".join(extra_words)}
    pipeline_settings.write_preferences({k: v for k, v in values.items() if k not in os.environ})
