"""`manage.py import_users`: the same pipeline from a shell, with JSON output and exit codes."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

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


def test_the_streamed_json_is_the_run_as_the_api_gives_it(tmp_path, acme, alice):
    """--json writes the changes in batches as it reads them: the same object, key for key."""
    from importer.runs.selectors import run_as_json

    # Two kept out of sync (their changes are skipped), and more changes than one batch.
    UserFactory(organization=acme, email="kept1@acme.example", is_sync_protected=True)
    UserFactory(organization=acme, email="kept2@acme.example", is_sync_protected=True)
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
        "run", "status", "message", "counts", "errors", "warnings", "safeguard", "changes",
        "skipped",
    ]  # fmt: skip
    assert result["status"] == "applied"
    counts = result["counts"]
    assert counts["new"] == 2500
    assert len(result["changes"]) == sum(
        counts[key] for key in ("new", "changed", "deactivated", "reactivated")
    )
    assert [item["email"] for item in result["skipped"]] == [
        "kept1@acme.example",
        "kept2@acme.example",
    ]
    assert result["changes"][0]["fields"]["first_name"] == ["", "Zoë 0"]
