"""Overview: totals, this week against its 26-week baseline, diversity, momentum, latest
change-points and the week's vibe summary."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty
from dashboard.components.guard import run_page
from dashboard.data import overview


def _delta(value, base, fmt="{:+.2f}"):
    return None if value is None or base is None else fmt.format(value - base)


def _vibe_sentence(row) -> str:
    word = charts.axis_label(row.axis)
    more = "higher" if row.z_score > 0 else "lower"
    return f"**{word}** {more} than usual ({row.value:.2f} vs {row.baseline_mean:.2f}, z {row.z_score:+.1f})"


def render() -> None:
    scope = scoping.current()
    st.title("Overview")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return

    weeks = overview.recent_weeks(scope)
    cols = st.columns(5)
    cols[0].metric("Listens", f"{int(totals['listens']):,}")
    cols[1].metric("Unique tracks", f"{int(totals['unique_tracks']):,}")
    cols[2].metric("Unique artists", f"{int(totals['unique_artists']):,}")
    diversity, diversity_base = overview.this_week_vs_baseline(weeks, "artist_entropy")
    cols[3].metric("Diversity (artist entropy)", "–" if diversity is None else f"{abs(diversity):.2f}",
                   _delta(diversity, diversity_base),
                   help="Shannon entropy of this week's listens over artists; delta vs the 26 weeks before.")
    momentum, momentum_base = overview.this_week_vs_baseline(weeks, "momentum_index")
    cols[4].metric("Momentum index", "–" if momentum is None else f"{momentum:.3f}",
                   _delta(momentum, momentum_base, "{:+.3f}"), delta_color="off",
                   help="Mean absolute week-over-week change of the 4-week EMA over the axes.")

    if len(weeks):
        latest = weeks.iloc[-1]
        today = dt.datetime.now(ZoneInfo(scope.timezone)).date()
        running = latest["week"] <= today < latest["week"] + dt.timedelta(days=7)
        st.subheader(f"Week of {latest['week']}{' (so far)' if running else ''} vs the 26 weeks before")
        c = st.columns(3)
        for col, (label, column) in zip(c, [("Listens this week", "listens"),
                                              ("Tracks this week", "unique_tracks"),
                                              ("Artists this week", "unique_artists")]):
            value, base = overview.this_week_vs_baseline(weeks, column)
            col.metric(label, f"{int(value):,}", _delta(value, base, "{:+.1f}"))

    if int(totals["analysed_tracks"]) == 0:
        empty.no_audio(scope)
    elif int(totals["analysed_tracks"]) < int(totals["unique_tracks"]):
        st.caption(f"{int(totals['analysed_tracks']):,} of {int(totals['unique_tracks']):,} listened tracks "
                   "have vibe scores; the weekly vibes are computed from those.")

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Vibe summary")
        words = overview.vibe_words(scope)
        if len(words):
            st.markdown(f"Week of {words['week'].iloc[0]}: **{words['summary_text'].iloc[0]}**")
        vibe = overview.vibe_summary(scope)
        if vibe.empty:
            st.caption("No scored listens yet.")
        else:
            notable = vibe.dropna(subset=["z_score"])
            notable = notable[notable["z_score"].abs() >= 1].sort_values("z_score", key=abs, ascending=False)
            if len(notable):
                st.markdown("\n".join(f"* {_vibe_sentence(r)}" for r in notable.itertuples()))
            else:
                st.caption(f"Week of {vibe['week'].iloc[0]}: every axis within its usual range.")
            fig = go.Figure()
            fig.add_bar(y=[charts.axis_label(a) for a in vibe["axis"]], x=vibe["value"], name="this week",
                        orientation="h")
            fig.add_scatter(y=[charts.axis_label(a) for a in vibe["axis"]], x=vibe["baseline_mean"],
                            mode="markers", name="26-week baseline", marker=dict(symbol="line-ns-open", size=16))
            fig.update_layout(height=360, xaxis=dict(range=[0, 1]))
            charts.show(fig, key="overview_vibe")
    with right:
        st.subheader("Latest change-points")
        changes = overview.latest_change_points(scope)
        if changes.empty:
            st.caption("No shifts detected yet (they need a few months of listening).")
        else:
            st.dataframe(changes[["week", "axis", "direction", "magnitude", "method"]], hide_index=True,
                         width="stretch")
        if len(weeks):
            st.subheader("Listens per week")
            st.bar_chart(pd.DataFrame({"listens": weeks["listens"].to_numpy()},
                                      index=pd.to_datetime(weeks["week"])), height=200)


run_page(render)
