"""Empty states that tell a new user what to do next, instead of a traceback or a blank page."""

from __future__ import annotations

import streamlit as st

from dashboard.data import overview
from dashboard.scope import UserScope


def totals_or_guide(scope: UserScope):
    """The user's totals (mart_overview row), or None after showing how to import listens when
    there are none yet: every page starts with this."""
    totals = overview.totals(scope)
    if totals is None or int(totals["listens"]) == 0:
        no_listens(scope)
        return None
    return totals


def no_listens(scope: UserScope) -> None:
    st.info("**No listens yet.** SideTrack needs your listening history first.", icon="🎧")
    st.markdown(
        f"""
* **From a ListenBrainz export**: download it at listenbrainz.org → *Settings* → *Export*, then run
  `sidetrack import-listens --user {scope.user_name} --timezone {scope.timezone} export.zip`
* **From the ListenBrainz API**: connect your account on the **Settings** page, then run
  `sidetrack sync --user {scope.user_name}`
* **From Last.fm**: set your Last.fm user on **Settings**, then `sidetrack import-lastfm --user {scope.user_name}`
* **Just looking?** `sidetrack demo` builds a complete example.

Then build the weekly views with `sidetrack materialize`.""")


def no_marts() -> None:
    st.info("**The weekly views are not built yet.** Run `sidetrack materialize` (or `sidetrack demo` "
            "for an example) and reload this page.", icon="🛠️")


def no_audio(scope: UserScope) -> None:
    st.info("**No audio analysed yet.** Vibe scores, the taste map, outliers and mixtapes come from "
            "your own music files.", icon="🔊")
    st.markdown(
        f"""
1. Point SideTrack at your music folder: `AUDIO_ROOT=/path/to/music`
2. `sidetrack scan --user {scope.user_name}` matches your listens to the files
3. `sidetrack materialize` analyses them and builds the views""")


def not_computed(what: str) -> None:
    st.info(f"**{what} not computed yet.** Run `sidetrack materialize` once your music is scanned "
            "and analysed.", icon="⏳")
