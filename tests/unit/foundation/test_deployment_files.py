"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the stack has every
service the deployment needs, and every `musktracker ...` command they run parses with the
real CLI (a renamed option or command fails here, not at `docker compose up`)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.core
import typer.main
import yaml

from musktracker.cli.main import app
from musktracker.config import Settings

REPO = Path(__file__).resolve().parents[3]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _musktracker_calls(command: str) -> list[list[str]]:
    """The argument lists of every `musktracker` call in a shell command line."""
    calls = []
    for part in re.split(r"&&|;|\|\|", command):
        words = shlex.split(part.strip().removeprefix("sh -c ").strip("\"'"))
        if words and words[0] == "musktracker":
            calls.append(words[1:])
    return calls


def _parse(args: list[str]) -> list[str]:
    """Resolve and parse `args` the way the CLI would, down to the leaf command; returns
    the command path. (Typer carries its own copy of click, so no `click` types here.)"""
    command: Any = typer.main.get_command(app)
    parent: Any = None
    name = "musktracker"
    path = [name]
    while True:
        ctx = command.make_context(name, list(args), parent=parent)
        if not isinstance(command, typer.core.TyperGroup):
            return path
        rest = [*ctx._protected_args, *ctx.args]
        resolved_name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None and resolved_name is not None, rest
        command, parent, name = sub, ctx, resolved_name
        path.append(name)


def test_compose_runs_the_whole_stack_on_one_image() -> None:
    services = _compose()["services"]
    assert set(services) == {"api", "worker", "beat", "postgres", "redis", "mlflow"}
    for name in ("api", "worker", "beat"):
        service = services[name]
        assert service["build"] == "." and service["image"] == "musktracker:latest"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert f"artifacts:{env['ARTIFACT_DIR']}" in service["volumes"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    ("service", "command"), [("api", "serve"), ("worker", "worker"), ("beat", "beat")]
)
def test_every_compose_command_parses_with_the_cli(service: str, command: str) -> None:
    calls = _musktracker_calls(_compose()["services"][service]["command"])
    assert calls, service
    for args in calls:
        assert _parse(args) == ["musktracker", command]


def test_dockerfile_cmd_parses_with_the_cli() -> None:
    text = (REPO / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd is not None
    words = json.loads(cmd.group(1))
    assert words[0] == "musktracker"
    assert _parse(words[1:]) == ["musktracker", "serve"]


def test_the_image_holds_the_default_signal_rules() -> None:
    """RULES_PATH is relative to the working directory; the image must carry the file there,
    or every POST /v1/signals/ingest in a container answers 503."""
    text = (REPO / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+) (\S+)$", text, re.MULTILINE)
    default = Path(Settings.model_fields["rules_path"].default)
    assert (REPO / default).is_file()
    top = default.parts[0]
    assert (top, f"./{top}") in copied, copied  # beside ./musktracker, under WORKDIR


def test_a_wrong_option_fails_to_parse() -> None:
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        _parse(["worker", "--no-such-option"])
    with pytest.raises(Exception, match="No such command"):
        _parse(["no-such-command"])
