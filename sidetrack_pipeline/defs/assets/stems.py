"""Pumpiness from Demucs stems (USE_DEMUCS=true with user-given Demucs weights)."""

import dagster as dg
from psycopg2.extras import Json

from sidetrack_pipeline.audio.decode import load_audio
from sidetrack_pipeline.audio.stem_pumpiness import stem_pumpiness
from sidetrack_pipeline.defs.assets.analysis import audio_features
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource
from sidetrack_pipeline.models.registry import load_model
from sidetrack_pipeline.settings import get_settings

STEM_SR = 44100


@dg.asset(group_name="analysis", deps=[audio_features], kinds={"pytorch", "demucs"}, pool="gpu")
def stem_pumpiness_scores(context: dg.AssetExecutionContext, database: DatabaseResource,
                          device: DeviceResource) -> dg.MaterializeResult:
    """With USE_DEMUCS=true: separate each analysed track with Demucs (weights from
    SIDETRACK_DEMUCS_CHECKPOINT) and measure the side-chain dip of bass+other under each kick of
    the drums stem → `features.extra.pumpiness_stems`, which the pumpiness axis then prefers.
    Off by default (Demucs is slow on a CPU); the band-pass proxy always runs."""
    settings = get_settings()
    if not settings.use_demucs:
        return dg.MaterializeResult(metadata={"enabled": False, "reason": "USE_DEMUCS is off"})
    model = load_model("htdemucs", device=device.select(context.log))
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("""select f.track_id, t.local_path, f.content_hash from features f
                       join track t using (track_id)
                       where t.local_path is not null
                         and coalesce(f.extra->>'pumpiness_stems_hash', '') <> f.content_hash""")
        todo = cur.fetchall()
    done = failed = 0
    for track_id, path, digest in todo:
        try:
            decoded = load_audio(path, excerpt_seconds=settings.excerpt_seconds)
            stems = model.separate(decoded.stereo_at(STEM_SR).T, STEM_SR)
            score, kicks = stem_pumpiness(stems, STEM_SR)
        except Exception as exc:  # one bad file must not stop the batch
            context.log.warning(f"stem pumpiness failed for {path}: {exc}")
            failed += 1
            continue
        with database.connect() as conn, conn.cursor() as cur:
            cur.execute("update features set extra = extra || %s where track_id = %s",
                        (Json({"pumpiness_stems": score, "pumpiness_stems_kicks": kicks,
                               "pumpiness_stems_hash": digest}), track_id))
        done += 1
    return dg.MaterializeResult(metadata={"enabled": True, "separated_this_run": done, "errors_this_run": failed})
