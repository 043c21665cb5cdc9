from django.urls import path

from . import views

# Pages under /clients/<code>/.
client_urls = [
    path("imports/", views.import_list, name="import_list"),
    path("imports/upload/", views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/void/", views.import_void, name="import_void"),
    path("imports/jobs/<int:pk>/", views.import_job, name="import_job"),
    path("imports/notices/<int:pk>/done/", views.notice_done, name="notice_done"),
    path("runs/", views.run_list, name="run_list"),
    # "Reconcile now"; it redirects to the runs list ("run_list", runs/).
    path("runs/new/", views.run_request, name="run_request"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("payments/unmatched/", views.payments_unmatched, name="payments_unmatched"),
    path("payments/<int:pk>/", views.payment_detail, name="payment_detail"),
    path("payments/<int:pk>/allocations/<int:allocation_pk>/undo/", views.allocation_undo, name="allocation_undo"),
    path("payments/<int:pk>/refund/", views.credit_refund, name="credit_refund"),
]
