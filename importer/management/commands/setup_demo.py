"""Create the demo company, its admin and users, and sample files to import. Safe to repeat."""

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from openpyxl import Workbook

from users.models import Organization, User

DEMO_PASSWORD = "rostersync-demo"
ADMIN_EMAIL = "admin@acme.example"
SUPPORT_EMAIL = "support@rostersync.example"
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "People"]
LOCATIONS = ["Berlin", "Lisbon", "London", "Toronto"]
FIRST_NAMES = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustav",
    "Hana",
    "Ines",
    "Jonas",
    "Kemal",
    "Lea",
    "Marek",
    "Nia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Aiko",
    "Bruno",
    "Carla",
    "Derya",
    "Emil",
    "Fatima",
    "Goran",
    "Helena",
    "Ivo",
    "Julia",
    "Karim",
    "Lina",
    "Mateo",
    "Noor",
    "Olga",
    "Pablo",
    "Rania",
]
LAST_NAMES = [
    "Silva",
    "Okafor",
    "Martin",
    "Ivanov",
    "Yilmaz",
    "Haddad",
    "Lind",
    "Sato",
    "Costa",
    "Weber",
    "Aydin",
    "Fischer",
    "Nowak",
    "Mensah",
    "Berg",
    "Sharma",
    "Durand",
    "Romero",
    "Holm",
    "Garcia",
    "Patel",
    "Novak",
    "Li",
    "Lopez",
    "Khan",
    "Baker",
    "Tanaka",
    "Rossi",
    "Moreau",
    "Demir",
    "Schulz",
    "Ali",
    "Petrov",
    "Jansen",
    "Horvat",
    "Meyer",
    "Nasser",
    "Koch",
    "Ruiz",
    "Aziz",
    "Smirnova",
    "Vega",
    "Saleh",
]
EMPLOYEES = 40  # In the platform today; the sample file adds three new hires.


def demo_people(count: int) -> list[dict]:
    """Return `count` deterministic people: the first is the CEO, each manager has ~6 reports."""
    people = []
    for index in range(count):
        first, last = FIRST_NAMES[index], LAST_NAMES[index]
        people.append(
            {
                "email": f"{first.lower().replace('é', 'e').replace('ë', 'e').replace('á', 'a')}."
                f"{last.lower()}@acme.example",
                "first_name": first,
                "last_name": last,
                "title": "Chief Executive Officer"
                if index == 0
                else ("Team Lead" if index < 7 else "Specialist"),
                "department": DEPARTMENTS[index % len(DEPARTMENTS)],
                "location": LOCATIONS[index % len(LOCATIONS)],
                "employee_id": f"{1001 + index}",
                "hire_date": dt.date(2018, 1, 8) + dt.timedelta(days=53 * index),
                "manager_index": None if index == 0 else (0 if index < 7 else 1 + (index - 7) % 6),
            }
        )
    return people


class Command(BaseCommand):
    help = "Create the Acme demo company with an admin, 40 users and sample files under samples/."

    def handle(self, *args, **options):
        organization, created = Organization.objects.get_or_create(
            slug="acme", defaults={"name": "Acme Corp"}
        )
        if created:
            self._create_users(organization)
        if not User.objects.filter(email=SUPPORT_EMAIL).exists():
            User.objects.create_superuser(
                SUPPORT_EMAIL, DEMO_PASSWORD, first_name="Sam", last_name="Support"
            )
        samples = Path(settings.BASE_DIR) / "samples"
        samples.mkdir(exist_ok=True)
        if not (samples / "acme-employees.xlsx").exists():
            write_sample_workbook(samples / "acme-employees.xlsx")
        self.stdout.write(
            f"\nDemo ready at {settings.ROSTERSYNC_BASE_URL}\n"
            f"  Company admin:  {ADMIN_EMAIL} / {DEMO_PASSWORD}\n"
            f"  Support staff:  {SUPPORT_EMAIL} / {DEMO_PASSWORD}  (Django admin at /admin/)\n"
            f"  Try importing:  {samples / 'acme-employees.xlsx'}\n"
            f"                  {samples / 'acme-with-errors.csv'}\n"
        )

    @transaction.atomic
    def _create_users(self, organization: Organization) -> None:
        User.objects.create_user(
            ADMIN_EMAIL,
            DEMO_PASSWORD,
            organization=organization,
            first_name="Alex",
            last_name="Admin",
            title="HR Manager",
            department="People",
            is_org_admin=True,
        )
        users = []
        for person in demo_people(EMPLOYEES):
            fields = {key: value for key, value in person.items() if key != "manager_index"}
            users.append(User.objects.create_user(**fields, organization=organization))
        for user, person in zip(users, demo_people(EMPLOYEES), strict=True):
            if person["manager_index"] is not None:
                user.manager = users[person["manager_index"]]
                user.save(update_fields=["manager"])
        # One former employee, inactive, who is back in the sample file.
        users[-1].is_active = False
        users[-1].save(update_fields=["is_active"])


def write_sample_workbook(path: Path) -> None:
    """Write the HR export a demo admin drops in: a few hires, changes and one leaver."""
    people = demo_people(EMPLOYEES + 3)
    people.pop(12)  # Left the company: deactivated by the import.
    people[3]["title"] = "Senior Specialist"
    people[8]["department"] = "Marketing"
    people[15]["location"] = "Remote"
    people[20]["manager_index"] = 2
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Employees"
    sheet.append(["Acme Corp — HR export"])
    sheet.append([])
    sheet.append(
        [
            "Employee ID",
            "First Name",
            "Last Name",
            "Work Email",
            "Job Title",
            "Department",
            "Location",
            "Start Date",
            "Manager Email",
        ]
    )
    all_people = demo_people(EMPLOYEES + 3)
    sheet.append([None, "Alex", "Admin", ADMIN_EMAIL, "HR Manager", "People", None, None, None])
    for person in people:
        manager = (
            all_people[person["manager_index"]]["email"]
            if person["manager_index"] is not None
            else None
        )
        sheet.append(
            [
                int(person["employee_id"]),
                person["first_name"],
                person["last_name"],
                person["email"],
                person["title"],
                person["department"],
                person["location"],
                person["hire_date"],
                manager,
            ]
        )
    for row in sheet.iter_rows(min_row=4, min_col=8, max_col=8):
        for cell in row:
            cell.number_format = "yyyy-mm-dd"
    workbook.save(path)
    errors = path.with_name("acme-with-errors.csv")
    errors.write_text(
        "email,first_name,last_name,manager_email\n"
        "ana.silva@acme.example,Ana,Silva,\n"
        "Jane Roe <jane@acme.example>,Jane,Roe,ana.silva@acme.example\n"
        "ben.okafor@acme.example,Ben,Okafor,Ana Silva\n"
        "ana.silva@acme.example,Ana,Duplicate,\n",
        encoding="utf-8",
    )
