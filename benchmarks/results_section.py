"""Writing one benchmark's marked section of benchmarks/RESULTS.md (every benchmark owns one)."""

from __future__ import annotations

import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace what lies between the section's markers, or append the marked block when missing."""
    begin, end = markers(name)
    content = path.read_text() if path.is_file() else ""
    block = f"{begin}\n{text.strip()}\n{end}"
    if begin in content and end in content and content.index(begin) < content.index(end):
        head, rest = content.split(begin, 1)
        content = head + block + rest.split(end, 1)[1]
    else:
        content = content.rstrip("\n") + ("\n\n" if content else "") + block + "\n"
    path.write_text(content)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (what every benchmark section reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
