"""Speed and memory of importing a large ListenBrainz export (`import_listenbrainz_export`).

    python benchmarks/import_speed.py [--listens 1000000] [--old-sample 100000] [--no-write]

Generates (once, cached under /tmp/sidetrack-bench/listens-import, never committed) a realistic
export zip: listens/{YYYY}/{M}.jsonl months over ten years, ~30 000 tracks by ~5 000 artists with a
long-tailed play count, 60 % of tracks mapped (mbid_mapping + MBIDs), Spotify-style lines with
a large additional_info next to plain scrobbler lines, some fractional timestamps, a few exact
duplicates, a handful of bad lines and a feedback.jsonl. It is imported into a fresh database on
an embedded PostgreSQL (pgserver), each import in its own process so its peak RSS is its own:

* the first import (everything new), then the same file again (nothing new);
* for comparison, on a --old-sample listens export: this code, and the import as it was before
  the streaming rewrite (commit OLD_COMMIT, its own schema), unpacked from git into /tmp.

Wall time is what counts (the target is >= 100 000 listens/s end to end); CPU seconds of the
importing process (all threads) and of its PostgreSQL backend are reported too, because the
machine may be shared. The section between the listens-import markers of RESULTS.md is
replaced (appended when the markers are missing); nothing else in that file is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import orjson

import results_section  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]

BENCH_DIR = Path(tempfile.gettempdir()) / "sidetrack-bench" / "listens-import"
OLD_COMMIT = "5dfc640f3c1ebcce3944f8e43b3c0bbee825bdad"   # last commit with the list-based import
GENERATOR_VERSION = 1
TARGET_PER_S = 100_000
RSS_LIMIT_MB = 1024

# ----------------------------------------------------------------------------- the export

WORDS = ("night", "blue", "river", "glass", "echo", "summer", "ghost", "heart", "city", "light",
         "fire", "dream", "storm", "silver", "road", "wild", "golden", "shadow", "rain", "star",
         "north", "velvet", "electric", "paper", "ocean", "broken", "sweet", "lonely", "black", "sun")
ACCENTED = ("Röyksopp", "Sigur Rós", "Mø", "Björk", "Motörhead", "Beyoncé", "Françoise", "Żurawie",
            "Café Tacvba", "Mötley", "Ólafur", "Jóhann", "Émilie", "Niño", "Sébastien")
CLIENTS = ("Pano Scrobbler", "Navidrome", "Jellyfin", "WebScrobbler", "foobar2000", "Rockbox")


def _name(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).title()


def _catalogue(rng: random.Random, n_artists: int, n_tracks: int) -> list[dict]:
    """Tracks with their artist, release and (for 60 %) MusicBrainz identifiers."""
    artists = []
    for i in range(n_artists):
        name = f"{rng.choice(ACCENTED)} {_name(rng, 1)}" if i % 12 == 0 else f"The {_name(rng, 2)} {i}"
        artists.append({"name": name, "mbid": str(uuid.UUID(int=rng.getrandbits(128), version=4))})
    tracks = []
    for i in range(n_tracks):
        artist = artists[min(int(rng.paretovariate(1.1)) - 1, n_artists - 1) if i % 3 else i % n_artists]
        mapped = rng.random() < 0.6
        tracks.append({
            "artist": artist, "title": f"{_name(rng, rng.randint(1, 4))} {i}",
            "release": f"{_name(rng, 2)} ({i // 11})", "mapped": mapped,
            "recording_mbid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "release_mbid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "msid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "duration_ms": rng.randint(90_000, 420_000), "spotify": rng.random() < 0.5,
        })
    return tracks


def _metadata(track: dict, rng: random.Random) -> bytes:
    """The `track_metadata` of one track as it appears in a ListenBrainz export, serialised."""
    artist = track["artist"]
    if track["spotify"]:
        sid = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(22))
        info = {"isrc": f"GB{rng.randint(10**8, 10**9 - 1)}", "discnumber": 1,
                "origin_url": f"https://open.spotify.com/track/{sid}",
                "spotify_id": f"https://open.spotify.com/track/{sid}", "duration_ms": track["duration_ms"],
                "tracknumber": rng.randint(1, 14), "artist_names": [artist["name"]],
                "music_service": "spotify.com", "spotify_album_id": f"https://open.spotify.com/album/{sid[::-1]}",
                "submission_client": "listenbrainz",
                "spotify_artist_ids": [f"https://open.spotify.com/artist/{sid[3:]}AbC"],
                "release_artist_name": artist["name"], "release_artist_names": [artist["name"]],
                "spotify_album_artist_ids": [f"https://open.spotify.com/artist/{sid[3:]}AbC"]}
    else:
        info = {"submission_client": rng.choice(CLIENTS), "submission_client_version": "2.3.1",
                "duration": track["duration_ms"] // 1000, "tracknumber": str(rng.randint(1, 14)),
                "recording_mbid": track["recording_mbid"] if track["mapped"] and rng.random() < 0.5 else "",
                "artist_mbids": [], "release_mbid": "", "media_player": "mpd"}
    mapping = None
    if track["mapped"]:
        mapping = {"caa_id": rng.randint(10**9, 10**10), "artists": [
                       {"artist_mbid": artist["mbid"], "join_phrase": "", "artist_credit_name": artist["name"]}],
                   "artist_mbids": [artist["mbid"]], "release_mbid": track["release_mbid"],
                   "recording_mbid": track["recording_mbid"], "recording_name": track["title"],
                   "caa_release_mbid": track["release_mbid"]}
    return orjson.dumps({"track_name": track["title"], "artist_name": artist["name"],
                         "mbid_mapping": mapping, "release_name": track["release"],
                         "recording_msid": track["msid"], "additional_info": info})


def generate_export(path: Path, n_listens: int, n_artists: int = 5_000, n_tracks: int = 30_000,
                    seed: int = 4) -> dict:
    """Write the export zip; returns what is in it (listens, bad lines, duplicates, …)."""
    rng = random.Random(seed)
    tracks = _catalogue(rng, n_artists, n_tracks)
    metas = [_metadata(t, rng) for t in tracks]
    weights = [1.0 / (rank + 10) for rank in range(n_tracks)]   # long-tailed popularity
    picks = rng.choices(range(n_tracks), weights=weights, k=n_listens)
    start = int(datetime(2015, 1, 1, tzinfo=timezone.utc).timestamp())
    span = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()) - start
    times = sorted(rng.randrange(start, start + span) for _ in range(n_listens))
    months: dict[tuple[int, int], list[bytes]] = {}
    stats = {"listens": n_listens, "bad_lines": 0, "duplicate_lines": 0, "fractional": 0}
    previous = None
    for ts, pick in zip(times, picks):
        if previous is not None and rng.random() < 0.001:
            ts, pick = previous      # the same play twice (a client that submitted it twice)
            stats["duplicate_lines"] += 1
        previous = (ts, pick)
        listened: float | int = ts
        if rng.random() < 0.05:
            listened = ts + round(rng.random() * 0.99, 6)
            stats["fractional"] += 1
        line = b'{"inserted_at":%.6f,"listened_at":%s,"track_metadata":%s}' % (
            ts + 30 + rng.random() * 600, str(listened).encode(), metas[pick])
        day = datetime.fromtimestamp(ts, tz=timezone.utc)
        months.setdefault((day.year, day.month), []).append(line)
    bad = [b'{"listened_at": 1500000000, "track_metadata": {"artist_name": "cut off',
           b'{"listened_at": "yesterday", "track_metadata": {"artist_name": "A", "track_name": "B"}}',
           b'{"listened_at": 1500000000, "track_metadata": {"track_name": "no artist"}}',
           b'[1, 2, 3]', b'{"listened_at": 12, "track_metadata": {"artist_name": "A", "track_name": "B"}}']
    keys = sorted(months)
    for i in range(25):
        months[keys[(i * 7) % len(keys)]].insert(3, bad[i % len(bad)])
        stats["bad_lines"] += 1
    feedback = []
    for i, track in enumerate(tracks[:3000]):
        score = -1 if i % 10 == 0 else 1
        feedback.append(orjson.dumps({"created": start + i * 1000, "recording_mbid": track["recording_mbid"]
                                      if track["mapped"] else None, "recording_msid": track["msid"],
                                      "score": score, "user_id": "bench"}))
    feedback.append(orjson.dumps({"created": start, "recording_mbid": str(uuid.UUID(int=7)),
                                  "recording_msid": None, "score": 1}))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"user_id": 1, "username": "bench"}))
        for (year, month) in keys:
            archive.writestr(f"listens/{year}/{month}.jsonl", b"\n".join(months[(year, month)]) + b"\n")
        archive.writestr("feedback.jsonl", b"\n".join(feedback) + b"\n")
        archive.writestr("pinned_recording.jsonl", b"")
    partial.rename(path)
    stats["bytes_uncompressed"] = sum(len(l) + 1 for lines in months.values() for l in lines)
    stats["zip_bytes"] = path.stat().st_size
    stats["months"] = len(keys)
    stats["feedback_lines"] = len(feedback)
    return stats


def cached_export(n_listens: int) -> tuple[Path, dict]:
    """The export of `n_listens` listens, generated (in a child process, which needs ~1.5 GB
    for a million listens) unless a previous run left it in BENCH_DIR."""
    path = BENCH_DIR / f"listenbrainz_bench_{n_listens}_v{GENERATOR_VERSION}.zip"
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--generate", str(n_listens)],
                       check=True)
    return path, json.loads(meta.read_text())


def _generate_cached(n_listens: int) -> None:
    path = BENCH_DIR / f"listenbrainz_bench_{n_listens}_v{GENERATOR_VERSION}.zip"
    started = time.perf_counter()
    stats = generate_export(path, n_listens)
    stats["generated_in_s"] = round(time.perf_counter() - started, 1)
    path.with_suffix(".json").write_text(json.dumps(stats))


# ----------------------------------------------------------------------------- one import (child)

def _peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM, because ru_maxrss on Linux carries over the
    parent's peak across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend_cpu_s(pid: int) -> float | None:
    """utime + stime of a PostgreSQL backend (Linux /proc), or None when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _prefill_lastfm(url: str, export: Path, user: str) -> int:
    """Give `user` the export's plays as Last.fm scrobbles 7 s later (untimed), so the import
    that follows has a copy of nearly every play to merge."""
    from dataclasses import replace
    from datetime import timedelta

    import psycopg2

    from sidetrack_pipeline.ingest.catalog import ensure_user
    from sidetrack_pipeline.ingest.listen_writer import write_listens
    from sidetrack_pipeline.sources.listenbrainz_export import ParsedLine, read_export

    conn, page, total = psycopg2.connect(url), [], 0
    with conn, conn.cursor() as cur:
        user_id = ensure_user(cur, user)
        for item in read_export(export):
            if isinstance(item, ParsedLine):
                page.append(replace(item.listen, played_at=item.listen.played_at + timedelta(seconds=7),
                                    recording_mbid=None))   # Last.fm: names only
            if len(page) == 10_000:
                total += write_listens(cur, user_id, page, "lastfm").inserted
                page = []
        total += write_listens(cur, user_id, page, "lastfm").inserted
    conn.close()
    return total


def child_import(url: str, export: Path, parity: bool = False) -> dict:
    """Import `export` for user 'bench' in this process; report time, CPU and peak RSS. With
    `parity`, user 'bench' first gets the same plays from Last.fm."""
    import psycopg2

    from sidetrack_pipeline.ingest.listens import import_listenbrainz_export

    prefilled = _prefill_lastfm(url, export, "bench") if parity else 0
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        backend = cur.fetchone()[0]
    backend_cpu, cpu, wall = _backend_cpu_s(backend), time.process_time(), time.perf_counter()
    with conn:
        report = import_listenbrainz_export(conn, "bench", export)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    backend_after = _backend_cpu_s(backend)
    conn.close()
    return {"wall_s": wall, "cpu_s": cpu,
            "backend_cpu_s": None if backend_cpu is None or backend_after is None else backend_after - backend_cpu,
            "peak_rss_mb": _peak_rss_mb(),
            "read": report.read, "inserted": report.inserted, "duplicates": report.duplicates,
            "merged": report.merged, "prefilled_lastfm": prefilled, "rejected": len(report.rejected), "loved": getattr(report, "loved", None),
            "hated": getattr(report, "hated", None), "unmatched": getattr(report, "unmatched", None)}


def _run_child(python_path: Path, url: str, export: Path, parity: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", url, str(export)]
                         + (["--parity"] if parity else []),
                         cwd=python_path, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"import failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the run

def _fresh_database(admin_uri: str, name: str, package_root: Path) -> str:
    from sidetrack_pipeline.db.embedded import ensure_database

    url = ensure_database(admin_uri, name, fresh=True)
    migrate = ("import sys; from sidetrack_pipeline.db.migrate import upgrade; upgrade(sys.argv[1])")
    subprocess.run([sys.executable, "-c", migrate, url], cwd=package_root, check=True,
                   env={**os.environ, "PYTHONPATH": str(package_root)}, capture_output=True)
    return url


def _drop_databases(admin_uri: str, names: list[str]) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f'drop database if exists "{name}"')
    conn.close()


def _old_package() -> Path:
    """The repository at OLD_COMMIT, unpacked from git into /tmp (for the before/after ratio)."""
    target = BENCH_DIR / f"old-{OLD_COMMIT[:12]}"
    if not (target / "sidetrack_pipeline").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", OLD_COMMIT, "sidetrack_pipeline"], cwd=REPO,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _listens(r: dict) -> int:
    """Valid listens an import handled (stored, skipped as duplicates or merged)."""
    return r["inserted"] + r["duplicates"] + r["merged"]


def run(n_listens: int, old_sample: int) -> dict:
    from sidetrack_pipeline.db import embedded

    export, stats = cached_export(n_listens)
    pgdata = BENCH_DIR / "pgdata"
    admin = embedded.start(pgdata)
    result = {"export": stats, "listens": n_listens}
    url = _fresh_database(admin, "bench_import", REPO)
    result["first"] = _run_child(REPO, url, export)
    result["again"] = _run_child(REPO, url, export)
    if old_sample:
        sample, sample_stats = cached_export(old_sample)
        result["sample"] = {"listens": old_sample, "export": sample_stats}
        url = _fresh_database(admin, "bench_import_new_sample", REPO)
        result["sample"]["new"] = _run_child(REPO, url, sample)
        url = _fresh_database(admin, "bench_import_parity_sample", REPO)
        result["sample"]["parity"] = _run_child(REPO, url, sample, parity=True)
        old = _old_package()
        url = _fresh_database(admin, "bench_import_old_sample", old)
        result["sample"]["old"] = _run_child(old, url, sample)
    # A million listens take gigabytes on disk; the runs are measured, the data is not needed.
    _drop_databases(admin, ["bench_import", "bench_import_new_sample", "bench_import_parity_sample",
                            "bench_import_old_sample"])
    embedded.stop(pgdata)
    return result


def _machine() -> str:
    cpu = results_section.cpu_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores (load average {load:.1f} when done), Python {platform.python_version()}"


def section(result: dict) -> str:
    first, again, stats = result["first"], result["again"], result["export"]
    n = result["listens"]
    rate, rate_again = _rate(_listens(first), first["wall_s"]), _rate(_listens(again), again["wall_s"])
    rss = max(first["peak_rss_mb"], again["peak_rss_mb"])
    met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    lines = [
        "## ListenBrainz export import",
        "",
        f"Generated by `python benchmarks/import_speed.py` on {datetime.now():%Y-%m-%d}; {_machine()}; "
        "embedded PostgreSQL 16 (pgserver) on the same machine. Each import runs in a fresh process; "
        "wall time covers reading the zip, parsing, cataloguing, inserting and committing.",
        "",
        f"Export: {n:,} listens in {stats['months']} monthly files "
        f"({stats['bytes_uncompressed'] / 1e6:,.0f} MB of JSON lines, {stats['zip_bytes'] / 1e6:,.0f} MB zipped), "
        f"~30 000 tracks by ~5 000 artists, 60 % mapped to MBIDs, {stats['fractional']:,} fractional "
        f"timestamps, {stats['duplicate_lines']:,} duplicated plays, {stats['bad_lines']} bad lines, "
        f"{stats['feedback_lines']:,} feedback lines.",
        "",
        "| target | required | this run | |",
        "|---|---|---:|---|",
        f"| first import, listens/s (wall) | >= {TARGET_PER_S:,} | {rate:,.0f} | {met(rate >= TARGET_PER_S)} |",
        f"| peak RSS of the importing process | < {RSS_LIMIT_MB} MB | {rss:,.0f} MB | {met(rss < RSS_LIMIT_MB)} |",
        "",
        "listens/s counts valid listens (stored + duplicates + merged); process CPU is both threads of "
        "the importing process, PostgreSQL CPU its server backend. The schema is migration 0006 "
        "(one (user, time, track) index on `listen`, no per-row foreign-key checks on user and "
        "import; see its docstring).",
        "",
        "| run | lines | inserted | duplicates | merged | rejected | wall s | listens/s | process CPU s | PostgreSQL CPU s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, r: dict) -> str:
        backend = "" if r["backend_cpu_s"] is None else f"{r['backend_cpu_s']:.1f}"
        return (f"| {label} | {r['read']:,} | {r['inserted']:,} | {r['duplicates']:,} | {r['merged']:,} | {r['rejected']:,} | "
                f"{r['wall_s']:.1f} | {_rate(_listens(r), r['wall_s']):,.0f} | {r['cpu_s']:.1f} | {backend} | "
                f"{r['peak_rss_mb']:,.0f} |")

    lines += [row("first import", first), row("same file again", again)]
    if "sample" in result:
        sample = result["sample"]
        new, old = sample["new"], sample["old"]
        lines += [row(f"{sample['listens']:,}-listen sample, this code", new),
                  row(f"{sample['listens']:,}-listen sample, before (`{OLD_COMMIT[:7]}`)", old),
                  row(f"{sample['listens']:,}-listen sample, user already has them from Last.fm", sample["parity"])]
        ratio = _rate(_listens(new), new["wall_s"]) / _rate(_listens(old), old["wall_s"])
        lines += ["", f"On the {sample['listens']:,}-listen sample the streaming import is **{ratio:.1f} x** "
                      f"as fast as the list-based import of `{OLD_COMMIT[:7]}` (which parsed the whole export "
                      "into a list of `Listen`s and inserted it with `execute_values`, on its own schema, "
                      "and ignored feedback.jsonl: hence fewer rejected lines). The sample names nearly "
                      "as many tracks as the big export in a tenth of the listens, so cataloguing weighs "
                      "more there."]
    if "sample" in result:
        parity = result["sample"]["parity"]
        lines += ["", f"Parity: with {parity['prefilled_lastfm']:,} Last.fm scrobbles of the same plays "
                      f"(7 s later, names only) already stored, {parity['merged']:,} listens are merged "
                      f"instead of stored, at {_rate(_listens(parity), parity['wall_s']):,.0f} listens/s."]
    lines += ["", f"The same file again: {rate_again:,.0f} listens/s, {again['inserted']} inserted "
                  f"(every listen is found already stored).",
              f"Feedback: {first['loved']:,} loved, {first['hated']:,} hated, {first['unmatched']} unmatched."]
    return "\n".join(lines) + "\n"



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listens", type=int, default=1_000_000)
    parser.add_argument("--old-sample", type=int, default=100_000,
                        help="listens in the before/after comparison export (0: skip it)")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    parser.add_argument("--child", nargs=2, metavar=("URL", "EXPORT"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parity", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        _generate_cached(args.generate)
        return
    if args.child:   # runs with PYTHONPATH set to the package under test (this one or the old one)
        print(json.dumps(child_import(args.child[0], Path(args.child[1]), args.parity)))
        return
    sys.path.insert(0, str(REPO))
    result = run(args.listens, args.old_sample)
    text = section(result)
    print(text)
    print(json.dumps(result, indent=1))
    if not args.no_write:
        results_section.write_section("listens-import", text)


if __name__ == "__main__":
    main()
