"""SideTrack dashboard — overview KPIs and weekly vibe trends, read from the dbt marts."""

from __future__ import annotations

import sys
from pathlib import Path

import plotly.express as px
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402  (the dashboard's own query module)

AXES = ("energy", "valence", "danceability", "brightness", "rhythmic_complexity", "pumpiness",
        "texture_density", "stereo_size", "tempo", "mode_confidence")

st.set_page_config(page_title="SideTrack", page_icon="🎧", layout="wide")


@st.cache_data(ttl=60, show_spinner=False)
def load(user_id: int):
    """Everything the page shows, cached per user."""
    return (data.overview(user_id), data.mood_weeks(user_id), data.change_points(user_id),
            data.listens_per_week(user_id))


def main() -> None:
    st.title("SideTrack")
    try:
        users = data.users()
    except data.MartsMissing:
        users = None
    if users is None or users.empty:
        st.info("No listens yet. Import a ListenBrainz export with "
                "`sidetrack import-listens --user NAME export.zip`, or try `sidetrack demo`.")
        return
    names = users["user_name"].tolist()
    name = st.sidebar.selectbox("Listener", names, key="user") if len(names) > 1 else names[0]
    user = users[users["user_name"] == name].iloc[0]
    st.sidebar.caption(f"Local single-user mode · time zone {user['timezone']}")

    try:
        overview, weeks, changes, per_week = load(int(user["user_id"]))
    except data.MartsMissing:
        st.info("The weekly marts are not built yet: run `sidetrack materialize` (or `sidetrack demo`).")
        return
    if overview is None:
        st.info(f"No listens for {name} yet.")
        return

    cols = st.columns(4)
    cols[0].metric("Listens", f"{int(overview['listens']):,}")
    cols[1].metric("Tracks", f"{int(overview['unique_tracks']):,}")
    cols[2].metric("Artists", f"{int(overview['unique_artists']):,}")
    cols[3].metric("Weeks", f"{int(overview['weeks']):,}")
    analysed = int(overview["analysed_tracks"])
    if analysed < int(overview["unique_tracks"]):
        st.caption(f"{analysed} of {int(overview['unique_tracks'])} listened tracks have audio analysis; "
                   "weekly vibes are computed from those.")

    st.subheader("Weekly vibe trends")
    chosen = st.multiselect("Axes", AXES, default=["energy", "valence", "tempo"], key="axes")
    smooth = st.toggle("Show 4-week EMA instead of weekly means", value=False, key="ema")
    trend = weeks[weeks["axis"].isin(chosen)]
    if trend.empty:
        st.info("No scored listens for these axes yet.")
    else:
        fig = px.line(trend, x="week", y="ema_4w" if smooth else "mean_value", color="axis",
                      labels={"mean_value": "weekly mean (0–1)", "ema_4w": "4-week EMA (0–1)", "week": ""})
        for row in changes[changes["axis"].isin(chosen)].itertuples():
            fig.add_vline(x=str(row.week), line_dash="dot", line_color="grey")
        fig.update_layout(legend=dict(title_text="", orientation="h", y=1.08, x=0), height=420,
                          margin=dict(l=10, r=10, t=30, b=10))
        st.plotly_chart(fig, width="stretch")

    left, right = st.columns([2, 1])
    with left:
        st.subheader("Listens per week")
        st.bar_chart(per_week.set_index("week")["listens"], height=220)
    with right:
        st.subheader("Change-points")
        if changes.empty:
            st.caption("No shifts detected yet.")
        else:
            st.dataframe(changes[["week", "axis", "direction", "magnitude"]], hide_index=True, width="stretch")


main()
