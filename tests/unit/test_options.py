"""The import options are listed once: the form, the change log and the run's copy agree."""

import json

from importer.forms import ImportConfigForm
from importer.models import ImportConfig
from importer.pipeline.types import OPTION_LABELS, AttributeSpec, AttributeType, ImportOptions
from importer.runs.services import _options_as_dict
from users.models import CustomAttribute


def test_a_runs_copy_of_its_options_has_one_key_per_option():
    # Besides the options, the run keeps the custom attributes as they were defined then (their
    # names label its changes), which are the organization's definitions, not an option.
    assert set(_options_as_dict(ImportOptions())) == set(OPTION_LABELS) | {"attributes"}


def test_a_runs_copy_keeps_its_custom_attributes_as_plain_json():
    spec = AttributeSpec("cost_centre", "Cost centre", AttributeType.CHOICE, ("A", "B"), ("KST",))
    stored = _options_as_dict(ImportOptions(attributes=(spec,)))["attributes"]
    assert json.loads(json.dumps(stored)) == [
        {
            "key": "cost_centre",
            "name": "Cost centre",
            "type": "choice",
            "choices": ["A", "B"],
            "column_names": ["KST"],
        }
    ]


def test_the_attribute_types_are_the_models():
    assert {str(kind) for kind in AttributeType} == set(CustomAttribute.Type.values)


def test_the_stored_configuration_has_a_field_per_option():
    assert set(OPTION_LABELS) <= {field.name for field in ImportConfig._meta.get_fields()}


def test_the_form_labels_each_option_it_edits_by_its_name():
    form = ImportConfigForm()
    assert set(form.fields) == set(OPTION_LABELS) - {"column_mapping"}  # its own form
    for name, field in form.fields.items():
        assert field.label.startswith(OPTION_LABELS[name])
