"""SideTrack's Streamlit dashboard (entry: dashboard/app.py, one module per page in dashboard/pages)."""
