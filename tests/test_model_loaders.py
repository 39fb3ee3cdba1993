"""Loaders of the models whose weights come only from a user-given file (PANNs, OpenL3, Demucs,
CLAP): small random-weight checkpoints built from the real architecture classes, written in each
model's official file format, loaded back strictly; and the failure paths. No network: every
test runs with Hugging Face offline and non-loopback socket connections refused."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from sidetrack_pipeline.models import registry
from sidetrack_pipeline.models.registry import ModelNotAvailableError

_LOOPBACK = ("127.", "::1", "localhost")
# The architecture packages (the 'models' extra + torchopenl3, demucs installed --no-deps by
# scripts/setup.sh) are required: a missing one fails these tests instead of skipping them.

@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Refuse socket connections to anything but loopback (a guard, not a mock) and record
    the attempts; HF libraries offline."""
    attempts: list = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address, *args, **kwargs):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family == socket.AF_UNIX or str(host).startswith(_LOOPBACK):
            return real_connect(self, address, *args, **kwargs)
        attempts.append(address)
        raise ConnectionRefusedError(f"network access blocked in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for var in ("SIDETRACK_PANNS_CHECKPOINT", "SIDETRACK_OPENL3_WEIGHTS",
                "SIDETRACK_DEMUCS_CHECKPOINT", "SIDETRACK_CLAP_CHECKPOINT",
                "SIDETRACK_CLAP_TOKENIZER"):
        monkeypatch.delenv(var, raising=False)
    yield attempts
    assert attempts == [], f"network was touched: {attempts}"


def _tone(sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).standard_normal(
        t.size)).astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels)


def _common_failures(load, env_var: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                     ) -> None:
    """Unset env var, missing file, a file that is not a checkpoint: clear errors."""
    with pytest.raises(ModelNotAvailableError, match=env_var):
        load(None, "cpu")
    monkeypatch.setenv(env_var, str(tmp_path / "nope.pt"))
    with pytest.raises(ModelNotAvailableError, match=f"(?s)nope.pt.*{env_var}.*does not exist"):
        load(None, "cpu")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(np.random.default_rng(1).bytes(4096))
    monkeypatch.setenv(env_var, str(junk))
    with pytest.raises(ModelNotAvailableError, match="not a readable PyTorch checkpoint"):
        load(None, "cpu")
    monkeypatch.delenv(env_var)


# --- PANNs Cnn14 ---------------------------------------------------------------------------------

_SMALL_CNN14 = {"widths": (4, 8, 8, 16, 16, 32), "classes_num": 5}


def test_panns_loads_official_format_and_embeds(tmp_path, monkeypatch):
    from sidetrack_pipeline.models.panns import Cnn14, load_panns

    torch.manual_seed(0)
    net = Cnn14(**_SMALL_CNN14)
    path = tmp_path / "Cnn14_small.pth"
    torch.save({"iteration": 0, "model": net.state_dict()}, path)  # PANNs' training format
    monkeypatch.setenv("SIDETRACK_PANNS_CHECKPOINT", str(path))
    model = load_panns(None, "cpu", config=_SMALL_CNN14)
    assert model.embedding_dim == 32
    for k, v in net.state_dict().items():
        assert torch.equal(model.net.state_dict()[k], v), k
    emb = model.embed(_tone(22050, 2.0), 22050)
    assert emb.shape == (32,) and emb.dtype == np.float32 and np.isfinite(emb).all()
    # the official architecture's embedding size and front-end keys
    official = Cnn14().state_dict()
    assert official["fc1.weight"].shape == (2048, 2048)
    assert {"spectrogram_extractor.stft.conv_real.weight", "logmel_extractor.melW",
            "fc_audioset.weight"} <= set(official)


def test_panns_failures(tmp_path, monkeypatch):
    from sidetrack_pipeline.models.panns import Cnn14, load_panns

    load = lambda p, d: load_panns(p, d, config=_SMALL_CNN14)  # noqa: E731
    _common_failures(load, "SIDETRACK_PANNS_CHECKPOINT", tmp_path, monkeypatch)
    state = Cnn14(**_SMALL_CNN14).state_dict()
    bad = tmp_path / "bad.pth"
    torch.save({"model": {k: v for k, v in state.items() if k != "fc1.bias"}}, bad)
    with pytest.raises(ModelNotAvailableError, match=r"missing keys \(1\): fc1\.bias"):
        load_panns(bad, "cpu", config=_SMALL_CNN14)
    state["conv_block2.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save({"model": state}, bad)
    with pytest.raises(ModelNotAvailableError, match=r"mis-shaped.*conv_block2\.conv1\.weight"):
        load_panns(bad, "cpu", config=_SMALL_CNN14)
    torch.save(Cnn14(**_SMALL_CNN14).state_dict(), bad)  # a bare state dict, no 'model' key
    with pytest.raises(ModelNotAvailableError, match="expected a dict with key 'model'"):
        load_panns(bad, "cpu", config=_SMALL_CNN14)


# --- OpenL3 (torchopenl3) ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openl3_state() -> dict:
    from torchopenl3.models import PytorchOpenl3

    torch.manual_seed(0)
    return PytorchOpenl3(content_type="music", input_repr="mel128", embedding_size=512
                         ).state_dict()


def test_openl3_loads_torchopenl3_file_and_embeds(tmp_path, monkeypatch, openl3_state):
    from sidetrack_pipeline.models.openl3 import load_openl3

    path = tmp_path / "torchopenl3_mel128_music_512.pth.tar"
    torch.save(openl3_state, path)  # torchopenl3's format: a plain state dict
    monkeypatch.setenv("SIDETRACK_OPENL3_WEIGHTS", str(path))
    model = registry.load_model("openl3", device="cpu", cache_dir=tmp_path)
    assert registry.get_spec("openl3").embedding_dim == model.embedding_dim == 512
    emb = model.embed(_tone(44100, 1.5), 44100)
    assert emb.shape == (512,) and np.isfinite(emb).all()


def test_openl3_failures(tmp_path, monkeypatch, openl3_state):
    from sidetrack_pipeline.models.openl3 import load_openl3

    _common_failures(load_openl3, "SIDETRACK_OPENL3_WEIGHTS", tmp_path, monkeypatch)
    bad = tmp_path / "bad.pth.tar"
    state = dict(openl3_state)
    del state["audio_embedding_layer.bias"]
    state["surprise.weight"] = torch.zeros(1)
    torch.save(state, bad)
    with pytest.raises(ModelNotAvailableError,
                       match=r"(?s)audio_embedding_layer\.bias.*unexpected.*surprise\.weight"):
        load_openl3(bad, "cpu")
    # a mel128 file loaded as mel256: the filterbank's shape is wrong
    torch.save(openl3_state, bad)
    with pytest.raises(ModelNotAvailableError, match=r"mis-shaped.*speclayer\.mel_basis"):
        load_openl3(bad, "cpu", input_repr="mel256")


# --- Demucs (htdemucs) ---------------------------------------------------------------------------

def _small_htdemucs_package() -> dict:
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state

    torch.manual_seed(0)
    net = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=8, depth=2,
                   t_layers=1, t_heads=2, nfft=1024, segment=2)
    args, kwargs = net._init_args_kwargs
    # demucs.states.serialize_model's layout (without its omegaconf dependency)
    return {"klass": HTDemucs, "args": args, "kwargs": kwargs,
            "state": get_state(net, None, half=True), "training_args": {}}


def test_demucs_loads_package_and_separates(tmp_path, monkeypatch):
    from sidetrack_pipeline.models.demucs import STEMS

    path = tmp_path / "small-htdemucs.th"
    torch.save(_small_htdemucs_package(), path)
    monkeypatch.setenv("SIDETRACK_DEMUCS_CHECKPOINT", str(path))
    model = registry.load_model("htdemucs", device="cpu", cache_dir=tmp_path)
    assert model.sources == STEMS and model.sample_rate == 44100
    stems = model.separate(_tone(22050, 1.0, channels=2), 22050)
    assert set(stems) == set(STEMS)
    for stem in stems.values():
        assert stem.shape == (2, 22050) and np.isfinite(stem).all()


def test_demucs_failures(tmp_path, monkeypatch):
    from sidetrack_pipeline.models.demucs import load_demucs

    _common_failures(load_demucs, "SIDETRACK_DEMUCS_CHECKPOINT", tmp_path, monkeypatch)
    package = _small_htdemucs_package()
    key = next(k for k in package["state"] if k.endswith("weight"))
    package["state"][key] = torch.zeros(1, 2, 3)
    bad = tmp_path / "bad.th"
    torch.save(package, bad)
    with pytest.raises(ModelNotAvailableError, match=rf"mis-shaped.*{key}"):
        load_demucs(bad, "cpu")
    torch.save({"state": package["state"]}, bad)
    with pytest.raises(ModelNotAvailableError, match="not a demucs model package"):
        load_demucs(bad, "cpu")
    torch.save({**package, "klass": dict}, bad)  # an arbitrary pickled global: refused
    with pytest.raises(ModelNotAvailableError, match="not a readable PyTorch checkpoint"):
        load_demucs(bad, "cpu")


# --- CLAP (HTSAT + RoBERTa) ----------------------------------------------------------------------
#
# Random-weight checkpoints built from SideTrack's own classes, saved in the released layout
# ({"state_dict": {"module.<key>": ...}} plus the text_branch.embeddings.position_ids buffer),
# with a tiny RoBERTa-style tokenizer written here. What the small models cannot show is checked
# against fixtures made by the ORIGINAL laion_clap code (benchmarks/clap_golden.py, run in a
# scratch environment): the tensor names and shapes of the real HTSAT-tiny/-base/fusion models
# (clap_keys.json) and laion_clap's embeddings of a deterministic synthetic checkpoint
# (clap_golden.json).

_CLAP_FIXTURES = Path(__file__).parent / "fixtures"
CLAP_KEYS = json.loads((_CLAP_FIXTURES / "clap_keys.json").read_text())
CLAP_GOLDEN = json.loads((_CLAP_FIXTURES / "clap_golden.json").read_text())
_SMALL_HTSAT = {"embed_dim": 8, "depths": (2, 2, 2, 2), "num_heads": (1, 2, 2, 4),
                "num_classes": 5}
_CLAP_ENV, _TOK_ENV = "SIDETRACK_CLAP_CHECKPOINT", "SIDETRACK_CLAP_TOKENIZER"


def _small_text() -> dict:
    from benchmarks.clap_golden import tiny_vocab_size

    return {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "vocab_size": tiny_vocab_size(),
            "max_position_embeddings": 80}


@pytest.fixture(scope="module")
def clap_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks.clap_golden import write_tiny_tokenizer

    return write_tiny_tokenizer(tmp_path_factory.mktemp("clap") / "roberta-tiny")


@pytest.fixture(scope="module")
def clap_small_state() -> dict:
    from benchmarks.clap_golden import synthetic_state
    from sidetrack_pipeline.models.clap import ClapNet

    torch.manual_seed(0)
    return synthetic_state(ClapNet(htsat=_SMALL_HTSAT, text_config=_small_text()).state_dict())


def _save_clap(path: Path, state: dict, **kwargs) -> Path:
    from benchmarks.clap_golden import checkpoint_dict

    torch.save(checkpoint_dict(state), path, **kwargs)
    return path


def _load_small(path, device="cpu", tokenizer=None):  # type: ignore[no-untyped-def]
    from sidetrack_pipeline.models.clap import load_clap

    return load_clap(path, device, tokenizer=tokenizer, text_config=_small_text())


def test_clap_loads_released_layout_and_embeds(tmp_path, monkeypatch, clap_tokenizer,
                                               clap_small_state):
    import sys

    path = _save_clap(tmp_path / "630k-small.pt", clap_small_state)
    monkeypatch.setenv(_CLAP_ENV, str(path))
    monkeypatch.setenv(_TOK_ENV, str(clap_tokenizer))
    model = _load_small(None)
    assert model.variant == "HTSAT(embed_dim=8, depths=(2, 2, 2, 2))"
    assert model.embedding_dim == registry.get_spec("clap").embedding_dim == 512
    loaded = model.net.state_dict()
    assert set(loaded) == set(clap_small_state)  # the position_ids buffer was dropped
    for k, v in clap_small_state.items():
        assert torch.equal(loaded[k], v), k

    tone = _tone(22050, 3.0)
    emb = model.embed_audio(tone, 22050)
    assert emb.shape == (512,) and emb.dtype == np.float32
    assert float(np.linalg.norm(emb)) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(emb, model.embed_audio(tone, 22050))  # deterministic
    np.testing.assert_array_equal(emb, model.embed(tone, 22050))  # the embeddings asset's call
    noise = np.random.default_rng(5).uniform(-0.5, 0.5, 3 * 22050).astype(np.float32)
    assert np.abs(model.embed_audio(noise, 22050) - emb).max() > 1e-4

    texts = model.embed_text(["a drum loop", "solo piano", "a drum loop"])
    assert texts.shape == (3, 512) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(texts[0], texts[2])
    assert np.abs(texts[0] - texts[1]).max() > 1e-4
    np.testing.assert_allclose(model.embed_text("a drum loop")[0], texts[0], atol=1e-6)
    assert model.embed_text(["word " * 200]).shape == (1, 512)  # truncated to 77 tokens
    assert "torchvision" not in sys.modules


def test_clap_preprocessing_and_long_signals(tmp_path, clap_tokenizer, clap_small_state):
    from sidetrack_pipeline.models.clap import audio_windows, quantize_int16, repeat_pad

    # laion_clap's int16 round trip: clip, scale by 32767, truncate, divide
    np.testing.assert_array_equal(
        quantize_int16(np.array([0.5, -1.5, 1.0, 1e-5, -0.25], np.float32)),
        np.array([16383, -32767, 32767, 0, -8191], np.float32) / np.float32(32767))
    # repeatpad: whole repeats (int(480000 / n)), then zeros
    ramp = np.arange(1, 150001, dtype=np.float32)
    padded = repeat_pad(ramp)
    assert padded.shape == (480000,)
    np.testing.assert_array_equal(padded[:450000], np.tile(ramp, 3))
    assert not padded[450000:].any()

    model = _load_small(_save_clap(tmp_path / "c.pt", clap_small_state), tokenizer=clap_tokenizer)
    x = np.random.default_rng(3).uniform(-0.5, 0.5, 25 * 48000).astype(np.float32)
    q = quantize_int16(x)
    windows = audio_windows(q)  # ceil(25 / 10) = 3 windows, start, middle, end
    assert windows.shape == (3, 480000)
    for row, start in zip(windows, (0, 360000, 720000)):
        np.testing.assert_array_equal(row, q[start:start + 480000])
    per_window = model.window_embeddings(x, 48000)
    assert per_window.shape == (3, 512)
    with torch.inference_mode():
        direct = model.net.audio_embedding(torch.from_numpy(windows)).numpy()
    np.testing.assert_allclose(per_window, direct, atol=1e-6)
    mean = per_window.mean(axis=0)
    np.testing.assert_allclose(model.embed_audio(x, 48000), mean / np.linalg.norm(mean),
                               atol=1e-6)
    with pytest.raises(ValueError, match="non-empty mono"):
        model.embed_audio(np.zeros((2, 100), np.float32), 48000)


def test_clap_failures(tmp_path, monkeypatch, clap_tokenizer, clap_small_state):
    from sidetrack_pipeline.models.panns import Cnn14

    monkeypatch.setenv(_TOK_ENV, str(clap_tokenizer))
    _common_failures(_load_small, _CLAP_ENV, tmp_path, monkeypatch)
    good = _save_clap(tmp_path / "good.pt", clap_small_state)

    # tokenizer: unset, incomplete, unreadable, not the checkpoint's vocabulary
    monkeypatch.delenv(_TOK_ENV)
    with pytest.raises(ModelNotAvailableError, match=f"set {_TOK_ENV}"):
        _load_small(good)
    half = tmp_path / "half"
    half.mkdir()
    (half / "vocab.json").write_text((clap_tokenizer / "vocab.json").read_text())
    with pytest.raises(ModelNotAvailableError, match=r"(?s)half.*lacks merges\.txt"):
        _load_small(good, tokenizer=half)
    (half / "merges.txt").write_text("#version: 0.2\n")
    (half / "vocab.json").write_text("{not json")
    with pytest.raises(ModelNotAvailableError, match="cannot read the tokenizer files"):
        _load_small(good, tokenizer=half)
    vocab = json.loads((clap_tokenizer / "vocab.json").read_text())
    vocab.update({f"extra{i}": len(vocab) + i for i in range(10)})
    (half / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelNotAvailableError, match="more than the checkpoint's text branch"):
        _load_small(good, tokenizer=half)
    monkeypatch.setenv(_TOK_ENV, str(clap_tokenizer))

    bad = tmp_path / "bad.pt"
    state = dict(clap_small_state)
    del state["audio_projection.0.bias"]
    state["surprise.weight"] = torch.zeros(1)
    _save_clap(bad, state)
    with pytest.raises(ModelNotAvailableError, match=r"(?s)missing keys \(1\): audio_projection"
                       r"\.0\.bias.*unexpected keys \(1\): surprise\.weight"):
        _load_small(bad)
    # only the one known buffer is tolerated
    _save_clap(bad, {**clap_small_state,
                     "text_branch.embeddings.token_type_ids": torch.zeros(1, 80, dtype=torch.long)})
    with pytest.raises(ModelNotAvailableError,
                       match=r"unexpected keys \(1\): text_branch\.embeddings\.token_type_ids"):
        _load_small(bad)
    # the registry loads roberta-base's sizes: a smaller text branch is named as mis-shaped
    monkeypatch.setenv(_CLAP_ENV, str(good))
    with pytest.raises(ModelNotAvailableError,
                       match=r"mis-shaped.*text_branch\.embeddings\.word_embeddings\.weight"):
        registry.load_model("clap", cache_dir=tmp_path)
    # other models' checkpoints
    cnn14 = Cnn14(**_SMALL_CNN14).state_dict()
    torch.save({"model": cnn14}, bad)  # PANNs' own layout
    with pytest.raises(ModelNotAvailableError, match="expected a dict with 'state_dict'"):
        _load_small(bad)
    torch.save({"state_dict": cnn14}, bad)
    with pytest.raises(ModelNotAvailableError,
                       match=r"not a LAION-CLAP checkpoint.*no audio_branch"):
        _load_small(bad)
    # CLAP variants SideTrack does not implement
    no_pooler = {k: v for k, v in clap_small_state.items() if not k.startswith("text_branch.pooler")}
    _save_clap(bad, no_pooler)
    with pytest.raises(ModelNotAvailableError, match="text branch other than RoBERTa"):
        _load_small(bad)
    iaff = {**clap_small_state, "audio_branch.patch_embed.mel_conv2d.weight": torch.zeros(8, 1, 4, 12),
            "audio_branch.patch_embed.fusion_model.local_att.0.weight": torch.zeros(2, 8, 1, 1),
            "audio_branch.patch_embed.fusion_model.local_att2.0.weight": torch.zeros(2, 8, 1, 1)}
    _save_clap(bad, iaff)
    with pytest.raises(ModelNotAvailableError, match="fusion type other than 'aff_2d'"):
        _load_small(bad)


def _rewrite_pickle(src: Path, dst: Path, old: bytes, new: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):
                assert old in data
                data = data.replace(old, new)
            zout.writestr(info, data)


def test_clap_reads_numpy_scalars_and_newer_pickle_protocols(tmp_path, clap_tokenizer,
                                                              clap_small_state):
    """The released checkpoints hold NumPy scalars pickled under NumPy 1's module names; a file
    pickled with protocol >= 3 goes through the restricted unpickler; other globals are refused."""
    import datetime

    from benchmarks.clap_golden import checkpoint_dict

    obj = checkpoint_dict(clap_small_state)
    obj.update({"best_metric": np.float64(0.9014), "lr": np.float32(1e-4)})
    numpy2 = tmp_path / "numpy2.pt"
    torch.save(obj, numpy2)
    numpy1 = tmp_path / "numpy1.pt"
    _rewrite_pickle(numpy2, numpy1, b"numpy._core.multiarray\nscalar",
                    b"numpy.core.multiarray\nscalar")
    proto4 = tmp_path / "proto4.pt"
    torch.save(obj, proto4, pickle_protocol=4)
    key = "audio_projection.2.weight"
    for path in (numpy2, numpy1, proto4):
        model = _load_small(path, tokenizer=clap_tokenizer)
        assert torch.equal(model.net.state_dict()[key], clap_small_state[key]), path
    marker = tmp_path / "created-by-unpickling"

    class MakesADirectory:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.mkdir, (str(marker),))

    for extra, name in ((datetime.date(2023, 1, 1), "datetime.date"),
                        (MakesADirectory(), f"{os.mkdir.__module__}.mkdir")):
        for protocol in (2, 4):
            evil = tmp_path / f"evil{protocol}.pt"
            torch.save({**obj, "extra": extra}, evil, pickle_protocol=protocol)
            # protocol 2: torch's weights-only reader refuses; 4: SideTrack's restricted one
            match = "Weights only load failed" if protocol == 2 else f"{name} is not allowed"
            with pytest.raises(ModelNotAvailableError,
                               match=f"(?s)not a readable PyTorch checkpoint.*{match}"):
                _load_small(evil, tokenizer=clap_tokenizer)
    assert not marker.exists()


def test_clap_in_a_fresh_process_touches_no_network(tmp_path, clap_tokenizer, clap_small_state):
    """transformers is imported for the first time in a new interpreter with every socket
    connection and DNS lookup refused and no HF_* variables set: loading and embedding audio
    and text must not try the network, nor import torchvision/torchaudio."""
    import subprocess
    import sys

    path = _save_clap(tmp_path / "c.pt", clap_small_state)
    script = f"""
import json, socket, sys
import numpy as np
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] or args))
    raise ConnectionRefusedError("network blocked")
socket.socket.connect = refuse
socket.getaddrinfo = refuse
from sidetrack_pipeline.models.clap import load_clap
model = load_clap({str(path)!r}, "cpu", tokenizer={str(clap_tokenizer)!r},
                  text_config=json.loads({json.dumps(_small_text())!r}))
audio = model.embed_audio(np.sin(np.arange(44100) / 7.0).astype(np.float32), 44100)
text = model.embed_text(["a drum loop"])
print(json.dumps({{"attempts": attempts, "shapes": [list(audio.shape), list(text.shape)],
                  "loaded": sorted({{m.split('.')[0] for m in sys.modules}} &
                                   {{"transformers", "torchvision", "torchaudio"}})}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"attempts": [], "shapes": [[512], [1, 512]], "loaded": ["transformers"]}


def test_clap_key_names_and_shapes_match_laion_clap():
    """SideTrack's model has exactly the tensors (names, shapes) of laion_clap's CLAP for the
    released sizes, and the variant is read off those names and shapes."""
    from sidetrack_pipeline.models.clap import HTSAT_VARIANTS, ClapNet, describe_checkpoint

    text = CLAP_KEYS["text_branch"]
    assert len(CLAP_KEYS["variants"]) == 3
    for name, audio in CLAP_KEYS["variants"].items():
        fusion = name.endswith(" fusion")
        embed_dim, depths = HTSAT_VARIANTS[name.split()[0]]
        expected = {**audio, **text}
        fake = {k: torch.empty(shape, device="meta") for k, shape in expected.items()}
        variant, htsat, is_fusion = describe_checkpoint(fake, "test", Path("fixture"))
        assert (variant, is_fusion) == (name, fusion)
        assert htsat == {"embed_dim": embed_dim, "depths": depths, "num_heads": (4, 8, 16, 32),
                         "num_classes": 527}
        # the full RoBERTa-base text branch once; the rest for every variant (with a 1-layer
        # text branch of roberta-base's width, as text_projection's shape depends on it)
        full_text = name == "HTSAT-tiny"
        net = ClapNet(htsat=htsat, fusion=fusion, text_config=None if full_text else {
            "num_hidden_layers": 1, "vocab_size": 300})
        got = {k: list(v.shape) for k, v in net.state_dict().items()}
        if full_text:
            assert got == expected
        else:
            assert {k: v for k, v in got.items() if not k.startswith("text_branch.")} == audio
        del net


def _assert_close_to_reference(vector: np.ndarray, ref: dict) -> None:
    from benchmarks.clap_golden import projections

    v = np.asarray(vector, dtype=np.float64)
    # measured agreement ~2e-8 (first values) and ~5e-7 (projections); leaving out laion_clap's
    # int16 round trip alone moves them by ~3e-6 and ~6e-5
    np.testing.assert_allclose(v[:8], ref["first8"], rtol=0, atol=5e-7)
    np.testing.assert_allclose(v @ projections(), ref["proj"], rtol=0, atol=5e-6)
    assert float(np.linalg.norm(v)) == pytest.approx(ref["norm"], abs=1e-6)


@pytest.mark.parametrize("kind", ["non-fusion", "fusion"])
def test_clap_matches_laion_clap_reference(tmp_path, clap_tokenizer, kind):
    """laion_clap's own inference API on the same synthetic checkpoint (same seed, rebuilt here
    from SideTrack's model) gave these embeddings: SideTrack reproduces them."""
    from benchmarks.clap_golden import (
        PARITY_HTSAT, TEXTS, checkpoint_dict, make_test_signals, parity_text_config,
        synthetic_state)
    from sidetrack_pipeline.models.clap import (
        ClapNet, TorchaudioLogMel, load_clap, quantize_int16, repeat_pad)

    golden = CLAP_GOLDEN["models"][kind]
    assert CLAP_GOLDEN["texts"] == TEXTS and CLAP_GOLDEN["parity_text"] == parity_text_config()
    fusion = kind == "fusion"
    torch.manual_seed(0)
    net = ClapNet(htsat=dict(PARITY_HTSAT), text_config=parity_text_config(), fusion=fusion)
    path = tmp_path / "synthetic.pt"
    torch.save(checkpoint_dict(synthetic_state(net.state_dict())), path)
    del net
    model = load_clap(path, "cpu", tokenizer=clap_tokenizer, text_config=parity_text_config())
    assert model.info["fusion"] is fusion
    signals = make_test_signals()
    audio = np.stack([model.embed_audio(signals[name], 48000) for name in CLAP_GOLDEN["signals"]])
    for name, vector in zip(CLAP_GOLDEN["signals"], audio):
        _assert_close_to_reference(vector, golden["audio"][name])
    text = model.embed_text(TEXTS)
    for vector, ref in zip(text, golden["text"]):
        _assert_close_to_reference(vector, ref)
    np.testing.assert_allclose(audio.astype(np.float64) @ text.T, golden["cosine_audio_text"],
                               rtol=0, atol=1e-6)
    if fusion:  # the torchaudio-style front end, frame by frame (dB)
        padded = repeat_pad(quantize_int16(signals["short"]))
        mel = TorchaudioLogMel()(torch.from_numpy(padded)[None])[0, 0].numpy()
        assert list(mel.shape) == golden["mel_shape"]
        for frame, values in golden["mel_frames"].items():
            np.testing.assert_allclose(mel[int(frame), :8], values, rtol=0, atol=1e-4)


# --- registry -------------------------------------------------------------------------------------

def test_registry_entries_and_fetch_refuses(tmp_path):
    for name in ("msd-musicnn", "mtt-musicnn", "panns", "openl3", "clap", "htdemucs"):
        assert name in registry.MODELS
    assert registry.get_spec("panns").embedding_dim == 2048
    assert registry.get_spec("panns").sample_rate == 32000
    assert registry.get_spec("openl3").sample_rate == 48000
    clap = registry.get_spec("clap")
    assert (clap.sample_rate, clap.embedding_dim) == (48000, 512)
    assert "unsupported" not in clap.description
    for name in ("panns", "openl3", "clap", "htdemucs"):
        with pytest.raises(ModelNotAvailableError, match="does not download"):
            registry.fetch_model(name, cache_dir=tmp_path)


def test_offline_guard_blocks_torch_hub_and_restores(monkeypatch):
    import os

    import torch.hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = torch.hub.load_state_dict_from_url
    with registry.offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        with pytest.raises(ModelNotAvailableError, match="tried to download"):
            torch.hub.load_state_dict_from_url("https://example.invalid/w.pth")
    assert torch.hub.load_state_dict_from_url is before
    assert "HF_HUB_OFFLINE" not in os.environ


def test_is_cached_follows_the_env_var(tmp_path, monkeypatch):
    assert not registry.is_cached("panns", tmp_path)
    monkeypatch.setenv("SIDETRACK_PANNS_CHECKPOINT", str(tmp_path / "missing.pth"))
    assert not registry.is_cached("panns", tmp_path)
    (tmp_path / "missing.pth").write_bytes(b"x")
    assert registry.is_cached("panns", tmp_path)
    # load_model never fetches these: the loader's own error comes back
    with pytest.raises(ModelNotAvailableError, match="not a readable PyTorch checkpoint"):
        registry.load_model("panns", cache_dir=tmp_path)
