"""Radar: one week against its 6-month baseline, and two weeks side by side."""

import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty, state
from dashboard.components.guard import run_page
from dashboard.data import radar


def render() -> None:
    scope = scoping.current()
    st.title("Vibe radar")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    weeks = [str(w) for w in radar.weeks(scope)]
    if not weeks:
        empty.no_audio(scope)
        return
    tab_base, tab_compare = st.tabs(["Week vs baseline", "Compare two weeks"])
    with tab_base:
        chosen = st.selectbox("Week", weeks, **state.keep(scope, "radar_week", weeks[0], weeks))
        frame = radar.week(scope, chosen)
        base = frame.dropna(subset=["baseline_mean"])
        series = {f"week of {chosen}": frame}
        if len(base):
            series["26-week baseline"] = base.assign(value=base["baseline_mean"])
        else:
            st.caption("No earlier weeks yet: the baseline needs at least one of the 26 weeks before.")
        charts.show(charts.radar(series), key="radar_base")
        table = frame.assign(axis=frame["axis"].map(charts.axis_label))[
            ["axis", "value", "baseline_mean", "z_score", "baseline_weeks"]]
        st.dataframe(table, hide_index=True, width="stretch")
    with tab_compare:
        c = st.columns(2)
        a = c[0].selectbox("First week", weeks, **state.keep(scope, "radar_a", weeks[min(1, len(weeks) - 1)], weeks))
        b = c[1].selectbox("Second week", weeks, **state.keep(scope, "radar_b", weeks[0], weeks))
        fa, fb = radar.week(scope, a), radar.week(scope, b)
        charts.show(charts.radar({f"week of {a}": fa, f"week of {b}": fb}), key="radar_compare")
        diff = fa.merge(fb, on="axis", suffixes=(" A", " B"))
        diff = diff.assign(change=diff["value B"] - diff["value A"], axis=diff["axis"].map(charts.axis_label))
        st.dataframe(diff[["axis", "value A", "value B", "change"]], hide_index=True, width="stretch")


run_page(render)
