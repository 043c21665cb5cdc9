from django.urls import path

from . import dashboard, views

# Pages of one client: /clients/<code>/...
client_urls = [
    path("discrepancies/new/", views.discrepancy_create, name="discrepancy_create"),
    path("discrepancies/adjustments/new/", views.adjustment_create, name="adjustment_create"),
    path("discrepancies/<int:pk>/", views.discrepancy_detail, name="discrepancy_detail"),
    path("discrepancies/<int:pk>/<slug:action>/", views.discrepancy_action, name="discrepancy_action"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("dashboard/", dashboard.dashboard, name="discrepancy_dashboard"),
]

# Lists across the user's clients.
urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("queue/claim/", views.claim_next, name="claim_next"),
    path("queue/export.csv", views.queue_export, name="queue_export"),
    path("supervisor/escalations/", views.escalations, name="escalations"),
    path("supervisor/approvals/", views.approvals, name="approvals"),
    path("supervisor/team/", views.team, name="team"),
    path("supervisor/assign/", views.bulk_assign, name="bulk_assign"),
]
