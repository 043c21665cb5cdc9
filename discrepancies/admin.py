from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from bpo_ledger.admin import ReadOnlyAdmin

from .models import Attachment, Discrepancy, Note

# Discrepancies change only through the app's actions: they check roles, versions and the four
# eyes, and keep the log. The admin may look, not touch.


class NoteInline(admin.TabularInline):
    model = Note
    fields = ["created_at", "author", "text"]
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = ["created_at", "original_name", "content_type", "size", "uploaded_by"]
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = [
        "reference", "client", "kind", "status", "priority", "amount_difference", "currency",
        "assignee", "sla_due_at", "escalation_level", "approval",
    ]
    list_filter = ["client", "kind", "status", "priority", "approval", "escalation_level"]
    search_fields = ["summary", "customer__name", "customer__external_ref", "scheduled_payment__reference", "fingerprint"]
    list_select_related = ["client", "assignee"]
    raw_id_fields = ["customer", "scheduled_payment", "payments"]
    date_hierarchy = "created_at"
    inlines = [NoteInline, AttachmentInline]

    @admin.display(description="Reference", ordering="number")
    def reference(self, obj):
        return obj.reference


@admin.register(Note)
class NoteAdmin(ReadOnlyAdmin):
    list_display = ["discrepancy", "client", "author", "created_at"]
    list_filter = ["client"]
    search_fields = ["text"]
    list_select_related = ["discrepancy__client", "client", "author"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ["original_name", "discrepancy", "client", "content_type", "size", "uploaded_by", "created_at"]
    list_filter = ["client", "content_type"]
    search_fields = ["original_name", "sha256"]
    list_select_related = ["discrepancy__client", "client", "uploaded_by"]
    # The stored file is not public media: it is linked through the app, which serves it to members only.
    exclude = ["file"]
    readonly_fields = ["download"]

    @admin.display(description="File")
    def download(self, obj):
        url = reverse("attachment_download", args=[obj.client.code, obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.original_name)
