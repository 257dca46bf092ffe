"""Time parse.read_table alone on one file, in this (fresh) process: wall, CPU, peak RSS.

    .venv/bin/python bench/read_alone.py FILE [--reader auto|openpyxl|calamine] [--digest]

Prints one line of JSON: the wall and CPU seconds of read_table, the process's peak RSS
(VmHWM, start-up included) and its RSS before reading, the rows read, and with --digest a
SHA-256 of the table's header row, headers and rows (to check that two readings agree).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from importer.pipeline import parse


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("--reader", default="auto")
    parser.add_argument("--digest", action="store_true")
    args = parser.parse_args()
    data = Path(args.file).read_bytes()
    before = _status("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    table = parse.read_table(data, max_rows=2_000_000, xlsx_reader=args.reader)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    figures = {
        "file": Path(args.file).name,
        "reader": args.reader,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(_status("VmHWM")),
        "rss_before_mb": round(before),
        "rows": len(table.rows),
    }
    if args.digest:
        digest = hashlib.sha256(repr((table.header_row, table.headers)).encode())
        for row in table.rows:
            digest.update(repr((row.number, row.cells)).encode())
        figures["digest"] = digest.hexdigest()[:16]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
