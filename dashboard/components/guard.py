"""Friendly messages for the failures a page can meet, instead of a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
import streamlit as st

from dashboard.components import empty
from dashboard.data.core import MartsMissing

log = logging.getLogger("sidetrack.dashboard")


def run_page(render: Callable[[], None]) -> None:
    try:
        render()
    except MartsMissing:
        empty.no_marts()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        log.exception("database unavailable")
        st.error("**The SideTrack database is not reachable.** Check that it is running "
                 "(`sidetrack db url`) and reload the page.", icon="🗄️")
        st.caption(type(exc).__name__)
    except Exception as exc:  # the page's own bug: say so briefly, details in the server log
        if type(exc).__name__ in ("StopException", "RerunException"):  # st.stop / st.rerun
            raise
        log.exception("dashboard page failed")
        st.error(f"**Something went wrong on this page** ({type(exc).__name__}). The details are in "
                 "the server log; other pages keep working.", icon="⚠️")
