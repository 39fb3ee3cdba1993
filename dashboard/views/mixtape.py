"""Mixtape: 60–90 minutes from a week's dominant sound cluster (sidetrack_pipeline's
build_mixtape), previewed with durations and flow, exported as M3U / JSPF, pushed to ListenBrainz."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty, picks, state
from dashboard.components.guard import run_page
from dashboard.data import mixtape


def _clock(seconds: float) -> str:
    seconds = round(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _preview(scope, mix, key: str) -> None:
    rows = pd.DataFrame([{"#": n, "artist": t.artist, "title": t.title, "length": _clock(t.duration_s),
                          "BPM": round(t.bpm, 1) if t.bpm else None, "key": mixtape.camelot(t.key, t.mode)}
                         for n, t in enumerate(mix.tracks, 1)])
    c = st.columns(3)
    c[0].metric("Tracks", len(mix.tracks))
    c[1].metric("Total", _clock(mix.total_s))
    if mix.cluster >= 0:
        c[2].metric("Week's listens in the cluster", f"{mix.week_listens}")
    st.dataframe(rows, hide_index=True, width="stretch")
    if any(t.bpm for t in mix.tracks):
        fig = go.Figure(go.Scatter(x=list(range(1, len(mix.tracks) + 1)), y=[t.bpm for t in mix.tracks],
                                   mode="lines+markers+text", text=[mixtape.camelot(t.key, t.mode) for t in mix.tracks],
                                   textposition="top center", name="BPM"))
        fig.update_layout(height=260, xaxis_title="position", yaxis_title="BPM", title="Flow: tempo and Camelot key")
        charts.show(fig, key=f"{key}_flow")
    name = f"sidetrack-{mix.week}"
    jspf_text, left_out = mixtape.jspf(mix)
    c = st.columns(3)
    c[0].download_button("Download M3U", mixtape.m3u(mix), file_name=f"{name}.m3u", mime="audio/x-mpegurl",
                         key=f"{key}_m3u")
    c[1].download_button("Download JSPF", jspf_text, file_name=f"{name}.jspf", mime="application/json",
                         key=f"{key}_jspf")
    if left_out:
        st.caption(f"{len(left_out)} track(s) without a MusicBrainz recording id are left out of the JSPF "
                   "and of ListenBrainz.")
    if c[2].button("Push to ListenBrainz", key=f"{key}_push"):
        try:
            url = mixtape.push(scope, mix)
        except Exception as exc:  # the message says what to do (no token, rejected, unreachable)
            st.error(f"Could not create the playlist: {exc}")
        else:
            st.success(f"Created on ListenBrainz: {url}")


def render() -> None:
    scope = scoping.current()
    st.title("Mixtape")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    weeks = mixtape.weeks(scope)
    if not weeks:
        empty.no_marts()
        return
    c = st.columns([2, 2, 1])
    week = c[0].selectbox("Week", weeks, **state.keep(scope, "mix_week", weeks[0], weeks))
    minutes = c[1].slider("Length (minutes)", 60, 90, **state.keep(scope, "mix_minutes", 75))
    c[2].write("")
    stored = mixtape.saved(scope, week)
    if isinstance(stored, str):
        st.caption(f"The weekly run made no mixtape for {week}: {stored}")
    elif stored is not None and stored.tracks:
        st.subheader(f"Saved mixtape for {week}")
        st.caption("Made by the weekly pipeline run; **Generate** makes a fresh one at the length you pick.")
        _preview(scope, stored, "saved")
    request_key = state.key(scope, "mix_request")
    if c[2].button("Generate", type="primary", key=state.key(scope, "mix_generate")):
        st.session_state[request_key] = (week, int(minutes))
    request = st.session_state.get(request_key)
    if request:
        with st.spinner("Picking tracks…"):
            mix = mixtape.build(scope, *request)
        st.subheader(f"Mixtape for {request[0]}")
        if isinstance(mix, str):
            st.warning(f"No mixtape for this week: {mix}. Mixtapes are made from your local, analysed "
                       "music — scan your music folder (`sidetrack scan`) and run `sidetrack materialize`.")
        else:
            _preview(scope, mix, "mix")
    else:
        st.caption("Pick a week and press **Generate**: 60–90 minutes from the sound cluster that week "
                   "was about, ordered by tempo and key.")

    chosen = picks.current(scope)
    if chosen:
        st.divider()
        st.subheader("Your picks")
        _preview(scope, mixtape.picks_mixtape(scope, chosen), "picks")
        if st.button("Clear picks", key=state.key(scope, "picks_clear")):
            picks.clear(scope)
            st.rerun()


run_page(render)
