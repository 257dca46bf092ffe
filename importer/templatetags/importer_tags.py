from django import template
from django.urls import reverse

from importer.pipeline.headers import IGNORED
from importer.pipeline.mass_changes import LIMIT_LABELS, held_reason
from importer.pipeline.same_person import evidence_text
from importer.pipeline.types import ATTRIBUTE_PREFIX, FIELD_LABELS, is_attribute
from importer.runs.outbox import Event
from importer.views.shared import offers_matching

register = template.Library()


@register.filter
def field_label(name: str, labels: dict | None = None) -> str:
    """Return a field's name as people read it ("manager_email" → "Manager email").

    `labels` comes from the page's context: field_labels() of the custom attributes in force
    (a run's own copy of them, or the organization's now), `{{ name|field_label:field_labels }}`.
    An attribute no label names (deleted since) reads as its key: "attr_cost_centre" → "Cost
    centre".
    """
    if name == IGNORED:
        return "Not imported"
    found = (labels or FIELD_LABELS).get(name)
    if found:
        return found
    if is_attribute(name):
        name = name.removeprefix(ATTRIBUTE_PREFIX)
    return name.replace("_", " ").capitalize()


@register.filter
def same_person_evidence(evidence: dict) -> str:
    """Return what a same-person pair has in common, as the run's page says it."""
    return evidence_text(evidence or {})


@register.filter
def event_label(event: str) -> str:
    """Return a webhook event as people read it ("run.held" → "A scheduled import was held…")."""
    return Event.labels.get(event, event)


@register.simple_tag
def column_matching_url(run) -> str:
    """Return where an unknown column of the run gets a field: the run's own matching step when
    its page shows one, else the Configuration tab's column names (for the next file)."""
    if offers_matching(run):
        return reverse("importer:run-detail", args=[run.pk]) + "#column-matching"
    return reverse("importer:configuration") + "#group-columns"


@register.filter
def limit_labels(kinds: str) -> str:
    """Return a change's limits passed (",email,admins,") as the page names them."""
    return held_reason(kind for kind in kinds.split(",") if kind in LIMIT_LABELS)


@register.filter
def limits_summary(limits_passed: dict) -> str:
    """Return a run's limits passed ({kind: count}) in words: "Title changes (6 past the
    limit)", counting the changes that pushed each limit over."""
    return "; ".join(
        f"{LIMIT_LABELS.get(kind, kind)} ({count:,} past the limit)"
        for kind, count in (limits_passed or {}).items()
    )
