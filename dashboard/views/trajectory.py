"""Trajectory: the 2-D taste map (UMAP of the track vectors) with the weekly path and arrows,
coloured by energy; hover a point for its tracks, pick a week to drill into what you played."""

import datetime as dt

import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty, state
from dashboard.components.guard import run_page
from dashboard.data import trajectory

WINDOWS = {"12 weeks": 12, "26 weeks": 26, "52 weeks": 52, "All": None}


def _clicked_week(event, weeks: set[str]) -> str | None:
    """The week of the dot clicked on the map (the weekly trace's customdata starts with it)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points:
        data = point.get("customdata") or []
        if data and str(data[0]) in weeks:
            return str(data[0])
    return None


def render() -> None:
    scope = scoping.current()
    st.title("Taste trajectory")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    window = st.segmented_control("Window", list(WINDOWS), **state.keep(scope, "traj_window", "26 weeks", WINDOWS))
    weeks = trajectory.weeks(scope, WINDOWS.get(window or "26 weeks"))
    if weeks.empty:
        if int(totals["analysed_tracks"]) == 0:
            empty.no_audio(scope)
        else:
            empty.not_computed("The taste map is")
        return
    first = weeks["week"].iloc[0]
    since = dt.datetime.combine(first, dt.time()) - dt.timedelta(days=1)
    tracks = trajectory.tracks(scope, since)
    arrows = trajectory.arrows(scope, first)
    st.caption(f"{len(weeks)} weeks from {first} to {weeks['week'].iloc[-1]} · each dot is a week "
               f"(its listen-weighted position), arrows show week-to-week moves; faint points are the "
               f"{len(tracks)} most played tracks of the window. Colour: energy.")
    event = charts.show(charts.trajectory(weeks, tracks, arrows), key=state.key(scope, "trajectory_map"),
                        on_select="rerun", selection_mode="points")
    clicked = _clicked_week(event, {str(w) for w in weeks["week"]})

    if len(arrows):
        c = st.columns(3)
        c[0].metric("Mean weekly step", f"{arrows['step'].mean():.2f}")
        big = arrows.loc[arrows["step"].idxmax()]
        c[1].metric("Biggest move", f"{big['step']:.2f}", help=f"from {big['week_from']} to {big['week']}")
        c[2].metric("Weeks shown", f"{len(weeks)}")

    st.subheader("What you played")
    options = [str(w) for w in reversed(weeks["week"].tolist())]
    if clicked:  # a click on a week's dot on the map opens that week here
        st.session_state["_keep:" + state.key(scope, "traj_week")] = clicked
    chosen = st.selectbox("Week", options, help="or click a week's dot on the map",
                          **state.keep(scope, "traj_week", options[0], options))
    played = trajectory.week_tracks(scope, chosen, scope.timezone)
    if played.empty:
        st.caption("No listens that week.")
    else:
        st.dataframe(played, hide_index=True, width="stretch")


run_page(render)
