"""The ingest assets, materialised by Dagster itself against the real database."""

from __future__ import annotations

import dagster as dg

from sidetrack_pipeline.defs.assets.ingest import catalogue, import_listens
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.db import connect
from tests.export_builder import listen_line, write_export_zip


def test_listens_asset_imports_configured_exports(db_url, tmp_path, monkeypatch):
    alice = write_export_zip(tmp_path / "alice.zip", {(2024, 1): [
        listen_line(1704100000), listen_line(1704200000, title="Aquarius"), "{not json"]})
    bob = write_export_zip(tmp_path / "bob.zip", {(2024, 2): [listen_line(1706800000)]}, user="bob")
    monkeypatch.setenv("LISTENS_EXPORTS", f"alice={alice}; bob={bob}")
    resources = {"database": DatabaseResource(url=db_url)}

    result = dg.materialize([import_listens, catalogue], resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("import_listens")[0].metadata
    assert meta["inserted_this_run"].value == 3 and meta["rejected_this_run"].value == 1
    assert meta["listens_total"].value == 3

    again = dg.materialize([import_listens, catalogue], resources=resources)
    meta = again.asset_materializations_for_node("import_listens")[0].metadata
    assert meta["inserted_this_run"].value == 0 and meta["duplicates_this_run"].value == 3
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select user_name, count(*) from listen join users using (user_id) group by 1 order by 1")
        assert cur.fetchall() == [("alice", 2), ("bob", 1)]
