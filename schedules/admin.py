from django.contrib import admin

from bpo_ledger.admin import ReadOnlyAdmin

from .models import Allocation, PaymentSchedule, Reminder, ReminderTemplate, ScheduledPayment


@admin.register(ReminderTemplate)
class ReminderTemplateAdmin(admin.ModelAdmin):
    """A client's own wording of reminders; without one, the default templates are used."""

    list_display = ["client", "kind", "channel", "subject"]
    list_filter = ["client", "kind", "channel"]
    autocomplete_fields = ["client"]


class ScheduledPaymentInline(admin.TabularInline):
    model = ScheduledPayment
    fields = ["sequence", "reference", "due_date", "original_due_date", "amount_due", "amount_paid", "status"]
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0
    show_change_link = False


@admin.register(PaymentSchedule)
class PaymentScheduleAdmin(ReadOnlyAdmin):
    """Schedules change only through the app's actions, which keep the schedule log."""

    list_display = ["__str__", "client", "customer", "status", "amount", "currency", "next_due_date", "is_overdue"]
    list_filter = ["client", "kind", "status", "is_overdue"]
    search_fields = ["customer__name", "customer__external_ref", "external_ref"]
    list_select_related = ["client", "customer"]
    exclude = ["autopay_account"]
    inlines = [ScheduledPaymentInline]


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["scheduled_payment", "client", "kind", "days", "channel", "status", "attempts", "sent_at"]
    list_filter = ["client", "kind", "channel", "status"]
    list_select_related = ["scheduled_payment", "client"]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    """Received payments applied to scheduled payments; made by the schedules services only."""

    list_display = ["created_at", "client", "scheduled_payment", "payment", "amount", "rule", "created_by"]
    list_filter = ["client", "rule"]
    list_select_related = ["client", "scheduled_payment", "payment", "created_by"]
