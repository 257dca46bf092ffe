"""The import options are listed once: the form, the change log and the run's copy agree."""

from importer.forms import ImportConfigForm
from importer.models import ImportConfig
from importer.pipeline.types import OPTION_LABELS, ImportOptions
from importer.runs.services import _options_as_dict


def test_a_runs_copy_of_its_options_has_one_key_per_option():
    assert set(_options_as_dict(ImportOptions())) == set(OPTION_LABELS)


def test_the_stored_configuration_has_a_field_per_option():
    assert set(OPTION_LABELS) <= {field.name for field in ImportConfig._meta.get_fields()}


def test_the_form_labels_each_option_it_edits_by_its_name():
    form = ImportConfigForm()
    assert set(form.fields) == set(OPTION_LABELS) - {"column_mapping"}  # its own form
    for name, field in form.fields.items():
        assert field.label.startswith(OPTION_LABELS[name])
