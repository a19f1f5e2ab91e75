"""Run every benchmark module in bench/ (or the ones named): ``python -m bench [name ...] [--option ...]``
(options go to each named module's ``main``).

Each module's ``main(argv)`` prints a table; results are copied by hand into docs/performance.md with the date and
the machine, because machines are noisy (compare ratios measured in one run, not absolute times).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split], argv[split:]
    names = names or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    failed = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            rc = module.main(list(options)) or 0
        except Exception:  # a broken benchmark must not hide the others
            traceback.print_exc()
            rc = 1
        print(f"--- bench.{name}: {'ok' if rc == 0 else 'FAILED'} in {time.perf_counter() - started:.1f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
