"""deploy/Dockerfile and docker-compose.yml, checked against the code they run.

Docker is not needed: the files are parsed, and every command a container would run
is parsed by the real `qrt` argument parser (the image's ENTRYPOINT is `qrt`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from services import cli
from services.cli import build_parser
from services.programs import load_programs
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"

PRODUCT_IMAGE = "qrt-followup:latest"
ENV_ANCHOR = "x-qrt-environment"
INFRASTRUCTURE = {"kafka": "apache/kafka:3.9.0", "postgres": "postgres:16"}
ONE_SHOT = {"migrate", "topics"}
LONG_RUNNING = {"intake", "cases", "timers", "api"}
PRODUCT = ONE_SHOT | LONG_RUNNING
REQUIRED_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "QRT_ENVIRONMENT",
    "QRT_PROGRAMS_FILE",
    "QRT_TOPIC_PARTITIONS",
    "QRT_DATA_KEYS",
    "QRT_INDEX_KEY",
}
DEPENDENCY_CONDITIONS = {
    "service_started",
    "service_healthy",
    "service_completed_successfully",
}
# What each product service must end up calling, as `(handler, worker role)`.
EXPECTED_HANDLERS: dict[str, tuple[Callable[..., int], str | None]] = {
    "migrate": (cli.cmd_migrate, None),
    "topics": (cli.cmd_topics, None),
    "intake": (cli.cmd_worker, "intake"),
    "cases": (cli.cmd_worker, "cases"),
    "timers": (cli.cmd_worker, "timers"),
    "api": (cli.cmd_api, None),
}
TEST_PASSWORD = "not-a-real-password"  # placeholder for ${POSTGRES_PASSWORD}


# --- docker-compose.yml ------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    assert isinstance(data.get("services"), dict), "docker-compose.yml has no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


@pytest.fixture(scope="module")
def product(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every service running the product image, however it says so."""
    return {name: svc for name, svc in services.items() if _runs_product_image(svc)}


def _dockerfile_of(service: Mapping[str, Any]) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    context = ROOT / str(build.get("context", "."))
    return (context / str(build.get("dockerfile", "Dockerfile"))).resolve()


def _runs_product_image(service: Mapping[str, Any]) -> bool:
    return _dockerfile_of(service) == DOCKERFILE or service.get("image") == PRODUCT_IMAGE


def _argv(command: object) -> list[str]:
    if isinstance(command, str):
        return shlex.split(command)  # compose splits a string command like a shell
    assert isinstance(command, list), f"command must be a list or a string: {command!r}"
    return [str(part) for part in command]


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _dependencies(service: Mapping[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _mounts(service: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every volume of a service."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
            mounts.append((source, target, bool(volume.get("read_only"))))
            continue
        parts = volume.split(":")
        mode = parts[2] if len(parts) > 2 else "rw"
        mounts.append((parts[0], parts[1], "ro" in mode.split(",")))
    return mounts


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return bool(test) and not check.get("disable") and test not in (["NONE"], "NONE")


def _container_ports(service: Mapping[str, Any]) -> set[int]:
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add(int(port["target"]))
        else:
            ports.add(int(str(port).rsplit(":", 1)[-1].split("/")[0]))
    return ports


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` substitution."""

    def substitute(match: re.Match[str]) -> str:
        name, op = match["name"], match["op"] or ""
        if name in variables:
            return variables[name]
        if "-" in op:
            return match["arg"]
        raise AssertionError(f"${{{name}}} is required and unset")

    return _VARIABLE.sub(substitute, value)


def _parse_qrt(argv: list[str]) -> Any:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            return build_parser().parse_args(argv)
        except SystemExit as exc:
            pytest.fail(
                f"`qrt {shlex.join(argv)}` is rejected by the CLI ({exc.code}): "
                f"{stderr.getvalue().strip()}"
            )


def test_compose_has_the_infrastructure_and_every_product_service(
    services: dict[str, dict[str, Any]], product: dict[str, dict[str, Any]]
) -> None:
    for name, image in INFRASTRUCTURE.items():
        assert name in services, f"no {name} service"
        assert services[name].get("image") == image
    missing = PRODUCT - set(product)
    assert not missing, f"product services missing (or not on {PRODUCT_IMAGE}): {missing}"


def test_product_services_share_one_image_built_from_the_dockerfile(
    product: dict[str, dict[str, Any]],
) -> None:
    assert DOCKERFILE.is_file()
    for name, svc in product.items():
        assert svc.get("image") == PRODUCT_IMAGE, f"{name}: image is not {PRODUCT_IMAGE}"
        built_from = _dockerfile_of(svc)
        assert built_from in (None, DOCKERFILE), f"{name}: built from {built_from}"
    assert any(_dockerfile_of(svc) == DOCKERFILE for svc in product.values()), (
        f"no service builds {PRODUCT_IMAGE} from deploy/Dockerfile"
    )


def test_every_product_command_is_a_real_qrt_subcommand(
    product: dict[str, dict[str, Any]],
) -> None:
    for name, svc in product.items():
        assert svc.get("command"), f"{name}: no command, the container would print --help"
        argv = _argv(svc["command"])
        args = _parse_qrt(argv)
        func = getattr(args, "func", None)
        assert callable(func), f"{name}: `qrt {shlex.join(argv)}` selects no handler"
        assert getattr(cli, getattr(func, "__name__", ""), None) is func, (
            f"{name}: handler {func!r} is not a function of services.cli"
        )
        if name in EXPECTED_HANDLERS:
            handler, role = EXPECTED_HANDLERS[name]
            assert func is handler, f"{name}: runs {func!r}, not {handler.__name__}"
            actual_role = getattr(args, "role", None)
            assert actual_role == role, f"{name}: worker role {actual_role!r}, not {role!r}"


def test_api_listens_on_all_interfaces_on_its_published_port(
    product: dict[str, dict[str, Any]],
) -> None:
    args = _parse_qrt(_argv(product["api"]["command"]))
    assert args.host == "0.0.0.0", "the API must listen beyond the container's loopback"
    assert args.port in _container_ports(product["api"]), "the API's port is not published"


def test_every_dependency_exists_and_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for target, condition in _dependencies(svc).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert condition in DEPENDENCY_CONDITIONS, f"{name}: condition {condition!r}"
            if condition == "service_healthy":
                assert _has_healthcheck(services[target]), f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{name} waits for {target} to exit; it never does"


def test_long_running_services_wait_for_migrations_topics_and_infrastructure(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in LONG_RUNNING:
        deps = _dependencies(services[name])
        for one_shot in ONE_SHOT:
            assert deps.get(one_shot) == "service_completed_successfully", (name, one_shot)
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("kafka") in {"service_started", "service_healthy"}, name
    assert "postgres" in _dependencies(services["migrate"])
    assert "kafka" in _dependencies(services["topics"])


def test_restart_policies(services: dict[str, dict[str, Any]]) -> None:
    # `restart: no` unquoted is YAML 1.1 for False, which compose rejects: it must be "no".
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", f"{name} must run once"
    for name in LONG_RUNNING | set(INFRASTRUCTURE):
        assert services[name].get("restart") == "unless-stopped", name


def test_product_services_get_the_whole_shared_environment(
    compose: dict[str, Any], product: dict[str, dict[str, Any]]
) -> None:
    shared = compose.get(ENV_ANCHOR)
    assert isinstance(shared, dict), f"no {ENV_ANCHOR} mapping (the shared YAML anchor)"
    shared_env = {key: str(value) for key, value in shared.items()}
    assert REQUIRED_ENV <= set(shared_env), f"missing: {REQUIRED_ENV - set(shared_env)}"
    for name, svc in product.items():
        env = _environment(svc)
        for key, value in shared_env.items():
            assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}, shared: {value!r}"


def _settings_env_names() -> set[str]:
    names: set[str] = set()
    for field, info in Settings.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice) for choice in info.validation_alias.choices)
        else:
            names.add(f"QRT_{field.upper()}")
    return names


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "ENV":
            words = shlex.split(rest)
            if words and "=" not in words[0]:  # legacy `ENV KEY value`
                env[words[0]] = " ".join(words[1:])
            else:
                env.update(word.split("=", 1) for word in words)  # type: ignore[misc]
    return env


def test_product_environment_is_what_settings_read(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    image_env = {k: v for k, v in _dockerfile_env().items() if k.startswith("QRT_")}
    compose_env = {key: str(value) for key, value in compose[ENV_ANCHOR].items()}
    known = _settings_env_names()
    for key in {*image_env, *compose_env}:
        if key.startswith("QRT_") or key in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"}:
            assert key in known, f"{key} is read by nothing in services.settings"

    for key in list(os.environ):
        if key.startswith("QRT_") or key in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"}:
            monkeypatch.delenv(key)
    for key, value in {**image_env, **compose_env}.items():
        secrets = {
            "POSTGRES_PASSWORD": TEST_PASSWORD,
            "QRT_DATA_KEYS": "k1:" + "A" * 43 + "=",
            "QRT_INDEX_KEY": "B" * 43 + "=",
        }
        monkeypatch.setenv(key, _interpolate(value, secrets))
    settings = Settings()

    assert settings.environment == "production"
    assert settings.data_dir == Path("/var/lib/qrt")
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://")
    assert settings.programs_file == Path("/etc/qrt/programs.toml")
    assert settings.topic_partitions == 6
    assert settings.data_keys is not None and settings.index_key is not None


def test_connection_settings_name_the_compose_services(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    env = {key: str(value) for key, value in compose[ENV_ANCHOR].items()}
    kafka_env = _environment(services["kafka"])
    for server in env["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, _, port = server.partition(":")
        assert host in services, f"bootstrap server {server}: no such service"
        assert f"PLAINTEXT://{host}:{port}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")

    pg_env = _environment(services["postgres"])
    assert _has_healthcheck(services["postgres"])
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert any(
        target == "/var/lib/postgresql/data" for _, target, _ in _mounts(services["postgres"])
    )
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", pg_env["POSTGRES_PASSWORD"]), (
        "the PostgreSQL password must come from a required POSTGRES_PASSWORD"
    )
    url = re.fullmatch(
        r"postgresql\+psycopg://(?P<user>[^:]+):(?P<pw>[^@]+)@(?P<host>[^:/]+):5432/(?P<db>\w+)",
        env["DATABASE_URL"],
    )
    assert url, f"unexpected DATABASE_URL {env['DATABASE_URL']!r}"
    assert url["host"] in services
    assert url["user"] == pg_env["POSTGRES_USER"] == "qrt"
    assert url["db"] == pg_env["POSTGRES_DB"] == "qrt"
    assert url["pw"] == "${POSTGRES_PASSWORD}"


def test_kafka_is_one_kraft_node_without_auto_created_topics(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert "PLAINTEXT://:9092" in env["KAFKA_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for key in ("OFFSETS_TOPIC", "TRANSACTION_STATE_LOG"):
        assert env[f"KAFKA_{key}_REPLICATION_FACTOR"] == "1", key
    try:
        raw = base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")
    except (binascii.Error, ValueError):
        raw = b""
    assert len(raw) == 16, "CLUSTER_ID must be a base64url-encoded UUID (kafka-storage format)"


def test_programs_file_is_mounted_read_only_from_the_repository(
    compose: dict[str, Any], product: dict[str, dict[str, Any]]
) -> None:
    programs_path = str(compose[ENV_ANCHOR]["QRT_PROGRAMS_FILE"])
    for name, svc in product.items():
        found = [(src, ro) for src, target, ro in _mounts(svc) if target == programs_path]
        assert found, f"{name}: nothing mounted at {programs_path}"
        source, read_only = found[0]
        assert read_only, f"{name}: the programs file must be mounted read-only"
        path = (ROOT / source).resolve()
        assert path.is_file(), f"{name}: {source} is not a file of the repository"
        assert load_programs(path).ids, f"{source} defines no program"


# --- deploy/Dockerfile ---------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction; continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text())


def _exec_form(keyword: str, instructions: list[tuple[str, str]]) -> list[str]:
    values = [rest for kw, rest in instructions if kw == keyword]
    assert values, f"no {keyword}"
    try:
        parsed = json.loads(values[-1])
    except json.JSONDecodeError:
        parsed = None
    # The shell form of ENTRYPOINT ignores CMD, and so every compose `command`.
    assert isinstance(parsed, list), f"{keyword} must use the JSON (exec) form"
    return [str(part) for part in parsed]


def test_dockerfile_is_python_311_and_runs_qrt(dockerfile: list[tuple[str, str]]) -> None:
    bases = [rest.split()[0] for kw, rest in dockerfile if kw == "FROM"]
    assert bases, "no FROM"
    assert bases[-1].startswith("python:3.11"), f"the final image is based on {bases[-1]}"
    assert _exec_form("ENTRYPOINT", dockerfile) == ["qrt"]
    assert _exec_form("CMD", dockerfile) == ["--help"]


def test_dockerfile_copy_sources_exist(dockerfile: list[tuple[str, str]]) -> None:
    copies = [shlex.split(rest) for kw, rest in dockerfile if kw in {"COPY", "ADD"}]
    checked = 0
    for words in copies:
        if any(word.startswith("--from") for word in words):
            continue  # from another stage, not from the repository
        sources = [word for word in words if not word.startswith("--")][:-1]
        assert sources, f"COPY without a source: {words}"
        for source in sources:
            assert any(ROOT.glob(source.rstrip("/"))), f"COPY source {source!r} is not in the repo"
            checked += 1
    assert checked, "the Dockerfile copies nothing from the repository"


def test_dockerfile_copies_every_package_and_the_readme(
    dockerfile: list[tuple[str, str]],
) -> None:
    project = tomllib.loads(PYPROJECT.read_text())
    copied = {
        source.rstrip("/")
        for kw, rest in dockerfile
        if kw == "COPY" and "--from" not in rest
        for source in [w for w in shlex.split(rest) if not w.startswith("--")][:-1]
    }
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    top_level = {pattern.rstrip("*").rstrip(".") for pattern in packages}
    assert top_level <= copied, f"packages not copied into the image: {top_level - copied}"
    assert project["project"]["readme"] in copied, "pyproject's readme is not copied"
    assert any(kw == "RUN" and "pip install" in rest and " ." in rest for kw, rest in dockerfile)


def test_dockerfile_runs_unprivileged_with_its_own_data_dir(
    dockerfile: list[tuple[str, str]],
) -> None:
    users = [rest.split(":")[0] for kw, rest in dockerfile if kw == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1] not in {"root", "0"}, "the container runs as root"
    assert _dockerfile_env().get("QRT_DATA_DIR") == "/var/lib/qrt"
    assert any(
        kw == "RUN" and "/var/lib/qrt" in rest and ("chown" in rest or "install -d" in rest)
        for kw, rest in dockerfile
    ), "/var/lib/qrt is not created for the unprivileged user"


def test_pyproject_defines_the_qrt_entry_point() -> None:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert scripts.get("qrt") == "services.cli:main"
    module, _, attribute = scripts["qrt"].partition(":")
    assert module == cli.__name__ and getattr(cli, attribute) is cli.main


def test_the_compose_programs_file_is_the_bundled_example() -> None:
    """docker-compose mounts deploy/programs.example.toml; it must say what the bundled
    default says (every new setting shows in both), or the two drift apart unseen."""
    deployed = (ROOT / "deploy" / "programs.example.toml").read_text()
    bundled = (ROOT / "services" / "example_programs.toml").read_text()
    assert deployed == bundled
