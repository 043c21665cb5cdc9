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
    # "Reconcile now"; it redirects to the runs list ("run_list", runs/).
    path("runs/new/", views.run_request, name="run_request"),
]
