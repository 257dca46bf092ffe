import re
import unicodedata

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from importer.models import ApiToken, ImportRun, RemoteSource, WebhookEndpoint
from importer.pipeline.headers import (
    IGNORED,
    column_letter,
    field_for_header,
    is_full_name_header,
    normalise_header,
)
from importer.pipeline.types import (
    ATTRIBUTE_MAX_LENGTH,
    FIELD_LABELS,
    FILE_FIELDS,
    MAX_ATTRIBUTES,
    OPTION_LABELS,
    PROFILE_FIELDS,
    AttributeSpec,
)
from importer.remote import http as remote
from importer.runs.outbox import Event
from users.models import CustomAttribute


class PreviewForm(forms.Form):
    """A spreadsheet or pasted CSV to preview. Validates only; the view stores it."""

    # An empty file is refused in clean(), whose errors the page shows (field errors it does not).
    file = forms.FileField(
        required=False, allow_empty_file=True, label="Spreadsheet (.xlsx or .csv)"
    )
    text = forms.CharField(
        required=False,
        label="Or paste CSV",
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "spellcheck": "false",
                "placeholder": "email,first_name,last_name,manager_email\n"
                "ana@example.com,Ana,Silva,\nben@example.com,Ben,Okafor,ana@example.com",
            }
        ),
    )

    def __init__(self, *args, refused_upload: str = "", **kwargs):
        # Why importer.uploads stopped reading an upload over the limit (the file is then
        # missing): the form says so instead of asking for a file.
        super().__init__(*args, **kwargs)
        self.refused_upload = refused_upload

    def clean(self):
        cleaned = super().clean()
        if self.refused_upload:
            raise forms.ValidationError(self.refused_upload)
        upload, text = cleaned.get("file"), cleaned.get("text") or ""
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload and text.strip():
            raise forms.ValidationError("Choose a file or paste CSV, not both.")
        if upload:
            if upload.size > limit:
                raise forms.ValidationError(
                    f"The file is {filesizeformat(upload.size)}; the limit is "
                    f"{filesizeformat(limit)}. Split it or remove unused columns."
                )
            if upload.size == 0:
                raise forms.ValidationError("The file is empty.")
        elif text.strip():
            if len(text.encode()) > limit:
                raise forms.ValidationError(
                    f"The pasted text is larger than {filesizeformat(limit)}. "
                    "Upload a file instead."
                )
        else:
            raise forms.ValidationError("Drop a spreadsheet, choose one, or paste CSV.")
        return cleaned

    def input(self) -> tuple[bytes, str, str]:
        """Return (data, display name, source) of the validated input."""
        upload = self.cleaned_data.get("file")
        if upload:
            return b"".join(upload.chunks()), _display_name(upload.name), "upload"
        return self.cleaned_data["text"].encode(), "Pasted CSV", "paste"


def _display_name(name: str) -> str:
    # The browser's file name is shown, never used as a path.
    return "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())[
        :200
    ]


# ---------------------------------------------------------------------------------------------
# Configuration tab: import options, column names, users kept out of sync.


def _yes_no(label: str, yes: str, no: str, help_text: str) -> forms.TypedChoiceField:
    # Radio buttons that name both outcomes read better than a lone checkbox.
    return forms.TypedChoiceField(
        label=label,
        choices=[("True", yes), ("False", no)],
        coerce=lambda value: value == "True",
        widget=forms.RadioSelect,
        help_text=help_text,
    )


def _field_choices(names) -> list[tuple[str, str]]:
    return [(name, FIELD_LABELS[name]) for name in names]


def _attribute_choices(attributes) -> list[tuple[str, str]]:
    """The organization's custom attributes as choices: ("attr_<key>", their name)."""
    return [(spec.field, spec.name) for spec in attributes]


class ImportConfigForm(forms.Form):
    """The organization's import options. Validates only; importer.configuration saves."""

    create_users = _yes_no(
        OPTION_LABELS["create_users"],
        "Create them",
        "Skip them",
        "People in the file who have no account yet. Skipped people are listed in the preview "
        "as “would create — skipped”.",
    )
    update_fields = forms.MultipleChoiceField(
        label=OPTION_LABELS["update_fields"],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="An import updates only the ticked fields of existing users; every other field "
        "keeps the value on the platform, and the preview lists the difference as skipped. New "
        "users always get every field the file has.",
    )
    update_managers = _yes_no(
        OPTION_LABELS["update_managers"],
        "Update them from the file",
        "Keep managers as they are",
        "Keep them, for example during a review cycle, while profiles still update. New users "
        "still get the manager the file names.",
    )
    deactivate_missing = _yes_no(
        OPTION_LABELS["deactivate_missing"],
        "Deactivate them",
        "Leave them as they are",
        "Active users who are not in the file. The admin running the import, support staff and "
        "people kept out of sync are never deactivated.",
    )
    reactivate = _yes_no(
        OPTION_LABELS["reactivate"],
        "Reactivate them",
        "Leave them inactive",
        "Inactive users whose row is in the file. Left inactive, they are listed in the preview "
        "as “would reactivate — skipped”.",
    )
    clear_blank_fields = forms.MultipleChoiceField(
        label=OPTION_LABELS["clear_blank_fields"],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="For the ticked fields, an empty cell erases the value on the platform. For "
        "the others, an empty cell keeps it. Only fields imports may change are cleared; an "
        "email is never cleared.",
    )
    max_deactivation_percent = forms.IntegerField(
        label=f"{OPTION_LABELS['max_deactivation_percent']} (%)",
        min_value=0,
        max_value=100,
        help_text="An import that would deactivate a larger share needs a second confirmation; "
        "a scheduled one is held until an admin approves it. For example, with 10 % in a "
        "company of 200 active users, a file that leaves out 21 people passes the limit (20 "
        "are allowed). 100 turns this check off. Imports that deactivate 3 people or fewer "
        "never trip it.",
    )
    max_deactivation_count = forms.IntegerField(
        label=OPTION_LABELS["max_deactivation_count"],
        required=False,
        min_value=0,
        help_text="Leave empty for no count limit. When set, it applies to every import, "
        "however small: for example 5 makes a file that deactivates 6 people ask first, even "
        "in a company of 20.",
    )
    min_row_ratio_percent = forms.IntegerField(
        label=f"{OPTION_LABELS['min_row_ratio_percent']} (%)",
        min_value=0,
        max_value=100,
        help_text="A file much shorter than the last one imported is usually a truncated or "
        "empty export: it needs a second confirmation (held, if scheduled). For example, with "
        "80 % after an import of 1,000 rows, a file of 799 rows trips it (800 pass). 0 turns "
        "this check off. A file that is at most 3 rows shorter never trips it.",
    )
    max_field_change_percent = forms.IntegerField(
        label=f"{OPTION_LABELS['max_field_change_percent']} (%)",
        min_value=0,
        max_value=100,
        help_text="Each field counts on its own. For example, with 20 % in a company of 500 "
        "active users, a file that gives 101 people a new manager passes the limit (100 are "
        "allowed), and so does one that rewrites 101 emails. 100 turns this check off; 3 people "
        "or fewer never trip it.",
    )
    max_field_change_count = forms.IntegerField(
        label=OPTION_LABELS["max_field_change_count"],
        required=False,
        min_value=0,
        help_text="Leave empty for no count limit. When set, it replaces the share: for example "
        "50 lets an import change at most 50 people's managers (and 50 titles, …).",
    )
    hold_admin_changes = _yes_no(
        OPTION_LABELS["hold_admin_changes"],
        "Ask or hold first",
        "Treat them like anyone's",
        "A file that changes an organization admin's email or deactivates an admin could lock "
        "your admins out: such a change always passes a limit. For example, a file that leaves "
        "out one admin asks first (or is held, if scheduled), even if nobody else changes.",
    )
    apply_within_limits = _yes_no(
        OPTION_LABELS["apply_within_limits"],
        "Apply what is within the limits, hold the rest",
        "Hold the whole import",
        "For example, with 10 % of 200 active users and a file that deactivates 30: the first "
        "20 deactivations (by email) and every other change are applied at once; the 10 beyond "
        "the limit wait as a held import of their own, which an admin approves or discards. "
        "Changes to admins always wait. A manual import offers the same choice beside "
        "“confirm”.",
    )

    def __init__(self, *args, attributes: tuple[AttributeSpec, ...] = (), **kwargs):
        # `attributes`: the organization's custom attributes, offered after the built-in fields.
        super().__init__(*args, **kwargs)
        own = _attribute_choices(attributes)
        self.fields["update_fields"].choices = _field_choices(PROFILE_FIELDS) + own
        self.fields["clear_blank_fields"].choices = (
            _field_choices([name for name in PROFILE_FIELDS if name != "email"] + ["manager_email"])
            + own
        )


IGNORE_LABEL = "Ignore (not imported)"


class ColumnNameForm(forms.Form):
    """One of the organization's own column names and the field it fills."""

    header = forms.CharField(label="Column name in your file", max_length=200, required=False)
    field = forms.ChoiceField(label="Field", required=False)

    def __init__(self, *args, attributes: tuple[AttributeSpec, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [
            ("", "Choose a field…"),
            *_field_choices(FILE_FIELDS),
            *_attribute_choices(attributes),
            (IGNORED, IGNORE_LABEL),
        ]

    def clean(self):
        cleaned = super().clean()
        header, field = cleaned.get("header", ""), cleaned.get("field", "")
        if header and not normalise_header(header):
            self.add_error("header", "Use a column name with at least one letter or digit.")
        elif header and not field:
            self.add_error("field", "Choose the field this column fills.")
        elif field and not header:
            self.add_error("header", "Enter the column name exactly as your file shows it.")
        return cleaned


class BaseColumnNameFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        seen: dict[str, str] = {}
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            header = form.cleaned_data.get("header", "")
            if not header:
                continue
            key = normalise_header(header)
            if key in seen:
                raise forms.ValidationError(
                    f"“{header}” and “{seen[key]}” are the same column name (case, spaces and "
                    f"punctuation do not count). Keep one row."
                )
            seen[key] = header

    def mapping(self) -> dict[str, str]:
        """Return {column name: field} of the rows kept (blank and removed rows left out)."""
        return {
            form.cleaned_data["header"]: form.cleaned_data["field"]
            for form in self.forms
            if form.cleaned_data.get("header")
            and not (self.can_delete and self._should_delete_form(form))
        }


ColumnNameFormSet = forms.formset_factory(
    ColumnNameForm,
    formset=BaseColumnNameFormSet,
    extra=2,
    can_delete=True,
    max_num=200,
    validate_max=True,
)


class ColumnMatchingForm(forms.Form):
    """The column matching step: a field (or Ignore) for each column of a run's file.

    One select per column, named column_<index>; the email is required, and a field may be
    chosen for one column only.
    """

    def __init__(
        self, *args, columns: list[dict], attributes: tuple[AttributeSpec, ...] = (), **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.columns = columns
        self.labels = {**FIELD_LABELS, **dict(_attribute_choices(attributes))}
        choices = [
            (IGNORED, IGNORE_LABEL),
            *[
                (
                    name,
                    f"{FIELD_LABELS[name]} (required)" if name == "email" else FIELD_LABELS[name],
                )
                for name in FILE_FIELDS
            ],
            *_attribute_choices(attributes),
        ]
        for column in columns:
            index = column["index"]
            label = column["header"] or f"Column {column_letter(index)} (no name)"
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=label, choices=choices, initial=column["suggested"]
            )

    def rows(self):
        """Return (column, bound field) pairs, in the file's order, for the template."""
        return [(column, self[f"column_{column['index']}"]) for column in self.columns]

    def clean(self):
        cleaned = super().clean()
        chosen_by: dict[str, list[str]] = {}
        for column in self.columns:
            choice = cleaned.get(f"column_{column['index']}")
            if choice and choice != IGNORED:
                label = column["header"] or f"Column {column_letter(column['index'])}"
                chosen_by.setdefault(choice, []).append(label)
        problems = []
        if "email" not in chosen_by:
            problems.append(
                "Choose the column that holds each person's email: it is required, since "
                "people are matched by it."
            )
        for name, labels in chosen_by.items():
            if len(labels) > 1:
                shown = " and ".join(f"“{label}”" for label in labels)
                problems.append(
                    f"{self.labels.get(name, name)} is chosen for {shown}. Choose it for one "
                    "column and Ignore for the others."
                )
        if problems:
            raise forms.ValidationError(problems)
        return cleaned

    def choices(self) -> dict[int, str]:
        """Return {column index: field or IGNORED} of a valid form."""
        return {
            column["index"]: self.cleaned_data[f"column_{column['index']}"]
            for column in self.columns
        }


class CustomAttributeForm(forms.Form):
    """A custom attribute's definition, new or edited. Validates only; importer.configuration
    saves. The type is fixed once the attribute exists (its stored values were read by it)."""

    name = forms.CharField(
        label="Name",
        max_length=60,
        help_text="What your people call it, e.g. “Cost centre”, “Employment type” or “Level”. "
        "A column of the file with this name feeds it (case and spaces do not count).",
    )
    type = forms.ChoiceField(
        label="Type",
        choices=CustomAttribute.Type.choices,
        initial=CustomAttribute.Type.TEXT,
        widget=forms.RadioSelect,
        help_text="How a file's value is read. Text: as written (“Dublin office”). Number: "
        "“12”, “12.5” or “-0.25”. Date: “2024-03-01” or a date cell. One of a list: a value "
        "from the choices below, e.g. “Full-time”. The type cannot change once the attribute "
        "is added.",
    )
    choices = forms.CharField(
        label="Choices (for “One of a list”)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Full-time\nPart-time\nContractor"}),
        help_text="One choice per line, e.g. Full-time, Part-time, Contractor on three lines. A "
        "file's value must be one of them; case does not count, and it is stored as spelled here.",
    )
    column_names = forms.CharField(
        label="Other column names (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "KST\nKostenstelle"}),
        help_text="Other headers your files use for it, one per line, e.g. “KST” or "
        "“Kostenstelle”. Leave empty if the column is always named as the attribute.",
    )

    def __init__(
        self,
        *args,
        others: list[CustomAttribute],
        column_mapping: dict[str, str] | None = None,
        instance: CustomAttribute | None = None,
        **kwargs,
    ):
        # `others`: the organization's other attributes (names and column names must differ);
        # `column_mapping`: its own column names for the built-in fields.
        super().__init__(*args, **kwargs)
        self.others = others
        self.instance = instance
        self.mapped = {
            normalise_header(header): field for header, field in (column_mapping or {}).items()
        }
        if instance is not None:
            self.fields["type"].disabled = True
            self.fields["type"].help_text = (
                "The type is fixed once the attribute is added: the values people already "
                "have were read by it. To read the column another way, add a new attribute."
            )
        elif len(others) >= MAX_ATTRIBUTES:
            self.at_limit = True
        self.fields["name"].widget.attrs["autocomplete"] = "off"

    at_limit = False

    def _taken(self) -> dict[str, str]:
        """Return {normalised header: what already reads it} for the other attributes."""
        taken = {}
        for other in self.others:
            taken[normalise_header(other.name)] = f"the attribute “{other.name}”"
            for header in other.column_names or ():
                taken[normalise_header(header)] = f"a column name of the attribute “{other.name}”"
        return taken

    def _header_problem(self, header: str) -> str:
        key = normalise_header(header)
        if not key:
            return f"“{header}” needs at least one letter or digit."
        built_in = field_for_header(header)
        if built_in:
            return (
                f"“{header}” is already read as the built-in field {FIELD_LABELS[built_in]}: "
                "choose another name, e.g. “Second location” or “Cost centre”."
            )
        if is_full_name_header(header):
            return f"“{header}” is read as a whole name, which imports leave out: choose another."
        if key in self.mapped and self.mapped[key] != self._field():
            return (
                f"“{header}” is one of your column names (Configuration › Import options) for "
                "another field: remove it there first, or choose another name."
            )
        if key in self._taken():
            return f"“{header}” is already {self._taken()[key]}."
        return ""

    def _field(self) -> str:
        return f"attr_{self.instance.key}" if self.instance is not None else ""

    def clean_name(self) -> str:
        name = unicodedata.normalize("NFC", self.cleaned_data["name"]).strip()
        if problem := self._header_problem(name):
            raise forms.ValidationError(problem)
        return name

    def clean_choices(self) -> list[str]:
        lines = _lines(self.cleaned_data["choices"])
        seen: dict[str, str] = {}
        for line in lines:
            if len(line) > ATTRIBUTE_MAX_LENGTH:
                raise forms.ValidationError(
                    f"“{line[:40]}…” is longer than {ATTRIBUTE_MAX_LENGTH} characters."
                )
            if line.casefold() in seen:
                raise forms.ValidationError(
                    f"“{line}” and “{seen[line.casefold()]}” are the same choice (case does not "
                    "count): keep one line."
                )
            seen[line.casefold()] = line
        if len(lines) > 200:
            raise forms.ValidationError("A list holds at most 200 choices.")
        return lines

    def clean_column_names(self) -> list[str]:
        lines = _lines(self.cleaned_data["column_names"])
        seen: dict[str, str] = {}
        for line in lines:
            if len(line) > 200:
                raise forms.ValidationError(f"“{line[:40]}…” is longer than 200 characters.")
            if problem := self._header_problem(line):
                raise forms.ValidationError(problem)
            key = normalise_header(line)
            if key in seen:
                raise forms.ValidationError(
                    f"“{line}” and “{seen[key]}” are the same column name (case, spaces and "
                    "punctuation do not count): keep one line."
                )
            seen[key] = line
        if len(lines) > 20:
            raise forms.ValidationError("Give at most 20 other column names.")
        return lines

    def clean(self):
        cleaned = super().clean()
        if self.at_limit:
            raise forms.ValidationError(
                f"Your organization has {MAX_ATTRIBUTES} custom attributes, the most it can "
                "have. Delete one you no longer use to add another."
            )
        kind = self.instance.type if self.instance is not None else cleaned.get("type")
        name = cleaned.get("name")
        if kind == CustomAttribute.Type.CHOICE and "choices" in cleaned and not cleaned["choices"]:
            self.add_error("choices", "Give at least one choice, one per line.")
        if name:
            for header in cleaned.get("column_names") or ():
                if normalise_header(header) == normalise_header(name):
                    self.add_error(
                        "column_names",
                        f"“{header}” is the attribute's name already: it needs no line here.",
                    )
                    break
        return cleaned


def _lines(text: str) -> list[str]:
    """Return the non-blank lines of `text`, each stripped and NFC-normalised."""
    return [
        unicodedata.normalize("NFC", line).strip()
        for line in (text or "").splitlines()
        if line.strip()
    ]


class SyncProtectionForm(forms.Form):
    """Keep one user out of sync (optionally until a day), or stop. Validates only."""

    protected = forms.TypedChoiceField(
        choices=[("1", "Keep out of sync"), ("0", "Stop")], coerce=lambda value: value == "1"
    )
    until = forms.DateField(
        label="Until (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_until(self):
        until = self.cleaned_data.get("until")
        if until and until < self.today:
            raise forms.ValidationError(
                f"The end date {until:%d %b %Y} has passed. Choose today or a later day, or "
                f"leave it empty to keep the person out of sync with no end."
            )
        return until


# ---------------------------------------------------------------------------------------------
# History tab: the run list's filters and the search for a person.


class HistoryFilterForm(forms.Form):
    """Which runs the History tab lists. Validates only; the view filters."""

    status = forms.ChoiceField(label="Status", required=False)
    source = forms.ChoiceField(label="Source", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    with_changes = forms.BooleanField(label="Hide runs without changes", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *ImportRun.Status.choices]
        self.fields["source"].choices = [("", "Any source"), *ImportRun.Source.choices]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError(
                f"The start date ({since:%d %b %Y}) is after the end date ({until:%d %b %Y}). "
                "Swap them or clear one."
            )
        return cleaned


class PersonSearchForm(forms.Form):
    """A name or email to find a person's import timeline by. Validates only."""

    q = forms.CharField(
        label="Name or email",
        max_length=254,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. Ana Silva or ana@"}),
    )


# ---------------------------------------------------------------------------------------------
# Remote import: the company admin's server settings (importer/views/remote.py)

HEADER_NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
# Headers that carry the request itself: a credential never replaces one of them.
RESERVED_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "cookie",
    "if-none-match",
    "if-modified-since",
    "accept-encoding",
    "proxy-authorization",
}


class RemoteSourceForm(forms.Form):
    """The HR server to fetch from, how to log in, and when. Validates only; never saves.

    The secret (password, token or header value) is write-only: it is never put back in the
    page. Left blank, the stored one is kept, but only for the same server (scheme, host and
    port) and the same kind of authentication: a stored secret is never sent anywhere it was
    not entered for.
    """

    url = forms.CharField(
        label="Server URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://hr.example.com/export/employees.csv"}),
        help_text="The https address of the file export (CSV or .xlsx) on your HR system.",
    )
    auth = forms.ChoiceField(
        label="Authentication",
        choices=RemoteSource.Auth.choices,
        widget=forms.RadioSelect,
        help_text="How your HR system checks that the request comes from Rostersync. Credentials "
        "are sent only to this server, never after a redirect to another one.",
    )
    username = forms.CharField(label="Username", max_length=200, required=False)
    header_name = forms.CharField(
        label="Header name",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "X-API-Key"}),
    )
    secret = forms.CharField(
        label="Password, token or header value",
        max_length=4000,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    file_format = forms.ChoiceField(
        label="File format",
        choices=RemoteSource.Format.choices,
        widget=forms.RadioSelect,
        help_text="Automatic reads what the server sends: CSV or an Excel workbook.",
    )
    cadence = forms.ChoiceField(
        label="Automatic import",
        choices=RemoteSource.Cadence.choices,
        widget=forms.RadioSelect,
        help_text="Click Fetch on the Import tab first, and check the preview, before choosing "
        "hourly or daily: each scheduled import is applied without asking, unless it has "
        "errors or trips a safeguard.",
    )
    daily_hour = forms.TypedChoiceField(
        label="Hour of the daily import",
        coerce=int,
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        required=False,
        empty_value=6,
    )

    def __init__(self, *args, stored: RemoteSource, **kwargs):
        self.stored = stored
        super().__init__(*args, **kwargs)
        self.fields["daily_hour"].help_text = f"In the {settings.TIME_ZONE} time zone."
        if stored.secret_encrypted:
            self.fields[
                "secret"
            ].help_text = "A secret is set. Leave this blank to keep it; it is never shown again."

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        stored = self.stored.url
        if stored and url == remote.masked_url(stored):
            url = stored  # The page shows the stored URL with its query values hidden.
        try:
            remote.check_address(url)
        except remote.FetchError as error:
            raise forms.ValidationError(error.message) from None
        return url

    def clean_header_name(self) -> str:
        name = self.cleaned_data["header_name"].strip()
        if name and not HEADER_NAME_CHARACTERS.match(name):
            raise forms.ValidationError(
                "A header name has letters, digits and dashes only, such as X-API-Key."
            )
        if name.lower() in RESERVED_HEADERS:
            raise forms.ValidationError(f"{name} cannot carry a credential: choose another header.")
        return name

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"]
        if any(ch in secret for ch in "\r\n\0"):
            raise forms.ValidationError("The secret cannot contain line breaks.")
        return secret

    def clean(self):
        cleaned = super().clean()
        auth, url = cleaned.get("auth"), cleaned.get("url")
        if not auth or not url:
            return cleaned
        username = cleaned.get("username", "").strip()
        cleaned["username"] = username
        if auth == RemoteSource.Auth.BASIC:
            if not username:
                self.add_error("username", "Enter the username for HTTP basic authentication.")
            elif ":" in username:
                self.add_error("username", "A username for HTTP basic cannot contain a colon.")
        if auth == RemoteSource.Auth.HEADER and not cleaned.get("header_name"):
            self.add_error("header_name", "Enter the name of the header that carries the key.")
        secret = cleaned.get("secret", "")
        # A basic password travels base64-encoded (as UTF-8), a token or header value as it is:
        # an HTTP header can carry only printable ISO-8859-1.
        if auth in (RemoteSource.Auth.BEARER, RemoteSource.Auth.HEADER) and not remote.sendable(
            secret
        ):
            self.add_error(
                "secret",
                "A token or header value can hold only letters, digits and punctuation that an "
                "HTTP header can carry: this one has a character such as “€”, an emoji or a "
                "letter outside Western European alphabets. Copy it again from your HR system.",
            )
        if auth == RemoteSource.Auth.BASIC and not secret.isprintable():
            self.add_error("secret", "The password cannot contain tabs or control characters.")
        cleaned["keep_secret"] = False
        if auth != RemoteSource.Auth.NONE and not cleaned.get("secret"):
            if self._may_keep_secret(auth, url):
                cleaned["keep_secret"] = True
            elif self.stored.secret_encrypted:
                self.add_error(
                    "secret",
                    "Enter the secret again: a stored secret is only sent to the server and with "
                    "the authentication type it was entered for.",
                )
            else:
                self.add_error("secret", "Enter the password, token or header value.")
        if (
            cleaned.get("cadence") == RemoteSource.Cadence.DAILY
            and cleaned.get("daily_hour") is None
        ):
            self.add_error("daily_hour", "Choose the hour of the daily import.")
        return cleaned

    def _may_keep_secret(self, auth: str, url: str) -> bool:
        stored = self.stored
        if not stored.secret_encrypted or stored.auth != auth or not stored.url:
            return False
        return remote.same_origin(url, stored.url)


class ApiTokenForm(forms.Form):
    """A new API token: its name, scopes and optional last day. Validates only."""

    name = forms.CharField(label="Name", max_length=100, help_text="What uses it: “HR nightly”.")
    scopes = forms.MultipleChoiceField(
        label="May",
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Give a script only what it needs: upload alone, or upload and apply.",
    )
    expires_on = forms.DateField(
        label="Valid until (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The token stops working after that day.",
    )

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_expires_on(self):
        expires_on = self.cleaned_data.get("expires_on")
        if expires_on and expires_on < self.today:
            raise forms.ValidationError(
                f"{expires_on:%d %b %Y} has passed. Choose today or a later day, or leave it empty."
            )
        return expires_on


class WebhookEndpointForm(forms.Form):
    """A new notification endpoint: its name, https URL, format and events. Validates only."""

    name = forms.CharField(label="Name", max_length=100, help_text="“HR channel”, “IT alerts”.")
    kind = forms.ChoiceField(label="Format", choices=WebhookEndpoint.Kind.choices)
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="A public https address: your endpoint, or a Slack incoming-webhook URL.",
    )
    events = forms.MultipleChoiceField(
        label="Tell it when",
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[
            Event.RUN_HELD,
            Event.RUN_FAILED,
            Event.RUN_INVALID,
            Event.RUN_OUTDATED,
            Event.SYNC_FAILED,
        ],
    )

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            remote.check_address(url)
        except remote.FetchError as refusal:
            message = (
                "Only public https:// addresses receive notifications."
                if refusal.code == "bad_url"
                else refusal.message.replace("server", "endpoint")
            )
            raise forms.ValidationError(message) from None
        return url
