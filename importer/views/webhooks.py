"""The Configuration tab's notifications: webhook and Slack endpoints, deliveries, a test."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from importer import webhooks
from importer.forms import WebhookEndpointForm
from importer.models import WebhookEndpoint
from importer.runs.outbox import Event
from importer.tasks import enqueue_webhook
from users.access import org_admin_required
from users.models import User

DELIVERIES_SHOWN = 50


@require_GET
@org_admin_required
def endpoints(request):
    return render(request, "importer/configuration.html", _context(request, WebhookEndpointForm()))


@require_POST
@org_admin_required
@never_cache  # The page shows the new signing secret.
def endpoint_create(request):
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return render(request, "importer/configuration.html", _context(request, form), status=400)
    endpoint, secret = webhooks.create_endpoint(
        organization=request.organization, acting_user=request.user, **form.cleaned_data
    )
    context = {
        **_context(request, WebhookEndpointForm()),
        "new_endpoint": endpoint,
        "new_secret": secret,
    }
    return render(request, "importer/configuration.html", context, status=201)


@require_GET
@org_admin_required
def endpoint_detail(request, pk: int):
    endpoint = _get_endpoint(request, pk)
    return render(
        request,
        "importer/webhook.html",
        {
            "tab": "configuration",
            "endpoint": endpoint,
            "event_labels": Event.labels,
            "deliveries": endpoint.deliveries.order_by("-created_at", "-id")[:DELIVERIES_SHOWN],
        },
    )


@require_POST
@org_admin_required
def endpoint_test(request, pk: int):
    endpoint = _get_endpoint(request, pk)
    delivery_id = webhooks.record_test_event(endpoint)
    transaction.on_commit(lambda: enqueue_webhook(delivery_id))
    messages.info(request, "A test event is on its way: its delivery shows below in a moment.")
    return redirect("importer:webhook-detail", pk=endpoint.pk)


@require_POST
@org_admin_required
def endpoint_resume(request, pk: int):
    endpoint = _get_endpoint(request, pk)
    webhooks.resume_endpoint(endpoint)
    messages.success(request, f"“{endpoint.name}” is sent to again, waiting events first.")
    return redirect("importer:webhook-detail", pk=endpoint.pk)


@require_POST
@org_admin_required
def endpoint_delete(request, pk: int):
    endpoint = _get_endpoint(request, pk)
    endpoint.delete()
    messages.success(request, f"“{endpoint.name}” is removed: it hears of nothing any more.")
    return redirect("importer:webhooks")


def _get_endpoint(request, pk: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, pk=pk, organization=request.organization)


def _context(request, form) -> dict:
    organization = request.organization
    return {
        "tab": "configuration",
        "section": "webhooks",
        "form": form,
        "endpoints": WebhookEndpoint.objects.filter(organization=organization),
        "event_labels": Event.labels,
        "protected_count": User.objects.filter(organization=organization)
        .kept_out_of_sync(timezone.localdate())
        .count(),
    }
