"""Resource limits for audio analysis, and the helpers that enforce and explain them.

Three environment variables bound what one file may cost (0 switches a limit off):

MAX_ANALYSIS_SECONDS      longest stretch of a file that is decoded and analysed (default 1200).
                          Longer files get a centred window of this length, so a 3-hour DJ mix
                          costs what a 20-minute track does. The length is measured at 48 kHz:
                          a 96 kHz file gets half of it, because memory grows with the number of
                          samples (20 minutes of 96 kHz stereo peaked at 6.6 GB in testing,
                          20 minutes of 44.1 kHz at 3.2 GB).
ANALYSIS_TIMEOUT_SECONDS  wall-clock time one file may take in its worker process before the
                          worker is killed and replaced (default 300; 20 minutes of audio takes
                          about 30 s on one core).
ANALYSIS_MEMORY_MB        address-space limit (RLIMIT_AS) of each worker process (default 4096).
                          An allocation beyond it fails with MemoryError inside the worker, so
                          one huge or malicious file cannot push the machine into swap or the
                          OOM killer.

This module imports only the standard library: the batch runner's parent process and the
worker start-up path must stay light (no numpy before the worker has set its limits).
"""

from __future__ import annotations

import math
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DEFAULT_MAX_ANALYSIS_SECONDS = 1200.0
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_MEMORY_MB = 4096
MAX_SECONDS_REFERENCE_SR = 48000  # MAX_ANALYSIS_SECONDS applies as-is up to this sample rate

ENV_MAX_SECONDS = "MAX_ANALYSIS_SECONDS"
ENV_TIMEOUT = "ANALYSIS_TIMEOUT_SECONDS"
ENV_MEMORY = "ANALYSIS_MEMORY_MB"


@dataclass(frozen=True)
class AnalysisLimits:
    """Per-file bounds of the analysis; 0 (or less) means unlimited."""

    max_seconds: float = DEFAULT_MAX_ANALYSIS_SECONDS
    timeout_s: float = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AnalysisLimits":
        env = os.environ if env is None else env
        return cls(
            max_seconds=_env_number(env, ENV_MAX_SECONDS, DEFAULT_MAX_ANALYSIS_SECONDS),
            timeout_s=_env_number(env, ENV_TIMEOUT, DEFAULT_TIMEOUT_SECONDS),
            memory_mb=int(_env_number(env, ENV_MEMORY, DEFAULT_MEMORY_MB)),
        )

    def as_env(self) -> dict[str, str]:
        """The limits as environment variables (how a worker process passes them on to
        `load_audio`, whose default window cap reads MAX_ANALYSIS_SECONDS)."""
        return {ENV_MAX_SECONDS: f"{self.max_seconds:g}", ENV_TIMEOUT: f"{self.timeout_s:g}",
                ENV_MEMORY: str(self.memory_mb)}


def _env_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {raw!r}")
    return max(0.0, value)


def max_analysis_seconds() -> float:
    """MAX_ANALYSIS_SECONDS from the environment (0: no cap)."""
    return AnalysisLimits.from_env().max_seconds


def window_seconds(excerpt_seconds: float, max_seconds: float, sample_rate: int) -> float:
    """Length of the centred window to decode (0: the whole file).

    The smaller of the requested excerpt and the cap; the cap shrinks in proportion for sample
    rates above 48 kHz so the decoded sample count (and so memory) stays bounded."""
    limit = math.inf
    if excerpt_seconds and excerpt_seconds > 0:
        limit = float(excerpt_seconds)
    if max_seconds and max_seconds > 0:
        scale = min(1.0, MAX_SECONDS_REFERENCE_SR / sample_rate) if sample_rate > 0 else 1.0
        limit = min(limit, max_seconds * scale)
    return 0.0 if math.isinf(limit) else limit


def apply_memory_limit(memory_mb: int) -> None:
    """Cap this process's address space (RLIMIT_AS) at `memory_mb` MiB (0: leave it).

    Only the soft limit is lowered (never above the hard one), so the cap holds for this process
    and everything it starts (ffmpeg), and an allocation beyond it raises MemoryError."""
    if memory_mb <= 0:
        return
    import resource

    soft_wanted = int(memory_mb) * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        soft_wanted = min(soft_wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft_wanted, hard))


def limit_threads() -> None:
    """One math-library thread per worker: the pool already runs one worker per core, and each
    idle BLAS/OpenMP thread also reserves address space that would count against RLIMIT_AS."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def describe_exit(exitcode: int | None) -> str:
    """'killed by signal 11 (SIGSEGV)' / 'exit status 3' for a dead worker's exit code."""
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = {"SIGSEGV": ", a crash in native code", "SIGBUS": ", a crash in native code",
                "SIGABRT": ", aborted by native code",
                "SIGKILL": ", possibly the system's out-of-memory killer"}.get(name, "")
        return f"killed by signal {-exitcode} ({name}{hint})"
    return f"exit status {exitcode}"


def log_tail(path: str | Path, max_bytes: int = 4096) -> str:
    """The most telling line a crashed worker left in its output log ('' if none).

    Python's faulthandler writes 'Fatal Python error: Segmentation fault' followed by a stack;
    that headline says more than the last stack line, so it wins when present."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    line = fatal[-1] if fatal else (lines[-1] if lines else "")
    return line[:300]
