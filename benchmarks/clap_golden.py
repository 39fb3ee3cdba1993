"""Reference numbers from the ORIGINAL laion_clap code for SideTrack's CLAP re-implementation.

    /tmp/scratch-venv/bin/python benchmarks/clap_golden.py [--wheel DIR]

(``--wheel DIR``: a folder holding an unpacked ``laion_clap-1.1.7`` wheel, put first on sys.path,
instead of the copy installed in the scratch environment.)

Writes two fixtures (the tests never import laion_clap):

* ``tests/fixtures/clap_keys.json``: the names and shapes of every tensor in the state dict of
  laion_clap's ``CLAP`` model (``CLAP_Module(amodel=..., enable_fusion=...).model``) for
  HTSAT-tiny, HTSAT-base and HTSAT-tiny with fusion (``aff_2d``), with the real roberta-base text
  branch -- what the released checkpoints hold, minus the ``module.`` prefix and the
  ``text_branch.embeddings.position_ids`` buffer (which transformers >= 4.31 no longer saves).
* ``tests/fixtures/clap_golden.json``: outputs of laion_clap's own inference API
  (``CLAP_Module.load_ckpt``, ``get_audio_embedding_from_data``, ``get_text_embedding``) on a
  checkpoint of deterministic synthetic weights (`synthetic_state`: a function of the seed and
  each tensor's name, so the test rebuilds the same file from SideTrack's model without
  committing it) for the test signals of `make_test_signals` and the captions `TEXTS`. The
  parity models are smaller than the released ones so the test is fast: HTSAT with
  `PARITY_HTSAT` (the real ``HTSAT_Swin_Transformer`` class at a smaller width and depth) and a
  2-layer RoBERTa with a tiny byte-level BPE vocabulary (`write_tiny_tokenizer`); hidden width
  768 as laion_clap's text projection requires. Both the non-fusion and the fusion model.

Scratch environment (OUTSIDE the project venv; laion_clap is never installed in it):

    python3.11 -m venv /tmp/scratch-venv
    # reuse the project's torch 2.13 / transformers / torchlibrosa / librosa:
    echo /work/main/.venv/lib/python3.11/site-packages \\
        > /tmp/scratch-venv/lib/python3.11/site-packages/mainvenv.pth
    /tmp/scratch-venv/bin/pip install --no-deps laion_clap==1.1.7 torchaudio==2.11.1 \\
        ftfy wcwidth h5py braceexpand webdataset wget
    # torchaudio 2.11's compiled extension does not load beside torch 2.13; its pure-Python
    # transforms (MelSpectrogram, AmplitudeToDB -- all the fusion front end uses) work without:
    rm /tmp/scratch-venv/lib/python3.11/site-packages/torchaudio/lib/*.so

What this script changes in laion_clap, only in memory: ``torchvision`` (imported by
``clap_module/utils.py`` and ``training/data.py`` for things inference does not touch) is a stub
module; ``{Bert,Roberta,Bart}Tokenizer.from_pretrained`` and ``RobertaModel.from_pretrained``
(hub downloads) return the local tiny tokenizer and a randomly initialised ``RobertaModel`` of
the requested configuration; for the parity model ``htsat.create_htsat_model`` builds the real
``HTSAT_Swin_Transformer`` with `PARITY_HTSAT`. Everything else -- preprocessing, quantisation,
padding, the fusion mel (real torchaudio), the forward passes, checkpoint loading -- is
laion_clap's own code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import types
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KEYS_OUT = REPO / "tests" / "fixtures" / "clap_keys.json"
GOLDEN_OUT = REPO / "tests" / "fixtures" / "clap_golden.json"
SEED = 2023
SR = 48000
TEXTS = ["a fast drum and bass track with a heavy breakbeat",
         "solo piano, slow and quiet",
         " ".join(["the bass drops and the crowd cheers"] * 12)]  # > 77 tokens: truncated
PARITY_HTSAT = {"embed_dim": 48, "depths": (2, 2, 2, 2), "num_heads": (2, 4, 8, 16)}
PARITY_TEXT = {"num_hidden_layers": 2}  # + vocab_size of the tiny tokenizer; width 768
N_PROJECTIONS = 4
ROBERTA_POSITIONS = 514

_MERGES = ["Ġ t", "h e", "Ġ a", "i n", "e r", "Ġt he", "a n", "o n", "r e", "Ġ s", "Ġ d",
           "Ġ b", "Ġ p", "o w", "a s", "Ġ c", "e a", "r u", "Ġd r", "Ġdr u", "m s"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_tokenizer(folder: Path) -> Path:
    """A small RoBERTa-style tokenizer (vocab.json, merges.txt): the specials at roberta-base's
    ids (<s>=0, <pad>=1, </s>=2, <unk>=3), the 256 byte symbols, a few merges, <mask> last."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in _bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    for merge in _MERGES:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<mask>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n",
                                       encoding="utf-8")
    return folder


def tiny_vocab_size() -> int:
    return 4 + 256 + len({m.replace(" ", "") for m in _MERGES}) + 1


def parity_text_config() -> dict:
    return {**PARITY_TEXT, "vocab_size": tiny_vocab_size()}


def make_test_signals(sr: int = SR) -> dict[str, np.ndarray]:
    """Deterministic mono float32 test inputs at 48 kHz: 'short' (3.7 s: repeat-padded to 10 s)
    and 'exact' (10 s: one window as is); chords, a kick pattern and a noise floor."""
    rng = np.random.default_rng(SEED)
    out = {}
    for name, seconds in (("short", 3.7), ("exact", 10.0)):
        t = np.arange(int(round(seconds * sr))) / sr
        x = np.zeros_like(t)
        for f0 in (110.0, 220.0 * 2 ** (4 / 12), 220.0 * 2 ** (7 / 12), 880.0):
            x += np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi)) / 4
        beat = (t % 0.5) < 0.08
        x += 0.8 * beat * np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) / 0.05)
        x += 0.02 * rng.standard_normal(t.size)
        out[name] = (0.6 * x / np.abs(x).max()).astype(np.float32)
    return out


_FIXED = ("relative_position_index", "attn_mask", "position_ids", "token_type_ids",
          "num_batches_tracked", "spectrogram_extractor.", "logmel_extractor.", "logit_scale")


def synthetic_state(state: dict, seed: int = SEED) -> dict:
    """Deterministic, reasonably scaled weights for every learned tensor of `state` (a function of
    `seed` and the tensor's name and shape only); constant buffers (STFT/mel kernels, window
    indices and masks, position ids, BatchNorm counters) and the logit scales keep the model's
    own values. Returns a new dict in the same key order."""
    import torch

    out = {}
    for key, value in state.items():
        if any(f in key for f in _FIXED) or not value.is_floating_point():
            out[key] = value.clone()
            continue
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        noise = torch.randn(value.shape, generator=gen, dtype=torch.float32)
        if key.endswith("running_var"):
            new = 1.0 + 0.2 * noise.abs()
        elif key.endswith("running_mean"):
            new = 0.1 * noise
        elif "relative_position_bias_table" in key:
            new = 0.02 * noise
        elif value.ndim == 1 and key.endswith("weight"):  # LayerNorm / BatchNorm scale
            new = 1.0 + 0.1 * noise
        elif value.ndim <= 1:  # biases
            new = 0.02 * noise
        else:
            new = noise / math.sqrt(max(1, int(np.prod(value.shape[1:]))))
        out[key] = new.to(value.dtype)
    return out


def checkpoint_dict(state: dict, with_position_ids: bool = True) -> dict:
    """The released checkpoints' layout: ``{"epoch", "state_dict": {"module.<key>": tensor}}``,
    with the ``text_branch.embeddings.position_ids`` buffer older transformers saved."""
    import torch

    sd = {f"module.{k}": v for k, v in state.items()}
    if with_position_ids:
        sd["module.text_branch.embeddings.position_ids"] = torch.arange(ROBERTA_POSITIONS)[None]
    return {"epoch": 1, "state_dict": sd}


def projections(seed: int = SEED, dim: int = 512) -> np.ndarray:
    """(dim, N_PROJECTIONS) fixed random directions: a few numbers that depend on every
    component of an embedding."""
    return np.random.default_rng(seed).standard_normal((dim, N_PROJECTIONS))


def summarize(vectors: np.ndarray) -> list[dict]:
    v = np.asarray(vectors, dtype=np.float64)
    return [{"first8": _round(row[:8]), "norm": _round(np.linalg.norm(row)),
             "sum": _round(row.sum()), "proj": _round(row @ projections())} for row in v]


def _round(values, digits: int = 9):
    arr = np.asarray(values, dtype=np.float64)
    rounded = np.vectorize(lambda x: float(f"{x:.{digits}g}"), otypes=[object])(arr)
    return rounded.tolist() if arr.ndim else float(rounded)


# --- scratch-environment only ---------------------------------------------------------------------

def _import_laion_clap(wheel: Path | None) -> types.ModuleType:
    import transformers

    if wheel is not None:
        sys.path.insert(0, str(wheel))
    class _Stub(types.ModuleType):  # any attribute is an inert placeholder class
        def __getattr__(self, name: str) -> type:
            if name.startswith("__"):
                raise AttributeError(name)
            return type(name, (), {"__doc__": "torchvision stub (unused at inference)"})

    for name in ("torchvision", "torchvision.datasets", "torchvision.transforms",
                 "torchvision.ops", "torchvision.ops.misc"):
        sys.modules[name] = _Stub(name)

    tok_dir = write_tiny_tokenizer(Path(tempfile.mkdtemp()) / "tok")
    real_tok = transformers.RobertaTokenizer

    def local_tokenizer(cls, name, *a, **k):  # noqa: ANN001
        if cls is real_tok or issubclass(cls, real_tok):
            return real_tok(vocab_file=str(tok_dir / "vocab.json"),
                            merges_file=str(tok_dir / "merges.txt"))
        return None  # BERT/BART tokenizers: built at import, unused for RoBERTa CLAP

    for cls in (transformers.BertTokenizer, transformers.RobertaTokenizer,
                transformers.BartTokenizer):
        cls.from_pretrained = classmethod(local_tokenizer)

    def local_roberta(cls, name, *a, **k):  # noqa: ANN001
        assert name == "roberta-base", name
        from sidetrack_pipeline.models.clap import ROBERTA_BASE

        config = transformers.RobertaConfig(**{**ROBERTA_BASE, **_TEXT_CONFIG})
        return transformers.RobertaModel(config, add_pooling_layer=True)

    transformers.RobertaModel.from_pretrained = classmethod(local_roberta)
    import laion_clap
    return laion_clap


_TEXT_CONFIG: dict = {}


def _set_parity_htsat(enabled: bool) -> None:
    """Make laion_clap's model factory build the real HTSAT class at `PARITY_HTSAT` size."""
    import clap_module.htsat as htsat_mod
    import clap_module.model as model_mod

    original = getattr(_set_parity_htsat, "original", None) or model_mod.create_htsat_model
    _set_parity_htsat.original = original  # type: ignore[attr-defined]

    def small(audio_cfg, enable_fusion=False, fusion_type="None"):  # noqa: ANN001
        return htsat_mod.HTSAT_Swin_Transformer(
            spec_size=256, patch_size=4, patch_stride=(4, 4), num_classes=audio_cfg.class_num,
            embed_dim=PARITY_HTSAT["embed_dim"], depths=list(PARITY_HTSAT["depths"]),
            num_heads=list(PARITY_HTSAT["num_heads"]), window_size=8, config=audio_cfg,
            enable_fusion=enable_fusion, fusion_type=fusion_type)

    model_mod.create_htsat_model = small if enabled else original
    # CLAP sizes audio_projection's input from the config's embed_dim (HTSAT's num_features)
    import clap_module.factory as factory_mod

    cfg = factory_mod._MODEL_CONFIGS["HTSAT-tiny"]
    cfg["embed_dim"] = PARITY_HTSAT["embed_dim"] * 8 if enabled else 768


def _keys(laion_clap: types.ModuleType) -> dict:
    import torch

    torch.manual_seed(0)
    _TEXT_CONFIG.clear()
    _set_parity_htsat(False)
    variants, text = {}, None
    for name, amodel, fusion in (("HTSAT-tiny", "HTSAT-tiny", False),
                                 ("HTSAT-base", "HTSAT-base", False),
                                 ("HTSAT-tiny fusion", "HTSAT-tiny", True)):
        module = laion_clap.CLAP_Module(enable_fusion=fusion, device="cpu", amodel=amodel)
        sd = module.model.state_dict()
        this_text = {k: list(v.shape) for k, v in sd.items() if k.startswith("text_branch.")}
        assert text is None or this_text == text
        text = this_text
        variants[name] = {k: list(v.shape) for k, v in sd.items()
                          if not k.startswith("text_branch.")}
        print(f"{name}: {len(sd)} tensors")
        del module
    return {"generator": "benchmarks/clap_golden.py", "laion_clap": "1.1.7",
            "note": "state_dict of laion_clap's CLAP model (no 'module.' prefix); text_branch "
                    "tensors are the same for every variant",
            "text_branch": text, "variants": variants}


def _golden(laion_clap: types.ModuleType) -> dict:
    import torch
    from laion_clap.training import data as lc_data  # the copy laion_clap's hook uses

    torch.manual_seed(0)
    _TEXT_CONFIG.clear()
    _TEXT_CONFIG.update(parity_text_config())
    _set_parity_htsat(True)
    signals = make_test_signals()
    result: dict = {"generator": "benchmarks/clap_golden.py", "laion_clap": "1.1.7",
                    "seed": SEED, "parity_htsat": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in PARITY_HTSAT.items()},
                    "parity_text": parity_text_config(), "texts": TEXTS,
                    "signals": list(signals), "models": {}}
    for name, fusion in (("non-fusion", False), ("fusion", True)):
        module = laion_clap.CLAP_Module(enable_fusion=fusion, device="cpu", amodel="HTSAT-tiny")
        state = synthetic_state(module.model.state_dict())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "synthetic.pt"
            torch.save(checkpoint_dict(state), path)
            module.load_ckpt(ckpt=str(path), verbose=False)
        loaded = module.model.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in state.items())
        with torch.no_grad():
            audio = module.get_audio_embedding_from_data(x=[signals[s] for s in signals])
            text = module.get_text_embedding(TEXTS)
        entry = {"audio": dict(zip(signals, summarize(audio))), "text": summarize(text),
                 "cosine_audio_text": _round(audio @ text.T)}
        if fusion:  # the fusion front end, laion_clap get_mel (torchaudio), on the padded input
            x = torch.from_numpy(laion_clap.hook.int16_to_float32(
                laion_clap.hook.float32_to_int16(signals["short"])))
            feats = lc_data.get_audio_features({}, x, 480000, "fusion", "repeatpad",
                                               module.model_cfg["audio_cfg"])
            mel = feats["mel_fusion"][0].numpy()
            entry["mel_frames"] = {str(i): _round(mel[i, :8]) for i in (0, 1, 500, 1000)}
            entry["mel_shape"] = list(mel.shape)
        result["models"][name] = entry
        print(name, "audio norms", np.linalg.norm(audio, axis=1), "text", text.shape)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, default=None,
                        help="folder with an unpacked laion_clap wheel (default: the installed one)")
    parser.add_argument("--keys-out", type=Path, default=KEYS_OUT)
    parser.add_argument("--golden-out", type=Path, default=GOLDEN_OUT)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    laion_clap = _import_laion_clap(args.wheel)
    keys = _keys(laion_clap)
    args.keys_out.write_text(json.dumps(keys, indent=0, separators=(",", ":")) + "\n")
    golden = _golden(laion_clap)
    args.golden_out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {args.keys_out} and {args.golden_out}")


if __name__ == "__main__":
    main()
