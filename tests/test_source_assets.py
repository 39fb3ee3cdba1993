"""The Dagster layer of the sources: per-user partitions kept by a sensor, the sync_listens job
against local fake ListenBrainz and Last.fm servers, skips for unconfigured services, schedules."""

from __future__ import annotations

import dagster as dg
import psycopg2
import pytest

from sidetrack_pipeline.defs import defs
from sidetrack_pipeline.defs.assets.sources import (api_retry_policy, lastfm_listens, lastfm_tags, listenbrainz_listens,
                                                    musicbrainz_metadata, track_graph)
from sidetrack_pipeline.defs.automation import interval_cron, user_partitions_sensor
from sidetrack_pipeline.defs.resources import (DatabaseResource, LastfmResource, ListenBrainzResource,
                                               MusicBrainzResource)
from sidetrack_pipeline.users import set_user
from tests.fake_lastfm import Scrobble
from tests.fake_listenbrainz import FakeListenBrainz, listen_json, make_recordings

pytest_plugins = ["tests.lastfm_fixtures"]  # fake_lastfm

START = 1_700_000_000


def _listens(conn, user: str) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("""select source, count(*) from listen join users using (user_id)
                       where user_name = %s group by source""", (user,))
        return dict(cur.fetchall())


def test_sensor_keeps_one_partition_per_user(db_url):
    with psycopg2.connect(db_url) as conn:
        set_user(conn, "alice")
        set_user(conn, "bob")
    resources = {"database": DatabaseResource(url=db_url)}
    with dg.instance_for_test() as instance:
        result = user_partitions_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        (request,) = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == ["alice", "bob"]
        instance.add_dynamic_partitions("users", ["alice", "bob", "gone"])
        result = user_partitions_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        (request,) = result.dynamic_partitions_requests
        assert isinstance(request, dg.DeleteDynamicPartitionsRequest) and request.partition_keys == ["gone"]
        instance.delete_dynamic_partition("users", "gone")
        skipped = user_partitions_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(skipped, dg.SkipReason)


def test_sync_listens_partition_merges_both_sources(db_url, sidetrack_env, fake_lastfm):
    recordings = make_recordings(40)
    plays = [(START + 300 * i, i % 40) for i in range(120)]
    with FakeListenBrainz() as lb:
        lb.add_user("alice_lb", [listen_json(ts, recordings[r], "alice_lb") for ts, r in plays])
        # Last.fm saw the last 50 of those plays (a few seconds later) and 10 plays of its own
        for ts, r in plays[-50:]:
            fake_lastfm.add("alice_fm", Scrobble(ts + 4, recordings[r].artist, recordings[r].title))
        for i in range(10):
            fake_lastfm.add("alice_fm", Scrobble(START + 300 * 200 + 250 * i, "Only On Lastfm", f"Tune {i}"))
        with psycopg2.connect(db_url) as conn:
            set_user(conn, "alice", listenbrainz_user="alice_lb", lastfm_user="alice_fm")
            set_user(conn, "carol")  # no accounts: both assets skip

        resources = {"database": DatabaseResource(url=db_url),
                     "listenbrainz": ListenBrainzResource(base_url=lb.url, timeout_s=5.0),
                     "lastfm": LastfmResource(api_key=fake_lastfm.api_key, base_url=fake_lastfm.url)}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("users", ["alice", "carol"])
            lastfm_runs = []
            for _ in range(2):  # a second run adds nothing
                result = dg.materialize([listenbrainz_listens, lastfm_listens], partition_key="alice",
                                        resources=resources, instance=instance)
                assert result.success
                (event,) = result.asset_materializations_for_node("lastfm_listens")
                lastfm_runs.append(event.metadata)
            first, second = lastfm_runs
            carol = dg.materialize([listenbrainz_listens, lastfm_listens], partition_key="carol",
                                   resources=resources, instance=instance)
            assert carol.success
            skipped = [m.metadata["skipped"].value for m in carol.asset_materializations_for_node(
                "listenbrainz_listens") + carol.asset_materializations_for_node("lastfm_listens")]
            assert "no ListenBrainz user configured" in skipped[0]
            assert "no Last.fm user configured" in skipped[1]

    with psycopg2.connect(db_url) as conn:
        assert _listens(conn, "alice") == {"listenbrainz": 120, "lastfm": 10}
        assert _listens(conn, "carol") == {}
    # the first Last.fm run merged the 50 plays ListenBrainz already had
    assert (first["merged"].value, first["inserted"].value) == (50, 10)
    assert second["inserted"].value == 0


def test_a_failed_sync_step_is_retried_from_its_cursor(db_url, sidetrack_env):
    """The client gives up (one attempt per request here); Dagster's retry policy re-runs the
    step, which resumes from the committed cursor: every listen arrives exactly once."""
    recordings = make_recordings(10)
    plays = [(START + 300 * i, i % 10) for i in range(60)]
    with FakeListenBrainz() as lb:
        lb.add_user("dora_lb", [listen_json(ts, recordings[r], "dora_lb") for ts, r in plays])
        lb.inject("503", times=2, after=1)  # the second and third page requests fail
        with psycopg2.connect(db_url) as conn:
            set_user(conn, "dora", listenbrainz_user="dora_lb")
        resources = {"database": DatabaseResource(url=db_url),
                     "listenbrainz": ListenBrainzResource(base_url=lb.url, timeout_s=5.0, retry_attempts=1,
                                                          retry_backoff_s=0.0)}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("users", ["dora"])
            result = dg.materialize([listenbrainz_listens], partition_key="dora", resources=resources,
                                    instance=instance)
            assert result.success
            retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
            assert len(retries) == 2
            assert [kind for kind, _ in lb.fault_log] == ["503", "503"]
    with psycopg2.connect(db_url) as conn:
        assert _listens(conn, "dora") == {"listenbrainz": 60}


def test_web_metadata_assets_skip_without_configuration(db_url, sidetrack_env, monkeypatch):
    monkeypatch.delenv("MUSICBRAINZ_CONTACT", raising=False)
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    result = dg.materialize(
        [musicbrainz_metadata, track_graph, lastfm_tags],
        resources={"database": DatabaseResource(url=db_url), "lastfm": LastfmResource(),
                   "musicbrainz": MusicBrainzResource()})
    assert result.success
    notes = {e.materialization.asset_key.to_user_string(): e.materialization.metadata
             for e in result.get_asset_materialization_events()}
    assert "MUSICBRAINZ_CONTACT is not set" in notes["musicbrainz_metadata"]["skipped"].value
    assert "LASTFM_API_KEY is not set" in notes["lastfm_tags"]["skipped"].value


def test_definitions_wire_jobs_schedules_and_pools():
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"full_pipeline", "sync_listens", "sync_lastfm_tags",
                                                     "personal_calibration"}
    full = repo.get_job("full_pipeline").asset_layer.executable_asset_keys
    assert dg.AssetKey("listenbrainz_listens") not in full and dg.AssetKey("musicbrainz_metadata") in full
    assert dg.AssetKey("personal_scores") not in full and dg.AssetKey("smoothed_scores") in full
    assert {s.name for s in repo.schedule_defs} == {"sync_listens_schedule", "sync_lastfm_tags_schedule",
                                                    "aggregate_weeks_schedule", "health_checks_schedule"}
    by_key = repo.assets_defs_by_key
    assert by_key[dg.AssetKey("musicbrainz_metadata")].op.pool == "musicbrainz"
    assert by_key[dg.AssetKey("lastfm_tags")].op.pool == "lastfm"
    assert by_key[dg.AssetKey("learned_embeddings")].op.pool == "gpu"
    assert by_key[dg.AssetKey("stem_pumpiness_scores")].op.pool == "gpu"
    # Every web-API asset retries with exponential backoff; local work does not.
    for name in ("listenbrainz_listens", "lastfm_listens", "lastfm_tags", "musicbrainz_metadata"):
        policy = by_key[dg.AssetKey(name)].op.retry_policy
        assert policy is not None and policy.backoff == dg.Backoff.EXPONENTIAL and policy.max_retries >= 1
    assert by_key[dg.AssetKey("audio_features")].op.retry_policy is None


def test_api_retry_policy_follows_the_settings(monkeypatch):
    monkeypatch.setenv("API_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("API_RETRY_DELAY_SECONDS", "12.5")
    policy = api_retry_policy()
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (
        5, 12.5, dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)


@pytest.mark.parametrize("minutes,cron", [(15, "*/15 * * * *"), (60, "0 */1 * * *"),
                                          (360, "0 */6 * * *"), (1440, "0 0 * * *")])
def test_interval_cron(minutes, cron):
    assert interval_cron(minutes) == cron


@pytest.mark.parametrize("minutes", [0, 7, 90, 2880])
def test_interval_cron_refuses_what_cron_cannot_say(minutes):
    with pytest.raises(ValueError):
        interval_cron(minutes)


def test_musicbrainz_asset_resolves_and_builds_the_graph(db_url, sidetrack_env):
    from datetime import datetime, timezone

    from sidetrack_pipeline.ingest.catalog import ensure_user
    from sidetrack_pipeline.ingest.listen_writer import write_listens
    from sidetrack_pipeline.sources.listen import Listen
    from tests import fake_musicbrainz as mb

    with mb.FakeMusicBrainz() as server:
        band = mb.artist("Boards of Canada")
        album = mb.release("Music Has the Right to Children", credits=mb.credit(band))
        songs = [server.add_recording(mb.recording(title, length=length, credits=mb.credit(band),
                                                   releases=[album]))
                 for title, length in (("Roygbiv", 151000), ("Aquarius", 352000))]
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            user_id = ensure_user(cur, "dana")
            write_listens(cur, user_id, [
                Listen(datetime.fromtimestamp(START + 600 * i, timezone.utc), "Boards of Canada",
                       rec["title"], recording_mbid=rec["id"]) for i, rec in enumerate(songs)],
                "listenbrainz")
        resources = {"database": DatabaseResource(url=db_url),
                     "musicbrainz": MusicBrainzResource(contact="tests@sidetrack.invalid",
                                                        base_url=server.base_url)}
        result = dg.materialize([musicbrainz_metadata, track_graph], resources=resources)
        assert result.success
        requests = len(server.requests)
        assert requests >= 2 and all("tests@sidetrack.invalid" in r.user_agent for r in server.requests)
        # a second run finds nothing pending and asks MusicBrainz nothing
        assert dg.materialize([musicbrainz_metadata, track_graph], resources=resources).success
        assert len(server.requests) == requests

    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select mb_status, count(*) from track group by mb_status")
        assert dict(cur.fetchall()) == {"resolved": 2}
        cur.execute("select kind, count(*) from graph_edges group by kind")
        edges = dict(cur.fetchall())
    assert edges.get("same_artist") == 2 and edges.get("same_release") == 2
