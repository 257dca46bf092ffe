from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from users.managers import UserManager, is_kept_out_of_sync, normalise_email


class Organization(models.Model):
    """A company whose user base is kept in step with its HR data."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        # Support staff need it to work in a company's Import Users screens (users.access);
        # superusers have it implicitly. Grant it in Django admin, to a person or a group.
        permissions = [
            ("act_as_organization", "Can work in a company's Import Users screens as support")
        ]

    def __str__(self):
        return self.name


class User(AbstractBaseUser, PermissionsMixin):
    """A person on the platform: an employee of one organization, or platform support staff.

    Emails are stored normalised (trimmed, lower-case), so uniqueness is case-insensitive.
    """

    email = models.EmailField(max_length=254, unique=True)
    # No index of its own: the index on (organization, is_active) begins with it (and every
    # update of a user writes each index: migration 0004).
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
        db_index=False,
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    title = models.CharField(max_length=150, blank=True)
    department = models.CharField(max_length=150, blank=True)
    location = models.CharField(max_length=150, blank=True)
    employee_id = models.CharField(
        "employee ID", max_length=64, blank=True, help_text="Unique within the organization."
    )
    hire_date = models.DateField(null=True, blank=True)
    manager = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    is_active = models.BooleanField(default=True)
    is_org_admin = models.BooleanField(
        "organization admin", default=False, help_text="Can import users into the organization."
    )
    is_staff = models.BooleanField(
        "support staff", default=False, help_text="Platform operator: can use Django admin."
    )
    is_sync_protected = models.BooleanField(
        "kept out of sync",
        default=False,
        help_text="Imports never change or deactivate this user.",
    )
    sync_protected_until = models.DateField(
        null=True, blank=True, help_text="Optional: the protection ends after this day."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Optimistic concurrency: every import that changes the user and every save in Django admin
    # adds one, and an admin form opened at an older version is refused instead of writing its
    # old values back over the change.
    version = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # The organization's custom attributes (CustomAttribute): {key: value as text}. A blank
    # value is absent. Imports write it; the definitions say how each value is read.
    attributes = models.JSONField(default=dict, db_default={}, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "employee_id"],
                condition=~Q(employee_id=""),
                name="unique_employee_id_per_organization",
            ),
        ]
        indexes = [models.Index(fields=["organization", "is_active"])]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = normalise_email(self.email)
        if self.manager_id and self.manager.organization_id != self.organization_id:
            raise ValidationError({"manager": "The manager must belong to the same organization."})
        if self.manager_id and self.manager_id == self.pk:
            raise ValidationError({"manager": "A user cannot be their own manager."})

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email

    def is_protected_on(self, day) -> bool:
        """Return whether imports must leave this user alone on `day`."""
        return is_kept_out_of_sync(self.is_sync_protected, self.sync_protected_until, day)


class CustomAttribute(models.Model):
    """A field an organization keeps about its people besides the built-in ones.

    Imports read it from the file's columns named `name` or one of `column_names`, check it by
    `type`, and store it in `User.attributes[key]`. `key` never changes once made: the users'
    values and the runs' changes name it; `name` may.
    """

    class Type(models.TextChoices):
        # The same values as importer.pipeline.types.AttributeType (a test holds them equal).
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        CHOICE = "choice", "One of a list"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="custom_attributes"
    )
    key = models.SlugField(max_length=40, help_text="Made from the name; never changes.")
    name = models.CharField(max_length=60)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text="For “One of a list”.")
    column_names = models.JSONField(
        default=list, blank=True, help_text="Other headers that feed it, besides its name."
    )
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="unique_custom_attribute_key"
            ),
            models.UniqueConstraint(
                "organization", Lower("name"), name="unique_custom_attribute_name"
            ),
        ]

    def __str__(self):
        return self.name
