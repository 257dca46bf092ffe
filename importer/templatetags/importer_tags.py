from django import template

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
