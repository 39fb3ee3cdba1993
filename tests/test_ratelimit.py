"""The cross-process rate limit: spacing holds between processes, even when a request is slow."""

from __future__ import annotations

import multiprocessing as mp
import random
import time

from sidetrack_pipeline.sources.ratelimit import RateLimiter

INTERVAL = 0.2


def _worker(lock_dir: str, use_slot: bool, queue, seed: int) -> None:
    limiter = RateLimiter("test", INTERVAL, lock_dir)
    rng = random.Random(seed)
    for _ in range(4):
        if use_slot:
            with limiter.slot():
                # the "request": it reaches the server after a variable delay, then is answered
                time.sleep(rng.uniform(0.0, 0.08))
                queue.put(time.time())
                time.sleep(0.01)
        else:
            limiter.wait()
            time.sleep(rng.uniform(0.0, 0.08))   # a pause before the request goes out
            queue.put(time.time())


def _arrivals(lock_dir, use_slot: bool) -> list[float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(str(lock_dir), use_slot, queue, seed))
               for seed in range(3)]
    for w in workers:
        w.start()
    arrivals = sorted(queue.get(timeout=60) for _ in range(12))
    for w in workers:
        w.join(30)
    return arrivals


def test_slot_spaces_arrivals_across_processes_whatever_the_latency(tmp_path):
    arrivals = _arrivals(tmp_path / "slot", use_slot=True)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= INTERVAL, [round(g, 3) for g in gaps]


def test_penalise_pushes_everyone_back(tmp_path):
    limiter = RateLimiter("test", 0.0, tmp_path)
    limiter.penalise(0.3)
    started = time.monotonic()
    with limiter.slot() as waited:
        pass
    assert waited > 0.2 and time.monotonic() - started > 0.2
    assert RateLimiter("test", 0.0, tmp_path).wait() < 0.05   # the penalty is spent


def test_a_torn_file_does_not_block(tmp_path):
    limiter = RateLimiter("test", 0.1, tmp_path)
    limiter.path.write_text("not a number")
    assert limiter.wait() == 0.0
