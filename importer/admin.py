from django.contrib import admin

import users.admin
from importer import tokens
from importer.models import (
    ApiToken,
    AuditEvent,
    ImportConfig,
    ImportConfigChange,
    ImportRun,
    RemoteCheck,
    RemoteSource,
)
from importer.remote.http import host_of
from importer.runs import events
from users.admin_mixins import ReadOnlyAdminMixin
from users.models import Organization


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "organization",
        "source",
        "trigger",
        "status",
        "created_at",
        "new_count",
        "changed_count",
        "deactivated_count",
        "error_count",
    ]
    list_filter = ["status", "source", "trigger", "organization"]
    date_hierarchy = "created_at"
    # A run can hold 100,000 changes: the app's run page pages through them, the admin does not.
    readonly_fields = [field.name for field in ImportRun._meta.fields if field.name != "input_file"]
    exclude = ["input_file"]


@admin.register(ImportConfig)
class ImportConfigAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only here: admins edit it on the Configuration tab, where each change is logged."""

    list_display = [
        "organization",
        "create_users",
        "update_managers",
        "deactivate_missing",
        "reactivate",
        "max_deactivation_percent",
        "max_deactivation_count",
        "min_row_ratio_percent",
        "max_field_change_percent",
        "max_field_change_count",
        "hold_admin_changes",
        "apply_within_limits",
        "updated_by",
        "updated_at",
    ]
    search_fields = ["organization__name", "organization__slug"]
    readonly_fields = [field.name for field in ImportConfig._meta.fields]


@admin.register(ImportConfigChange)
class ImportConfigChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["changed_at", "organization", "kind", "changed_by", "__str__"]
    list_filter = ["kind", "organization"]
    date_hierarchy = "changed_at"
    readonly_fields = [field.name for field in ImportConfigChange._meta.fields]


# ---------------------------------------------------------------------------------------------
# Remote import. Support staff turn it on or off on the organization's page (RemoteSourceInline,
# used by users.admin.OrganizationAdmin); the company admin sets everything else in the app. The
# secret is never shown here, not even encrypted.

REMOTE_STATUS_FIELDS = [
    "server",
    "settings_summary",
    "secret_status",
    "last_success_at",
    "last_checked_at",
    "last_error",
    "consecutive_failures",
    "next_fetch_at",
    "updated_by",
    "updated_at",
]


class RemoteSourceStatus:
    """Read-only columns that describe a remote source without revealing its secret."""

    @admin.display(description="server")
    def server(self, source):
        if not source.url:
            return "Not set by the company yet"
        return host_of(source.url, default="—")

    @admin.display(description="settings")
    def settings_summary(self, source):
        if not source.pk:
            return "—"
        cadence = source.get_cadence_display()
        if source.cadence == RemoteSource.Cadence.DAILY:
            cadence += f" at {source.daily_hour:02d}:00"
        auth, file_format = source.get_auth_display(), source.get_file_format_display()
        return f"{cadence}; authentication: {auth}; format: {file_format}"

    @admin.display(description="secret")
    def secret_status(self, source):
        return "set" if source.secret_encrypted else "not set"


class RemoteSourceInline(RemoteSourceStatus, admin.StackedInline):
    model = RemoteSource
    verbose_name = "automatic import from another server"
    verbose_name_plural = "automatic import from another server"
    fields = ["enabled", *REMOTE_STATUS_FIELDS]
    readonly_fields = REMOTE_STATUS_FIELDS
    extra = 1
    max_num = 1
    can_delete = False


def log_automatic_import_toggles(model_admin, request, organization, formset) -> None:
    """Record support staff turning automatic import on or off: an audit event and a LogEntry.

    The event is the organization's (History's Activity); the LogEntry, "Enabled automatic
    import" / "Disabled automatic import", the organization's history in Django admin. Call
    after the inline formset is saved: Django admin's save runs in one transaction, so the
    switch and its records are kept or rolled back together.
    """
    if formset.model is not RemoteSource:
        return
    for form in formset.forms:
        if "enabled" in form.changed_data and form.instance.pk:
            source = form.instance
            if source.enabled:
                events.remote_enabled_event(source=source, acting_user=request.user)
            else:
                events.remote_disabled_event(source=source, acting_user=request.user)
            message = "Enabled automatic import" if source.enabled else "Disabled automatic import"
            model_admin.log_change(request, organization, message)


admin.site.unregister(Organization)


@admin.register(Organization)
class OrganizationAdmin(users.admin.OrganizationAdmin):
    """An organization with its automatic import switch, which only support staff can turn on."""

    inlines = [RemoteSourceInline]

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        log_automatic_import_toggles(self, request, form.instance, formset)


@admin.register(RemoteSource)
class RemoteSourceAdmin(ReadOnlyAdminMixin, RemoteSourceStatus, admin.ModelAdmin):
    """Every organization's remote source at a glance; turn one on or off on its organization."""

    list_display = [
        "organization",
        "enabled",
        "server",
        "cadence",
        "last_success_at",
        "consecutive_failures",
        "next_fetch_at",
    ]
    list_filter = ["enabled", "cadence"]
    search_fields = ["organization__name", "organization__slug"]
    fields = ["organization", "enabled", *REMOTE_STATUS_FIELDS]
    readonly_fields = ["organization", "enabled", *REMOTE_STATUS_FIELDS]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every organization's audited actions, newest first; written only by importer.runs.events."""

    list_display = ["created_at", "organization", "kind", "acting_user", "run", "source"]
    list_filter = ["kind", "organization"]
    list_select_related = ["organization", "acting_user", "run", "source__organization"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RemoteCheck)
class RemoteCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["checked_at", "source", "http_status", "message"]
    list_filter = ["source__organization"]
    date_hierarchy = "checked_at"
    readonly_fields = ["source", "checked_at", "http_status", "message"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Support staff see every company's tokens (never a secret: only its hash is stored) and
    revoke them; company admins make them on the Configuration tab."""

    list_display = [
        "name",
        "organization",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "prefix", "organization__name"]
    readonly_fields = [
        field.name for field in ApiToken._meta.fields if field.name != "secret_sha256"
    ]
    exclude = ["secret_sha256"]
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None):
        return False  # Revoked, not deleted: its runs still name it.

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(tokens.revoke_token(token, acting_user=request.user) for token in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).")
