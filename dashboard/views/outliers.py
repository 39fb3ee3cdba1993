"""Outliers: the tracks you played that sit farthest from your last 90 days, with a quick
"add to playlist" (the session's picks, exported on the Mixtape page)."""

import streamlit as st

from dashboard import scope as scoping
from dashboard.components import empty, picks
from dashboard.components.guard import run_page
from dashboard.data import outliers


def render() -> None:
    scope = scoping.current()
    st.title("Outliers")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    found = outliers.outliers(scope)
    if found.empty:
        if int(totals["analysed_tracks"]) == 0:
            empty.no_audio(scope)
        else:
            empty.not_computed("Outliers are")
        return
    st.caption(f"Tracks farthest from the centroid of your listening in the 90 days to "
               f"{found['window_end'].iloc[0]:%Y-%m-%d} (distance in standardised sound space; z against "
               "your other tracks).")
    chosen = picks.current(scope)
    for row in found.itertuples(index=False):
        c = st.columns([6, 2, 2])
        c[0].markdown(f"**{row.rank}. {row.artist} – {row.title}**")
        c[1].caption(f"distance {row.distance:.2f} · z {row.z:+.1f}")
        if row.track_id in chosen:
            c[2].caption("✓ in your picks")
        elif c[2].button("Add to playlist", key=f"u{scope.user_id}:add_outlier:{row.track_id}"):
            picks.add(scope, row._asdict())
            st.rerun()
    if chosen:
        st.success(f"{len(chosen)} track(s) in your picks — export them on the **Mixtape** page.")


run_page(render)
