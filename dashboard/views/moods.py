"""Moods: a streamgraph of the week's dominant lexicon moods, filterable by artist, label, source."""

import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty, state
from dashboard.components.guard import run_page
from dashboard.data import moods


def render() -> None:
    scope = scoping.current()
    st.title("Moods over time")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    options = moods.filter_options(scope)
    cols = st.columns(3)
    artists = cols[0].multiselect("Artists", options["artists"], placeholder="all artists",
                                  **state.keep(scope, "moods_artists", [], options["artists"]))
    labels = cols[1].multiselect("Labels", options["labels"], placeholder="all labels",
                                 **state.keep(scope, "moods_labels", [], options["labels"]))
    sources = cols[2].multiselect("Source", options["sources"], placeholder="all sources",
                                  **state.keep(scope, "moods_sources", [], options["sources"]))
    shares = moods.shares(scope, tuple(artists), tuple(labels), tuple(sources))
    if shares.empty:
        if artists or labels or sources:
            st.info("No mood-scored listens match these filters.")
        elif int(totals["analysed_tracks"]) == 0:
            empty.no_audio(scope)
        else:
            empty.not_computed("Mood words (the zero-shot lexicon) are")
        return
    st.caption("Each week's listens split by the mood word that describes each track best "
               "(zero-shot lexicon); shares of a week add up to 100 %.")
    charts.show(charts.streamgraph(shares), key="moods_stream")
    top = (shares.groupby("mood")["listens"].sum().sort_values(ascending=False).head(8).rename("listens")
           .reset_index())
    st.dataframe(top, hide_index=True, width="stretch")


run_page(render)
