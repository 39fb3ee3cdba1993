"""SideTrack's Streamlit dashboard: entry dashboard/app.py, pages in dashboard/views (registry: dashboard/pages)."""
