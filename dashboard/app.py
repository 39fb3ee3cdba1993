"""SideTrack dashboard entry: page config, who is looking (sign-in or local mode) -> UserScope,
then the navigation over dashboard/views (one module per page; registry in pages/__init__.py).

Run with `sidetrack dashboard` (or `streamlit run dashboard/app.py` from the repository root,
where .streamlit/config.toml holds the light and dark themes)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import sqlalchemy as sa  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import scope as scoping  # noqa: E402
from dashboard.pages import PAGES  # noqa: E402

st.set_page_config(page_title="SideTrack", page_icon="🎧", layout="wide",
                   initial_sidebar_state="auto")

try:
    user_scope = scoping.establish()  # stops the run at the sign-in page when nobody is signed in
except (sa.exc.OperationalError, sa.exc.InterfaceError, ConnectionError, OSError) as exc:
    st.title("SideTrack")
    st.error("**The SideTrack database is not reachable.** Start it with any `sidetrack` command "
             "(e.g. `sidetrack db url`) or check SIDETRACK_DATABASE_URL, then reload.", icon="🗄️")
    st.caption(type(exc).__name__)
    st.stop()

navigation = st.navigation([st.Page(page_file, title=title, icon=icon, default=not url_path,
                                    **({"url_path": url_path} if url_path else {}))
                            for title, url_path, page_file, icon in PAGES])
scoping.sidebar_identity(user_scope)
try:
    navigation.run()
finally:
    scoping.release()  # no page can run later with this run's scope (fail closed)
