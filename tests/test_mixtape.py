"""Weekly mixtapes on a realistic catalogue in the real database (features/vectors inserted
directly, see tests/mixtape_catalogue.py, clustered by the real HDBSCAN code into track_cluster);
JSPF pushed to the fake ListenBrainz on 127.0.0.1."""

from __future__ import annotations

import json
import random

import httpx
import psycopg2
import pytest
import typer
from typer.testing import CliRunner

from fake_listenbrainz import FakeListenBrainz
from mixtape_catalogue import WEEK, build
from sidetrack_pipeline.analytics import clusters
from sidetrack_pipeline.analytics.mixtape import MAX_S, MIN_S, MixtapeError, build_mixtape
from sidetrack_pipeline.analytics.mixtape_export import to_jspf, to_m3u
from sidetrack_pipeline.analytics.mixtape_order import (FlowTrack, camelot, order_for_flow, path_cost,
                                                       tempo_cost)
from sidetrack_pipeline.cli_mixtape import mixtape
from sidetrack_pipeline.sources.listenbrainz_api import (InvalidToken, ListenBrainzClient,
                                                        ListenBrainzError, RetryPolicy)
from sidetrack_pipeline.users import generate_key

TOKEN = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


@pytest.fixture
def catalogue(db_url, tmp_path, monkeypatch):
    key = generate_key()
    monkeypatch.setenv("SIDETRACK_SECRET_KEY", key)
    conn = psycopg2.connect(db_url)
    with conn:
        info = build(conn, tmp_path / "library", TOKEN, key)
    with conn, conn.cursor() as cur:  # what the `track_clusters` asset does
        ids, matrix = clusters.load_vectors(cur, "mir-v1")
        clusters.write_track_clusters(cur, ids, clusters.cluster_tracks(matrix))
    yield conn, info
    conn.close()


@pytest.fixture
def lb():
    with FakeListenBrainz() as server:
        server.add_user("ana", token=TOKEN)
        yield server


def test_mixtape_is_60_to_90_minutes_of_the_weeks_dominant_cluster(catalogue):
    conn, info = catalogue
    mix = build_mixtape(conn, "ana", WEEK)
    ids = [t.track_id for t in mix.tracks]
    assert MIN_S <= mix.total_s <= MAX_S
    assert mix.week_listens == info["week_listens"]  # her week, not the UTC one
    assert {info["cluster"][i] for i in ids} == {0}
    assert len(set(ids)) == len(ids)
    for t in mix.tracks:
        assert t.duration_s == pytest.approx(info["duration"][t.track_id])
    assert not set(ids) & (info["no_file"] | info["no_duration"])
    assert not {info["original"], info["duplicate"]} <= set(ids)  # no near-duplicates
    artists = [t.artist for t in mix.tracks]
    assert all(a != b for a, b in zip(artists, artists[1:]))
    again = build_mixtape(conn, "ana", WEEK)
    assert [t.track_id for t in again.tracks] == ids
    # the flow order beats the same tracks in catalogue order and in random orders
    flow = [FlowTrack(t.artist, t.bpm, t.key, t.mode) for t in mix.tracks]
    ordered = path_cost(flow, list(range(len(flow))))
    by_id = sorted(range(len(flow)), key=lambda i: ids[i])
    assert ordered < path_cost(flow, by_id)
    rng = random.Random(5)
    shuffled = [rng.sample(range(len(flow)), len(flow)) for _ in range(20)]
    assert all(ordered <= path_cost(flow, order) for order in shuffled)


def test_target_minutes_and_errors(catalogue):
    conn, _ = catalogue
    short = build_mixtape(conn, "ana", WEEK, minutes=62)
    long = build_mixtape(conn, "ana", WEEK, minutes=88)
    assert MIN_S <= short.total_s < long.total_s <= MAX_S
    with pytest.raises(MixtapeError, match="no listens"):
        build_mixtape(conn, "ana", "2026-W20")
    with pytest.raises(MixtapeError, match="2026-W05"):
        build_mixtape(conn, "ana", "January")


def test_the_cluster_is_the_weeks_hdbscan_cluster(catalogue):
    """The mixtape follows cluster_week (what the dashboard shows) and track_cluster, and makes
    nothing from HDBSCAN noise (no clustering of its own)."""
    conn, info = catalogue
    mix = build_mixtape(conn, "ana", WEEK)
    with conn, conn.cursor() as cur:
        cur.execute("select track_id, cluster from track_cluster where method = %s", (clusters.METHOD,))
        labels = dict(cur.fetchall())
    assert mix.cluster_method == clusters.METHOD and {labels[t.track_id] for t in mix.tracks} == {mix.cluster}
    assert mix.cluster_size == sum(1 for c in labels.values() if c == mix.cluster)
    other = labels[next(t for t, c in info["cluster"].items() if c == 2)]
    with conn, conn.cursor() as cur:  # a stored cluster_week row for her week wins
        cur.execute("""insert into cluster_week (user_id, week, method, cluster, share)
                       select user_id, '2026-01-26', %s, %s, 0.2 from users where user_name = 'ana'""",
                    (clusters.METHOD, other))
    moved = build_mixtape(conn, "ana", WEEK)
    assert moved.cluster == other and {labels[t.track_id] for t in moved.tracks} == {other}
    with conn, conn.cursor() as cur:
        cur.execute("delete from cluster_week")
        cur.execute("update track_cluster set cluster = -1")
    with pytest.raises(MixtapeError, match="noise"):
        build_mixtape(conn, "ana", WEEK)
    with conn, conn.cursor() as cur:
        cur.execute("delete from track_cluster")
    with pytest.raises(MixtapeError, match="track_clusters"):
        build_mixtape(conn, "ana", WEEK)


def test_m3u_lists_existing_files_with_their_real_durations(catalogue):
    from pathlib import Path

    conn, info = catalogue
    mix = build_mixtape(conn, "ana", WEEK)
    lines = to_m3u(mix).splitlines()
    assert lines[0] == "#EXTM3U"
    entries = [(lines[i], lines[i + 1]) for i, line in enumerate(lines) if line.startswith("#EXTINF:")]
    assert len(entries) == len(mix.tracks)
    for (extinf, path), t in zip(entries, mix.tracks):
        seconds, name = extinf[len("#EXTINF:"):].split(",", 1)
        assert int(seconds) == round(info["duration"][t.track_id])
        assert name == f"{t.artist} - {t.title}"
        assert Path(path).is_file() and path == t.path


def test_jspf_is_accepted_by_listenbrainz_and_broken_ones_are_not(catalogue, lb):
    conn, info = catalogue
    mix = build_mixtape(conn, "ana", WEEK)
    doc, left_out = to_jspf(mix)
    assert {t.track_id for t in left_out} == {t.track_id for t in mix.tracks if not info["mbid"][t.track_id]}
    assert len(doc["playlist"]["track"]) == len(mix.tracks) - len(left_out) > 0
    with ListenBrainzClient(lb.url, retry=RetryPolicy(attempts=1), sleep=lambda s: None) as client:
        mbid = client.create_playlist(TOKEN, doc)
        assert lb.playlists[mbid] == {"user": "ana", "jspf": doc}
        assert lb.seen[-1].headers["authorization"] == f"Token {TOKEN}"

        broken = json.loads(json.dumps(doc))
        del broken["playlist"]["title"]
        with pytest.raises(ListenBrainzError, match="HTTP 400: JSPF playlist must contain a title"):
            client.create_playlist(TOKEN, broken)
        broken = json.loads(json.dumps(doc))
        del broken["playlist"]["extension"]["https://musicbrainz.org/doc/jspf#playlist"]["public"]
        with pytest.raises(ListenBrainzError, match="public field must be given"):
            client.create_playlist(TOKEN, broken)
        broken = json.loads(json.dumps(doc))
        first = broken["playlist"]["track"][0]["identifier"][0]
        broken["playlist"]["track"][0]["identifier"] = ["https://example.org/x", first]  # MBID not first
        with pytest.raises(ListenBrainzError, match="track 0 identifier must have the namespace"):
            client.create_playlist(TOKEN, broken)
        broken["playlist"]["track"][0]["identifier"] = ["https://musicbrainz.org/recording/not-a-uuid"]
        with pytest.raises(ListenBrainzError, match="valid track identifier"):
            client.create_playlist(TOKEN, broken)
        with pytest.raises(InvalidToken, match="Invalid authorization token"):
            client.create_playlist("not-her-token", doc)
    answer = httpx.post(f"{lb.url}/1/playlist/create", json=doc)
    assert answer.status_code == 401
    assert answer.json() == {"code": 401, "error": "You need to provide an Authorization header."}
    assert len(lb.playlists) == 1


def test_cli_prints_exports_and_pushes(catalogue, lb, sidetrack_env, monkeypatch, tmp_path):
    conn, _ = catalogue
    monkeypatch.setenv("LISTENBRAINZ_BASE_URL", lb.url)
    app = typer.Typer()
    app.command()(mixtape)
    app.command("noop")(lambda: None)  # two commands: typer keeps `mixtape` as a subcommand
    m3u, jspf = tmp_path / "mix.m3u", tmp_path / "mix.jspf"
    result = CliRunner().invoke(app, ["mixtape", "--user", "ana", "--week", WEEK, "--m3u", str(m3u), "--jspf", str(jspf), "--push"])
    assert result.exit_code == 0, result.output
    mix = build_mixtape(conn, "ana", WEEK)
    for t in mix.tracks:
        assert f"{t.artist} - {t.title}" in result.output
    assert f"Total: {round(mix.total_s) // 60}:{round(mix.total_s) % 60:02d}" in result.output
    assert "BPM" in result.output and "without a recording MBID left out" in result.output
    assert m3u.read_text().startswith("#EXTM3U") and json.loads(jspf.read_text())["playlist"]["title"]
    assert len(lb.playlists) == 1 and "Pushed to ListenBrainz" in result.output


def test_camelot_and_tempo_rules():
    assert camelot("C", "major") == (8, "B") and camelot("A", "minor") == (8, "A")
    assert camelot("E", "major") == (12, "B") and camelot("C#", "minor") == (12, "A")
    assert camelot("G", "major") == (9, "B") and camelot("F", "major") == (7, "B")
    assert tempo_cost(FlowTrack("a", 70, None, None), FlowTrack("b", 140, None, None)) == pytest.approx(0.5)


def test_order_never_puts_one_artist_twice_in_a_row():
    tracks = [FlowTrack("X", 120, "C", "major"), FlowTrack("X", 120.5, "C", "major"),
              FlowTrack("Y", 150, "F#", "minor"), FlowTrack("X", 121, "C", "major"),
              FlowTrack("Z", 90, "D", "major")]
    order = order_for_flow(tracks)
    assert sorted(order) == list(range(5))
    assert all(tracks[a].artist != tracks[b].artist for a, b in zip(order, order[1:]))
    with pytest.raises(ValueError, match="twice in a row"):
        order_for_flow([FlowTrack("X", 100, None, None)] * 3 + [FlowTrack("Y", 100, None, None)])
