"""The root URLs: each app's pages, those of one client under /clients/<code>/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from bpo_ledger import urls as ledger_urls
from discrepancies import urls as discrepancy_urls
from reconciliation import urls as reconciliation_urls
from schedules import urls as schedule_urls

client_urls = [
    *ledger_urls.client_urls,
    *schedule_urls.client_urls,
    *discrepancy_urls.client_urls,
    *reconciliation_urls.client_urls,
]

urlpatterns = [
    *ledger_urls.urlpatterns,
    path("clients/<str:code>/", include(client_urls)),
    *schedule_urls.urlpatterns,
    *discrepancy_urls.urlpatterns,
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
