"""The session's hand-picked playlist ("add to playlist" on Outliers), kept per user."""

from __future__ import annotations

import streamlit as st

from dashboard.scope import UserScope


def _key(scope: UserScope) -> str:
    return f"u{scope.user_id}:picks"


def current(scope: UserScope) -> dict[int, dict]:
    return st.session_state.setdefault(_key(scope), {})


def add(scope: UserScope, track: dict) -> None:
    current(scope)[int(track["track_id"])] = {k: track[k] for k in
                                              ("track_id", "artist", "title", "duration_s", "recording_mbid", "has_file")}


def clear(scope: UserScope) -> None:
    st.session_state[_key(scope)] = {}
