"""No library memory leaks and no invalid accesses, under valgrind.

Every list the library allocates must be freed with its *_free function,
also on error paths, and a Database dropped without close() must still be
closed. Skipped when valgrind is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import concert

SCRIPT = r'''
import sys
from datetime import datetime, timezone
sys.path[:0] = [{package!r}, {tests!r}]
import concert
from conftest import make_catalog
for uri in ("memory:", "sqlite:" + {dbfile!r}):
    with concert.open(uri) as db:
        db.load_catalog(make_catalog(datetime.now(timezone.utc)))
        for i in range(5):
            db.charge(1, 250000)   # the seat plus an order of two
            t = db.queue_issue(1)
            db.concerts(t); db.schedules(t, 1); db.seats(t, 10); db.users(); db.all_concerts()
            db.seats_version(t, 10); db.schedules_version(t, 1)
            r = db.reserve(t, 10, i + 1)
            db.pay(t, r.id, idempotency_key="k%d" % i)
            db.history(1); db.verify(); db.queue_stats()
            db.points_history_page(1, limit=2); list(db.iter_history(1, page_size=3))
            db.token_owner(t)
            t2 = db.queue_issue(1)
            a, b = db.reserve(t2, 10, 20 + i), db.reserve(t2, 10, 30 + i)
            db.release(t2, db.reserve(t2, 10, 40 + i).id)
            db.pay_order(t2, [a.id, b.id], idempotency_key="o%d" % i)
            db.queue_settings(); db.queue_update(max_active=10 + i, admit_per_minute=600)
            db.queue_update(admit_per_minute=0)   # unlimited again for the next buyer
            db.pause(); db.resume(); db.close_queue()
            for bad in (lambda: db.queue_issue(2), lambda: db.resume(),
                        lambda: db.queue_update(max_active=-1),
                        lambda: db.queue_update(state="HALTED")):
                try:
                    bad()
                except concert.Error:
                    pass
            db.schedule("2099-01-01T00:00:00Z"); db.queue_issue(3); db.open_queue()
            for bad in (lambda: db.seats(t, 999), lambda: db.balance(999),
                        lambda: db.points_history_page(999),
                        lambda: db.pay(t, 1, idempotency_key=""),
                        lambda: db.pay_order(t, []),
                        lambda: db.load_catalog({{"users": [{{"id": 1, "name": "x"}}]}})):
                try:
                    bad()
                except concert.Error:
                    pass
    dropped = concert.open(uri)      # never closed: the finalizer must close it
    dropped.users()
    del dropped
print("done")
'''


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_no_leaks_or_invalid_accesses(tmp_path: Path) -> None:
    here = Path(__file__).resolve().parent
    script = SCRIPT.format(package=str(here.parent), tests=str(here),
                           dbfile=str(tmp_path / "leak.db"))
    env = dict(os.environ, PYTHONMALLOC="malloc", PYTHONDONTWRITEBYTECODE="1",
               CONCERT_LIBRARY=os.path.abspath(concert.library_path()))
    proc = subprocess.run(
        ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
         sys.executable, "-c", script],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-3000:]
    log = proc.stderr
    # Only the library's and the binding's memory is our business, not the
    # interpreter's own bookkeeping: look at records that involve libconcert.
    records = re.split(r"\n==\d+== \n", log)
    bad = [r for r in records
           if ("definitely lost" in r or "indirectly lost" in r or "Invalid " in r
               or "uninitialised" in r) and "concert" in r]
    assert not bad, "\n\n".join(bad)[:5000]
