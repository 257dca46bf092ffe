"""Drop two indexes of users_user that no query reads, and every update of a user writes.

- The organization's own index (the foreign key's): the index on (organization, is_active)
  begins with the organization, so it serves every lookup by organization, the foreign key's
  checks included.
- PostgreSQL's second index on the email (`varchar_pattern_ops`, which Django adds to a unique
  text column for `LIKE 'prefix%'`): nothing matches addresses by their beginning; the
  unique index finds them by equality, and searches match anywhere in the address, which no
  B-tree serves.

An import that changes everyone rewrites each user's row with an entry in every index
(PostgreSQL makes no heap-only update on a full page): seven entries per user, now five.
The database operations name the indexes as the database has them, so that SQLite's table
is not remade.
"""

import django.db.models.deletion
from django.db import migrations, models


def _indexes(schema_editor, column: str) -> dict:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "users_user")
    return {
        name: info
        for name, info in constraints.items()
        if info["columns"] == [column]
        and info["index"]
        and not info["unique"]
        and not info["primary_key"]
    }


def drop_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for name in _indexes(schema_editor, "organization_id"):
        schema_editor.execute(f"DROP INDEX {quote(name)}")
    if schema_editor.connection.vendor == "postgresql":
        for name in _indexes(schema_editor, "email"):
            if name.endswith("_like"):
                schema_editor.execute(f"DROP INDEX {quote(name)}")


def create_indexes(apps, schema_editor):
    User = apps.get_model("users", "User")
    name = schema_editor._create_index_name(User._meta.db_table, ["organization_id"])
    schema_editor.execute(
        f"CREATE INDEX {schema_editor.quote_name(name)} ON users_user (organization_id)"
    )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(schema_editor._create_like_index_sql(User, User._meta.get_field("email")))


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0003_act_as_organization_permission"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="user",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="users",
                        to="users.organization",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
    ]
