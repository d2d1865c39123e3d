"""The code location's image, checked without a Docker daemon (there is none here): its build
steps are read from the Dockerfile and compared with what the Makefile does on a workstation,
so the image installs the project and builds the dbt manifest exactly as `make install` does."""

import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml

from billing_pipelines.lib.runtime import TELEMETRY_OFF

REPO = Path(__file__).resolve().parents[2]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile instruction, continuation lines joined."""
    logical, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def make_recipe(target: str) -> list[str]:
    """The shell lines of one Makefile target, without Make's own prefixes (`@` no echo, `-`, `+`)."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().lstrip("@-+"))
    return recipe


def shell_commands(text: str) -> list[list[str]]:
    """A shell line split into its `&&`-chained commands, each as words; Make's `$(BIN)/` and
    `$(VENV)/bin/` prefixes dropped (the image's tools are on PATH)."""
    text = re.sub(r"\$\((BIN|VENV)\)/(bin/)?", "", text)
    return [shlex.split(part) for part in text.split("&&")]


def editable_install(command: list[str]) -> tuple[bool, set[str]] | None:
    """(editable, extras) of a `uv pip install` / `pip install` of this project, else None."""
    if "install" not in command or "pip" not in command:
        return None
    for i, word in enumerate(command):
        target = command[i + 1] if word == "-e" and i + 1 < len(command) else word
        match = re.fullmatch(r"\.(\[([\w,-]+)\])?", target)
        if match:
            return word == "-e", set(filter(None, (match.group(2) or "").split(",")))
    return None


DOCKERFILE = instructions(REPO / "Dockerfile")
RUN = [command for kind, text in DOCKERFILE if kind == "RUN" for command in shell_commands(text)]


def test_base_image_is_python_311_slim():
    assert DOCKERFILE[0] == ("FROM", "python:3.11-slim")


def test_installs_the_project_as_make_install_does_without_dev_tools():
    [make_install] = [
        found for line in make_recipe("$(STAMP)") for c in shell_commands(line) if (found := editable_install(c))
    ]
    [image_install] = [found for command in RUN if (found := editable_install(command))]
    make_editable, make_extras = make_install
    image_editable, image_extras = image_install
    # editable, as on a workstation: the code finds billing.yaml and dbt_project/ beside the package
    assert image_editable and make_editable
    assert image_extras == make_extras - {"dev"}  # `dev` is tests and local stand-ins
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert make_extras <= set(pyproject["project"]["optional-dependencies"])
    assert any(command[:4] == ["uv", "pip", "install", "--quiet"] for command in RUN)


def test_builds_the_dbt_manifest_with_the_make_manifest_command():
    [manifest_line] = make_recipe("manifest")
    manifest = shell_commands(manifest_line)
    assert manifest[-1][:2] == ["dbt", "parse"]
    joined = [" ".join(command) for command in RUN]
    position = joined.index(" ".join(manifest[0]))
    assert joined[position : position + len(manifest)] == [" ".join(command) for command in manifest]
    # the manifest is built inside the image, never copied from a workstation's target/
    assert "dbt_project/target" in (REPO / ".dockerignore").read_text().split()


def test_telemetry_is_off_in_the_image():
    env = {}
    for kind, text in DOCKERFILE:
        if kind == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(text))
    assert {name: env.get(name) for name in TELEMETRY_OFF} == TELEMETRY_OFF
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false" and env["DO_NOT_TRACK"] == "1"


def serve_command() -> list[str]:
    [cmd] = [json.loads(text) for kind, text in DOCKERFILE if kind == "CMD"]
    return cmd


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_serves_the_project_module_on_the_helm_port():
    command = serve_command()
    assert command[:3] == ["dagster", "code-server", "start"]
    module = option(command, "--module-name")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert module == pyproject["tool"]["dagster"]["module_name"]
    assert importlib.util.find_spec(module) is not None
    port = int(option(command, "--port"))
    assert ("EXPOSE", str(port)) in DOCKERFILE

    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["port"] == port
    assert option(deployment["dagsterApiGrpcArgs"], "--module-name") == module


def test_ships_the_deployment_instance_settings():
    env = dict(word.split("=", 1) for kind, text in DOCKERFILE if kind == "ENV" for word in shlex.split(text))
    copies = [shlex.split(text) for kind, text in DOCKERFILE if kind == "COPY"]
    assert ["deploy/dagster.yaml", f"{env['DAGSTER_HOME']}/dagster.yaml"] in copies
