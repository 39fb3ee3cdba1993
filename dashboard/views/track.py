"""Track: one track's audio features, its ten axis scores with what moved them, and its nearest
neighbours in sound. Only tracks you listened to or of the shared local library can be opened."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty, state
from dashboard.components.guard import run_page
from dashboard.data import mixtape, tracks


def _choose(scope) -> int | None:
    text = st.text_input("Find a track", placeholder="artist or title",
                         **state.keep(scope, "track_search", ""))
    found = tracks.search(scope, text) if text.strip() else tracks.recent(scope)
    if found.empty:
        st.info("No track matches." if text.strip() else "No tracks yet.")
        return None
    labels = {int(r.track_id): f"{r.artist} – {r.title}" for r in found.itertuples(index=False)}
    wanted = None if text.strip() else st.query_params.get("track")  # a link opens one track
    ids = list(labels)
    if wanted and wanted.isdigit() and int(wanted) not in labels and tracks.visible(scope, int(wanted)):
        info = tracks.details(scope, int(wanted))
        labels[int(wanted)] = f"{info['artist']} – {info['title']}"
        ids.insert(0, int(wanted))
    default = int(wanted) if wanted and wanted.isdigit() and int(wanted) in labels else ids[0]
    return st.selectbox("Track", ids, format_func=labels.get,
                        **state.keep(scope, "track_id", default, ids))


def render() -> None:
    scope = scoping.current()
    st.title("Track")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    track_id = _choose(scope)
    if track_id is None:
        return
    info = tracks.details(scope, track_id)
    if info is None:
        st.warning("This track is not in your listening history or the local library.")
        return
    st.subheader(f"{info['artist']} – {info['title']}")
    c = st.columns(4)
    c[0].metric("Your plays", int(info["plays"]))
    c[1].metric("Length", "–" if pd.isna(info["duration_s"]) else
                f"{int(info['duration_s']) // 60}:{int(info['duration_s']) % 60:02d}")
    c[2].metric("Tempo", "–" if pd.isna(info["bpm"]) else f"{info['bpm']:.0f} BPM")
    c[3].metric("Key", "–" if not info["key"] else f"{info['key']} {info['mode']} ({mixtape.camelot(info['key'], info['mode'])})")
    if pd.isna(info["bpm"]):
        st.caption("No audio analysis for this track" + ("" if info["has_file"] else " (no local file matched)")
                   + "; its scores come from tags, the lexicon or similar tracks.")

    explanation = tracks.explanation(scope, track_id)
    scored = [a for a in explanation.axes if a.value is not None] if explanation else []
    st.subheader("Vibe axes")
    if not scored:
        empty.no_audio(scope)
    else:
        fig = go.Figure(go.Bar(x=[a.value for a in scored], y=[charts.axis_label(a.axis) for a in scored],
                               orientation="h", customdata=[[a.confidence, a.provenance] for a in scored],
                               hovertemplate="%{y}: %{x:.2f}<br>confidence %{customdata[0]:.2f} · "
                                             "%{customdata[1]}<extra></extra>"))
        fig.update_layout(height=380, xaxis=dict(range=[0, 1]))
        charts.show(fig, key="track_axes")
        for a in scored:
            with st.expander(f"{charts.axis_label(a.axis)}: {a.value:.2f} · confidence {a.confidence:.2f} · "
                             f"{a.provenance} ({a.method})"):
                if a.contributions:
                    st.dataframe(pd.DataFrame([{"method": c.method, "kind": c.kind, "what": c.name,
                                                "pull": round(c.contribution, 3)} for c in a.contributions[:12]]),
                                 hide_index=True, width="stretch")
                else:
                    st.caption("No recorded contributions.")

    st.subheader("Sounds like")
    near = tracks.neighbours(scope, track_id)
    if near.empty:
        st.caption("No sound vector for this track yet.")
    else:
        st.dataframe(near[["artist", "title", "distance"]], hide_index=True, width="stretch")


run_page(render)
