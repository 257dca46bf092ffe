"""The answer to "Same person with a new email?" on a run's page: one pair, or all of them."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from importer import runs
from importer.tasks import enqueue, preview_run_task
from importer.views.shared import BROKER_DOWN, get_run
from users.access import org_admin_required


@require_POST
@org_admin_required
def confirm_same_person(request, pk: int):
    run = get_run(request, pk)  # Another organization's run is a 404.
    choice = request.POST.get("user_id", "")
    if choice == "all":
        user_ids = None
    elif choice.isdigit():
        user_ids = [int(choice)]
    else:
        messages.error(request, "Choose a pair to match.")
        return redirect("importer:run-detail", pk=run.pk)
    try:
        count = runs.confirm_same_person(run, acting_user=request.user, user_ids=user_ids)
    except runs.SamePersonRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("importer:run-detail", pk=run.pk)
    messages.success(
        request,
        f"Matched {count} pair{'' if count == 1 else 's'} as the same person: the preview is "
        "computed again with their new email. Nothing has been imported yet.",
    )
    if not enqueue(preview_run_task, run.pk):
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)
