"""LAION-CLAP (Wu, Chen et al., ICASSP 2023): registered, but NOT SUPPORTED in this build.

What a working loader would take (already checked, so the configuration can be prepared):

* ``SIDETRACK_CLAP_CHECKPOINT``: a laion_clap checkpoint, e.g. ``music_audioset_epoch_15_esc_90.14.pt``
  or ``630k-audioset-best.pt`` from https://huggingface.co/lukewys/laion_clap (CC0), a dict
  ``{"state_dict": {"module.audio_branch.…", "module.text_branch.…", …}}``;
* ``SIDETRACK_CLAP_TOKENIZER``: a local folder with the ``roberta-base`` tokenizer files
  (``vocab.json``, ``merges.txt``), from https://huggingface.co/FacebookAI/roberta-base.

Why it is unsupported: the `laion_clap` package (1.1.7) cannot be used without downloading or
without torchvision, both excluded here --

* ``laion_clap/clap_module/utils.py`` and ``transform.py`` import torchvision (PyPI torchvision
  does not load beside SideTrack's torch==2.13.0 CPU build), and installing laion_clap with its
  dependencies would downgrade numpy to 1.26 and pull wandb;
* at import, ``laion_clap/training/data.py`` calls ``{Bert,Roberta,Bart}Tokenizer.from_pretrained``
  with hub names, and building the model calls ``RobertaModel.from_pretrained('roberta-base')``
  and ``RobertaTokenizer.from_pretrained('roberta-base')``: network fetches with no way to pass
  local paths.

A faithful re-implementation (HTSAT-tiny Swin audio encoder + RoBERTa-base text encoder + the
two projection MLPs, names matching the checkpoint's ``module.*`` keys) is the way to support it;
it is not done yet, so `load_clap` fails with a `ModelNotAvailableError` saying so rather than
pretending.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sidetrack_pipeline.models import registry

ENV_VAR = "SIDETRACK_CLAP_CHECKPOINT"
TOKENIZER_ENV_VAR = "SIDETRACK_CLAP_TOKENIZER"
MODEL_TITLE = "LAION-CLAP"
HOW_TO_GET = (f"Expected a laion_clap checkpoint such as 'music_audioset_epoch_15_esc_90.14.pt' "
              f"(a dict with 'state_dict') from https://huggingface.co/lukewys/laion_clap, with "
              f"{ENV_VAR} set to its path, and {TOKENIZER_ENV_VAR} set to a local folder holding "
              f"the roberta-base tokenizer files (vocab.json, merges.txt) from "
              f"https://huggingface.co/FacebookAI/roberta-base.")
UNSUPPORTED = (
    "CLAP is not supported in this build of SideTrack: the laion_clap package needs "
    "torchvision (which does not load beside torch==2.13.0) and fetches roberta-base from the "
    "Hugging Face hub when imported and when the model is built, and SideTrack has no own "
    "implementation of CLAP's HTSAT + RoBERTa architecture yet. Choose another model "
    "(msd-musicnn, panns, openl3) in EMBEDDING_MODEL.")
TOKENIZER_FILES = ("vocab.json", "merges.txt")


def tokenizer_dir(path: str | Path | None = None) -> Path:
    """`path`, or else $SIDETRACK_CLAP_TOKENIZER: a folder with roberta-base's tokenizer files."""
    what = f"{MODEL_TITLE} tokenizer"
    if path is None:
        value = os.environ.get(TOKENIZER_ENV_VAR, "").strip()
        if not value:
            raise registry.ModelNotAvailableError(
                f"{what}: set {TOKENIZER_ENV_VAR} to a folder with the roberta-base tokenizer "
                f"files. {HOW_TO_GET}")
        path = value
    folder = Path(path).expanduser()
    missing = [f for f in TOKENIZER_FILES if not (folder / f).is_file()]
    if missing:
        raise registry.ModelNotAvailableError(
            f"{what}: {folder} (from {TOKENIZER_ENV_VAR}) lacks {', '.join(missing)}. "
            f"{HOW_TO_GET}")
    return folder


def load_clap(path: str | Path | None = None, device: str = "cpu",
              tokenizer: str | Path | None = None) -> Any:
    """Checks the configured files, then fails: CLAP is unsupported in this build (see the
    module docstring). Never downloads anything."""
    what = f"{MODEL_TITLE} weights"
    ckpt = registry.weights_path(path, ENV_VAR, what, HOW_TO_GET)
    tokenizer_dir(tokenizer)
    raise registry.ModelNotAvailableError(f"{UNSUPPORTED} (configured weights: {ckpt})")
