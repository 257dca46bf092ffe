from django.shortcuts import get_object_or_404

from importer.models import ImportRun


def get_run(request, pk: int) -> ImportRun:
    """Return a run of the admin's own organization; any other id is a 404."""
    return get_object_or_404(
        ImportRun.objects.select_related("created_by", "applied_by"),
        pk=pk,
        organization=request.organization,
    )
