import datetime as dt

from django.contrib.auth.base_user import BaseUserManager
from django.db import models
from django.db.models import Q

# Most words of a search that count: a pasted paragraph does not make a query of hundreds of joins.
SEARCH_MAX_WORDS = 10


def normalise_email(raw: str) -> str:
    """Return the form of an address used for matching and uniqueness.

    Trimmed and lower-cased, nothing more: providers disagree about dots and plus tags.
    """
    # Spreadsheets often end a cell with a non-breaking space; strip() removes that too.
    return raw.strip().lower()


def is_kept_out_of_sync(
    is_sync_protected: bool, protected_until: dt.date | None, day: dt.date
) -> bool:
    """Return whether imports must leave a user alone on `day`.

    A user kept out of sync stays so through `protected_until` (that day included), or for good
    when it is None. UserQuerySet.kept_out_of_sync() is the same rule in SQL.
    """
    return bool(is_sync_protected) and (protected_until is None or day <= protected_until)


class UserQuerySet(models.QuerySet):
    def kept_out_of_sync(self, today: dt.date) -> "UserQuerySet":
        """Return the users that imports leave alone on `today` (see is_kept_out_of_sync())."""
        return self.filter(is_sync_protected=True).filter(
            Q(sync_protected_until__isnull=True) | Q(sync_protected_until__gte=today)
        )

    def search(self, query: str) -> "UserQuerySet":
        """Return the users matching every word of `query`.

        A word matches part of the email, first name, last name or department, or the whole
        employee ID; case is ignored. Only the first SEARCH_MAX_WORDS words count.
        """
        users = self
        for word in query.split()[:SEARCH_MAX_WORDS]:
            users = users.filter(
                Q(email__icontains=word)
                | Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(department__icontains=word)
                | Q(employee_id__iexact=word)
            )
        return users


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=normalise_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email=normalise_email(username))
