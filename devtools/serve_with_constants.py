"""`python -m devtools.serve_with_constants module:NAME=value ... -- -m <serve module> [daphne options]`: start
daphne as `daphne_command` does, with some of the code's named constants replaced first.

A live test that proves "a crashed process's sockets stop counting within the lease" cannot wait out a production
lease of a minute; in-process tests shorten such a constant with `monkeypatch.setattr`, and this does the same in
the daphne subprocess (`start_daphne(..., constants={"infra.socket_caps:LEASE": 9})`). Timings are not settings
(.env.example lists what an operator decides), so the environment cannot carry them.
"""

from __future__ import annotations

import ast
import importlib
import os
import runpy
import sys

import django


def assign(assignment: str) -> None:
    """Apply one `module:NAME=literal`; a name the module does not define stops the start (a renamed constant)."""
    target, value = assignment.split("=", 1)
    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        raise SystemExit(f"{target}: {module_name} defines no {name}")
    setattr(module, name, ast.literal_eval(value))


def main(argv: list[str]) -> None:
    split = argv.index("--")
    assignments, (flag, serve_module, *options) = argv[:split], argv[split + 1 :]
    if flag != "-m":
        raise SystemExit("after --: -m <serve module> [options]")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convonet_site.settings")
    django.setup()
    for assignment in assignments:
        assign(assignment)
    sys.argv = [serve_module, *options]
    runpy.run_module(serve_module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
