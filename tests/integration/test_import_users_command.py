"""`manage.py import_users`: the same pipeline from a shell, with JSON output and exit codes."""

import json
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from importer import runs
from importer.models import ImportRun
from tests.factories import UserFactory
from users.models import User


def run_command(*args) -> tuple[int, dict]:
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_users", *args, "--json", stdout=out)
    return exit_info.value.code, json.loads(out.getvalue())


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_it_previews_without_changing_anything_and_exits_0(tmp_path, acme):
    path = write(tmp_path, "people.csv", "Work Email,Vorname\nana@acme.example,Ana\n")

    code, result = run_command("--org", "acme", path)

    assert code == 0
    assert result["status"] == "ready"
    assert result["counts"] == {
        "new": 1,
        "changed": 0,
        "deactivated": 0,
        "reactivated": 0,
        "unchanged": 0,
        "errors": 0,
        "warnings": 0,
    }
    assert result["changes"] == [
        {
            "action": "create",
            "email": "ana@acme.example",
            "row": 2,
            "fields": {"email": ["", "ana@acme.example"], "first_name": ["", "Ana"]},
        }
    ]
    assert ImportRun.objects.get(pk=result["run"]).source == ImportRun.Source.CLI
    assert not User.objects.filter(email="ana@acme.example").exists()


def test_with_apply_it_imports_and_exits_0(tmp_path, acme, fixture_path):
    code, result = run_command("--org", "acme", str(fixture_path("two_employees.xlsx")), "--apply")

    assert code == 0
    assert result["status"] == "applied"
    assert User.objects.filter(organization=acme).count() == 2


def test_row_errors_block_the_import_and_exit_1(tmp_path, acme):
    path = write(tmp_path, "people.csv", "email,manager_email\nana@acme.example,Ana Silva\n")

    code, result = run_command("--org", "acme", path, "--apply")

    assert code == 1
    assert result["status"] == "invalid"
    assert [(e["row"], e["column"], e["code"]) for e in result["errors"]] == [
        (2, "manager_email", "invalid_manager_email")
    ]
    assert not User.objects.filter(email="ana@acme.example").exists()


def test_a_file_error_has_no_row_and_exits_1(acme, fixture_path):
    code, result = run_command("--org", "acme", str(fixture_path("legacy.xls")))

    assert code == 1
    assert [(e["row"], e["code"]) for e in result["errors"]] == [(None, "unsupported_format")]


def test_an_unknown_organization_exits_2(tmp_path, db):
    code, result = run_command("--org", "nope", write(tmp_path, "p.csv", "email\na@b.example\n"))

    assert code == 2
    assert result["status"] == "failed"
    assert "nope" in result["message"]


def test_a_tripped_safeguard_needs_confirm_safeguard(tmp_path, acme):
    for n in range(10):
        UserFactory(organization=acme, email=f"p{n}@acme.example")
    path = write(tmp_path, "short.csv", "email\np0@acme.example\n")

    code, result = run_command("--org", "acme", path, "--apply")

    assert code == 1
    assert result["status"] == "ready"
    assert "--confirm-safeguard" in result["message"]
    assert User.objects.filter(organization=acme, is_active=True).count() == 10

    code, result = run_command("--org", "acme", path, "--apply", "--confirm-safeguard")

    assert code == 0
    assert result["status"] == "applied"
    assert User.objects.filter(organization=acme, is_active=True).count() == 1


def test_hold_rest_imports_what_is_within_the_limits_and_holds_the_rest(
    tmp_path, acme, alice, django_capture_on_commit_callbacks
):
    people = [UserFactory(organization=acme, email=f"p{n}@acme.example") for n in range(10)]
    # Five of eleven leave: 3 deactivations are allowed (the floor), the last 2 by email held.
    text = "email\n" + "".join(f"{person.email}\n" for person in [alice, *people[5:]])
    path = write(tmp_path, "leavers.csv", text)

    code, result = run_command("--org", "acme", path, "--apply")
    assert code == 1 and "--hold-rest" in result["message"]
    assert result["limits_passed"] == {"deactivations": 2}

    with django_capture_on_commit_callbacks(execute=True):
        code, result = run_command("--org", "acme", path, "--apply", "--hold-rest")

    assert code == 0
    assert (result["status"], result["counts"]["deactivated"]) == ("applied", 3)
    [held_id] = result["held_parts"]
    # The admins are told that the held part waits for them (nobody saw it on a page).
    [email] = mail.outbox
    assert email.to == [alice.email] and f"Import #{held_id} for" in email.subject
    held = ImportRun.objects.get(pk=held_id)
    assert (held.status, held.held_part_of_id, held.deactivated_count) == (
        ImportRun.Status.HELD,
        result["run"],
        2,
    )
    assert held.limits_passed == {"deactivations": 2}
    active = User.objects.filter(organization=acme, is_active=True)
    assert sorted(active.values_list("email", flat=True)) == sorted(
        p.email for p in [alice, people[3], people[4], *people[5:]]
    )
    # As the button: the admin approves the held part, which then deactivates the other two.
    runs.approve_held_run(held, acting_user=alice)
    runs.apply_run(held.pk)
    assert not User.objects.filter(email__in=["p3@acme.example", "p4@acme.example"], is_active=True)


def test_hold_rest_goes_with_apply_and_not_with_confirm_safeguard(tmp_path, acme):
    path = write(tmp_path, "people.csv", "email\nana@acme.example\n")
    code, result = run_command("--org", "acme", path, "--hold-rest")
    assert code == 2 and "--hold-rest goes with --apply" in result["message"]
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command(
            "import_users", "--org", "acme", path, "--apply", "--hold-rest", "--confirm-safeguard"
        )


def test_the_printed_summary_names_the_held_part(tmp_path, acme, alice):
    people = [UserFactory(organization=acme, email=f"p{n}@acme.example") for n in range(10)]
    text = "email\n" + "".join(f"{person.email}\n" for person in [alice, *people[5:]])
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "import_users", "--org", "acme", write(tmp_path, "l.csv", text), "--apply",
            "--hold-rest", stdout=out,
        )  # fmt: skip
    held = ImportRun.objects.get(held_part_of__isnull=False)
    assert exit_info.value.code == 0
    assert out.getvalue().splitlines()[-1] == (
        f"Run {held.pk}: Held by a safeguard (0 changed, 2 deactivated, 0 new, 0 reactivated): "
        "the changes that passed a limit; an admin approves or discards them on its page."
    )


def test_the_streamed_json_is_the_run_as_the_api_gives_it(tmp_path, acme, alice):
    """--json writes the changes in batches as it reads them: the same object, key for key."""
    from importer.runs.selectors import run_as_json

    # Two kept out of sync (their changes are skipped), and more changes than one batch.
    UserFactory(organization=acme, email="kept1@acme.example", is_sync_protected=True)
    UserFactory(organization=acme, email="kept2@acme.example", is_sync_protected=True)
    UserFactory(organization=acme, email="gone@acme.example")  # Deactivated: a change of no row.
    lines = ["email,first_name,title"]
    lines += [f"p{n}@acme.example,Zoë {n},Ingénieur" for n in range(2500)]
    lines += ["kept1@acme.example,K,New", "kept2@acme.example,K,New", "alice@acme.example,A,"]
    path = write(tmp_path, "people.csv", "\n".join(lines) + "\n")

    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("import_users", "--org", "acme", path, "--apply", "--json", stdout=out)
    text = out.getvalue()
    result = json.loads(text)

    assert text.endswith("}\n") and text.count("\n") == 1
    assert result == run_as_json(ImportRun.objects.get(pk=result["run"]))
    assert list(result) == [
        "run", "status", "message", "counts", "errors", "warnings", "safeguard",
        "limits_passed", "held_part_of", "held_parts", "changes", "skipped",
    ]  # fmt: skip
    assert result["status"] == "applied"
    counts = result["counts"]
    assert counts["new"] == 2500
    assert {"action": "deactivate", "email": "gone@acme.example", "row": None, "fields": {}} in (
        result["changes"]
    )
    assert len(result["changes"]) == sum(
        counts[key] for key in ("new", "changed", "deactivated", "reactivated")
    )
    assert [item["email"] for item in result["skipped"]] == [
        "kept1@acme.example",
        "kept2@acme.example",
    ]
    assert result["changes"][0]["fields"]["first_name"] == ["", "Zoë 0"]
