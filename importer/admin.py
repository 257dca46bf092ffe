from django.contrib import admin

from .models import ImportConfig, ImportRun


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportConfig)
class ImportConfigAdmin(admin.ModelAdmin):
    list_display = ["organization", "create_users", "update_managers", "deactivate_missing", "reactivate"]
