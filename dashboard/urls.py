"""The dashboard's pages (SPEC §16), signed in with the API's accounts."""

from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.jobs, name="dashboard-jobs"),
    path("jobs/<str:pk>", views.job, name="dashboard-job"),
    path("files/<str:pk>", views.file, name="dashboard-file"),
    path("tests/<str:pk>", views.test, name="dashboard-test"),
    path("topics/<str:pk>/flaky", views.flaky, name="dashboard-flaky"),
    path("fleet", views.fleet, name="dashboard-fleet"),
    path("matrix", views.matrix, name="dashboard-matrix"),
    path("login", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="dashboard-login"),
    path("logout", auth_views.LogoutView.as_view(), name="dashboard-logout"),
]
