"""Labels: the active-learning queue — rate the tracks whose labels would teach your personal
calibration the most (calibration_store.label_suggestions), saved to labels_user."""

import streamlit as st

from dashboard import scope as scoping
from dashboard.components import charts, empty, state
from dashboard.components.guard import run_page
from dashboard.data import labels

NEEDED = 8  # calibration.MIN_LABELS


def _saved(user_id: int, track_id: int, axis: str, key: str) -> None:
    scope = scoping.for_callback(user_id)
    if scope is None:  # signed out (or someone else signed in) since the slider was drawn
        return
    try:
        labels.add(scope, track_id, axis, float(st.session_state[key]))
    except (LookupError, ValueError) as exc:
        st.session_state[state.key(scope, "labels_msg")] = ("error", f"Not saved: {exc}")
    else:
        st.session_state[state.key(scope, "labels_msg")] = ("success", f"Saved: {axis} = {st.session_state[key]:.2f}")


def render() -> None:
    scope = scoping.current()
    st.title("Label tracks")
    totals = empty.totals_or_guide(scope)
    if totals is None:
        return
    axis = st.selectbox("Axis", charts.AXES, format_func=charts.axis_label,
                        **state.keep(scope, "labels_axis", "energy", charts.AXES))
    counts = labels.counts(scope)
    have = int(counts.loc[counts["axis"] == axis, "labels"].sum()) if len(counts) else 0
    st.progress(min(have, NEEDED) / NEEDED,
                text=f"{have} label(s) on {charts.axis_label(axis)} — your personal calibration starts at {NEEDED}")
    message = st.session_state.pop(state.key(scope, "labels_msg"), None)
    if message:
        getattr(st, message[0])(message[1])

    queue_key = state.key(scope, f"labels_queue:{axis}")
    if st.button("Find tracks to rate", type="primary", key=state.key(scope, "labels_find")):
        st.session_state[queue_key] = True
    if st.session_state.get(queue_key):
        queue = labels.suggestions(scope, axis)
        if queue.empty:
            empty.no_audio(scope)
        else:
            st.caption("Rate how much each track has this quality, 0 (none) to 1 (most).")
            for row in queue.itertuples(index=False):
                with st.container(border=True):
                    st.markdown(f"**{row.artist} – {row.title}**")
                    st.caption(row.reason)
                    key = state.key(scope, f"rate:{axis}:{row.track_id}")
                    start = float(row.predicted) if row.predicted is not None and row.predicted == row.predicted else 0.5
                    c = st.columns([4, 1])
                    c[0].slider(charts.axis_label(axis), 0.0, 1.0, round(min(max(start, 0.0), 1.0), 2), 0.05,
                                key=key, label_visibility="collapsed")
                    c[1].button("Save", key=key + ":save", on_click=_saved,
                                args=(scope.user_id, int(row.track_id), axis, key))

    st.subheader("Your labels")
    mine = labels.my_labels(scope)
    if mine.empty:
        st.caption("None yet.")
    else:
        st.dataframe(mine, hide_index=True, width="stretch")


run_page(render)
