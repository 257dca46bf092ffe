from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from importer import api
from users.forms import LoginForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="importer:import"), name="home"),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("import/", include("importer.urls")),
    path("api/v1/", api.urls()),
    path("admin/", admin.site.urls),
]

# A request body over the size limit gets a page that names the limit (importer/uploads.py).
handler400 = "importer.uploads.bad_request"
