"""Analyses over the whole library and history (taste trajectory; clusters and mixtapes later)."""
