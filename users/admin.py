from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import F
from django.utils.html import format_html_join

from users.models import CustomAttribute, Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    # Listed, not edited: the company admin defines them on Configuration › Custom attributes,
    # whose delete also removes the people's values (a plain delete here would not).
    readonly_fields = ["custom_attributes"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    # Adds "Open Import Users": support staff import on the company's behalf (importer:act-as).
    # importer.admin registers this admin again with the automatic import's inline: the users
    # app knows nothing of the importer.
    change_form_template = "admin/users/organization/change_form.html"

    @admin.display(description="Custom attributes")
    def custom_attributes(self, obj):
        attributes = list(obj.custom_attributes.all()) if obj.pk else []
        if not attributes:
            return "None (the company admin adds them on Configuration › Custom attributes)"
        return format_html_join(
            "",
            "<div><strong>{}</strong> (key <code>{}</code>): {}{}</div>",
            (
                (
                    attribute.name,
                    attribute.key,
                    attribute.get_type_display(),
                    _attribute_extra(attribute),
                )
                for attribute in attributes
            ),
        )


def _attribute_extra(attribute: CustomAttribute) -> str:
    parts = []
    if attribute.choices:
        parts.append(", ".join(attribute.choices))
    if attribute.column_names:
        parts.append("also read from " + ", ".join(f"“{name}”" for name in attribute.column_names))
    return f" ({'; '.join(parts)})" if parts else ""


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


CHANGED_SINCE_OPENED = (
    "This person was changed after you opened this page (by an import, or by someone else), "
    "so saving would write the old values back over that change. Nothing was saved: open the "
    "page again to see the current values, then make your change."
)


class UserEditForm(UserChangeForm):
    """A user's page in Django admin, refused on save if the user changed since it was opened."""

    # The version the page was opened at (User.version).
    seen_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    class Meta:
        model = User
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seen_version"].initial = self.instance.version
        # The page carries each value as it was opened, so that changed_data names what the
        # admin changed, not what differs from the database at save time.
        for name, field in self.fields.items():
            if name != "seen_version" and not field.disabled:
                field.show_hidden_initial = True

    def clean(self):
        cleaned = super().clean()
        # Django admin saves inside one transaction: locking the organization's row waits for an
        # import that is being applied to it (which holds that lock), then the version tells
        # whether it changed this person. The lock lasts until the save's commit.
        if self.instance.organization_id:
            Organization.objects.select_for_update().filter(
                pk=self.instance.organization_id
            ).first()
        current = User.objects.filter(pk=self.instance.pk).values_list("version", flat=True)
        if current.first() != cleaned.get("seen_version"):
            raise forms.ValidationError(CHANGED_SINCE_OPENED, code="changed_since_opened")
        return cleaned


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
        (None, {"fields": ["email", "password", "organization", "seen_version"]}),
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
                    "custom_attributes",
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

    # Custom attribute values are shown, not edited here: imports write them, and a plain form
    # field would carry them through the version check (UserEditForm) as JSON text.
    readonly_fields = ["custom_attributes"]

    @admin.display(description="Custom attributes")
    def custom_attributes(self, obj):
        values = obj.attributes or {}
        if not values:
            return "—"
        names = dict(
            CustomAttribute.objects.filter(organization_id=obj.organization_id).values_list(
                "key", "name"
            )
        )
        # In the attributes' order; a value whose attribute is gone (none should be) by its key.
        keys = [key for key in names if key in values] + [key for key in values if key not in names]
        return format_html_join(
            "",
            "<div><strong>{}:</strong> {}</div>",
            ((names.get(key, key), values[key]) for key in keys),
        )

    def save_model(self, request, obj, form, change):
        """Write only the fields the admin changed, one version up (see UserEditForm)."""
        if not change:
            return super().save_model(request, obj, form, change)
        concrete = {field.name for field in User._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in concrete]
        User.objects.filter(pk=obj.pk).update(
            **{name: getattr(obj, name) for name in changed}, version=F("version") + 1
        )
        obj.refresh_from_db(fields=["version"])
