"""Importing exports into the real database: counts, idempotency, rejects, atomicity."""

from __future__ import annotations

import json
import zipfile

import psycopg2
import pytest
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app
from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.listens import import_listenbrainz_export
from sidetrack_pipeline.sources.listenbrainz_export import ExportError
from tests.export_builder import feedback_line, listen_line, write_export_dir, write_export_zip

MBID = "c7d0bf6e-b2aa-4ffa-bded-2448415b39b0"
UNKNOWN_MBID = "5b11f4ce-a62d-471e-81fc-a69a8278c7da"
XTAL_MSID = "7a1c3d2e-0000-4000-8000-000000000001"


def _counts(url):
    with connect(url) as conn, conn.cursor() as cur:
        out = {}
        for table in ("users", "artist", "release", "track", "listen", "listen_import", "listen_reject"):
            cur.execute(f"select count(*) from {table}")
            out[table] = cur.fetchone()[0]
        return out


def _export(tmp_path):
    return write_export_zip(tmp_path / "export.zip", {
        (2023, 11): [
            listen_line(1700000000.25, recording_mbid=MBID),
            listen_line(1700000000.75, recording_mbid=MBID),      # same second, same track: one play
            listen_line(1700000300, artist="Aphex Twin", title="Xtal", release="SAW 85-92"),
            '{"listened_at": 1700000400, "track_metadata": {"artist_name": "broken',
            listen_line("noon"),
            listen_line(1700000500, artist="Aphex Twin", title="Ageispolis", release="SAW 85-92"),
        ],
        (2023, 12): [listen_line(1701400000, artist="Aphex Twin", title="Xtal", release="SAW 85-92")],
    })


def test_import_counts_and_is_idempotent(db_url, tmp_path):
    export = _export(tmp_path)
    with connect(db_url) as conn:
        first = import_listenbrainz_export(conn, "alice", export, timezone="Europe/Berlin")
    assert (first.read, first.inserted, first.duplicates, len(first.rejected)) == (7, 4, 1, 2)
    assert [(r.file, r.line_no) for r in first.rejected] == [("listens/2023/11.jsonl", 4), ("listens/2023/11.jsonl", 5)]
    after_first = _counts(db_url)
    assert after_first["listen"] == 4 and after_first["track"] == 3 and after_first["artist"] == 2
    assert after_first["release"] == 2 and after_first["listen_reject"] == 2

    with connect(db_url) as conn:
        second = import_listenbrainz_export(conn, "alice", export)
    assert (second.inserted, second.duplicates) == (0, 5)
    after_second = _counts(db_url)
    assert after_second == after_first   # the same export keeps one import row and its rejects once
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select timezone from users where user_name = 'alice'")
        assert cur.fetchone()[0] == "Europe/Berlin"   # kept when not given again


def test_failed_import_leaves_nothing_half_written(db_url, tmp_path):
    export = _export(tmp_path)
    before = _counts(db_url)
    with pytest.raises(psycopg2.errors.RaiseException):
        with connect(db_url) as conn:
            import_listenbrainz_export(conn, "alice", export)
            with conn.cursor() as cur:   # the process dies after the inserts, before commit
                cur.execute("do $$ begin raise exception 'killed'; end $$")
    assert _counts(db_url) == before


def test_unknown_time_zone_is_refused(db_url, tmp_path):
    with pytest.raises(ValueError, match="unknown time zone"):
        with connect(db_url) as conn:
            import_listenbrainz_export(conn, "alice", _export(tmp_path), timezone="Mars/Olympus")


def test_cli_reports_counts_and_rejected_lines(sidetrack_env, tmp_path):
    export = _export(tmp_path)
    result = CliRunner().invoke(app, ["import-listens", "--user", "bob", str(export)])
    assert result.exit_code == 0, result.output
    assert "inserted:   4" in result.output and "rejected:   2" in result.output
    assert "listens/2023/11.jsonl:4: broken JSON" in result.output
    assert "listens/2023/11.jsonl:5: listened_at is not a number ('noon')" in result.output
    again = CliRunner().invoke(app, ["import-listens", "--user", "bob", str(export)])
    assert "inserted:   0" in again.output and "duplicates: 5 (skipped)" in again.output


# ----------------------------------------------------------------------------- streaming

def _table_rows(url):
    """Everything an import writes, in a form two imports can be compared by."""
    with connect(url) as conn, conn.cursor() as cur:
        out = {}
        cur.execute("select artist_key, name, mbid from artist order by 1")
        out["artist"] = cur.fetchall()
        cur.execute("""select r.release_key, r.title, a.artist_key from release r
                       join artist a using (artist_id) order by 1""")
        out["release"] = cur.fetchall()
        cur.execute("""select t.track_key, t.name_key, t.title, t.mbid, t.duration_ms, r.release_key
                       from track t left join release r using (release_id) order by 1""")
        out["track"] = cur.fetchall()
        cur.execute("""select u.user_name, t.track_key, l.played_at, l.source, l.recording_msid
                       from listen l join track t using (track_id) join users u using (user_id) order by 2, 3""")
        out["listen"] = cur.fetchall()
        cur.execute("select file, line_no, reason, raw from listen_reject order by 1, 2")
        out["listen_reject"] = cur.fetchall()
        cur.execute("select lines_read, inserted, duplicates, merged, rejected from listen_import")
        out["listen_import"] = cur.fetchall()
        return out


def _with_duration(line: str, duration_ms: int) -> str:
    obj = json.loads(line)
    obj["track_metadata"]["additional_info"]["duration_ms"] = duration_ms
    return json.dumps(obj)


def _varied_export(tmp_path, name="varied.zip"):
    mapping = {"recording_mbid": MBID, "artist_mbids": ["a96d82a0-cdca-40bf-b4c8-3d7ec178d85b"],
               "release_mbid": "c6911b3b-135f-4b7b-a2cc-b90ea1e11ac9", "artists": []}
    return write_export_zip(tmp_path / name, {
        (2023, 10): [
            listen_line(1696200000, artist="Aphex Twin", title="Xtal", release="SAW 85-92", msid=XTAL_MSID),
            listen_line(1696200300, mapping=mapping),
            listen_line(1696200300.5, mapping=mapping),                  # the same play again
            "",                                                          # blank: not a line
            listen_line(1696200600, artist="aphex twin", title="XTAL!", release="SAW 85-92"),
            '{"listened_at": 1696200900, "track_metadata": ',
            _with_duration(listen_line(1696201200, artist="Aphex Twin", title="Ageispolis", release=None),
                           323000),
        ],
        (2023, 11): [
            listen_line(1699000000, mapping=mapping, msid=" pad\\ded\tmsid\n"),
            listen_line(1696200300, mapping=mapping),                    # a duplicate, a month later
            listen_line(1699000300, artist="Aphex Twin", title="Xtal", release="SAW 85-92"),
            listen_line(True),
            listen_line(1699000600),       # Roygbiv without MBIDs: its own track, as in one chunk
        ],
    }, feedback=[feedback_line(1, recording_mbid=MBID), feedback_line(-1, recording_msid=XTAL_MSID)])


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunks_change_nothing(db_url, pg_admin_uri, tmp_path, chunk):
    """However the export is cut into chunks, the database ends up the same (and so does a
    second import)."""
    from tests.conftest import _create_db
    from sidetrack_pipeline.db.migrate import upgrade

    export = _varied_export(tmp_path)
    other = _create_db(pg_admin_uri, f"{db_url.rsplit('/', 1)[1].split('?')[0]}_chunked")
    upgrade(other)
    reports = {}
    for url, chunk_listens in ((db_url, 50_000), (other, chunk)):
        with connect(url) as conn:
            reports[url] = import_listenbrainz_export(conn, "alice", export, chunk_listens=chunk_listens)
        with connect(url) as conn:
            again = import_listenbrainz_export(conn, "alice", export, chunk_listens=chunk_listens)
        assert (again.inserted, again.duplicates) == (0, reports[url].read - len([
            r for r in reports[url].rejected if r.file.startswith("listens/")]))
    one, many = reports[db_url], reports[other]
    assert (one.read, one.inserted, one.duplicates, len(one.rejected), one.loved, one.hated) == (
        many.read, many.inserted, many.duplicates, len(many.rejected), many.loved, many.hated)
    assert (one.read, one.inserted, one.duplicates, one.loved, one.hated) == (11, 7, 2, 1, 1)
    assert _table_rows(db_url) == _table_rows(other)


def test_escaped_and_padded_values_arrive_intact(db_url, tmp_path):
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", _varied_export(tmp_path))
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select recording_msid from listen where played_at = to_timestamp(1699000000)")
        assert cur.fetchone()[0] == "pad\\ded\tmsid"   # stripped like every text field; \\ and tab kept
        cur.execute("select duration_ms, release_id from track where title = 'Ageispolis'")
        assert cur.fetchone() == (323000, None)


def _break_on_listen(url, epoch):
    """A real failure inside PostgreSQL, in the middle of an import: a trigger that refuses one row."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"""create function refuse_listen() returns trigger language plpgsql as $$
                        begin
                            if new.played_at = to_timestamp({epoch}) then
                                raise exception 'disk full (simulated)';
                            end if;
                            return new;
                        end $$;
                        create trigger refuse_listen before insert on listen
                            for each row execute function refuse_listen();""")


def test_a_database_error_midway_leaves_nothing_half_written(db_url, tmp_path):
    export = _varied_export(tmp_path)
    _break_on_listen(db_url, 1699000300)          # a listen of the last chunk
    before = _counts(db_url)
    with pytest.raises(psycopg2.errors.RaiseException, match="disk full"):
        with connect(db_url) as conn:
            import_listenbrainz_export(conn, "alice", export, chunk_listens=1)
    assert _counts(db_url) == before


def test_a_damaged_export_is_a_clear_error_and_leaves_nothing(db_url, tmp_path):
    export = _varied_export(tmp_path)
    with zipfile.ZipFile(export) as archive:
        info = archive.getinfo("listens/2023/11.jsonl")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(export.read_bytes())
    for i in range(start + 5, start + 25):       # scramble the compressed bytes of the 2nd month
        data[i] ^= 0x5A
    export.write_bytes(bytes(data))
    before = _counts(db_url)
    with pytest.raises(ExportError, match="listens/2023/11.jsonl is damaged"):
        with connect(db_url) as conn:
            import_listenbrainz_export(conn, "alice", export, chunk_listens=1)
    assert _counts(db_url) == before


def test_reimport_after_losing_listens_restores_them_under_the_same_import(db_url, tmp_path):
    export = _export(tmp_path)
    with connect(db_url) as conn:
        first = import_listenbrainz_export(conn, "alice", export)
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("delete from listen where played_at < to_timestamp(1700000400)")
        assert cur.rowcount == 2
    with connect(db_url) as conn:
        again = import_listenbrainz_export(conn, "alice", export)
    assert (again.inserted, again.import_id) == (2, first.import_id)
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(distinct import_id), min(import_id) from listen")
        assert cur.fetchone() == (4, 1, first.import_id)
        cur.execute("select import_id, inserted, rejected from listen_import")
        assert cur.fetchall() == [(first.import_id, 2, 2)]


def test_a_zip_and_its_unpacked_folder_are_one_export(db_url, tmp_path):
    lines = {(2023, 11): [listen_line(1700000000), listen_line(1700000300, title="Aquarius")]}
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", write_export_zip(tmp_path / "e.zip", lines))
    with connect(db_url) as conn:
        again = import_listenbrainz_export(conn, "alice", write_export_dir(tmp_path / "unpacked", lines))
    assert (again.inserted, again.duplicates) == (0, 2)
    assert _counts(db_url)["listen_import"] == 1


# ----------------------------------------------------------------------------- feedback.jsonl

def _labels(url):
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select t.title, l.axis, l.value, l.source from labels_user l
                       join track t using (track_id) join users u using (user_id)
                       where u.user_name = 'alice' order by 1""")
        return cur.fetchall()


def _feedback_export(tmp_path, feedback, name="fb.zip"):
    mapping = {"recording_mbid": MBID, "artist_mbids": [], "artists": []}
    return write_export_zip(tmp_path / name, {(2023, 11): [
        listen_line(1700000000, title="Roygbiv", mapping=mapping),
        listen_line(1700000300, artist="Aphex Twin", title="Xtal", release="SAW 85-92", msid=XTAL_MSID),
    ]}, feedback=feedback)


FEEDBACK = [
    feedback_line(1, recording_msid="11111111-2222-4333-8444-555555555555", recording_mbid=MBID),
    feedback_line(-1, recording_msid=XTAL_MSID),                      # no MBID: found by its MSID
    feedback_line(1, recording_mbid=UNKNOWN_MBID),                    # a recording never listened to
    '{"recording_msid": "x", "score": 1',                             # broken JSON
    feedback_line(5, recording_mbid=MBID),                            # not a score
    feedback_line(1),                                                 # names no recording
    '{"recording_mbid": "%s"}' % MBID,                                # no score at all
    "",
    '{"score": -1, "recording_msid": "%s", "extra": [1, 2]}' % XTAL_MSID,   # keys missing: fine
]


def test_feedback_becomes_preference_labels(db_url, tmp_path):
    with connect(db_url) as conn:
        report = import_listenbrainz_export(conn, "alice", _feedback_export(tmp_path, FEEDBACK))
    assert (report.loved, report.hated, report.unmatched, report.inserted) == (1, 2, 1, 2)
    assert _labels(db_url) == [("Roygbiv", "preference", 1.0, "listenbrainz_feedback"),
                               ("Xtal", "preference", 0.0, "listenbrainz_feedback")]
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select line_no, reason, raw from listen_reject where file = 'feedback.jsonl' order by 1")
        rejects = cur.fetchall()
    assert [(line, reason.split(":")[0].split(" (")[0]) for line, reason, _ in rejects] == [
        (3, "feedback for unknown recording"), (4, "broken JSON"), (5, "score must be 1, -1 or 0"),
        (6, "names no recording"), (7, "missing score")]
    assert rejects[0][2] == FEEDBACK[2] and rejects[1][2] == FEEDBACK[3]     # kept verbatim
    assert [(r.file, r.line_no) for r in report.rejected] == [("feedback.jsonl", n) for n in (3, 4, 5, 6, 7)]


def test_feedback_reimport_changes_nothing(db_url, tmp_path):
    export = _feedback_export(tmp_path, FEEDBACK)
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", export)
    first = (_labels(db_url), _counts(db_url))
    with connect(db_url) as conn:
        again = import_listenbrainz_export(conn, "alice", export)
    assert (again.loved, again.hated, again.unmatched) == (1, 2, 1)
    assert (_labels(db_url), _counts(db_url)) == first


def test_withdrawn_feedback_removes_the_label_and_the_newest_feedback_wins(db_url, tmp_path):
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", _feedback_export(tmp_path, FEEDBACK))
    later = [feedback_line(0, recording_mbid=MBID, created=1700100000),            # un-loved
             feedback_line(1, recording_msid=XTAL_MSID, created=1700200000),       # hated, then loved
             feedback_line(-1, recording_msid=XTAL_MSID, created=1700000000)]      # older line, later in file
    with connect(db_url) as conn:
        report = import_listenbrainz_export(conn, "alice", _feedback_export(tmp_path, later, "later.zip"))
    assert (report.loved, report.hated, report.feedback_withdrawn, report.unmatched) == (1, 1, 1, 0)
    assert _labels(db_url) == [("Xtal", "preference", 1.0, "listenbrainz_feedback")]
    assert _counts(db_url)["listen_import"] == 1      # same listens: the same export row


def test_feedback_finds_listens_of_earlier_imports_by_msid(db_url, tmp_path):
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", _feedback_export(tmp_path, []))
    only_feedback = write_export_zip(tmp_path / "newer.zip", {(2024, 1): [listen_line(1704100000, title="Olson")]},
                                     feedback=[feedback_line(-1, recording_msid=XTAL_MSID)])
    with connect(db_url) as conn:
        report = import_listenbrainz_export(conn, "alice", only_feedback)
    assert (report.hated, report.unmatched) == (1, 0)
    assert _labels(db_url) == [("Xtal", "preference", 0.0, "listenbrainz_feedback")]


def test_cli_reports_feedback(sidetrack_env, tmp_path):
    result = CliRunner().invoke(app, ["import-listens", "--user", "bob",
                                      str(_feedback_export(tmp_path, FEEDBACK))])
    assert result.exit_code == 0, result.output
    assert "feedback:   1 loved, 2 hated, 1 unmatched" in result.output
    assert "feedback.jsonl:3: feedback for unknown recording" in result.output


@pytest.mark.parametrize("listens", [True, False])
def test_two_imports_of_one_export_at_once_store_it_once(db_url, tmp_path, listens):
    import threading

    export = _varied_export(tmp_path) if listens else write_export_zip(
        tmp_path / "bad.zip", {(2023, 1): ["not json", "[]"]}, feedback=[feedback_line(1, recording_mbid=MBID)])
    reports, errors = [], []

    def run():
        try:
            with connect(db_url) as conn:
                reports.append(import_listenbrainz_export(conn, "alice", export, chunk_listens=2))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.inserted for r in reports) == ([0, 7] if listens else [0, 0])
    assert reports[0].import_id == reports[1].import_id
    counts = _counts(db_url)
    assert (counts["listen"], counts["listen_import"]) == (7 if listens else 0, 1)
    assert counts["listen_reject"] == len(reports[0].rejected) == len(reports[1].rejected)
