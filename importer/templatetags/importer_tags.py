from django import template

from importer.pipeline.types import FIELD_LABELS

register = template.Library()


@register.filter
def field_label(name: str) -> str:
    """Return a field's name as people read it ("manager_email" → "Manager email")."""
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
