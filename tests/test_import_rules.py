"""The floors never depend upward, read from the source (ast): no import is run.

Floors, lowest first: `infra/` (the Redis layer, fallback, env, health, admin-page base), the apps
(every package with an `apps.py` but the wiring), the wiring (`convonet_site/`, `convonet/`); between
the apps, the dependencies must run one way (no circle), which orders them into floors of their own.
A lazy import inside a function counts like one at the top: it is a dependency all the same. So does a
model named by its app label at run time, which no import statement shows: `apps.get_model("teams",
"Todo")` or `get_model("teams.Todo")`, `get_app_config("teams")`, a relation to `"teams.Team"` (a
ForeignKey, OneToOneField or ManyToManyField, or its `through`), and a signal's lazy `sender="teams.Todo"`.
Tests are not checked: they stand above everything they test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIRING = {"convonet_site", "convonet"}
GROUND = "infra"
APPS = sorted(p.parent.name for p in ROOT.glob("*/apps.py") if p.parent.name not in WIRING)


#: Calls that take an app label as their first argument, or "app_label.ModelName".
LABEL_LOOKUPS = {"get_model", "get_app_config", "get_registered_model"}
#: Model fields whose first argument (or `to=`) and `through=` may name a model as "app_label.ModelName".
RELATIONS = {"ForeignKey", "OneToOneField", "ManyToManyField", "ForeignObject"}


def _source_files(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "tests" not in p.relative_to(ROOT).parts]


def _app_label(package: str) -> str:
    """The label Django knows the app by: its AppConfig's `label`, else the package's name."""
    for node in ast.walk(ast.parse((ROOT / package / "apps.py").read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "label" for t in node.targets):
            return ast.literal_eval(node.value)
    return package


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _label_in(node: ast.expr | None) -> str | None:
    """The app label a string constant names ("teams" or "teams.Todo"), or None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value.split(".")[0]
    return None


def _looked_up_labels(call: ast.Call) -> set[str]:
    """The app labels a call reaches by name at run time (see the module docstring), not by importing."""
    name = _called_name(call)
    keywords = {k.arg: k.value for k in call.keywords}
    named: list[ast.expr | None] = [keywords.get("sender")]
    if name in LABEL_LOOKUPS:
        named += [call.args[0] if call.args else keywords.get("app_label")]
    if name in RELATIONS:
        named += [call.args[0] if call.args else keywords.get("to"), keywords.get("through")]
    return {label for node in named if (label := _label_in(node)) is not None}


def _imported_packages(path: Path) -> set[str]:
    return _dependencies(ast.parse(path.read_text(), filename=str(path)), path.relative_to(ROOT).parts[0])


def _dependencies(tree: ast.AST, own: str) -> set[str]:
    """The top-level packages a module of package `own` depends on: what it imports (relative imports resolved
    against `own`) and the packages of the apps whose models it names by label."""
    packages = {_app_label(p.parent.name): p.parent.name for p in ROOT.glob("*/apps.py")}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(own if node.level else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call):
            found.update(packages[label] for label in _looked_up_labels(node) if label in packages)
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
    cycle = _cycle(_app_graph())
    assert cycle == [], "apps depending on each other in a circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The rule above is only as good as the finder: it must see a circle when there is one."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_a_model_named_by_its_app_label_is_a_dependency_on_that_app() -> None:
    """Each way of reaching another app's model without importing it is seen (the rules above rely on it)."""
    source = """
apps.get_model("teams", "Todo")
get_model("voice.VoiceProfile")
apps.get_app_config(app_label="notifications")
models.ForeignKey("assistant.VoiceRequest", on_delete=models.CASCADE)
models.ManyToManyField(to="teams.Team", through="analytics.ActivityRollup")
post_save.connect(receiver, sender="convonet_site.Anything")
apps.get_model(label, name)
models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
"""
    found = _dependencies(ast.parse(source), "infra")
    assert found == {"teams", "voice", "notifications", "assistant", "analytics", "convonet_site"}


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
