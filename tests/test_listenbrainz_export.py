"""Parsing ListenBrainz export lines and files (no database)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from sidetrack_pipeline.sources.listenbrainz_export import (
    ExportError, ParsedLine, Rejected, export_username, parse_listen, read_export)
from tests.export_builder import listen_line, write_export_dir, write_export_zip

MBID = "c7d0bf6e-b2aa-4ffa-bded-2448415b39b0"


def test_fractional_timestamp_is_kept_to_the_second():
    listen = parse_listen(json.loads(listen_line(1748964422.921049)))
    assert listen.played_at == datetime(2025, 6, 3, 15, 27, 2, tzinfo=timezone.utc)


def test_mbid_mapping_wins_and_empty_strings_are_missing():
    mapping = {"recording_mbid": MBID, "artist_mbids": ["a96d82a0-cdca-40bf-b4c8-3d7ec178d85b"],
               "release_mbid": "c6911b3b-135f-4b7b-a2cc-b90ea1e11ac9", "artists": []}
    mapped = parse_listen(json.loads(listen_line(1700000000, recording_mbid="", mapping=mapping)))
    assert mapped.recording_mbid == MBID
    assert mapped.artist_mbid == "a96d82a0-cdca-40bf-b4c8-3d7ec178d85b"
    unmapped = parse_listen(json.loads(listen_line(1700000000, recording_mbid="", mapping=None)))
    assert unmapped.recording_mbid is None and unmapped.artist_mbid is None and unmapped.release_mbid is None
    from_info = parse_listen(json.loads(listen_line(1700000000, recording_mbid=MBID.upper())))
    assert from_info.recording_mbid == MBID


@pytest.mark.parametrize("line, reason", [
    ('{"listened_at": 1700000000, "track_metadata": {"artist_name": "A", "track_name": "B"', "broken JSON"),
    (listen_line("yesterday"), "listened_at is not a number"),
    (json.dumps({"track_metadata": {"artist_name": "A", "track_name": "B"}}), "missing listened_at"),
    (json.dumps({"listened_at": 1700000000}), "missing track_metadata"),
    (listen_line(1700000000, artist=""), "missing artist_name"),
    (listen_line(1700000000, title=None), "missing track_name"),
    (listen_line(12), "outside the plausible range"),
    ("[1, 2]", "not a JSON object"),
])
def test_bad_lines_are_rejected_with_a_reason(tmp_path, line, reason):
    export = write_export_dir(tmp_path, {(2023, 11): [listen_line(1700000000), line, listen_line(1700000100)]})
    items = list(read_export(export))
    assert [type(i) for i in items] == [ParsedLine, Rejected, ParsedLine]
    rejected = items[1]
    assert rejected.line_no == 2 and reason in rejected.reason and rejected.raw == line


def test_files_are_read_in_chronological_order_from_zip(tmp_path):
    export = write_export_zip(tmp_path / "listenbrainz_alice_1.zip", {
        (2021, 10): [listen_line(1633046400)],
        (2021, 4): [listen_line(1617235200)],
        (2020, 12): [listen_line(1606780800)],
    })
    parsed = [i for i in read_export(export)]
    assert [p.file for p in parsed] == ["listens/2020/12.jsonl", "listens/2021/4.jsonl", "listens/2021/10.jsonl"]
    assert export_username(export) == "alice"


def test_not_an_export_is_a_clear_error(tmp_path):
    bogus = tmp_path / "listens.zip"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="neither a ListenBrainz export"):
        list(read_export(bogus))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="no listens/YYYY/M.jsonl"):
        list(read_export(tmp_path / "empty"))
