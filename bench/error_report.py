"""Time the error report (.xlsx of the input with marked cells) and the column matching proposal.

    DJANGO_SECRET_KEY=x python bench/error_report.py [ROWS] [ERRORS]

Prints one JSON line: seconds to read the CSV, to propose the column matching, and to write
the report, and the report's size. The pipeline is pure: no database is needed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")


def main(rows: int, errors: int) -> None:
    import django

    django.setup()
    from importer.history.exports import error_report_xlsx
    from importer.pipeline.columns import column_matching
    from importer.pipeline.parse import read_table

    lines = ["Email,First name,Last name,Department,Cost center"]
    lines += [f"user{i}@example.com,F{i},L{i},D{i % 50},K{i % 7}" for i in range(rows)]
    data = ("\n".join(lines) + "\n").encode()
    start = time.perf_counter()
    table = read_table(data)
    read = time.perf_counter()
    column_matching(table)
    proposed = time.perf_counter()
    step = max(rows // max(errors, 1), 1)
    issues = [
        {
            "severity": "error",
            "row": 2 + index * step,
            "column": "Email",
            "value": "x",
            "message": "'x' is not an email address.",
            "code": "invalid_email",
        }
        for index in range(errors)
    ]
    handle = error_report_xlsx(issues, table)
    written = time.perf_counter()
    handle.seek(0, 2)
    print(
        json.dumps(
            {
                "rows": rows,
                "errors": errors,
                "read_s": round(read - start, 2),
                "column_matching_ms": round((proposed - read) * 1000, 1),
                "error_report_s": round(written - proposed, 2),
                "error_report_mb": round(handle.tell() / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
    )
