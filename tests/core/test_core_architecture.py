"""The rules of the house, checked by tests rather than by memory.

- the layer contracts in pyproject.toml (import-linter) hold, and do catch a forbidden import;
- no module is longer than 600 lines;
- only ``report`` imports matplotlib, nobody switches its backend or uses pyplot;
- no package imports another package's private module or private names;
- every public name (``__all__``) has a numpydoc docstring whose parameters are documented.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "cathodescope"
MAX_LINES = 600
SUBPACKAGES = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def _lint_imports(src_parent: Path) -> subprocess.CompletedProcess[str]:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(src_parent)}
    return subprocess.run(
        [lint, str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_import_contracts_hold():
    result = _lint_imports(SRC.parent)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_import_contracts_catch_a_forbidden_import(tmp_path):
    copy = tmp_path / "src" / "cathodescope"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "io" / "_forbidden_probe.py").write_text(
        "import cathodescope.report  # a reader that draws: forbidden\n"
    )
    result = _lint_imports(copy.parent)
    assert result.returncode != 0
    assert "cathodescope.io is not allowed to import cathodescope.report" in result.stdout


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_short(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC)} has {n} lines (> {MAX_LINES}): split it"


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(SRC.parent).with_suffix("").parts
    package = list(rel[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names], node.lineno))
    return out


def test_only_report_draws():
    offenders = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        inside_report = _package_of(path) == "report"
        for module, names, line in _imports(path):
            where = f"{path.relative_to(SRC)}:{line}"
            if module.startswith("matplotlib") and not inside_report:
                offenders.append(f"{where} imports {module}")
            if module.startswith("matplotlib.pyplot") or (
                module == "matplotlib" and "pyplot" in names
            ):
                offenders.append(f"{where} uses pyplot (draw with matplotlib.figure.Figure)")
        if "matplotlib.use(" in text:
            offenders.append(f"{path.relative_to(SRC)} switches the matplotlib backend")
    assert not offenders, "\n".join(offenders)


def test_no_private_names_across_packages():
    offenders = []
    for path in _modules():
        own = _package_of(path)
        for module, names, line in _imports(path):
            parts = module.split(".")
            if parts[0] != "cathodescope" or len(parts) < 2:
                continue
            other = parts[1]
            if other == own or other in ("_validation", "errors"):
                continue
            where = f"{path.relative_to(SRC)}:{line}"
            if any(p.startswith("_") for p in parts[2:]):
                offenders.append(f"{where} imports the private module {module}")
            private = [n for n in names if n.startswith("_")]
            if private:
                offenders.append(f"{where} imports private names {private} from {module}")
    assert not offenders, "\n".join(offenders)


def _public_objects():
    for name in SUBPACKAGES:
        module = importlib.import_module(f"cathodescope.{name}")
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"cathodescope.{name}.{attr}", obj


# Documented parameters, returns, and every parameter described. Other numpydoc checks (summary
# punctuation, See Also...) are matters of taste and are not enforced.
_ENFORCED = {"GL08", "PR01", "PR02", "PR07", "RT01"}


def test_public_names_have_numpydoc_docstrings():
    validate = pytest.importorskip("numpydoc.validate").validate
    problems = []
    for public, obj in _public_objects():
        report = validate(f"{obj.__module__}.{obj.__qualname__}")
        for code, message in report["errors"]:
            if code not in _ENFORCED:
                continue
            if code == "RT01" and (inspect.isclass(obj) or _returns_none(obj)):
                continue
            problems.append(f"{public}: {code} {message}")
    assert not problems, f"{len(problems)} docstring problems:\n" + "\n".join(problems)


def _returns_none(func) -> bool:
    annotation = inspect.signature(func).return_annotation
    return annotation in (None, "None")
