from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from discrepancies import urls as discrepancy_urls
from schedules import urls as schedule_urls

from . import views

client_urls = [
    path("", views.client_overview, name="client_overview"),
    path("customers/", views.customer_list, name="customer_list"),
    path("customers/new/", views.customer_create, name="customer_create"),
    path("customers/<int:pk>/", views.customer_detail, name="customer_detail"),
    path("customers/<int:pk>/edit/", views.customer_edit, name="customer_edit"),
    path("payments/", views.payment_list, name="payment_list"),
    path("audit/", views.audit_trail, name="audit_trail"),
    *schedule_urls.client_urls,
    *discrepancy_urls.client_urls,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("clients/<str:code>/", include(client_urls)),
    *schedule_urls.urlpatterns,
    *discrepancy_urls.urlpatterns,
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
