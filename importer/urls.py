from django.urls import path

from importer.views import (
    api_tokens,
    column_matching,
    configuration,
    held_runs,
    history,
    imports,
    remote,
    same_person,
    support,
    webhooks,
)

app_name = "importer"
urlpatterns = [
    path("", imports.import_page, name="import"),
    path("preview/", imports.create_preview, name="create-preview"),
    path("runs/<int:pk>/", imports.run_detail, name="run-detail"),
    path("runs/<int:pk>/panel/", imports.run_panel, name="run-panel"),
    path("runs/<int:pk>/apply/", imports.run_apply, name="run-apply"),
    path("runs/<int:pk>/retry/", imports.run_retry, name="run-retry"),
    path("runs/<int:pk>/input/", imports.run_input, name="run-input"),
    path("runs/<int:pk>/preview-again/", imports.run_preview_again, name="run-preview-again"),
    path("runs/<int:pk>/fix/", imports.run_fix, name="run-fix"),
    path("runs/<int:pk>/columns/", column_matching.run_columns, name="run_columns"),
    path("history/", history.history, name="history"),
    path("history/people/", history.people, name="history-people"),
    path("history/activity/", history.activity_log, name="history-activity"),
    path("history/people/<int:user_id>/", history.person_timeline, name="person-timeline"),
    path("runs/<int:pk>/revert/", history.run_revert, name="run-revert"),
    path("runs/<int:pk>/changes.<str:fmt>", history.run_changes_export, name="run-changes-export"),
    path("runs/<int:pk>/errors.<str:fmt>", history.run_errors_export, name="run-errors-export"),
    path("exports/users.<str:fmt>", history.users_export, name="users-export"),
    path("exports/template.<str:fmt>", history.template_export, name="template-export"),
    path("act-as/<int:organization_id>/", support.act_as, name="act-as"),
    path("act-as/stop/", support.stop_acting_as, name="act-as-stop"),
    path("runs/<int:pk>/approve/", held_runs.approve_run, name="run-approve"),
    path("runs/<int:pk>/discard/", held_runs.discard_run, name="run-discard"),
    path(
        "runs/<int:pk>/same-person/",
        same_person.confirm_same_person,
        name="run-same-person",
    ),
    path("configuration/", configuration.configuration_page, name="configuration"),
    path("configuration/save/", configuration.save_configuration, name="configuration-save"),
    path("configuration/people/", configuration.people, name="people"),
    path("configuration/attributes/", configuration.attributes, name="attributes"),
    path("configuration/attributes/new/", configuration.attribute_create, name="attribute-create"),
    path("configuration/attributes/<int:pk>/", configuration.attribute_edit, name="attribute-edit"),
    path(
        "configuration/attributes/<int:pk>/move/",
        configuration.attribute_move,
        name="attribute-move",
    ),
    path(
        "configuration/attributes/<int:pk>/delete/",
        configuration.attribute_delete,
        name="attribute-delete",
    ),
    path(
        "configuration/people/<int:pk>/protection/",
        configuration.set_protection,
        name="people-protection",
    ),
    path("configuration/api/", api_tokens.api_tokens, name="api-tokens"),
    path("configuration/api/new/", api_tokens.api_token_create, name="api-token-create"),
    path(
        "configuration/api/<int:pk>/revoke/", api_tokens.api_token_revoke, name="api-token-revoke"
    ),
    path("configuration/webhooks/", webhooks.endpoints, name="webhooks"),
    path("configuration/webhooks/new/", webhooks.endpoint_create, name="webhook-create"),
    path("configuration/webhooks/<int:pk>/", webhooks.endpoint_detail, name="webhook-detail"),
    path("configuration/webhooks/<int:pk>/test/", webhooks.endpoint_test, name="webhook-test"),
    path(
        "configuration/webhooks/<int:pk>/resume/", webhooks.endpoint_resume, name="webhook-resume"
    ),
    path(
        "configuration/webhooks/<int:pk>/delete/", webhooks.endpoint_delete, name="webhook-delete"
    ),
    path("configuration/remote/", remote.remote_settings, name="remote"),
    path("configuration/remote/save/", remote.remote_save, name="remote-save"),
    path("configuration/remote/test/", remote.remote_test, name="remote-test"),
    path("remote/fetch/", remote.remote_fetch, name="remote-fetch"),
]
