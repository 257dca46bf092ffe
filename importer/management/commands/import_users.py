import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from importer import runs
from importer.models import ImportRun
from importer.runs.selectors import change_items, run_summary
from users.models import Organization

EXIT_OK, EXIT_BLOCKED, EXIT_FAILED = 0, 1, 2
# --json writes the changes this many at a time.
WRITE_BATCH = 1000


class Command(BaseCommand):
    help = (
        "Preview (and with --apply, import) a spreadsheet or CSV of users into an organization, "
        "in this process: no worker needed. Exit 0 when ready or applied, 1 when errors in the "
        "file or a safeguard block it, 2 on any other failure. Past a limit (deactivations, "
        "lost rows, mass field changes, admins), --apply stops unless --confirm-safeguard "
        "(import all) or --hold-rest (import what is within the limits, hold the rest)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="An .xlsx or .csv file, or - for standard input.")
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument(
            "--apply", action="store_true", help="Import when the preview is clean."
        )
        past_a_limit = parser.add_mutually_exclusive_group()
        past_a_limit.add_argument(
            "--confirm-safeguard",
            action="store_true",
            help="With --apply: import even when a safeguard trips (e.g. many deactivations).",
        )
        past_a_limit.add_argument(
            "--hold-rest",
            action="store_true",
            help="With --apply: when the preview passes a limit, import the changes within the "
            "limits now and hold the ones that passed it as an import of their own, which an "
            "admin approves or discards on its page (as the run page's button 'Import what is "
            "within the limits, hold the rest'). Example: with 10 %% of 200 users allowed and "
            "30 deactivations, 20 are made and the last 10 (by email) are held.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, path, org, apply, confirm_safeguard, hold_rest, json: bool, **options):
        if hold_rest and not apply:
            return self._fail("--hold-rest goes with --apply.", as_json=json)
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            return self._fail(f"No organization with the slug {org!r}.", as_json=json)
        try:
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        except OSError as error:
            return self._fail(f"Cannot read {path}: {error.strerror}.", as_json=json)
        try:
            run = runs.create_run(
                organization=organization,
                data=data,
                name="stdin" if path == "-" else Path(path).name,
                source=ImportRun.Source.CLI,
            )
        except runs.LimitReached as limit:
            return self._fail(str(limit), as_json=json)
        # The run has stored the file, and the preview reads it from there: a million-row file
        # held here as well would be 116 MB more at the preview's peak.
        del data
        refusal = ""
        try:
            run = runs.import_now(
                run.pk, apply=apply, confirm_safeguard=confirm_safeguard, hold_rest=hold_rest
            )
        except runs.ApplyRefused as error:
            refusal = (
                f"{error} Run again with --confirm-safeguard to import anyway, or with "
                "--hold-rest to import what is within the limits and hold the rest."
            )
            run.refresh_from_db()
        if json:
            self._write_json(run, refusal)
        else:
            self._print_summary(run)
            if refusal:
                self.stdout.write(refusal)
        if refusal:
            sys.exit(EXIT_BLOCKED)
        if run.status in (ImportRun.Status.READY, ImportRun.Status.APPLIED):
            sys.exit(EXIT_OK)
        sys.exit(EXIT_BLOCKED if run.status == ImportRun.Status.INVALID else EXIT_FAILED)

    def _fail(self, message: str, *, as_json: bool):
        if as_json:
            self.stdout.write(
                _json_dump({"run": None, "status": "failed", "message": message, "errors": []})
            )
            sys.exit(EXIT_FAILED)
        raise CommandError(message, returncode=EXIT_FAILED)

    def _write_json(self, run: ImportRun, refusal: str) -> None:
        """Print the run as runs.selectors.run_as_json gives it, streamed as it is read.

        The changes are written a batch at a time: a million of them would otherwise be the
        whole object in memory at once, several times over (rows, dicts, then the text).
        """
        summary = {**run_summary(run), **({"message": refusal} if refusal else {})}
        write = self.stdout.write
        write(_json_dump(summary)[:-1], ending="")
        for key, skipped in (("changes", False), ("skipped", True)):
            write(f', "{key}": [', ending="")
            batch: list[str] = []
            first = True
            for item in change_items(run, skipped=skipped):
                batch.append(item)
                if len(batch) == WRITE_BATCH:
                    write(("" if first else ", ") + ", ".join(batch), ending="")
                    batch, first = [], False
            if batch:
                write(("" if first else ", ") + ", ".join(batch), ending="")
            write("]", ending="")
        write("}")

    def _print_summary(self, run: ImportRun) -> None:
        counts = ", ".join(f"{value} {name}" for name, value in run.counts.items())
        self.stdout.write(f"Run {run.pk}: {run.get_status_display()} ({counts})")
        for issue in run.issues:
            where = f"row {issue['row']}" if issue["row"] else "file"
            self.stdout.write(
                f"  {issue['severity']} {where} {issue['column']}: {issue['message']}"
            )
        if run.message:
            self.stdout.write(run.message)
        for held in run.held_parts.order_by("pk"):
            self.stdout.write(
                f"Run {held.pk}: {held.get_status_display()} ({held.changed_count} changed, "
                f"{held.deactivated_count} deactivated, {held.new_count} new, "
                f"{held.reactivated_count} reactivated): the changes that passed a limit; an "
                "admin approves or discards them on its page."
            )


def _json_dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=None)
