from django.urls import path

from .views import dashboard, item, queue, supervisor

# Pages of one client: /clients/<code>/...
client_urls = [
    path("discrepancies/new/", item.discrepancy_create, name="discrepancy_create"),
    path("discrepancies/adjustments/new/", item.adjustment_create, name="adjustment_create"),
    path("discrepancies/<int:pk>/", item.discrepancy_detail, name="discrepancy_detail"),
    path("discrepancies/<int:pk>/<slug:action>/", item.discrepancy_action, name="discrepancy_action"),
    path("attachments/<int:pk>/", item.attachment_download, name="attachment_download"),
    path("dashboard/", dashboard.dashboard, name="discrepancy_dashboard"),
]

# Lists across the user's clients.
urlpatterns = [
    path("queue/", queue.queue, name="queue"),
    path("queue/claim/", queue.claim_next, name="claim_next"),
    path("queue/export.csv", queue.queue_export, name="queue_export"),
    path("supervisor/escalations/", supervisor.escalations, name="escalations"),
    path("supervisor/approvals/", supervisor.approvals, name="approvals"),
    path("supervisor/team/", supervisor.team, name="team"),
    path("supervisor/assign/", supervisor.bulk_assign, name="bulk_assign"),
]
