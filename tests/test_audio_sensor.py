"""The AUDIO_ROOT sensor: it finds new and changed files without touching the database, asks for
one `analyse_new_files` run per change, and that run (the real job, real audio) analyses exactly
those files. Files still being written wait; a run already going holds the next one back."""

from __future__ import annotations

import os
import time

import dagster as dg
import psycopg2
import pytest

from sidetrack_pipeline.defs import defs
from sidetrack_pipeline.defs.library_sensor import analyse_new_files_job, audio_root_sensor
from sidetrack_pipeline.defs.resources import DatabaseResource
from tests.library_builder import make_audio, tag_like_picard


@pytest.fixture
def library(sidetrack_env, tmp_path, monkeypatch):
    root = tmp_path / "music"
    monkeypatch.setenv("AUDIO_ROOT", str(root))
    monkeypatch.setenv("AUDIO_SETTLE_SECONDS", "0")
    monkeypatch.setenv("EMBEDDING_MODEL", "none")    # the learned models have their own tests
    monkeypatch.setenv("ANALYSIS_WORKERS", "1")
    for i in range(3):
        _add(root, f"old{i}.flac", f"Old Tune {i}")
    return root


def _add(root, name: str, title: str):
    path = make_audio(root / name, seconds=3.0)
    tag_like_picard(path, artist="Sensor Test", title=title, album="Watched")
    return path


def _tick(instance):
    context = dg.build_sensor_context(instance=instance, resources={"database": DatabaseResource()})
    return audio_root_sensor(context)


def _run(instance, request: dg.RunRequest | None = None):
    job = defs.resolve_job_def(analyse_new_files_job.name)
    result = job.execute_in_process(instance=instance, run_config=request.run_config if request else None,
                                    tags=request.tags if request else None)
    assert result.success
    (event,) = result.asset_materializations_for_node("audio_features")
    return event.metadata


def _features(db_url) -> dict[str, tuple]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select t.local_path, f.content_hash, f.bpm, f.loudness_lufs from features f
                       join track t using (track_id)""")
        return {path: rest for path, *rest in cur.fetchall()}


def test_two_dropped_files_are_analysed_and_nothing_else(library, db_url):
    with dg.instance_for_test() as instance:
        first = _run(instance)                       # the library as it was: everything
        assert first["analysed_this_run"].value == 3
        before = _features(db_url)
        skipped = _tick(instance)
        assert isinstance(skipped, dg.SkipReason) and "nothing new" in skipped.skip_message

        new = sorted(str(_add(library, name, title).resolve())
                     for name, title in (("new_a.mp3", "Fresh A"), ("sub/new_b.flac", "Fresh B")))
        request = _tick(instance)
        assert isinstance(request, dg.RunRequest)
        assert request.run_config["ops"]["audio_features"]["config"]["paths"] == new
        assert request.tags["sidetrack/new_files"] == "2" and request.tags["sidetrack/changed_files"] == "0"
        # the same state asks for the same run (the run key de-duplicates it) and writes nothing
        assert _tick(instance).run_key == request.run_key
        assert _features(db_url) == before

        second = _run(instance, request)
        assert second["analysed_this_run"].value == 2
        assert sorted(second["files_this_run"].value) == new
        after = _features(db_url)
        assert set(after) == set(before) | set(new)
        assert {p: after[p] for p in before} == before   # the three old files were left alone
        assert isinstance(_tick(instance), dg.SkipReason)

        # a file changed in place: only it is analysed again
        changed = library / "old1.flac"
        make_audio(changed, seconds=4.0)
        tag_like_picard(changed, artist="Sensor Test", title="Old Tune 1", album="Watched")
        request = _tick(instance)
        assert request.tags["sidetrack/changed_files"] == "1"
        third = _run(instance, request)
        assert third["analysed_this_run"].value == 1
        assert third["files_this_run"].value == [str(changed.resolve())]
        final = _features(db_url)
        assert final[str(changed.resolve())][0] != after[str(changed.resolve())][0]   # new content hash
        assert {p: v for p, v in final.items() if p != str(changed.resolve())} == \
               {p: v for p, v in after.items() if p != str(changed.resolve())}


def test_files_still_being_written_wait_and_running_analysis_holds_the_next(library, db_url, monkeypatch):
    with dg.instance_for_test() as instance:
        _run(instance)
        fresh = _add(library, "copying.flac", "Half Copied")
        monkeypatch.setenv("AUDIO_SETTLE_SECONDS", "3600")
        waiting = _tick(instance)
        assert isinstance(waiting, dg.SkipReason) and "1 still being written" in waiting.skip_message
        old = time.time() - 7200
        os.utime(fresh, (old, old))                  # the copy finished long ago
        request = _tick(instance)
        assert isinstance(request, dg.RunRequest)
        assert request.run_config["ops"]["audio_features"]["config"]["paths"] == [str(fresh.resolve())]

        # an analysis run not finished yet: the sensor waits for it instead of starting a second one
        job = defs.resolve_job_def(analyse_new_files_job.name)
        pending = instance.create_run_for_job(job_def=job, run_config=request.run_config,
                                              status=dg.DagsterRunStatus.NOT_STARTED)
        held = _tick(instance)
        assert isinstance(held, dg.SkipReason) and pending.run_id in held.skip_message
        instance.report_run_canceled(pending)
        assert isinstance(_tick(instance), dg.RunRequest)


def test_a_file_scanned_while_settling_is_analysed_once_it_has_settled(library, db_url, monkeypatch):
    """A run scans the whole folder, so it records a file that was still being copied without
    analysing it (not in its list); the sensor must not lose that file."""
    with dg.instance_for_test() as instance:
        _run(instance)
        done = _add(library, "done.flac", "Copied")
        old = time.time() - 7200
        os.utime(done, (old, old))
        copying = _add(library, "copying.flac", "Still Copying")
        monkeypatch.setenv("AUDIO_SETTLE_SECONDS", "3600")
        request = _tick(instance)
        assert request.run_config["ops"]["audio_features"]["config"]["paths"] == [str(done.resolve())]
        assert _run(instance, request)["files_this_run"].value == [str(done.resolve())]
        # the run's scan recorded copying.flac; it is still young: it waits
        waiting = _tick(instance)
        assert isinstance(waiting, dg.SkipReason) and "1 still being written" in waiting.skip_message
        monkeypatch.setenv("AUDIO_SETTLE_SECONDS", "0")
        request = _tick(instance)
        assert request.tags["sidetrack/pending_files"] == "1" and request.tags["sidetrack/new_files"] == "0"
        assert _run(instance, request)["files_this_run"].value == [str(copying.resolve())]
        assert str(copying.resolve()) in _features(db_url)
        assert isinstance(_tick(instance), dg.SkipReason)


def test_removed_files_are_forgotten_without_analysis(library, db_url):
    with dg.instance_for_test() as instance:
        _run(instance)
        gone = library / "old2.flac"
        gone.unlink()
        request = _tick(instance)
        assert request.tags["sidetrack/removed_files"] == "1"
        assert request.run_config["ops"]["audio_features"]["config"]["paths"] == []
        assert _run(instance, request)["analysed_this_run"].value == 0
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            cur.execute("select count(*) from audio_file where path = %s", (str(gone.resolve()),))
            assert cur.fetchone()[0] == 0
        assert isinstance(_tick(instance), dg.SkipReason)
