"""Admin pieces shared by the apps; `users` is the lower app, so `importer.admin` imports them."""


class ReadOnlyAdminMixin:
    """Let support staff look, never add or edit: these records change through the app's services.

    Deleting stays as the model admin allows it.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
