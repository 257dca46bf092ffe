"""The Configuration tab's API tokens: make one (its secret shown once), list, revoke."""

import datetime as dt

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from importer import tokens
from importer.forms import ApiTokenForm
from importer.models import ApiToken
from users.access import org_admin_required
from users.models import User


@require_GET
@org_admin_required
def api_tokens(request):
    return render(request, "importer/configuration.html", _context(request, _form()))


@require_POST
@org_admin_required
@never_cache  # The page shows the new secret: kept by no browser or proxy cache.
def api_token_create(request):
    form = _form(request.POST)
    if not form.is_valid():
        return render(request, "importer/configuration.html", _context(request, form), status=400)
    expires_on = form.cleaned_data["expires_on"]
    token, secret = tokens.create_token(
        organization=request.organization,
        name=form.cleaned_data["name"],
        scopes=form.cleaned_data["scopes"],
        expires_at=_end_of(expires_on) if expires_on else None,
        acting_user=request.user,
    )
    context = {**_context(request, _form()), "new_token": token, "new_secret": secret}
    return render(request, "importer/configuration.html", context, status=201)


@require_POST
@org_admin_required
def api_token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, organization=request.organization)
    if tokens.revoke_token(token, acting_user=request.user):
        messages.success(request, f"The token “{token.name}” is revoked: it no longer works.")
    return redirect("importer:api-tokens")


def _form(data=None) -> ApiTokenForm:
    return ApiTokenForm(data, today=timezone.localdate())


def _end_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def _context(request, form) -> dict:
    organization = request.organization
    return {
        "tab": "configuration",
        "section": "api",
        "form": form,
        "api_tokens": ApiToken.objects.filter(organization=organization).select_related(
            "created_by", "revoked_by"
        ),
        "now": timezone.now(),
        "protected_count": User.objects.filter(organization=organization)
        .kept_out_of_sync(timezone.localdate())
        .count(),
    }
