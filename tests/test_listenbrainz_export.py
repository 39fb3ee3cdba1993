"""Parsing ListenBrainz export lines and files (no database)."""

from __future__ import annotations

import json
import re
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


# ----------------------------------------------------------------------------- the fast parser

from sidetrack_pipeline.ingest.export_lines import ExportLineParser, ParsedBlock  # noqa: E402
from sidetrack_pipeline.ingest.track_variants import TrackVariants, variant_of  # noqa: E402

SPOTIFY_INFO = {"isrc": "GBAYE8100053", "discnumber": 1, "duration_ms": 206760, "tracknumber": 9,
                "artist_names": ["The Stranglers"], "music_service": "spotify.com",
                "submission_client": "listenbrainz"}
MAPPING = {"caa_id": 5761374929, "artists": [{"artist_mbid": "a96d82a0-cdca-40bf-b4c8-3d7ec178d85b",
                                              "join_phrase": "", "artist_credit_name": "The Stranglers"}],
           "artist_mbids": ["a96d82a0-cdca-40bf-b4c8-3d7ec178d85b"],
           "release_mbid": "c6911b3b-135f-4b7b-a2cc-b90ea1e11ac9", "recording_mbid": MBID,
           "recording_name": "Golden Brown"}


def _line(ts=1748964167, meta_changes=None, info=None, mapping=MAPPING, top=None) -> bytes:
    """An export line shaped like the real ones (listenbrainz-server's export test data)."""
    meta = {"track_name": "Golden Brown", "artist_name": "The Stranglers", "mbid_mapping": mapping,
            "release_name": "La Folie", "recording_msid": "03dcc65c-0e01-4f25-aa1f-0f469d10e2ad",
            "additional_info": dict(SPOTIFY_INFO) if info is None else info}
    meta.update(meta_changes or {})
    return json.dumps({"inserted_at": 1748964422.521049, "listened_at": ts, "track_metadata": meta,
                       **(top or {})}).encode()


TRICKY_LINES = [
    _line(),
    _line(1748964500),                                           # the same track again (cached)
    _line(1748964422.921049),                                    # fractional second
    _line("1748964600"),                                         # a number in a string
    _line("noon"), _line(True), _line(1e20), _line(None),
    _line(mapping=None),
    _line(mapping={"recording_mbid": ""}, info={"recording_mbid": MBID.upper(), "artist_mbids": "not-a-list"}),
    _line(info={"artist_mbids": [], "release_mbid": "", "duration": 215}),
    _line(info={"artist_mbids": [123], "duration_ms": "206760"}),
    _line(info={"artist_mbids": [["nested"]]}),                  # unhashable: the slow path
    _line(info={"duration_ms": True}), _line(info={"duration_ms": 1}),   # True == 1, not to the parser
    _line(info={"duration_ms": 0}), _line(info={"duration_ms": -5}), _line(info=["not", "a", "dict"]),
    _line(meta_changes={"release_name": 5}), _line(meta_changes={"release_name": "  "}),
    _line(meta_changes={"artist_name": 12}), _line(meta_changes={"artist_name": "   "}),
    _line(meta_changes={"track_name": "  Golden Brown  "}),
    _line(meta_changes={"artist_name": "The\u0000Stranglers"}),
    _line(meta_changes={"recording_msid": None}, top={"recording_msid": "top-level-msid"}),
    _line(meta_changes={"recording_msid": "   "}, top={"recording_msid": 42}),
    _line(meta_changes={"recording_msid": "tab\there"}), _line(meta_changes={"recording_msid": "back\\slash"}),
    _line(meta_changes={"recording_msid": "nul\u0000"}), _line(meta_changes={"recording_msid": "\\N"}),
    _line(meta_changes={"recording_msid": "zero\u200bwidth"}),
    _line(meta_changes={"track_name": "\ud800 lone surrogate"}),
    _line(1748964700).replace(b"The Stranglers", b"The Strangl\xffers", 1),   # invalid UTF-8
    _line(1748964800) + b"\r",                                   # CRLF line ending
    b'{"listened_at": NaN, "track_metadata": {"artist_name": "A", "track_name": "B"}}',
    b'{"listened_at": 1, "listened_at": 1748964900, "track_metadata": {"artist_name": "A", "track_name": "B"}}',
    b'\xef\xbb\xbf' + _line(1748965000),                         # a byte order mark
    b'{"listened_at": 1748965100, "track_metadata": ["A", "B"]}',
    b"[1, 2]", b'"text"', b"null", b"", b"   ", b"\t\r", b"\xc2\xa0",
    b'{"listened_at": 1748965200, "track_metadata": {"artist_name": "A", "track_name": "B"',
    b'{"listened_at": 99999999999999999999999, "track_metadata": {"artist_name": "A", "track_name": "B"}}',
]


def _copy_value(field: str):
    if field == "\\N":
        return None
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), field)


def test_fast_parser_agrees_with_the_reference_parser(tmp_path):
    month = tmp_path / "listens" / "2025" / "6.jsonl"
    month.parent.mkdir(parents=True)
    month.write_bytes(b"\n".join(TRICKY_LINES) + b"\n")
    reference = list(read_export(tmp_path))
    expected_listens = [(int(p.listen.played_at.timestamp()), variant_of(p.listen), p.listen.recording_msid)
                        for p in reference if isinstance(p, ParsedLine)]
    expected_rejects = [r for r in reference if isinstance(r, Rejected)]

    variants = TrackVariants()
    parser = ExportLineParser(variants)
    out = ParsedBlock()
    parser.parse("listens/2025/6.jsonl", 1, TRICKY_LINES, out)
    listens = []
    for row in out.rows:
        vid, ts, msid, seq = row.rstrip("\n").split("\t")
        listens.append((int(ts), variants.variant(int(vid)), _copy_value(msid)))
    assert out.read == len(reference)
    assert out.rejected == expected_rejects
    assert listens == expected_listens
    assert len(expected_listens) >= 20 and len(expected_rejects) >= 12   # both sides are exercised


def test_one_pass_fingerprint_is_the_export_fingerprint(tmp_path):
    """The import hashes while it reads; the hash must stay the one earlier imports stored."""
    import hashlib

    from sidetrack_pipeline.sources.listenbrainz_export import export_fingerprint, read_line_blocks

    months = {(2021, 4): [listen_line(1617235200), "not json"], (2020, 12): [listen_line(1606780800)]}
    export = write_export_zip(tmp_path / "e.zip", months)
    digest = hashlib.sha256()
    blocks = list(read_line_blocks(export, digest, block_size=7))    # lines cut across blocks
    assert digest.hexdigest() == export_fingerprint(export) == export_fingerprint(
        write_export_dir(tmp_path / "unpacked", months))
    assert [(name, first, len(lines)) for name, first, lines in blocks if lines][0][:2] == (
        "listens/2020/12.jsonl", 1)
    lines = [(name, first + i, line) for name, first, chunk in blocks for i, line in enumerate(chunk)]
    assert [(name, no) for name, no, _ in lines] == [
        ("listens/2020/12.jsonl", 1), ("listens/2021/4.jsonl", 1), ("listens/2021/4.jsonl", 2)]
    assert lines[2][2] == b"not json"
