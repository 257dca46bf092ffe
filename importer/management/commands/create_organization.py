from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from users.managers import normalise_email
from users.models import Organization, User


class Command(BaseCommand):
    help = "Create an organization, and optionally its first admin (the password is printed once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", help="Defaults to the name, slugified.")
        parser.add_argument("--admin-email", help="Create an organization admin with this email.")

    def handle(self, *args, name, slug, admin_email, **options):
        slug = slug or slugify(name)
        if not slug:
            raise CommandError("Give a --slug: the name has no letters to make one from.")
        if Organization.objects.filter(slug=slug).exists():
            raise CommandError(f"An organization with the slug {slug!r} exists already.")
        if admin_email and User.objects.filter(email=normalise_email(admin_email)).exists():
            raise CommandError(f"A user with the email {admin_email} exists already.")
        password = get_random_string(20)
        with transaction.atomic():
            organization = Organization.objects.create(name=name, slug=slug)
            if admin_email:
                User.objects.create_user(
                    admin_email, password, organization=organization, is_org_admin=True
                )
        self.stdout.write(f"Created organization {name} ({slug}).")
        if admin_email:
            self.stdout.write(f"Admin: {normalise_email(admin_email)}")
            self.stdout.write(f"One-time password: {password}  (shown once; change it after login)")
