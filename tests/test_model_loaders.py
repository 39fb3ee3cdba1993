"""Loaders of the models whose weights come only from a user-given file (PANNs, OpenL3, Demucs,
CLAP): small random-weight checkpoints built from the real architecture classes, written in each
model's official file format, loaded back strictly; and the failure paths. No network: every
test runs with Hugging Face offline and non-loopback socket connections refused."""

from __future__ import annotations

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


# --- CLAP: registered, unsupported in this build ------------------------------------------------

def test_clap_checks_configuration_then_says_unsupported(tmp_path, monkeypatch):
    from sidetrack_pipeline.models.clap import load_clap

    with pytest.raises(ModelNotAvailableError, match="SIDETRACK_CLAP_CHECKPOINT"):
        registry.load_model("clap", cache_dir=tmp_path)
    ckpt = tmp_path / "music_audioset_epoch_15_esc_90.14.pt"
    torch.save({"state_dict": {}}, ckpt)
    monkeypatch.setenv("SIDETRACK_CLAP_CHECKPOINT", str(ckpt))
    with pytest.raises(ModelNotAvailableError, match="SIDETRACK_CLAP_TOKENIZER"):
        load_clap(None, "cpu")
    tok = tmp_path / "roberta-base"
    tok.mkdir()
    (tok / "vocab.json").write_text("{}")
    monkeypatch.setenv("SIDETRACK_CLAP_TOKENIZER", str(tok))
    with pytest.raises(ModelNotAvailableError, match="merges.txt"):
        load_clap(None, "cpu")
    (tok / "merges.txt").write_text("")
    with pytest.raises(ModelNotAvailableError, match="not supported in this build"):
        load_clap(None, "cpu")


# --- registry -------------------------------------------------------------------------------------

def test_registry_entries_and_fetch_refuses(tmp_path):
    for name in ("msd-musicnn", "mtt-musicnn", "panns", "openl3", "clap", "htdemucs"):
        assert name in registry.MODELS
    assert registry.get_spec("panns").embedding_dim == 2048
    assert registry.get_spec("panns").sample_rate == 32000
    assert registry.get_spec("openl3").sample_rate == 48000
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
