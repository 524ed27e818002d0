"""The package, the CLI entry point and the layering rule of DESIGN.md."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import __version__
from simulator.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]

# Modules that may import torch lazily (inside a function) but never at module level.
TORCH_FREE = ("hw_models", "simulator")


def _imports(path: Path, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py_files(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"hetsim {__version__}"


def test_help_lists_every_registered_command():
    parser = build_parser()
    text = parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices, "no command registered"
    for name in sub.choices:
        assert name in text


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("package", TORCH_FREE)
def test_torch_free_packages_have_no_module_level_torch_import(package):
    offenders = [str(p.relative_to(ROOT)) for p in _py_files(package) if "torch" in _imports(p, True)]
    assert offenders == []


def test_workloads_never_imports_simulator_and_hw_models_imports_neither():
    bad = [str(p.relative_to(ROOT)) for p in _py_files("workloads") if "simulator" in _imports(p, False)]
    bad += [str(p.relative_to(ROOT)) for p in _py_files("hw_models")
            if _imports(p, False) & {"simulator", "workloads", "torch"}]
    assert bad == []


def test_cli_and_trace_types_import_without_torch():
    """`hetsim --help`, the hardware models and the Trace loader work with torch made unimportable."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import hw_models, simulator, workloads\n"
        "from simulator.cli.main import build_parser; build_parser().format_help()\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('workloads.trace'): import workloads.trace\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
