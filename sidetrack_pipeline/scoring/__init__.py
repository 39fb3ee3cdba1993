"""Turning audio features into interpretable 0–1 vibe axes and track vectors."""
