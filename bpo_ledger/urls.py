from django.urls import path

from . import views

# Pages under /clients/<code>/.
client_urls = [
    path("", views.client_overview, name="client_overview"),
    path("customers/", views.customer_list, name="customer_list"),
    path("customers/new/", views.customer_create, name="customer_create"),
    path("customers/<int:pk>/", views.customer_detail, name="customer_detail"),
    path("customers/<int:pk>/edit/", views.customer_edit, name="customer_edit"),
    path("payments/", views.payment_list, name="payment_list"),
    path("audit/", views.audit_trail, name="audit_trail"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
]
