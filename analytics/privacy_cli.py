"""``analytics privacy purge --days N`` and ``analytics privacy delete --user-id U`` (see ``docs/privacy.md``).

::

    analytics privacy purge --days 395 [--batch-size 5000] [--pause 0.05]
    analytics privacy delete --user-id U [--json]

Both act on ``DATABASE_URL`` (the write database) and print what they removed, per table.
"""

from __future__ import annotations

import argparse
import json
import sys

from analytics.db import get_engine
from analytics.privacy import delete_person, install_log_masking, purge_older_than

__all__ = ["add_privacy_parser", "run_privacy"]


def run_privacy(args: argparse.Namespace) -> int:
    """Run the ``privacy`` sub-command parsed by :func:`add_privacy_parser`; returns the exit status."""
    install_log_masking()
    engine = get_engine()
    if args.action == "purge":
        result = purge_older_than(engine, args.days, args.batch_size, pause=args.pause)
        payload = {"cutoff": result.cutoff.isoformat(), "deleted": result.deleted, "batches": result.batches}
        text = (f"deleted data older than {result.cutoff:%Y-%m-%d %H:%M} UTC in {result.batches} batches: "
                + ", ".join(f"{k}={v}" for k, v in result.deleted.items()))  # fmt: skip
    else:
        counts = delete_person(engine, args.user_id)
        payload = {"deleted": counts}
        text = "deleted rows: " + ", ".join(f"{k}={v}" for k, v in counts.items())
    print(json.dumps(payload) if args.json else text, file=sys.stdout)
    return 0


def add_privacy_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``privacy {purge,delete}`` to the ``analytics`` command's sub-parsers."""
    p = sub.add_parser("privacy", help="retention purge and deletion requests")
    actions = p.add_subparsers(dest="action", required=True)
    purge = actions.add_parser("purge", help="delete events older than --days (in batches)")
    purge.add_argument("--days", type=int, required=True, help="retention in days")
    purge.add_argument("--batch-size", type=int, default=5000, help="rows per transaction (default 5000)")
    purge.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")
    remove = actions.add_parser("delete", help="remove every row about one person")
    remove.add_argument("--user-id", required=True, help="the user id as the calculator knows it")
    for action in (purge, remove):
        action.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=run_privacy)
    return p
