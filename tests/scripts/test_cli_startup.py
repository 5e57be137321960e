"""`okno --help` starts at once: the command modules and their heavy libraries load only when used."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from scripts.cli import COMMANDS, main

HEAVY = ("fastapi", "sklearn", "aiogram", "onnxruntime", "rq", "sqlalchemy", "uvicorn")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_help_imports_no_heavy_library() -> None:
    code = (
        "from scripts.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    )
    loaded = {name.split(".")[0] for name in _loaded_after(code)}
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_help_lists_every_command_with_its_line() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name, (_target, line) in COMMANDS.items():
        assert name in result.output
        assert line[:20] in result.output


def test_every_lazy_command_resolves() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_the_worker_command_loads_no_web_app() -> None:
    """`okno worker` shares its module with `okno api`; the app, FastAPI and uvicorn load only
    for the commands that serve HTTP (they were ~2 s of every worker's start-up CPU)."""
    loaded = _loaded_after("import scripts.services")
    assert not {"api.app", "uvicorn", "fastapi"} & loaded
