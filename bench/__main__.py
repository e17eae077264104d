"""Run every `bench/bench_*.py` (or the ones named): `python -m bench [name ...]`.

Each module's `run()` prints ratios measured side by side in one run, against the raw redis-py
round trip, because absolute timings on these shared machines are noise. Benchmarks use their own
Redis database (default 14) and flush only it.
"""

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convonet_site.settings_test")
os.environ["TEST_REDIS_DB"] = os.environ.get("BENCH_REDIS_DB", "14")


def main(names: list[str]) -> int:
    import django

    django.setup()
    from bench.common import fresh_db

    here = Path(__file__).parent
    modules = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names or m in names]
    if not chosen:
        print(f"no benchmark matches {names}; have: {', '.join(modules)}", file=sys.stderr)
        return 2
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        started = time.perf_counter()
        fresh_db()
        module.run()
        print(f"   ({time.perf_counter() - started:.1f} s)")
    fresh_db()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
