from django.apps import AppConfig


class ImporterConfig(AppConfig):
    name = "importer"
    verbose_name = "User imports"

    def ready(self):
        # Connects the receiver that records a support user logging out while acting.
        from importer import acting  # noqa: F401
