"""The CLI starts without importing the commands it does not run.

What is checked is which modules a fresh interpreter has imported, never how long it
took: the root group must not import the command modules (canary's scipy.stats,
capacity's and demo's matplotlib), ``triage --help`` imports triage's alone, the root
listing read from the modules' source equals the one the real commands give, and
``modelphase.decide`` still hands out every name it exports.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
import typer
import typer.main
from typer.testing import CliRunner

import modelphase.decide
from modelphase.cli import app
from modelphase.cli._lazy import LazyGroup, load_command, source_help
from modelphase.cli.app import COMMANDS
from support.cli import RunCli

#: every name modelphase.decide exports, and its module: today's names and triage's
_DECIDE_SOURCES = [
    *((n, "canary") for n in ("ALPHA", "DIRECTIONS", "MARGINAL_THRESHOLD", "PASS_THRESHOLD")),
    *((n, "canary") for n in ("SILENT_AFTER_SECONDS", "CanaryVerdict", "MetricSpec")),
    *((n, "canary") for n in ("MetricVerdict", "SequentialJudge", "judge_canary", "judge_metric")),
    *((n, "canary_analysis") for n in ("SAFE_VALUE", "AnalysisMetric", "CanaryAnalysis")),
    *((n, "canary_analysis") for n in ("parse_analysis", "render_query", "template_problems")),
    ("template_variables", "canary_analysis"),
    *((n, "canary_source") for n in ("CanarySamples", "RangeQuerier", "fetch_samples")),
    ("read_analysis_file", "canary_source"),
    ("hodges_lehmann", "ranks"),
    ("mann_whitney_p", "ranks"),
    *((n, "triage") for n in ("triage", "Triage", "Suspect")),
    *((n, "triage_alerts") for n in ("Hypotheses", "hypotheses_for")),
    *((n, "triage_feedback") for n in ("Confirmation", "apply_feedback")),
    *((n, "triage_input") for n in ("triage_panel", "wide_from_panel")),
    ("IncidentStore", "triage_store"),
]

#: what no command but its own may import
HEAVY = ("matplotlib", "scipy.stats")


def _modules_after(code: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``code`` in a fresh interpreter; its result and the modules it imported."""
    out = tmp_path / "modules.json"
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        with open({str(out)!r}, "w") as handle:
            json.dump(sorted(sys.modules), handle)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done, set(json.loads(out.read_text()))


def _command_modules() -> dict[str, str]:
    return {name: target.partition(":")[0] for name, target in COMMANDS.items()}


def test_importing_the_app_imports_no_command(tmp_path: Path) -> None:
    _, modules = _modules_after("import modelphase.cli.app", tmp_path)
    assert "modelphase.cli.app" in modules
    loaded = {m for m in _command_modules().values() if m in modules}
    assert not loaded, f"the root group imported command modules: {sorted(loaded)}"
    assert not [m for m in HEAVY if m in modules]


def test_triage_help_imports_triage_alone(tmp_path: Path) -> None:
    done, modules = _modules_after(
        """
        import sys
        from modelphase.cli import main
        sys.argv = ["modelphase", "triage", "--help"]
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        """,
        tmp_path,
    )
    assert "--input" in done.stdout
    assert "--at" in done.stdout
    assert "modelphase.cli.triage" in modules
    others = {m for n, m in _command_modules().items() if n != "triage" and m in modules}
    assert not others, f"triage --help imported other commands: {sorted(others)}"
    assert "modelphase.cli.canary" not in modules
    assert "modelphase.cli.capacity" not in modules
    assert "modelphase.decide.canary" not in modules
    assert not [m for m in HEAVY if m in modules]


def test_root_help_lists_every_command(cli: RunCli) -> None:
    result = cli("--help")
    assert result.code == 0
    # a row's first column is its name; a wrapped help line starts with spaces there
    rows = [line[2:] for line in result.stdout.splitlines() if line.startswith("│ ")]
    listed = [row.split()[0] for row in rows if row[:1].strip()]
    for name in COMMANDS:
        assert name in listed, f"{name} is missing from modelphase --help"


def test_every_command_is_in_the_table() -> None:
    """A sub-command registered on the Typer app directly would bypass the table."""
    assert not app.registered_commands
    assert not app.registered_groups


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_source_help_is_the_real_help(name: str) -> None:
    real = load_command(name, COMMANDS[name], rich_markup_mode="rich", suggest_commands=True)
    assert real.name == name
    assert real.help, f"{name} has no help"
    assert source_help(COMMANDS[name]) == real.help


def _root_help(loaded: bool, capsys: pytest.CaptureFixture[str]) -> str:
    """``modelphase --help`` as the lazy listing gives it, or with every command loaded."""
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    if loaded:
        with group.make_context("modelphase", [], resilient_parsing=True) as ctx:
            for name in COMMANDS:
                group.get_command(ctx, name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        group.main(["--help"], prog_name="modelphase")
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_lazy_listing_equals_the_loaded_one(capsys: pytest.CaptureFixture[str]) -> None:
    lazy = _root_help(False, capsys)
    assert lazy == _root_help(True, capsys)
    assert "Rank services by how likely each caused an incident" in " ".join(lazy.split())
    assert "Capacity: replicas" in lazy


def test_listing_falls_back_to_importing_a_computed_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_probe.py").write_text(
        'import typer\n\nHELP = "Computed help."\napp = typer.Typer(help=HELP)\n\n\n'
        '@app.command("x")\ndef x() -> None:\n    """A sub-command."""\n\n\n'
        'def plain() -> None:\n    """Plain help.\n\n    More."""\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert source_help("lazy_probe:app") is None
    assert source_help("lazy_probe:plain") == "Plain help.\n\nMore."
    assert source_help("lazy_probe:missing") is None

    class Probe(LazyGroup):
        lazy_commands: ClassVar[Mapping[str, str]] = {
            "computed": "lazy_probe:app",
            "plain": "lazy_probe:plain",
        }

    probe = typer.Typer(cls=Probe, rich_markup_mode="rich")
    probe.callback()(lambda: None)
    result = CliRunner().invoke(probe, ["--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Computed help." in result.output
    assert "Plain help." in result.output
    assert "More." not in result.output


def test_unknown_command_is_a_usage_error_with_suggestions(cli: RunCli) -> None:
    result = cli("trige")
    assert result.code == 2
    assert "No such command 'trige'" in result.stderr
    assert "'triage'" in result.stderr
    result = cli("nosuch")
    assert result.code == 2
    assert "No such command 'nosuch'." in result.stderr


def test_sub_commands_of_a_lazy_group_run(cli: RunCli) -> None:
    result = cli("capacity", "nosuch")
    assert result.code == 2
    assert "No such command 'nosuch'" in result.stderr
    result = cli("spec", "--help")
    assert result.code == 0
    assert "check" in result.stdout


def test_every_decide_name_resolves() -> None:
    sources = {name: f"modelphase.decide.{module}" for name, module in _DECIDE_SOURCES}
    assert set(modelphase.decide.__all__) == set(sources)
    for name in modelphase.decide.__all__:
        namespace: dict[str, object] = {}
        exec(f"from modelphase.decide import {name}", namespace)
        assert namespace[name] is getattr(importlib.import_module(sources[name]), name)
        assert namespace[name] is getattr(modelphase.decide, name)
    assert set(modelphase.decide.__all__) <= set(dir(modelphase.decide))
    assert callable(modelphase.decide.triage)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = modelphase.decide.no_such_name


def test_importing_triage_does_not_import_the_canary_judge(tmp_path: Path) -> None:
    _, modules = _modules_after(
        """
        import modelphase.decide.triage
        from modelphase.decide import triage
        assert callable(triage), triage
        """,
        tmp_path,
    )
    assert "modelphase.decide.triage" in modules
    for name in ("modelphase.decide.canary", "modelphase.decide.serving", "scipy.stats"):
        assert name not in modules, name
