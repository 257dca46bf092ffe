"""The History tab: every run of the organization."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from importer.models import ImportRun
from users.access import org_admin_required

RUNS_PER_PAGE = 25


@require_GET
@org_admin_required
def history(request):
    runs_qs = ImportRun.objects.filter(organization=request.organization).select_related(
        "created_by"
    )
    page = Paginator(runs_qs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "importer/history.html", {"runs_page": page, "tab": "history"})
