"""What looking for "same person with a new email?" pairs costs a preview, in the pipeline alone.

    python bench/same_person.py [--rows 100000]

Two files of ROWS rows against ROWS users, timed around same_person_pairs only (the matching
is made first, as the preview makes it): "usual", every row matched by email and nobody
leaving; "every email rewritten", no row matched, every user leaving and each new row with a
leaving user's name and department (a pair for every row, the worst case). One JSON line each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from importer.pipeline.diff import match_records
from importer.pipeline.same_person import same_person_pairs
from importer.pipeline.types import ImportOptions, Record, Snapshot, SnapshotUser


def _users(rows: int) -> tuple[SnapshotUser, ...]:
    return tuple(
        SnapshotUser(
            id=number,
            email=f"person{number}@acme.example",
            first_name=f"Jösé{number}",
            last_name=f"García{number % 977}",
            department=f"Dept {number % 40}",
        )
        for number in range(1, rows + 1)
    )


def _records(rows: int, domain: str) -> list[Record]:
    return [
        Record(
            row=number + 1,
            values={
                "email": f"person{number}@{domain}",
                "first_name": f"Jose{number}",
                "last_name": f"Garcia{number % 977}",
                "department": f"Dept {number % 40}",
            },
        )
        for number in range(1, rows + 1)
    ]


def measure(name: str, records: list[Record], snapshot: Snapshot) -> dict:
    options = ImportOptions()
    matching = match_records(records, snapshot, options)
    started = time.perf_counter()
    pairs = same_person_pairs(matching)
    seconds = time.perf_counter() - started
    return {"case": name, "rows": len(records), "pairs": len(pairs), "seconds": round(seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    snapshot = Snapshot(users=_users(rows))
    print(json.dumps(measure("usual", _records(rows, "acme.example"), snapshot)))
    print(json.dumps(measure("every email rewritten", _records(rows, "new.example"), snapshot)))


if __name__ == "__main__":
    main()
