from django import template
from django.urls import NoReverseMatch, reverse

from importer.pipeline.headers import IGNORED
from importer.pipeline.types import FIELD_LABELS
from importer.runs.outbox import Event

register = template.Library()


@register.filter
def field_label(name: str) -> str:
    """Return a field's name as people read it ("manager_email" → "Manager email")."""
    if name == IGNORED:
        return "Not imported"
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def event_label(event: str) -> str:
    """Return a webhook event as people read it ("run.held" → "A scheduled import was held…")."""
    return Event.labels.get(event, event)


@register.simple_tag
def column_matching_url(run) -> str:
    """Return the link of the run's column matching page, or, where that page does not exist
    (yet), the Configuration tab's column names: where an unknown column gets a field."""
    try:
        return reverse("importer:run_columns", args=[run.pk])
    except NoReverseMatch:
        return reverse("importer:configuration") + "#group-columns"
