from django.urls import path

from . import views

app_name = "importer"
urlpatterns = [
    path("", views.import_page, name="import"),
    path("preview/", views.create_preview, name="create-preview"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/panel/", views.run_panel, name="run-panel"),
    path("runs/<int:pk>/apply/", views.run_apply, name="run-apply"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run-retry"),
    path("runs/<int:pk>/input/", views.run_input, name="run-input"),
    path("history/", views.history, name="history"),
]
