"""The `oncall` command: Invoke's own `Program` with oncall's tasks bundled in (Invoke's documented
way of reusing its CLI as a distinct binary), usable from any folder of an adopting repository.

    oncall migrate verify restart smoke        same tasks, flags and exit codes as `invoke ...`

The config is found by walking up from the working directory to the first folder that holds
`oncall.yaml` (or `invoke.yaml`, .yml, .json); it is loaded at Invoke's project level, so the keys
and the precedence are exactly those of `invoke` in this repository (INVOKE_ONCALL_* variables,
`-f/--config FILE` above it, task flags above all), and relative paths in it (migrations:,
alembic_ini:) are taken from its folder. With `-f/--config FILE` and no config found upwards, the
file's own folder is the project folder. `oncall init` needs no config at all.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Config, Program

from oncall import __version__
from oncall.tasks import ns

CONFIG_NAMES = ("oncall.yaml", "oncall.yml", "oncall.json", "invoke.yaml", "invoke.yml", "invoke.json")


def find_config(start: Path) -> Path | None:
    """The nearest config file in `start` or a folder above it (oncall.* before invoke.*)."""
    for folder in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def _config_class(path: Path) -> type[Config]:
    """A Config whose project-level file is `path`'s name (Invoke's documented `file_prefix`)."""
    return type("OncallConfig", (Config,), {"file_prefix": path.name.split(".")[0]})


class OncallProgram(Program):
    """Invoke's Program, with the project config found by walking up instead of beside tasks.py."""

    def parse_collection(self) -> None:
        super().parse_collection()
        runtime = self.args["config"].value
        found = find_config(Path.cwd())
        if found is None and runtime:
            found = Path(str(runtime)).resolve()
        if found is None or not found.is_file():
            return  # `oncall init`, --help and --list work without a config
        self.config = _config_class(found)()
        self.config.set_project_location(str(found.parent))
        self.config.load_project()


program = OncallProgram(name="oncall", binary="oncall", namespace=ns, version=__version__)


def main() -> None:
    """Console-script entry point (`[project.scripts] oncall`)."""
    program.run()
