"""Plotly figures shared by the pages. No fixed widths: charts stretch to their column (phones
included), and Streamlit's theme colours them for the light or dark theme the viewer chose."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

AXES = ("energy", "valence", "danceability", "brightness", "rhythmic_complexity", "pumpiness",
        "texture_density", "stereo_size", "tempo", "mode_confidence")
MARGIN = dict(l=10, r=10, t=40, b=10)


def axis_label(axis: str) -> str:
    return axis.replace("_", " ")


def show(fig: go.Figure, key: str | None = None, **kwargs):
    fig.update_layout(margin=MARGIN, legend=dict(orientation="h", y=-0.15, x=0, title_text=""))
    return st.plotly_chart(fig, width="stretch", key=key, **kwargs)


def radar(series: dict[str, pd.DataFrame], value_col: str = "value") -> go.Figure:
    """One closed polygon per named frame (columns axis, value_col), axes in display order."""
    fig = go.Figure()
    for name, frame in series.items():
        frame = frame.set_index("axis").reindex([a for a in AXES if a in set(frame["axis"])])
        theta = [axis_label(a) for a in frame.index]
        r = frame[value_col].astype(float).tolist()
        fig.add_trace(go.Scatterpolar(r=r + r[:1], theta=theta + theta[:1], name=name, fill="toself",
                                      opacity=0.55))
    fig.update_layout(polar=dict(radialaxis=dict(range=[0, 1], showticklabels=True)), height=460)
    return fig


def streamgraph(shares: pd.DataFrame) -> go.Figure:
    """Stacked shares per week and mood (sums to 1 each week), smoothed."""
    wide = shares.pivot_table(index="week", columns="mood", values="share", aggfunc="sum").fillna(0.0)
    order = wide.mean().sort_values(ascending=False).index
    fig = go.Figure()
    for mood in order:
        fig.add_trace(go.Scatter(x=wide.index, y=wide[mood], name=mood, mode="lines", stackgroup="moods",
                                 line=dict(width=0.5, shape="spline"),
                                 hovertemplate=f"{mood}: %{{y:.0%}}<extra>%{{x}}</extra>"))
    fig.update_layout(height=460, yaxis=dict(tickformat=".0%", range=[0, 1], title=""), xaxis_title="")
    return fig


def trajectory(weeks: pd.DataFrame, tracks: pd.DataFrame, arrows: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    if len(tracks):
        fig.add_trace(go.Scattergl(
            x=tracks["x"], y=tracks["y"], mode="markers", name="tracks",
            marker=dict(size=6, color=tracks["energy"], colorscale="Plasma", cmin=0, cmax=1, opacity=0.35,
                        showscale=False),
            customdata=tracks[["artist", "title", "plays", "energy"]].to_numpy(),
            hovertemplate="%{customdata[0]} – %{customdata[1]}<br>%{customdata[2]} plays · "
                          "energy %{customdata[3]:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=weeks["x"], y=weeks["y"], mode="lines+markers", name="weekly position",
        line=dict(width=1, color="rgba(128,128,128,0.6)"),
        marker=dict(size=9, color=weeks["energy"], colorscale="Plasma", cmin=0, cmax=1, showscale=True,
                    colorbar=dict(title="energy", thickness=12)),
        customdata=weeks[["week", "listens", "energy"]].astype(str).to_numpy(),
        hovertemplate="week of %{customdata[0]}<br>%{customdata[1]} listens · energy %{customdata[2]}"
                      "<extra></extra>"))
    for a in arrows.itertuples(index=False):
        fig.add_annotation(x=a.x, y=a.y, ax=a.x_from, ay=a.y_from, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1.2, opacity=0.7, text="")
    fig.update_layout(height=560, xaxis=dict(showticklabels=False, title=""),
                      yaxis=dict(showticklabels=False, title="", scaleanchor="x"))
    return fig
