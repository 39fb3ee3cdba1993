"""Ordering a mixtape for flow: tempo steps, harmonic keys (Camelot wheel), never one artist twice in a row.

The heuristic, in order:

1. Transition cost between two tracks a -> b is `tempo_cost + key_cost`:
   * tempo: the smallest |ln(bpm_b * m / bpm_a)| over m in {1, 2, 1/2} (so 70 -> 140 BPM, a
     half/double-time move, counts as a near match), in units of a 6 % step; a half/double-time
     move adds 0.5 so a straight match is preferred; an unknown BPM costs 1.
   * key: Camelot wheel distance. Same key 0; relative major/minor (same number, other letter)
     or one hour round the wheel in the same mode 1; otherwise 2 + the hour distance (a clash);
     an unknown key costs 1.5.
2. Start with the slowest track (a warm-up), then greedily take the cheapest next track; a
   same-artist neighbour pair costs ARTIST_CLASH.
3. Improve the order after the first track with 2-opt (reverse a segment when that lowers the
   total cost).
4. No artist twice in a row is a hard constraint: if the order still has a same-artist pair,
   steps 2-3 are repeated from the next-slowest start, and so on; `ValueError` when no start
   gives a clean order.

Everything is deterministic: ties break on the input order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PITCH = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9,
         "A#": 10, "B": 11, "Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10}
STEP = math.log(1.06)
ARTIST_CLASH = 1000.0


@dataclass(frozen=True)
class FlowTrack:
    artist: str
    bpm: float | None
    key: str | None
    mode: str | None


def camelot(key: str | None, mode: str | None) -> tuple[int, str] | None:
    """('C', 'major') -> (8, 'B'); ('A', 'minor') -> (8, 'A'); None when unknown."""
    if key not in PITCH or mode not in ("major", "minor"):
        return None
    pc = PITCH[key]
    number = (7 * pc + (8 if mode == "major" else 5)) % 12
    return (number or 12, "B" if mode == "major" else "A")


def camelot_label(key: str | None, mode: str | None) -> str:
    c = camelot(key, mode)
    return f"{c[0]}{c[1]}" if c else "?"


def key_cost(a: FlowTrack, b: FlowTrack) -> float:
    ca, cb = camelot(a.key, a.mode), camelot(b.key, b.mode)
    if ca is None or cb is None:
        return 1.5
    hours = abs(ca[0] - cb[0]) % 12
    hours = min(hours, 12 - hours)
    if ca == cb:
        return 0.0
    if hours == 0 or (hours == 1 and ca[1] == cb[1]):
        return 1.0
    return 2.0 + hours


def tempo_cost(a: FlowTrack, b: FlowTrack) -> float:
    if not a.bpm or not b.bpm:
        return 1.0
    best = None
    for m, extra in ((1.0, 0.0), (2.0, 0.5), (0.5, 0.5)):
        cost = abs(math.log(b.bpm * m / a.bpm)) / STEP + extra
        best = cost if best is None else min(best, cost)
    return best


def transition_cost(a: FlowTrack, b: FlowTrack) -> float:
    clash = ARTIST_CLASH if a.artist.casefold() == b.artist.casefold() else 0.0
    return tempo_cost(a, b) + key_cost(a, b) + clash


def path_cost(tracks: list[FlowTrack], order: list[int]) -> float:
    return sum(transition_cost(tracks[i], tracks[j]) for i, j in zip(order, order[1:]))


def order_for_flow(tracks: list[FlowTrack]) -> list[int]:
    """Indices of `tracks` in play order (see the module docstring)."""
    n = len(tracks)
    if n <= 1:
        return list(range(n))
    cost = [[transition_cost(a, b) for b in tracks] for a in tracks]
    for start in sorted(range(n), key=lambda i: (tracks[i].bpm or math.inf, i)):
        order = _from(start, cost)
        if all(tracks[a].artist.casefold() != tracks[b].artist.casefold() for a, b in zip(order, order[1:])):
            return order
    raise ValueError(f"cannot order the mixtape without an artist twice in a row "
                     f"({', '.join(sorted({t.artist for t in tracks}))})")


def _from(start: int, cost: list[list[float]]) -> list[int]:
    """Greedy nearest neighbour from `start`, then 2-opt with the start kept first."""
    n = len(cost)
    order, left = [start], set(range(n)) - {start}
    while left:
        here = order[-1]
        order.append(min(sorted(left), key=lambda j: cost[here][j]))
        left.discard(order[-1])
    improved = True
    while improved:  # 2-opt on an open path; each pass strictly lowers the cost, so it ends
        improved = False
        for i in range(1, n - 1):
            for k in range(i + 1, n):
                before = cost[order[i - 1]][order[i]] + (cost[order[k]][order[k + 1]] if k + 1 < n else 0)
                after = cost[order[i - 1]][order[k]] + (cost[order[i]][order[k + 1]] if k + 1 < n else 0)
                if after < before - 1e-9:
                    order[i:k + 1] = reversed(order[i:k + 1])
                    improved = True
    return order
