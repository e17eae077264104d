"""The floors never import upward, read from the source (ast): no import is run.

Floors, lowest first: `infra/` (the Redis layer, fallback, env, health, admin-page base), the apps
(every package with an `apps.py` but the wiring), the wiring (`convonet_site/`, `convonet/`).
A lazy import inside a function counts like one at the top: it is a dependency all the same.
Tests are not checked: they stand above everything they test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIRING = {"convonet_site", "convonet"}
GROUND = "infra"
APPS = sorted(p.parent.name for p in ROOT.glob("*/apps.py") if p.parent.name not in WIRING)


def _source_files(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "tests" not in p.relative_to(ROOT).parts]


def _imported_packages(path: Path) -> set[str]:
    """The top-level packages `path` imports, relative imports resolved against its own package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = path.relative_to(ROOT).parts[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(own if node.level else (node.module or "").split(".")[0])
    return found


def _imports_of(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imported_packages(p) for p in _source_files(package)}


def test_the_floors_are_where_the_rules_expect_them() -> None:
    assert {"teams", "voice", "notifications", "analytics"} <= set(APPS)
    assert (ROOT / GROUND / "redis_core.py").exists()


def test_infra_imports_no_app_and_not_the_wiring() -> None:
    upward = set(APPS) | WIRING
    offenders = {path: sorted(names & upward) for path, names in _imports_of(GROUND).items() if names & upward}
    assert offenders == {}


def test_apps_never_import_the_wiring() -> None:
    """Settings are read through `django.conf.settings`, never by importing `convonet_site`."""
    offenders = {
        path: sorted(names & WIRING) for app in APPS for path, names in _imports_of(app).items() if names & WIRING
    }
    assert offenders == {}


def _app_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for app in APPS:
        used = set().union(*_imports_of(app).values())
        graph[app] = {other for other in used if other in APPS and other != app}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as a path (first node repeated at the end), or [] when the graph has none."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_apps_do_not_import_each_other_in_a_circle() -> None:
    assert _cycle(_app_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The rule above is only as good as the finder: it must see a circle when there is one."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


TOOLING = "devtools"


def _test_packages(path: Path) -> set[str]:
    """The test modules `path` imports: the `tests` package or an app's `tests` subpackage (`voice.tests`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return {name for name in names if "tests" in name.split(".")}


def test_the_product_never_imports_the_tooling() -> None:
    """`devtools/` starts processes for development, tests and benches; production runs without it."""
    product = [GROUND, *APPS, *WIRING]
    offenders = {
        path: TOOLING for package in product for path, names in _imports_of(package).items() if TOOLING in names
    }
    assert offenders == {}


def test_the_product_never_imports_test_code() -> None:
    """Test data (the assistant's phrase set) lives under tests, where the product cannot reach it."""
    files = [path for package in (GROUND, *APPS, *WIRING) for path in _source_files(package)]
    offenders = {str(p.relative_to(ROOT)): sorted(found) for p in files if (found := _test_packages(p))}
    assert offenders == {}


def test_benches_and_tooling_never_import_test_code() -> None:
    """Helpers that benches and tests both need live in `devtools/`, not in a test module the bench reaches into."""
    files = [*(ROOT / "bench").rglob("*.py"), *(ROOT / TOOLING).rglob("*.py")]
    offenders = {str(p.relative_to(ROOT)): sorted(found) for p in files if (found := _test_packages(p))}
    assert offenders == {}


def test_tests_never_import_the_benches() -> None:
    test_dirs = [ROOT / "tests", *(ROOT / app / "tests" for app in APPS)]
    files = [path for folder in test_dirs for path in folder.rglob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in files if "bench" in _imported_packages(p)]
    assert offenders == []
