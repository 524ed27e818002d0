"""The shared vocabulary (hw_models/vocabulary.py) is defined once: no module spells one of its word lists
again, and the layers' names for them are the same objects."""
from __future__ import annotations

import ast
from pathlib import Path

from hw_models import vocabulary as V

ROOT = Path(__file__).resolve().parents[1]
WORD_LISTS = {name: value for name, value in vars(V).items() if name.isupper() and isinstance(value, tuple)}


def _string_lists(tree: ast.AST):
    """(line, tuple of strings) of every tuple/list/set display made only of string constants."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            yield node.lineno, tuple(e.value for e in node.elts)


def test_no_module_spells_a_word_list_of_the_vocabulary_again():
    redefined = []
    for pkg in ("hw_models", "simulator", "workloads"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path.name == "vocabulary.py":
                continue
            for line, words in _string_lists(ast.parse(path.read_text(encoding="utf-8"))):
                for name, value in WORD_LISTS.items():
                    if set(words) == set(value):
                        redefined.append(f"{path.relative_to(ROOT)}:{line} spells {name}")
    assert not redefined, "\n".join(redefined)


def test_the_layers_names_are_the_vocabulary_itself():
    import hw_models.placement_policy as policy
    import simulator.prepare.placement as placement
    import simulator.results.result as result
    import simulator.results.ledger as ledger
    import workloads.trace as trace

    assert trace.ROLES is V.ROLES and policy.ROLES is V.ROLES
    assert trace.KINDS is V.OP_KINDS
    assert trace.PARAMETER_ROLES is V.PARAMETER_ROLES is placement.PARAMETER_ROLES
    assert ledger.CATEGORIES is V.LEDGER_CATEGORIES is result.CATEGORIES
    assert set(V.DYNAMIC_CATEGORIES) | set(V.STATIC_CATEGORIES) == set(V.LEDGER_CATEGORIES)
    assert not set(V.DYNAMIC_CATEGORIES) & set(V.STATIC_CATEGORIES)
    assert set(V.PARAMETER_ROLES) | set(V.RUNTIME_ROLES) == set(V.ROLES)
    assert set(V.MATMUL_KINDS) <= set(V.OP_KINDS)


def test_vocabulary_imports_nothing():
    tree = ast.parse((ROOT / "hw_models" / "vocabulary.py").read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)


def test_every_registered_unit_kind_is_in_the_vocabulary_and_keeps_the_protocol():
    from hw_models.registry import UNIT_TYPES

    assert tuple(UNIT_TYPES) == V.UNIT_KINDS
    for kind, (spec, cls) in UNIT_TYPES.items():
        assert cls.kind == kind and spec.model_fields["kind"].annotation.__args__ == (kind,)
        for name in ("can_run", "work", "absorb", "action_energy_J", "leakage_at", "from_spec"):
            assert callable(getattr(cls, name)), (kind, name)
        assert set(cls.actions) and isinstance(cls.takes, tuple)
