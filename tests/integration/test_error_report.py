"""The error report: the run's input with each offending cell marked, and the list of errors."""

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from importer.models import ImportRun
from tests.integration.test_web_flow import poll_panel

BROKEN = (
    "Email,First name,Hire date,Title\n"
    'ana@example.com,Ana,2024-01-02,=HYPERLINK("http://x")\n'
    "not-an-address,Ben,2024-01-03,Lead\n"
    "cleo@example.com,Cleo,someday,Dev\n"
)


@pytest.mark.worker
def test_the_error_report_marks_each_offending_cell_with_a_comment(worker, alice_client, acme):
    alice_client.post(reverse("importer:create-preview"), {"text": BROKEN})
    run = ImportRun.objects.get()
    html = poll_panel(alice_client, run)
    assert 'id="error-report-xlsx"' in html
    response = alice_client.get(reverse("importer:run-errors-export", args=[run.pk, "xlsx"]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook["Your file"]
    assert [cell.value for cell in sheet[1]] == ["Email", "First name", "Hire date", "Title"]
    bad_email, bad_date = sheet["A3"], sheet["C4"]
    assert bad_email.value == "not-an-address"
    assert bad_email.fill.fgColor.rgb == "FFFFC7CE"
    assert "is not an email address" in bad_email.comment.text
    assert "YYYY-MM-DD" in bad_date.comment.text
    assert sheet["A2"].comment is None and sheet["A2"].fill.fill_type is None
    # The input's text stays text: no formula runs when HR opens the report.
    assert sheet["D2"].data_type == "s"
    assert sheet["D2"].value == '=HYPERLINK("http://x")'
    errors = workbook["Errors"]
    rows = [[cell.value for cell in row] for row in errors.iter_rows()]
    assert rows[0] == ["Row", "Column", "Value", "Problem", "Code"]
    assert [(row[0], row[1], row[4]) for row in rows[1:]] == [
        (3, "Email", "invalid_email"),
        (4, "Hire date", "invalid_date"),
    ]

    response = alice_client.get(reverse("importer:run-errors-export", args=[run.pk, "csv"]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Row", "Column", "Value", "Problem", "Code"]
    assert lines[1][:3] == ["3", "Email", "not-an-address"]
