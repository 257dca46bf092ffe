from django.urls import path

from .views import history, imports

app_name = "importer"
urlpatterns = [
    path("", imports.import_page, name="import"),
    path("preview/", imports.create_preview, name="create-preview"),
    path("runs/<int:pk>/", imports.run_detail, name="run-detail"),
    path("runs/<int:pk>/panel/", imports.run_panel, name="run-panel"),
    path("runs/<int:pk>/apply/", imports.run_apply, name="run-apply"),
    path("runs/<int:pk>/retry/", imports.run_retry, name="run-retry"),
    path("runs/<int:pk>/input/", imports.run_input, name="run-input"),
    path("history/", history.history, name="history"),
]
