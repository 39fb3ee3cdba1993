"""The page registry: (title, url_path, module file in this folder, icon), in navigation order.

`dashboard/app.py` builds `st.navigation` from it, and tests visit every page from it (AppTest:
`switch_page("pages/<module>.py")`; a browser: `http://host:port/<url_path>`). The first page is
the default one, which Streamlit serves at the root URL: its url_path is "" (`http://host:port/`)."""

PAGES: list[tuple[str, str, str, str]] = [
    ("Overview", "", "overview.py", "🏠"),
    ("Trajectory", "trajectory", "trajectory.py", "🧭"),
    ("Moods", "moods", "moods.py", "🌊"),
    ("Radar", "radar", "radar.py", "🎯"),
    ("Outliers", "outliers", "outliers.py", "🛸"),
    ("Mixtape", "mixtape", "mixtape.py", "📼"),
    ("Track", "track", "track.py", "🎵"),
    ("Labels", "labels", "labels.py", "🏷️"),
    ("Settings", "settings", "settings.py", "⚙️"),
]
