"""Ground-truth validation of the vibe axes: synthesize tracks that vary one factor at a time,
analyse and score them with the real pipeline code, and report rank correlations
(`sidetrack validate`, docs/validation.md)."""
