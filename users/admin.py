from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from users.models import Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    # Adds "Open Import Users": support staff import on the company's behalf (importer:act-as).
    # importer.admin registers this admin again with the automatic import's inline: the users
    # app knows nothing of the importer.
    change_form_template = "admin/users/organization/change_form.html"


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "organization", "is_active", "is_org_admin"]
    list_filter = ["organization", "is_active", "is_org_admin", "is_staff", "is_sync_protected"]
    search_fields = ["email", "first_name", "last_name", "employee_id"]
    raw_id_fields = ["manager"]
    fieldsets = [
        (None, {"fields": ["email", "password", "organization"]}),
        (
            "Profile",
            {
                "fields": [
                    "first_name",
                    "last_name",
                    "title",
                    "department",
                    "location",
                    "employee_id",
                    "hire_date",
                    "manager",
                ]
            },
        ),
        (
            "Access and sync",
            {
                "fields": [
                    "is_active",
                    "is_org_admin",
                    "is_sync_protected",
                    "sync_protected_until",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {"classes": ["wide"], "fields": ["email", "organization", "password1", "password2"]},
        ),
    ]
