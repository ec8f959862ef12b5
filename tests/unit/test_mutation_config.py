"""scripts/mutation.toml, the one place the mutation run reads: every module and test file it names exists,
and each module is mutated by exactly one target (run with `uv run python scripts/mutation.py`)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hoist_mutation_script", ROOT / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_target_names_existing_modules_and_tests() -> None:
    script = _script()
    settings, targets = script.load_config()
    assert settings.jobs <= 2, "the mutation run shares two CPUs with everything else"
    assert targets
    for target in targets.values():
        assert script.check_target(target) == [], target.name
        assert any(arg.startswith("tests/") for arg in target.tests), target.name
    counts = Counter(module for target in targets.values() for module in target.modules)
    assert [m for m, n in counts.items() if n > 1] == [], "a module mutated by two targets is counted twice"


def test_the_generated_mutmut_table_is_valid_toml() -> None:
    import tomllib

    script = _script()
    values = ["a", "log\\.debug\\(", 'd"e']
    assert tomllib.loads("x = " + script._toml(values)) == {"x": values}
    assert tomllib.loads(f"x = {script._toml(8.0)}\ny = {script._toml(2)}") == {"x": 8.0, "y": 2}
