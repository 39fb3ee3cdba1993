"""Two signed-in users: bob never sees ana's listens, tracks, labels, mixtapes or settings.

ana (tests/dashboard_fixtures.py) owns marker strings (ANA_MARKERS): her own artist, track titles
and label that only she listened to, her ListenBrainz and Last.fm user names, her token and her
e-mail. Sign-in is simulated the way Streamlit's AppTest offers it (`AppTest.user`, with the OIDC
`[auth]` secrets set): no test hook exists in the app. The checks read everything a run sends to
the browser (every element's message, chart specs, widget options and values, table contents).
"""

from __future__ import annotations

import pytest

from dashboard.pages import PAGES
from tests.dashboard_fixtures import (ANA, ANA_MARKERS, BOB, MARKER_ARTIST, MARKER_LABEL, MARKER_TITLE, open_page,
                                      problems, rendered_text, signed_in)

pytest_plugins = ["tests.dashboard_fixtures"]

MODULES = [page_file.rsplit("/", 1)[-1] for _, _, page_file, _ in PAGES]


def _click(at, label: str) -> None:
    found = [b for b in at.button if b.label == label]
    if found:
        found[0].click().run()


def _select(elements, label: str, value) -> None:
    for w in elements:
        if w.label == label and value in w.options:
            w.set_value(value)


def visit_everything(at, demo, marker_track: int) -> dict[str, str]:
    """Every page, plus the interactions that reach further: filters, searches, a direct track
    link, the labelling queue, a generated mixtape. Returns what each step rendered."""
    seen: dict[str, str] = {}

    def record(step: str) -> None:
        assert not at.exception, (step, [e.value for e in at.exception])
        seen[step] = rendered_text(at)

    for module in MODULES:
        open_page(at, module)
        record(module)
    open_page(at, "moods.py")
    for w in at.multiselect:
        if w.label == "Labels" and MARKER_LABEL in w.options:
            w.set_value([MARKER_LABEL]).run()
    record("moods filtered")
    open_page(at, "track.py")
    # the first word of ana's titles (the whole title is a marker: the viewer's own typing would match it)
    [w for w in at.text_input if w.label == "Find a track"][0].set_value(MARKER_TITLE.split()[0]).run()
    record("track search")
    [w for w in at.text_input if w.label == "Find a track"][0].set_value("").run()
    at.query_params["track"] = str(marker_track)
    at.run()
    record("track link")
    at.query_params.clear()
    open_page(at, "labels.py")
    for axis in ("energy", "valence"):
        _select(at.selectbox, "Axis", axis)
        at.run()
        _click(at, "Find tracks to rate")
        record(f"labels queue {axis}")
    open_page(at, "mixtape.py")
    _select(at.selectbox, "Week", demo.mixtape_week)
    at.run()
    _click(at, "Generate")
    record("mixtape generated")
    open_page(at, "outliers.py")
    _click(at, "Add to playlist")
    record("outlier picked")
    open_page(at, "mixtape.py")
    record("mixtape with picks")
    open_page(at, "settings.py")
    record("settings again")
    return seen


def leaks(seen: dict[str, str], markers=ANA_MARKERS) -> list[tuple[str, str]]:
    return [(step, m) for step, text in seen.items() for m in markers if m in text]


def test_markers_are_visible_to_their_owner(demo_env):
    """Not vacuous: on ana's own screens, her marker strings are there to be found."""
    at = signed_in(ANA)
    seen = visit_everything(at, demo_env, demo_env.markers[0])
    found = {m for _, m in leaks(seen)}
    assert "Saved mixtape" in seen["mixtape generated"]
    assert {MARKER_ARTIST, MARKER_TITLE, MARKER_LABEL, ANA_MARKERS[3], ANA_MARKERS[4]} <= found
    assert ANA_MARKERS[5] not in found  # the token: not even for its owner (test_dashboard_settings)


def test_bob_sees_nothing_of_anas(demo_env):
    at = signed_in(BOB)
    seen = visit_everything(at, demo_env, demo_env.markers[0])
    assert leaks(seen) == []
    assert "Not connected" in seen["settings.py"]
    assert "This track is not in your listening history" in seen["track link"] or \
        MARKER_TITLE not in seen["track link"]
    assert "No track matches" in seen["track search"]
    assert "Saved mixtape" not in seen["mixtape generated"]  # ana's stored weekly mixtape is hers


def test_switching_user_in_the_same_browser_session(demo_env):
    """ana uses the app (filters, picks, a mixtape, her track), signs out, bob signs in in the same
    session: none of her cached queries, session filters, picks or mixtapes reach him."""
    at = signed_in(ANA)
    mine = visit_everything(at, demo_env, demo_env.markers[0])
    assert leaks(mine)
    at.user = {"is_logged_in": True, "email": BOB, "email_verified": True}
    seen = visit_everything(at, demo_env, demo_env.markers[0])
    assert leaks(seen) == []
    for step in ("overview.py", "trajectory.py", "moods.py"):
        assert not problems_in(seen[step])


def problems_in(text: str) -> bool:
    return "Something went wrong" in text


def test_each_users_numbers_come_from_their_own_rows(demo_env):
    import psycopg2

    conn = psycopg2.connect(demo_env.url)
    with conn, conn.cursor() as cur:
        cur.execute("select user_name, listens from marts.mart_overview where user_name in (%s, %s)", (ANA, BOB))
        listens = dict(cur.fetchall())
    conn.close()
    at = signed_in(ANA)
    open_page(at, "overview.py")  # ana's numbers are now cached
    assert [m.value for m in at.metric if m.label == "Listens"] == [f"{listens[ANA]:,}"]
    bob = signed_in(BOB)
    open_page(bob, "overview.py")
    assert [m.value for m in bob.metric if m.label == "Listens"] == [f"{listens[BOB]:,}"]
    assert not problems(bob)


def test_exports_and_domain_calls_are_scoped(demo_env):
    """Bob's mixtape exports name only bob; ana's mixtape cannot be pushed with bob's scope; the
    labelling queue would offer ana's tracks without the dashboard's filter (so the filter matters)."""
    from dashboard.data import accounts, labels, mixtape
    from sidetrack_pipeline.db.connection import connect
    from sidetrack_pipeline.scoring.calibration_store import label_suggestions

    ana = accounts.scope_for(ANA, "oidc")
    bob = accounts.scope_for(BOB, "oidc")
    weeks = mixtape.weeks(bob)
    made = [m for m in (mixtape.build(bob, w, 75) for w in weeks[:6]) if not isinstance(m, str)]
    assert made, "bob's weeks give at least one mixtape"
    for mix in made:
        m3u, (jspf, _) = mixtape.m3u(mix), mixtape.jspf(mix)
        assert BOB in m3u and BOB in jspf
        assert not [m for m in ANA_MARKERS if m in m3u or m in jspf]
    anas = mixtape.build(ana, demo_env.mixtape_week, 75)
    assert not isinstance(anas, str)
    with pytest.raises(PermissionError):
        mixtape.push(bob, anas)

    with connect(demo_env.url) as conn:
        raw = label_suggestions(conn, BOB, "energy", k=40)
    assert {p.track_id for p in raw} & set(demo_env.markers), "ana's far-away tracks are worth labelling"
    queue = labels.suggestions(bob, "energy")
    assert len(queue) and not set(queue.track_id) & set(demo_env.markers)
    with pytest.raises(LookupError):
        labels.add(bob, demo_env.markers[0], "energy", 0.5)
