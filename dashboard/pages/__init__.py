"""The page registry: (title, url_path, page file relative to dashboard/app.py, icon), in navigation
order. `dashboard/app.py` builds `st.navigation` from it, and tests visit every page from it
(AppTest: `switch_page(<file>)`; a browser: `http://host:port/<url_path>`). The first page is the
default one, which Streamlit serves at the root URL: its url_path is "" (`http://host:port/`).

The page modules live in dashboard/views/, not here: Streamlit treats `*.py` files in a `pages/`
folder next to the entry as old-style pages that it may run WITHOUT the entry script (and so
without the sign-in and the user scope the entry sets up). This folder holds only the registry.
"""

PAGES: list[tuple[str, str, str, str]] = [
    ("Overview", "", "views/overview.py", "🏠"),
    ("Trajectory", "trajectory", "views/trajectory.py", "🧭"),
    ("Moods", "moods", "views/moods.py", "🌊"),
    ("Radar", "radar", "views/radar.py", "🎯"),
    ("Outliers", "outliers", "views/outliers.py", "🛸"),
    ("Mixtape", "mixtape", "views/mixtape.py", "📼"),
    ("Track", "track", "views/track.py", "🎵"),
    ("Labels", "labels", "views/labels.py", "🏷️"),
    ("Settings", "settings", "views/settings.py", "⚙️"),
]
