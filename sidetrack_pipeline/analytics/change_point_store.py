"""Change-points in the database: PELT over mart_mood_week into `change_point_detection`, new
change-points (any method, from mart_change_points) into `change_point_alert`, a user's list."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import requests
import yaml

from sidetrack_pipeline.analytics import change_points

DBT_PROJECT_YML = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"


def dbt_vars(path: Path = DBT_PROJECT_YML) -> dict:
    """The vars of dbt_project.yml (the tuned thresholds live there, shared with the mart)."""
    return yaml.safe_load(path.read_text())["vars"]


def weekly_series(conn, axes: list[str], min_listens: int) -> dict[tuple[int, str], list[tuple[date, float]]]:
    """Per (user_id, axis): the observed weeks and weekly means, as the mart's CUSUM sees them."""
    with conn.cursor() as cur:
        cur.execute(
            "select user_id, axis, week, mean_value from marts.mart_mood_week "
            "where axis = any(%s) and sample_size >= %s order by user_id, axis, week",
            (list(axes), min_listens),
        )
        series: dict = defaultdict(list)
        for user_id, axis, week, x in cur.fetchall():
            series[(user_id, axis)].append((week, float(x)))
    return series


def detect_pelt(conn, settings: dict | None = None) -> int:
    """Recompute the PELT change-points of every user × axis; returns how many were written."""
    v = settings or dbt_vars()
    rows = []
    for (user_id, axis), points in weekly_series(conn, v["change_point_axes"], int(v["cusum_min_week_listens"])).items():
        weeks, xs = [w for w, _ in points], [x for _, x in points]
        for cp in change_points.pelt(xs, penalty=float(v["pelt_penalty"]), min_size=int(v["pelt_min_weeks"]),
                                     sd_floor=float(v["cusum_sd_floor"]), span=int(v["cusum_magnitude_weeks"])):
            rows.append((user_id, axis, weeks[cp.change], weeks[cp.detected], cp.direction,
                         cp.magnitude, cp.statistic, cp.method))
    with conn.cursor() as cur:
        cur.execute("delete from change_point_detection where method = %s", (change_points.PELT_METHOD,))
        cur.executemany(
            "insert into change_point_detection (user_id, axis, week, detected_week, direction, magnitude, "
            "statistic, method) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


def new_alerts(conn) -> list[dict]:
    """Change-points of mart_change_points not alerted on before; records them as alerted."""
    with conn.cursor() as cur:
        cur.execute(
            "insert into change_point_alert (user_id, axis, week, method, direction, magnitude) "
            "select m.user_id, m.axis, m.week, m.method, m.direction, m.magnitude "
            "from marts.mart_change_points m "
            "on conflict (user_id, axis, week, method) do nothing "
            "returning user_id, axis, week, method, direction, magnitude"
        )
        fresh = cur.fetchall()
        names = {}
        if fresh:
            cur.execute("select user_id, user_name from users where user_id = any(%s)", (list({r[0] for r in fresh}),))
            names = dict(cur.fetchall())
    return [
        {"user": names.get(u), "axis": a, "week": w.isoformat(), "method": m, "direction": d, "magnitude": mag}
        for u, a, w, m, d, mag in sorted(fresh, key=lambda r: (r[0], r[1], r[2], r[3]))
    ]


def post_webhook(url: str, alerts: list[dict], timeout: float = 10.0) -> int:
    """POST {"event": "change_points", "change_points": [...]} as JSON; returns the HTTP status."""
    response = requests.post(url, json={"event": "change_points", "change_points": alerts}, timeout=timeout)
    response.raise_for_status()
    return response.status_code


def for_user(conn, user_name: str) -> list[tuple]:
    """(axis, week, direction, magnitude, method) of a user's change-points, by week."""
    with conn.cursor() as cur:
        cur.execute(
            "select m.axis, m.week, m.direction, m.magnitude, m.method from marts.mart_change_points m "
            "join users u using (user_id) where u.user_name = %s order by m.week, m.axis, m.method",
            (user_name,),
        )
        return cur.fetchall()
