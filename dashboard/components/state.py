"""Filters that persist within a session: a widget key per user, backed by a plain session key
that survives page switches (Streamlit drops a widget's state when its page is not shown)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from dashboard.scope import UserScope


def key(scope: UserScope, name: str) -> str:
    """Per user, so one listener's filter values never show up for another in the same browser."""
    return f"u{scope.user_id}:{name}"


def keep(scope: UserScope, name: str, default: Any, options: Iterable | None = None) -> dict:
    """Prepare widget `name`: returns kwargs (key, on_change) for the widget call. The stored value
    is restored (and trimmed to `options` when given) before the widget is created."""
    k = key(scope, name)
    store = "_keep:" + k
    value = st.session_state.get(store, default)
    if options is not None:
        opts = list(options)
        if isinstance(value, (list, tuple)):
            value = [v for v in value if v in opts]
        elif value not in opts:
            value = default if default in opts else (opts[0] if opts else None)
    st.session_state[k] = value
    st.session_state[store] = value

    def save() -> None:
        st.session_state[store] = st.session_state[k]

    return {"key": k, "on_change": save}
