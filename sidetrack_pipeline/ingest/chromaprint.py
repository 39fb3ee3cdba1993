"""Acoustic fingerprints with chromaprint's `fpcalc` (Debian: `apt-get install libchromaprint-tools`).

Optional: without `fpcalc` on PATH the library scan stores no fingerprints and says so once.
The fingerprint is the compressed base64 string fpcalc prints (the form AcoustID accepts).
Equal strings mean identically decoded audio; two encodings of one song usually differ, so it
is kept for a later AcoustID lookup or duplicate check, not used as a match key here.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

FPCALC_TIMEOUT_S = 120


def fpcalc_path() -> str | None:
    return shutil.which("fpcalc")


def chromaprint(path: Path, fpcalc: str) -> str | None:
    """The file's fingerprint, or None (logged) when fpcalc finds no usable audio in it."""
    try:
        done = subprocess.run([fpcalc, str(path)], capture_output=True, text=True,
                              timeout=FPCALC_TIMEOUT_S, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("fpcalc failed on %s: %s", path, exc)
        return None
    # fpcalc exits non-zero for a decode error at the very end of a file yet prints a
    # fingerprint; only a missing or empty FINGERPRINT line means there is none.
    for line in done.stdout.splitlines():
        if line.startswith("FINGERPRINT=") and len(line) > len("FINGERPRINT="):
            return line.split("=", 1)[1].strip()
    reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    log.info("no acoustic fingerprint for %s: %s", path, reason)  # too short, silent, ...
    return None
