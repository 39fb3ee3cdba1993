#!/usr/bin/env bash
# Set up SideTrack on a fresh Debian-like machine: a virtualenv in .venv with the pinned
# dependencies (constraints.txt keeps pip from backtracking into unbuildable versions).
# Usage: bash scripts/setup.sh        (idempotent; re-running only installs what changed)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    echo "SideTrack needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

# System packages the pipeline and tests use (ffmpeg: decoding formats libsndfile lacks;
# fpcalc from libchromaprint-tools: acoustic fingerprints of library files, optional at run time;
# chromium + an emoji font: the dashboard's real-browser test and its screenshots; redis-server:
# the Celery executor test's broker).
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v fpcalc >/dev/null || need+=(libchromaprint-tools)
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
[[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || need+=(fonts-noto-color-emoji)
if ((${#need[@]})) && command -v apt-get >/dev/null; then
    SUDO=$([[ $(id -u) == 0 ]] && echo "" || echo sudo)
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
        || echo "warning: could not install ${need[*]} (optional)" >&2
fi

[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e '.[test,models]'
# Model architectures whose declared dependencies conflict with this stack (see pyproject.toml).
.venv/bin/python -m pip install -q --no-deps -c constraints.txt torchopenl3==1.0.1 demucs==4.1.0
echo "SideTrack is installed in .venv (try: .venv/bin/sidetrack --help)"
