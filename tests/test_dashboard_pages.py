"""Every dashboard page through Streamlit's AppTest: with demo-like data (tests/dashboard_fixtures.py:
a real database filled through the pipeline's scoring code, a real dbt build and the analytics
functions), for a signed-in user with no listens, and on a database with nothing in it.

What each page shows is checked against the tables and marts it reads."""

from __future__ import annotations

import psycopg2
import pytest

from dashboard.pages import PAGES
from tests.dashboard_fixtures import (ANA, ANA_TOKEN, BOB, DORA, MARKER_LB_USER, MARKER_TITLE, local_mode,
                                      open_page, problems, rendered_text, signed_in)
from tests.fake_listenbrainz import FakeListenBrainz

pytest_plugins = ["tests.dashboard_fixtures"]

MODULES = [page_file.rsplit("/", 1)[-1] for _, _, page_file, _ in PAGES]
TITLES = {"overview.py": "Overview", "trajectory.py": "Taste trajectory", "moods.py": "Moods over time",
          "radar.py": "Vibe radar", "outliers.py": "Outliers", "mixtape.py": "Mixtape", "track.py": "Track",
          "labels.py": "Label tracks", "settings.py": "Settings"}


def rows(url: str, sql: str, *params) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def metric(at, label: str, nth: int = 0) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert len(found) > nth, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[nth]


def widget(elements, label: str):
    found = [w for w in elements if w.label == label]
    assert found, f"no widget {label!r} among {[w.label for w in elements]}"
    return found[0]


def button(at, label: str, nth: int = 0):
    return [b for b in at.button if b.label == label][nth]


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not problems(at), problems(at)


# -- the registry and the entry ----------------------------------------------------------------

def test_registry_matches_the_page_files_and_the_navigation(demo_env):
    from pathlib import Path

    dashboard = Path(__file__).resolve().parents[1] / "dashboard"
    assert all(f.startswith("views/") for _, _, f, _ in PAGES)
    assert sorted(MODULES) == sorted(p.name for p in (dashboard / "views").glob("*.py") if p.name != "__init__.py")
    # nothing Streamlit could run as an old-style page without the entry (and its sign-in)
    assert [p.name for p in (dashboard / "pages").iterdir() if p.suffix == ".py"] == ["__init__.py"]
    assert len({url for _, url, _, _ in PAGES}) == len(PAGES)
    at = signed_in(ANA).run()
    assert_clean(at)
    registered = {info.get("url_pathname") for info in at._registered_pages.values()}
    assert {url for _, url, _, _ in PAGES} == registered
    assert PAGES[0][1] == ""  # the default page, served at the root URL


@pytest.mark.parametrize("module", MODULES)
def test_every_page_renders_demo_data(demo_env, module):
    at = open_page(signed_in(ANA), module)
    assert_clean(at)
    assert at.title[0].value == TITLES[module]
    assert not at.info or module == "mixtape.py", [i.value for i in at.info]  # no empty state for ana


@pytest.mark.parametrize("module", MODULES)
def test_every_page_guides_a_new_user(demo_env, module):
    at = open_page(signed_in("newcomer@example.com"), module)
    assert_clean(at)
    if module == "settings.py":
        assert "Not connected" in rendered_text(at)
    else:
        assert any("No listens yet" in i.value for i in at.info)
        assert "sidetrack import-listens --user newcomer@example.com" in rendered_text(at)


NEEDS_AUDIO = ("trajectory.py", "moods.py", "radar.py", "outliers.py")


@pytest.mark.parametrize("module", MODULES)
def test_every_page_guides_a_user_whose_music_is_not_analysed(demo_env, module):
    """dora has listens, but no track of hers has audio analysis: the vibe pages say how to scan."""
    at = open_page(signed_in(DORA), module)
    assert_clean(at)
    if module in NEEDS_AUDIO or module == "overview.py":
        assert any("No audio analysed yet" in i.value for i in at.info), [i.value for i in at.info]
        assert "sidetrack scan --user dora@example.com" in rendered_text(at)
    if module == "overview.py":
        assert metric(at, "Listens") == "24"


@pytest.mark.parametrize("module", MODULES)
def test_every_page_on_an_empty_database_in_local_mode(empty_env, module):
    at = local_mode().run()
    # (the entry's own elements are checked on the entry's run: AppTest drops them after a switch)
    assert "Local single-user mode" in rendered_text(at)
    open_page(at, module)
    assert_clean(at)
    if module != "settings.py":
        assert any("not built yet" in i.value or "No listens yet" in i.value for i in at.info), \
            [i.value for i in at.info]


def test_sign_in_is_required_when_oidc_is_configured(demo_env):
    at = signed_in(None)
    at.run()
    assert not at.exception
    text = rendered_text(at)
    assert "Sign in" in text and not at.metric and not at.dataframe
    # Authlib (what st.login needs) is an optional dependency: without it the page says so.
    assert "Sign in" in [b.label for b in at.button] or "Authlib" in text
    for marker in (ANA, BOB, MARKER_TITLE):
        assert marker not in text


def test_local_mode_is_labelled_and_uses_the_configured_user(demo_env, monkeypatch):
    monkeypatch.setenv("SIDETRACK_DASHBOARD_USER", BOB)
    at = local_mode().run()
    assert_clean(at)
    assert any("Local single-user mode" in c.value and BOB in c.value for c in at.sidebar.caption)
    (listens,) = rows(demo_env.url, "select listens from marts.mart_overview where user_name = %s", BOB)[0]
    assert metric(at, "Listens") == f"{listens:,}"


# -- what the pages show -----------------------------------------------------------------------

def test_overview_kpis_equal_the_marts(demo_env):
    at = open_page(signed_in(ANA), "overview.py")
    assert_clean(at)
    listens, tracks, artists = rows(demo_env.url, """select listens, unique_tracks, unique_artists
                                                     from marts.mart_overview where user_name = %s""", ANA)[0]
    assert (metric(at, "Listens"), metric(at, "Unique tracks"), metric(at, "Unique artists")) == \
        (f"{listens:,}", f"{tracks:,}", f"{artists:,}")
    weeks = rows(demo_env.url, """select week, listens, artist_entropy, momentum_index from marts.mart_overview_week
                                  where user_name = %s order by week desc limit 27""", ANA)
    latest, before = weeks[0], weeks[1:]
    assert metric(at, "Diversity (artist entropy)") == f"{abs(latest[2]):.2f}"
    assert metric(at, "Momentum index") == f"{latest[3]:.3f}"
    assert metric(at, "Listens this week") == f"{latest[1]:,}"
    delta = [m.delta for m in at.metric if m.label == "Listens this week"][0]
    assert delta == f"{latest[1] - sum(w[1] for w in before) / len(before):+.1f}"
    (summary,) = rows(demo_env.url, """select summary_text from marts.mart_vibe_summary where user_name = %s
                                       order by week desc limit 1""", ANA)[0]
    assert f"**{summary}**" in rendered_text(at)
    changes = rows(demo_env.url, """select week, axis from marts.mart_change_points where user_name = %s
                                    order by week desc, axis, method limit 5""", ANA)
    assert changes, "the demo history plants an energy shift"
    shown = at.dataframe[0].value
    assert [(w, a) for w, a in zip(shown["week"], shown["axis"])] == changes


def test_trajectory_window_and_week_drill_down(demo_env):
    at = open_page(signed_in(ANA), "trajectory.py")
    assert_clean(at)
    assert metric(at, "Weeks shown") == "26"
    all_weeks = rows(demo_env.url, """select count(*) from taste_trajectory_week w join users u using (user_id)
                                      where u.user_name = %s""", ANA)[0][0]
    at.segmented_control[0].set_value("All").run()
    assert_clean(at)
    assert metric(at, "Weeks shown") == str(all_weeks)
    # The map's hover carries the tracks: the most played one of the window is in the chart.
    top = rows(demo_env.url, """select a.name || ' – ' || t.title from listen l join users u using (user_id)
                                join track t using (track_id) join artist a on a.artist_id = t.artist_id
                                where u.user_name = %s group by 1 order by count(*) desc, 1 limit 1""", ANA)[0][0]
    assert top.split(" – ")[1] in rendered_text(at)
    week = widget(at.selectbox, "Week")
    chosen = week.options[3]
    week.set_value(chosen).run()
    assert_clean(at)
    played = at.dataframe[0].value
    expected = rows(demo_env.url, """select count(*) from listen l join users u using (user_id)
                                     where u.user_name = %s and (l.played_at at time zone u.timezone)::date
                                     between %s::date and %s::date + 6""", ANA, chosen, chosen)[0][0]
    assert 0 < played["plays"].sum() <= expected and (len(played) == 15 or played["plays"].sum() == expected)
    # the window survives a visit to another page (persistent filters)
    open_page(at, "overview.py")
    open_page(at, "trajectory.py")
    assert metric(at, "Weeks shown") == str(all_weeks)


def test_moods_streamgraph_and_its_filters(demo_env):
    at = open_page(signed_in(ANA), "moods.py")
    assert_clean(at)
    moods = {m for (m,) in rows(demo_env.url, """select distinct mood from marts.mart_mood_shares
                                                where user_name = %s""", ANA)}
    chart = at.get("plotly_chart")[0].proto.spec
    assert all(f'"name":"{m}"' in chart for m in moods)
    widget(at.multiselect, "Labels").set_value(["Label 3"]).run()  # cluster 3: dominant word 'euphoric'
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["mood"]) == ["euphoric"]
    expected = rows(demo_env.url, """select count(*) from listen l join users u using (user_id)
                                     join track t using (track_id) join release_label rl using (release_id)
                                     join label lb using (label_id) where u.user_name = %s and lb.name = 'Label 3'""",
                    ANA)[0][0]
    assert int(table["listens"].sum()) == expected
    widget(at.multiselect, "Source").set_value(["lastfm"]).run()
    assert_clean(at)
    lastfm = rows(demo_env.url, """select count(*) from listen l join users u using (user_id)
                                   join track t using (track_id) join release_label rl using (release_id)
                                   join label lb using (label_id)
                                   where u.user_name = %s and lb.name = 'Label 3' and l.source = 'lastfm'""", ANA)[0][0]
    assert int(at.dataframe[0].value["listens"].sum()) == lastfm < expected


def test_radar_week_against_baseline_and_two_weeks(demo_env):
    at = open_page(signed_in(ANA), "radar.py")
    assert_clean(at)
    latest = rows(demo_env.url, """select axis, value, baseline_mean from marts.mart_radar where user_name = %s
                                   and week = (select max(week) from marts.mart_radar where user_name = %s)
                                   order by axis""", ANA, ANA)
    table = at.dataframe[0].value
    assert len(table) == len(latest) == 10
    assert [round(v, 9) for v in table["value"]] == [round(v, 9) for _, v, _ in latest]
    assert [round(v, 9) for v in table["baseline_mean"]] == [round(b, 9) for _, _, b in latest]
    widget(at.selectbox, "First week").set_value(widget(at.selectbox, "First week").options[30]).run()
    assert_clean(at)
    assert "change" in at.dataframe[1].value.columns


def test_outliers_add_to_playlist_then_export(demo_env):
    at = open_page(signed_in(ANA), "outliers.py")
    assert_clean(at)
    first = rows(demo_env.url, """select t.title from listening_outlier o join users u using (user_id)
                                  join track t using (track_id) where u.user_name = %s order by o.week desc nulls last,
                                  o.rank limit 1""" if _weekly(demo_env.url) else
                 """select t.title from listening_outlier o join users u using (user_id)
                    join track t using (track_id) where u.user_name = %s order by o.rank limit 1""", ANA)[0][0]
    assert first.startswith(MARKER_TITLE)  # ana's own far-away tracks are her outliers
    assert first in at.markdown[0].value
    button(at, "Add to playlist").click().run()
    assert_clean(at)
    assert any("in your picks" in c.value for c in at.caption)
    open_page(at, "mixtape.py")
    assert_clean(at)
    assert "Your picks" in [s.value for s in at.subheader]
    assert first in rendered_text(at)
    assert {b.label for b in at.get("download_button")} >= {"Download M3U", "Download JSPF"}


def _weekly(url: str) -> bool:
    return bool(rows(url, """select 1 from information_schema.columns where table_name = 'listening_outlier'
                             and column_name = 'week'"""))


def test_mixtape_generate_preview_export_and_push(demo_env, monkeypatch):
    with FakeListenBrainz() as lb:
        lb.add_user(MARKER_LB_USER, token=ANA_TOKEN)
        monkeypatch.setenv("LISTENBRAINZ_BASE_URL", lb.url)
        at = open_page(signed_in(ANA), "mixtape.py")
        assert_clean(at)
        week = widget(at.selectbox, "Week")
        assert demo_env.mixtape_week in week.options
        week.set_value(demo_env.mixtape_week).run()
        assert_clean(at)
        # the weekly run's stored mixtape is shown first, as stored
        assert f"Saved mixtape for {demo_env.mixtape_week}" in [s.value for s in at.subheader]
        stored = rows(demo_env.url, """select t.title from mixtape m join mixtape_track mt using (mixtape_id)
                                       join track t using (track_id) join users u using (user_id)
                                       where u.user_name = %s order by mt.position""", ANA)
        assert list(at.dataframe[0].value["title"]) == [t for (t,) in stored]
        button(at, "Generate").click().run()
        assert_clean(at)
        tracks = at.dataframe[1].value
        assert len(tracks) == int(metric(at, "Tracks", 1)) >= 8
        minutes, seconds = metric(at, "Total", 1).split(":")
        assert 60 <= int(minutes) + int(seconds) / 60 <= 90
        assert list(tracks.columns) == ["#", "artist", "title", "length", "BPM", "key"]
        downloads = {b.label: b for b in at.get("download_button")}
        assert {"Download M3U", "Download JSPF"} <= set(downloads)
        button(at, "Push to ListenBrainz", nth=1).click().run()
        assert_clean(at)
        assert any("Created on ListenBrainz" in s.value for s in at.success)
        (pushed,) = lb.playlists.values()
        assert pushed["user"] == MARKER_LB_USER
        assert len(pushed["jspf"]["playlist"]["track"]) == len(tracks)
        assert ANA_TOKEN not in rendered_text(at)


def test_track_page_features_scores_explanations_neighbours(demo_env):
    at = signed_in(ANA)
    marker = demo_env.markers[0]
    at.query_params["track"] = str(marker)
    open_page(at, "track.py")
    assert_clean(at)
    assert at.subheader[0].value.endswith(f"{MARKER_TITLE} 1")
    plays = rows(demo_env.url, "select count(*) from listen where track_id = %s", marker)[0][0]
    assert metric(at, "Your plays") == str(plays)
    energy = rows(demo_env.url, "select value from mood_scores where track_id = %s and axis = 'energy'", marker)[0][0]
    assert len(at.expander) == 10
    assert any(e.label.startswith(f"energy: {energy:.2f}") for e in at.expander)
    assert len(at.dataframe[-1].value) == 10  # neighbours
    widget(at.text_input, "Find a track").set_value("Song 2-1").run()
    assert_clean(at)
    assert all("Song 2-1" in o for o in widget(at.selectbox, "Track").options)


def test_labels_queue_rate_and_save(demo_env):
    at = open_page(signed_in(ANA), "labels.py")
    assert_clean(at)
    widget(at.selectbox, "Axis").set_value("danceability").run()
    button(at, "Find tracks to rate").click().run()
    assert_clean(at)
    sliders = at.slider
    assert len(sliders) >= 3
    sliders[0].set_value(0.85)
    at.button(key=sliders[0].key + ":save").click().run()
    assert_clean(at)
    assert any("Saved: danceability = 0.85" in s.value for s in at.success)
    track_id = int(sliders[0].key.rsplit(":", 1)[1])
    assert rows(demo_env.url, """select value, source from labels_user l join users u using (user_id)
                                 where u.user_name = %s and track_id = %s and axis = 'danceability'""",
                ANA, track_id) == [(0.85, "dashboard")]
    assert "danceability" in list(at.dataframe[0].value["axis"])


def test_scoped_data_functions_refuse_calls_without_a_scope(demo_env):
    """The one place scoping is enforced: a data function needs the UserScope, and a query that
    does not filter on :user_id is refused."""
    from dashboard.data import core, labels, moods, outliers, overview, radar, tracks, trajectory

    for fn in (overview.totals, overview.recent_weeks, trajectory.weeks, moods.shares, radar.weeks,
               outliers.outliers, tracks.search, labels.my_labels):
        with pytest.raises(TypeError):
            fn(1)
    with pytest.raises(ValueError):
        core.scoped_read(demo_env.url, 1, "select * from listen")


def test_an_unreachable_database_gets_a_friendly_message(empty_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SIDETRACK_DATABASE_URL", f"postgresql://postgres@/nowhere?host={tmp_path}")
    at = local_mode().run()
    assert not at.exception
    assert any("database is not reachable" in e.value for e in at.error)


def test_light_and_dark_themes_and_the_viewers_choice():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    theme = config["theme"]
    assert {"light", "dark"} <= set(theme) and "base" not in theme  # both defined, neither forced
    for mode in ("light", "dark"):
        assert {"primaryColor", "backgroundColor", "textColor"} <= set(theme[mode])
