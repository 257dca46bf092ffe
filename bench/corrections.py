"""Time a file fixed in the browser against the same file uploaded: is its preview as fast?

    .venv/bin/python bench/corrections.py [--size 100000] [--errors 3]

On a fresh SQLite database under var/bench/corrections/: a CSV of --size people (bench's
generated file) with --errors addresses broken is previewed (invalid); then the time to make its
corrected file (the web request's work: read the stored file, correct the cells, write and store
the CSV), the corrected file's preview, and, for comparison, the preview of the same corrected
bytes uploaded as a new file. The two previews should take the same time: they are one pipeline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench" / "corrections"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--errors", type=int, default=3)
    args = parser.parse_args()
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    from cryptography.fernet import Fernet

    os.environ.setdefault("ROSTERSYNC_FERNET_KEYS", Fernet.generate_key().decode())
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        ROSTERSYNC_VAR_DIR=str(VAR),
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench"),
        DJANGO_DEBUG="false",
    )
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import generate

    from importer import runs
    from importer.models import ImportRun
    from importer.pipeline.corrections import CellCorrection
    from users.models import Organization, User

    organization = Organization.objects.create(name="Bench Corp", slug="bench")
    admin = User.objects.create_user(
        "admin@bench.example", "x", organization=organization, is_org_admin=True
    )
    people = generate.people(args.size)
    email_of = {index: person["email"] for index, person in enumerate(people)}
    lines = generate.write_csv(people, email_of).decode().split("\r\n")
    broken = {}
    for number in range(args.errors):
        row = 2 + number * (args.size // max(args.errors, 1))
        email = lines[row - 1].split(",")[generate.HEADERS.index("Email")]
        lines[row - 1] = lines[row - 1].replace(email, email.replace("@", " at "), 1)
        broken[row] = email
    data = "\r\n".join(lines).encode()

    run = runs.create_run(
        organization=organization,
        data=data,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    original = _timed(lambda: runs.preview_run(run.pk))
    run.refresh_from_db()
    assert run.error_count >= args.errors  # A broken manager address breaks its reports too.

    column = generate.HEADERS.index("Email")
    cells = [CellCorrection(row=row, column=column, value=email) for row, email in broken.items()]
    corrected_run = None

    def correct():
        nonlocal corrected_run
        corrected_run = runs.create_corrected_run(run, acting_user=admin, cells=cells, dropped=[])

    correcting = _timed(correct)
    corrected = _timed(lambda: runs.preview_run(corrected_run.pk))
    corrected_run.refresh_from_db()
    assert corrected_run.status == ImportRun.Status.READY, corrected_run.errors[:3]
    with corrected_run.input_file.open("rb") as handle:
        corrected_bytes = handle.read()
    upload = runs.create_run(
        organization=organization,
        data=corrected_bytes,
        name="people (corrected).csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    uploaded = _timed(lambda: runs.preview_run(upload.pk))
    upload.refresh_from_db()
    assert upload.new_count == corrected_run.new_count
    print(f"{args.size:,} rows, {args.errors} errors corrected in the browser (SQLite)")
    print(f"  preview of the file with errors        {original:6.2f} s")
    print(f"  making the corrected file (web request) {correcting:6.2f} s")
    print(f"  preview of the corrected file          {corrected:6.2f} s")
    print(f"  preview of the same bytes uploaded     {uploaded:6.2f} s")


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
