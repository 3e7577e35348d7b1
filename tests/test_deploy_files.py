"""The compose file passes every setting through, and the health check means something."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml  # PyYAML comes with faster-whisper (huggingface_hub)

from bot import healthcheck
from tests.test_env_example import _documented

ROOT = Path(__file__).resolve().parents[1]
# Fixed by the image (its volumes and its heartbeat), so not taken from the environment.
SET_BY_IMAGE = {"SESSIONS_DIR", "HEARTBEAT_FILE"}
# Compose variables that set another setting in the worker service only.
WORKER_OWN = {("TRANSCRIPTION_CONCURRENCY", "WORKER_CONCURRENCY")}
# Another program's setting taken from one of ours: Ollama's window is the bot's.
OTHER_PROGRAMS = {("OLLAMA_CONTEXT_LENGTH", "LLM_CONTEXT_TOKENS")}
# The smoke scripts' override: every container on the host's network (scripts/docker_*smoke.py).
HOST_NETWORK = ROOT / "scripts" / "compose.host-network.yaml"


def _services(path: Path) -> dict[str, dict[str, object]]:
    services = yaml.safe_load(path.read_text())["services"]
    assert isinstance(services, dict)
    return services


def test_compose_passes_every_setting() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    passed = re.findall(r"^\s+([A-Z_]+): \$\{([A-Z_]+)", compose, flags=re.MULTILINE)
    # Each setting comes from the variable of its own name, except the workers' concurrency.
    renamed = WORKER_OWN | OTHER_PROGRAMS
    assert all(key == value or (key, value) in renamed for key, value in passed)
    ours = {key for key, _ in passed} - {key for key, _ in OTHER_PROGRAMS}
    assert ours == set(_documented()) - SET_BY_IMAGE


def test_compose_scale_profile() -> None:
    """Redis and the workers start only with ``--profile scale``, on compose's own network,
    and the default REDIS_URL reaches the redis service; the workers get the transcription
    settings (and the log settings), never the bot's token."""
    services = _services(ROOT / "compose.yaml")
    assert services["bot"].get("profiles") is None
    for name in ("redis", "worker"):
        assert services[name]["profiles"] == ["scale"]
    assert all("network_mode" not in service for service in services.values())
    assert services["redis"]["image"] == "redis:7"
    worker = services["worker"]
    assert worker["command"] == ["python", "-m", "transcription.worker"]
    assert worker["depends_on"] == ["redis"]
    environment = worker["environment"]
    assert isinstance(environment, dict)
    assert environment["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}"
    assert environment["TRANSCRIPTION_BACKEND"] == "${TRANSCRIPTION_BACKEND:-local}"
    assert "BOT_TOKEN" not in environment
    # The bot keeps TRANSCRIPTION_CONCURRENCY notes in flight (one per worker); each worker
    # takes one at a time unless told otherwise, so jobs spread over idle workers.
    bot_environment = services["bot"]["environment"]
    assert isinstance(bot_environment, dict)
    assert bot_environment["TRANSCRIPTION_CONCURRENCY"] == "${TRANSCRIPTION_CONCURRENCY:-1}"
    assert environment["TRANSCRIPTION_CONCURRENCY"] == "${WORKER_CONCURRENCY:-1}"


def test_compose_llm_profile() -> None:
    """Ollama starts only with ``--profile llm``, keeps its models in a volume, publishes no
    port (only the bot reaches it, at http://ollama:11434/v1), and notes stay off unless
    LLM_BASE_URL is set."""
    services = _services(ROOT / "compose.yaml")
    ollama = services["ollama"]
    assert ollama["profiles"] == ["llm"]
    assert ollama["image"] == "ollama/ollama"
    assert ollama["volumes"] == ["ollama:/root/.ollama"]
    assert ollama["environment"] == {"OLLAMA_CONTEXT_LENGTH": "${LLM_CONTEXT_TOKENS:-8192}"}
    assert "ports" not in ollama
    assert "ollama" in yaml.safe_load((ROOT / "compose.yaml").read_text())["volumes"]
    environment = services["bot"]["environment"]
    assert isinstance(environment, dict)
    assert environment["LLM_BASE_URL"] == "${LLM_BASE_URL:-}"
    assert environment["LLM_API_KEY"] == "${LLM_API_KEY:-}"
    assert "depends_on" not in services["bot"]  # the bot starts without the llm profile too
    assert "http://ollama:11434/v1" in (ROOT / "compose.yaml").read_text()


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


@pytest.mark.parametrize("profile", ["llm", "scale"])
def test_compose_config_validates(profile: str) -> None:
    """``docker compose --profile llm config`` accepts the file (and with the smoke override)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither docker-compose nor docker compose is installed")
    for files in (["compose.yaml"], ["compose.yaml", str(HOST_NETWORK)]):
        args = [arg for name in files for arg in ("-f", name)]
        done = subprocess.run(
            [*cli, *args, "--profile", profile, "config", "-q"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


def test_host_network_override() -> None:
    """The smoke override only moves compose.yaml's services onto the host's network (and
    Redis to a port of its own, which the bot and the workers are pointed at)."""
    base = _services(ROOT / "compose.yaml")
    override = _services(HOST_NETWORK)
    assert set(override) == set(base)
    for name, service in override.items():
        assert service["network_mode"] == "host", name
        assert set(service) <= {"network_mode", "environment", "command"}, name
    command = override["redis"]["command"]
    assert isinstance(command, list)
    assert command[0] == "redis-server"
    assert "--appendonly" in command  # as compose.yaml's
    port = command[command.index("--port") + 1]
    assert command[command.index("--bind") + 1] == "127.0.0.1"
    for name in ("bot", "worker"):
        environment = override[name]["environment"]
        assert environment == {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}, name
        base_environment = base[name]["environment"]
        assert isinstance(base_environment, dict)
        assert "REDIS_URL" in base_environment


def test_dockerfile_basics() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2  # multi-stage
    assert "STOPSIGNAL SIGTERM" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, flags=re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile
    packages = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())
    assert packages is not None
    for package in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"COPY {package} ./{package}" in dockerfile  # every package goes in the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", ".env", "data", ".venv"} <= set(ignored)


def test_healthcheck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beat = tmp_path / "heartbeat"
    monkeypatch.setenv("HEARTBEAT_FILE", str(beat))
    monkeypatch.setenv("TELEGRAM_POLL_TIMEOUT", "30")
    assert healthcheck.main() == 1  # no heartbeat yet
    beat.touch()
    assert healthcheck.main() == 0
    stale = time.time() - (2 * 30 + healthcheck.SLACK_SECONDS + 5)
    os.utime(beat, (stale, stale))
    assert healthcheck.main() == 1
    monkeypatch.setenv("HEARTBEAT_FILE", "")
    assert healthcheck.main() == 1


def test_compose_needs_no_variable_to_run() -> None:
    """No ``${VAR:?...}`` (nor ``${VAR?...}``): compose would refuse every command, even
    ``docker compose down``, while the variable is unset. The bot itself says in one line
    that BOT_TOKEN is missing."""
    for path in (ROOT / "compose.yaml", HOST_NETWORK):
        required = re.findall(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?", path.read_text())
        assert required == [], (path.name, required)
    bot_environment = _services(ROOT / "compose.yaml")["bot"]["environment"]
    assert isinstance(bot_environment, dict)
    assert bot_environment["BOT_TOKEN"] == "${BOT_TOKEN:-}"


def test_image_ships_compiled_bytecode() -> None:
    """The runtime user cannot write ``__pycache__`` into the venv: the build compiles every
    module, else each container start compiles them again before its first poll."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--no-compile" not in dockerfile
    assert "PYTHONDONTWRITEBYTECODE" not in dockerfile
    assert re.search(r"python -m compileall .*/opt/venv/lib", dockerfile)


def test_image_installs_an_extra_only_when_built_with_it() -> None:
    """``--build-arg EXTRAS=diarization`` adds the extra; by default the image installs the
    project alone (as small as without the argument). The Dockerfile's own pip line is run
    through sh with ``echo`` for pip."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ARG EXTRAS=""$', dockerfile, flags=re.MULTILINE)
    [line] = re.findall(r"^RUN (pip install [^\\\n]*?)\s*\\?$", dockerfile, flags=re.MULTILINE)
    echo = line.replace("pip install", "echo", 1)
    installed = {
        extras: subprocess.run(
            ["sh", "-c", echo], env={"EXTRAS": extras}, capture_output=True, text=True, check=True
        ).stdout.strip()
        for extras in ("", "diarization")
    }
    assert installed == {"": "./", "diarization": "./[diarization]"}
    assert "diarization = [" in (ROOT / "pyproject.toml").read_text()  # an extra it has
    compose = (ROOT / "compose.yaml").read_text()
    assert "--build-arg EXTRAS=diarization" in compose  # how, said where the owner looks
