import factory

from users.models import Organization, User


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct-horse-battery")


class OrgAdminFactory(UserFactory):
    is_org_admin = True


class SupportFactory(UserFactory):
    """Support staff who may act for a company (the permission, not superuser)."""

    organization = None
    is_staff = True

    @factory.post_generation
    def act_as_permission(obj, create, extracted, **kwargs):
        from django.contrib.auth.models import Permission

        if create and extracted is not False:
            obj.user_permissions.add(
                Permission.objects.get(
                    content_type__app_label="users", codename="act_as_organization"
                )
            )
