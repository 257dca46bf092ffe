import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from importer.pipeline.types import PROFILE_FIELDS
from users.models import Organization


def input_file_path(run, filename: str) -> str:
    """Return a generated storage name: nothing of the uploaded file's own name is used."""
    return f"imports/{run.organization_id}/{uuid.uuid4().hex}.bin"


def default_update_fields() -> list[str]:
    """Return the fields a new organization's imports update: every profile field."""
    return list(PROFILE_FIELDS)


def correction_summary(cells: int, rows_dropped: int) -> str:
    """Return what a correction in the browser did: "3 cells corrected and 1 row dropped"."""
    parts = []
    if cells or not rows_dropped:
        parts.append(f"{cells} cell{'' if cells == 1 else 's'} corrected")
    if rows_dropped:
        parts.append(f"{rows_dropped} row{'' if rows_dropped == 1 else 's'} dropped")
    return " and ".join(parts)


class ImportConfig(models.Model):
    """How imports treat an organization's users. One per organization.

    The stored form of the options: runs.options_for turns it into the plain ImportOptions
    (importer.pipeline.types) that the pipeline reads, and OPTION_LABELS names its fields.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="import_config"
    )
    create_users = models.BooleanField(default=True)
    update_fields = models.JSONField(default=default_update_fields, blank=True)
    update_managers = models.BooleanField(default=True)
    deactivate_missing = models.BooleanField(default=True)
    reactivate = models.BooleanField(default=True)
    clear_blank_fields = models.JSONField(default=list, blank=True)
    # The organization's own header names: {"Kostenstelle": "department"}.
    column_mapping = models.JSONField(default=dict, blank=True)
    max_deactivation_percent = models.PositiveSmallIntegerField(default=10)
    max_deactivation_count = models.PositiveIntegerField(null=True, blank=True)
    min_row_ratio_percent = models.PositiveSmallIntegerField(default=80)
    max_field_change_percent = models.PositiveSmallIntegerField(default=20)
    max_field_change_count = models.PositiveIntegerField(null=True, blank=True)
    hold_admin_changes = models.BooleanField(default=True)
    apply_within_limits = models.BooleanField(default=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Import configuration of {self.organization}"


class ImportConfigChange(models.Model):
    """Who changed which import option, when: {option: [old, new]}.

    The Configuration tab's change log, field by field. `kind` says what was changed; the keys
    of `changes` keep their prefix ("kept_out_of_sync:<email>", "remote:<setting>",
    "attribute:<key>") so that an entry reads the same whichever way it is looked at.
    """

    class Kind(models.TextChoices):
        OPTIONS = "options", "Import options"
        SYNC_PROTECTION = "sync_protection", "Kept out of sync"
        REMOTE_SETTINGS = "remote_settings", "Automatic import settings"
        ATTRIBUTES = "attributes", "Custom attributes"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="import_config_changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.OPTIONS)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{', '.join(self.changes)} changed at {self.changed_at:%Y-%m-%d %H:%M}"


class ImportRun(models.Model):
    """The shared state of one import: its input, its preview and its outcome."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        PASTE = "paste", "Pasted CSV"
        REMOTE = "remote", "Remote server"
        CLI = "cli", "Command line"
        REVERT = "revert", "Revert"
        API = "api", "API"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PREVIEWING = "previewing", "Previewing"
        READY = "ready", "Ready to import"
        INVALID = "invalid", "Has errors"
        NEEDS_COLUMNS = "columns", "Columns to match"
        APPLYING = "applying", "Importing"
        APPLIED = "applied", "Imported"
        FAILED = "failed", "Failed"
        STALE = "stale", "Outdated"
        HELD = "held", "Held by a safeguard"
        DISCARDED = "discarded", "Discarded"

    RUNNING_STATUSES = (Status.QUEUED, Status.PREVIEWING, Status.APPLYING)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    source = models.CharField(max_length=16, choices=Source.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    input_file = models.FileField(upload_to=input_file_path, blank=True)
    input_name = models.CharField(max_length=255, blank=True)
    input_size = models.PositiveBigIntegerField(default=0)
    input_sha256 = models.CharField(max_length=64, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    column_matching = models.JSONField(
        default=list,
        blank=True,
        help_text="The file's columns for the column matching step (see "
        "importer.pipeline.columns.column_matching); empty when every column was recognised.",
    )
    message = models.TextField(blank=True, help_text="Why the run failed or what to do next.")
    row_count = models.PositiveIntegerField(default=0)
    new_count = models.PositiveIntegerField(default=0)
    changed_count = models.PositiveIntegerField(default=0)
    deactivated_count = models.PositiveIntegerField(default=0)
    reactivated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    # Changes an option or a protection kept from happening (stored, never applied): counted
    # when they are written, as the others are, so that the run's pages count nothing.
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    issues = models.JSONField(default=list, blank=True)
    policy = models.JSONField(default=dict, blank=True, help_text="The options in force.")
    same_person_pairs = models.JSONField(
        default=list,
        blank=True,
        help_text="Pairs of a user missing from the file and a new row with the same name, "
        "not yet decided (importer.pipeline.same_person): the preview asks about each.",
    )
    same_person_confirmed = models.JSONField(
        default=dict,
        blank=True,
        help_text="{user id: new email}: the pairs an admin confirmed as the same person with "
        "a new address; the preview matches them.",
    )
    # Set when the preview trips a safeguard (too many deactivations, a much shorter file):
    # a manual import then needs a second confirmation, a scheduled one is held.
    safeguard_message = models.TextField(blank=True)
    # Set when the run came through the API (importer.api): History shows "by API token NAME".
    api_token = models.ForeignKey(
        "ApiToken", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # The Idempotency-Key of the API upload that made the run: a retried upload finds it.
    idempotency_key = models.CharField(max_length=200, blank=True)
    reverts = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reverted_by",
        help_text="The run this run undoes (source: revert).",
    )
    # Set when the run's input is another run's file corrected in the browser (cells edited, rows
    # dropped): that run keeps its own file, and this one's is the corrected CSV.
    corrects = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="corrected_by_runs",
        help_text="The run whose file this run's input corrects.",
    )
    # Set on the held part of an import that passed a limit with "apply what is within the
    # limits" (importer.runs.services.split_held_part): the run whose other changes were applied.
    held_part_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="held_parts",
        help_text="The run this run is the held part of.",
    )
    # The limits the preview passed, with how many changes passed each:
    # {kind: count}, kinds as importer.pipeline.mass_changes.LIMIT_LABELS' keys.
    limits_passed = models.JSONField(default=dict, blank=True)
    corrected_cells = models.PositiveIntegerField(default=0)
    dropped_rows = models.PositiveIntegerField(default=0)
    input_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the retention period removed the stored input."
    )
    # The organization's census when the preview was computed (store.snapshot.users_census:
    # how many users, the largest id): apply refuses to run if it differs, or if a user the
    # changes touch changed (ImportChange.user_seen), because the preview would no longer be
    # what gets applied.
    users_digest = models.CharField(max_length=64, blank=True)

    # The worker that took the run up holds a lease on it and renews it while it works (the
    # heartbeat, importer.runs.leases): a lease that ran out means that worker stopped.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Workers that took up the run's current step (preview or import)."
    )
    # What the remote server said of a scheduled run's file, remembered on the source once the
    # sync ends (whichever worker ends it), and when that was done.
    remote_etag = models.CharField(max_length=500, blank=True)
    remote_last_modified = models.CharField(max_length=100, blank=True)
    sync_recorded_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    previewed_at = models.DateTimeField(null=True, blank=True)
    apply_requested_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["status", "updated_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="importrun_unique_idempotency_key",
            ),
        ]

    def __str__(self):
        return f"Import #{self.pk} ({self.get_status_display()})"

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING_STATUSES

    @property
    def fetch_failed(self) -> bool:
        """A remote run whose file never arrived: no input, no preview, nothing to count."""
        return (
            self.source == self.Source.REMOTE
            and not self.input_sha256
            and self.status == self.Status.FAILED
        )

    @property
    def status_label(self) -> str:
        """The status as the pages show it: a ready preview that changes nobody is "No changes";
        a scheduled run held for a same-person pair, not by a safeguard, is "Held for a decision".
        """
        if self.status == self.Status.READY and not self.change_count and not self.error_count:
            return "No changes"
        if self.status == self.Status.HELD and not self.safeguard_message:
            return "Held for a decision"  # A same-person pair to decide, not a safeguard.
        return self.get_status_display()

    @property
    def status_class(self) -> str:
        """The status's CSS name (status-…): "No changes" is shown as done, not as waiting."""
        return "nochanges" if self.status_label == "No changes" else self.status

    @property
    def can_apply(self) -> bool:
        return self.status == self.Status.READY and self.error_count == 0

    @property
    def change_count(self) -> int:
        return self.new_count + self.changed_count + self.deactivated_count + self.reactivated_count

    @property
    def counts(self) -> dict[str, int]:
        return {
            "new": self.new_count,
            "changed": self.changed_count,
            "deactivated": self.deactivated_count,
            "reactivated": self.reactivated_count,
            "unchanged": self.unchanged_count,
            "errors": self.error_count,
            "warnings": self.warning_count,
        }

    @property
    def correction_summary(self) -> str:
        """Return what the browser's correction of another run's file did ("" for none)."""
        if not self.corrects_id and not (self.corrected_cells or self.dropped_rows):
            return ""
        return correction_summary(self.corrected_cells, self.dropped_rows)

    @property
    def errors(self) -> list[dict]:
        return [issue for issue in self.issues if issue.get("severity") == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [issue for issue in self.issues if issue.get("severity") != "error"]


class UncheckedJSONField(models.JSONField):
    """A JSONField without the `CHECK (JSON_VALID(…))` Django gives its column on SQLite.

    For a column only this code writes, with JSON it has just encoded: SQLite parsed each
    value again on every insert, 1.2 s of the 5.2 s that storing a million changes took.
    PostgreSQL's jsonb is checked by its type either way.
    """

    def db_check(self, connection):
        return None


class ImportChange(models.Model):
    """One user a run creates or changes, with the field-level old → new values.

    Written when the preview is computed; the apply step carries out exactly these rows.
    """

    class Action(models.TextChoices):
        CREATE = "create", "New"
        UPDATE = "update", "Changed"
        DEACTIVATE = "deactivate", "Deactivated"
        REACTIVATE = "reactivate", "Reactivated"

    # The (run, action) index serves every lookup by run: no index of the run alone to keep up.
    # No database constraint either: PostgreSQL checks one row by one, a third of a second per
    # 100,000 changes, and the rows are only ever written by the preview that holds their run's
    # row lock. Runs are never deleted but with their organization, through Django's cascade.
    run = models.ForeignKey(
        ImportRun,
        on_delete=models.CASCADE,
        related_name="changes",
        db_index=False,
        db_constraint=False,
    )
    # A creation names its user from the preview on: the id is reserved then (never given to
    # anyone else), and the user gets it when the run is applied. Until then no such user
    # exists, hence no database constraint; Django's on_delete still clears the link.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="import_changes",
        db_constraint=False,
    )
    email = models.EmailField(max_length=254)
    action = models.CharField(max_length=16, choices=Action.choices)
    # Written by importer.store.changes (orjson) and the ORM only: see UncheckedJSONField.
    fields = UncheckedJSONField(default=dict, blank=True, help_text="{field: [old, new]}")
    # Set when the change sets a manager: the manager's user id (reserved, if the manager is
    # new in the same run), resolved at preview so that apply looks nothing up.
    manager_id = models.BigIntegerField(null=True, blank=True)
    row = models.PositiveIntegerField(null=True, blank=True)
    # Set when an option or a protection kept this change from being made; the preview shows
    # it ("would reactivate — skipped by option") and apply leaves it out.
    skipped_reason = models.CharField(max_length=200, blank=True)
    # What the run page's search looks in, lower-cased: the email and the old and new first and
    # last names, written with the change (importer.store.changes). A plain column, so that a
    # search reads one short text per change instead of four JSON paths. Empty for changes
    # stored before it existed, which the search still finds by their JSON.
    search_text = models.TextField(blank=True, default="")
    # The limits this change pushed over, each between commas (",email,admins,"; kinds as
    # mass_changes.LIMIT_LABELS' keys): the preview's "Limit passed" filter, and what a
    # partial hold holds. Empty for none.
    limits_passed = models.CharField(max_length=200, blank=True, default="")
    # The fingerprint of the user as the preview saw them (store.snapshot.user_fingerprint),
    # for a made change to an existing user: apply refuses the run if the user changed since.
    user_seen = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "action"]),
            # A run's changes in their order, for its pages (ORDER BY id LIMIT 50): without it
            # both databases sorted a whole run of a million changes, or walked every older
            # run's changes, to show 50.
            models.Index(fields=["run", "id"], name="importchange_run_order"),
            # A person's History finds the changes of a user deleted since by their email. Every
            # other change names its user (a creation from the preview on), so the index holds
            # only those few rows and costs a large import nothing.
            models.Index(
                fields=["email"], condition=Q(user=None), name="importchange_unlinked_email"
            ),
        ]

    def __str__(self):
        return f"{self.get_action_display()} {self.email}"


class RemoteSource(models.Model):
    """An organization's HR server that Rostersync fetches the user file from."""

    class Auth(models.TextChoices):
        NONE = "none", "None"
        BASIC = "basic", "HTTP basic (username and password)"
        BEARER = "bearer", "Bearer token"
        HEADER = "header", "Custom header"

    class Format(models.TextChoices):
        AUTO = "auto", "Automatic"
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (.xlsx)"

    class Cadence(models.TextChoices):
        MANUAL = "manual", "Manual only"
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="remote_source"
    )
    enabled = models.BooleanField(
        default=False, help_text="Only support staff turn automatic import on or off."
    )
    url = models.URLField("server URL", max_length=2000, blank=True)
    auth = models.CharField(max_length=16, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=200, blank=True)
    header_name = models.CharField(max_length=200, blank=True)
    # Password, token or header value, encrypted (never shown again once saved).
    secret_encrypted = models.TextField(blank=True)
    file_format = models.CharField(max_length=8, choices=Format.choices, default=Format.AUTO)
    cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.MANUAL)
    daily_hour = models.PositiveSmallIntegerField(default=6, help_text="Hour of the day (0-23).")
    next_fetch_at = models.DateTimeField(null=True, blank=True, db_index=True)
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    last_sha256 = models.CharField(max_length=64, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Remote source of {self.organization}"


class RemoteCheck(models.Model):
    """A scheduled look at the remote server that found nothing new (no run was made)."""

    source = models.ForeignKey(RemoteSource, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField(default=timezone.now)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self):
        return f"Check at {self.checked_at:%Y-%m-%d %H:%M}: {self.message}"


class AuditEvent(models.Model):
    """One audited action: who did what to a run, a remote source or the organization, when.

    Written by the functions of importer.runs.events, in the same transaction as the change
    they record. `data` holds what the kind needs to be read later (see importer.history.activity).
    """

    class Kind(models.TextChoices):
        APPLY_REQUESTED = "apply_requested", "Import requested"
        HELD_RUN_APPROVED = "held_run_approved", "Held import approved"
        HELD_RUN_DISCARDED = "held_run_discarded", "Held import discarded"
        REVERT_CREATED = "revert_created", "Revert previewed"
        RUN_RETRIED = "run_retried", "Stuck run handed to a worker again"
        OPTIONS_CHANGED = "options_changed", "Import options changed"
        SYNC_PROTECTION_CHANGED = "sync_protection_changed", "Kept out of sync changed"
        REMOTE_SETTINGS_CHANGED = "remote_settings_changed", "Automatic import settings changed"
        REMOTE_ENABLED = "remote_enabled", "Automatic import enabled"
        REMOTE_DISABLED = "remote_disabled", "Automatic import disabled"
        ACTING_AS_STARTED = "acting_as_started", "Support opened the import screens"
        ACTING_AS_STOPPED = "acting_as_stopped", "Support left the import screens"
        SUPPORT_DOWNLOADED = "support_downloaded", "Support downloaded a file"
        API_TOKEN_CREATED = "api_token_created", "API token created"
        API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"
        INPUT_CORRECTED = "input_corrected", "File corrected in the browser"
        SAME_PERSON_CONFIRMED = "same_person_confirmed", "Matched as the same person"
        ATTRIBUTE_CREATED = "attribute_created", "Custom attribute added"
        ATTRIBUTE_CHANGED = "attribute_changed", "Custom attribute changed"
        ATTRIBUTE_DELETED = "attribute_deleted", "Custom attribute deleted"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_events"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # None for the system (a scheduled import, the stuck-run recovery) and for a deleted user.
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    run = models.ForeignKey(
        ImportRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    source = models.ForeignKey(
        RemoteSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class ApiToken(models.Model):
    """A company's key to the API (importer.api): a name, scopes, an optional expiry.

    Only the SHA-256 of the secret is stored; the secret itself is shown once, when the token is
    made (importer.tokens.create_token). `prefix` is the start of the secret, enough to tell
    tokens apart in a list.
    """

    class Scope(models.TextChoices):
        IMPORTS_WRITE = "imports:write", "Upload and preview imports"
        IMPORTS_APPLY = "imports:apply", "Apply imports"
        HISTORY_READ = "history:read", "Read runs and their changes"
        USERS_READ = "users:read", "Download the users"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    prefix = models.CharField(max_length=16)
    secret_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"API token {self.name}"

    def is_usable(self, now) -> bool:
        """Return whether the token may be used at `now`: not revoked, not expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class WebhookEndpoint(models.Model):
    """Where a company wants to hear about its imports: an https URL and the events it takes.

    A standard endpoint gets JSON signed in the style of Standard Webhooks (importer.webhooks);
    a Slack one gets an incoming-webhook message. The signing secret is encrypted at rest.
    After settings.WEBHOOK_PAUSE_AFTER_FAILURES failed attempts in a row the endpoint is paused
    (`paused_at`) and the company's admins are emailed.
    """

    class Kind(models.TextChoices):
        STANDARD = "standard", "Signed JSON (Standard Webhooks)"
        SLACK = "slack", "Slack incoming webhook"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    name = models.CharField(max_length=100)
    url = models.URLField("URL", max_length=2000)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STANDARD)
    events = models.JSONField(default=list)
    secret_encrypted = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"Webhook {self.name}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row, then its delivery log.

    Written in the transaction of the change it tells about, so that no event is lost or sent
    for a change rolled back; a task delivers it (importer.tasks), retrying with backoff.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32)
    message_id = models.CharField(max_length=40, unique=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event} to {self.endpoint} ({self.get_status_display()})"
