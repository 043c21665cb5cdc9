from django.contrib import admin

from . import services
from .models import (
    AuditEvent,
    BankClosureDay,
    Client,
    Customer,
    Membership,
    Payment,
    PaymentImport,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services and imports only: the admin may look, not touch."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class BankClosureDayInline(admin.TabularInline):
    model = BankClosureDay
    extra = 0
    fields = ["date", "name"]
    verbose_name = "bank closure day (not a public holiday)"


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "currency", "timezone", "country", "is_active"]
    list_filter = ["is_active", "currency", "country"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline, BankClosureDayInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "is_active"]}),
        ("Locale", {"fields": ["currency", "timezone", ("country", "subdivision"), "business_day_rule"]}),
        ("Customers", {"fields": ["payment_instructions"]}),
        (
            "Matching",
            {
                "fields": [
                    ("match_tolerance_amount", "match_tolerance_percent"),
                    ("payment_window_days_before", "payment_window_days_after"),
                    "duplicate_window_days",
                ]
            },
        ),
        ("Missing payments", {"fields": ["grace_days"]}),
        (
            "Reminders",
            {
                "fields": [
                    "reminder_lead_days",
                    "reminder_overdue_days",
                    "reminder_channels",
                    ("reminder_hours_start", "reminder_hours_end"),
                ]
            },
        ),
        (
            "Discrepancy priority",
            {"fields": [("priority_medium_amount", "priority_high_amount", "priority_critical_amount"), "priority_age_step_days"]},
        ),
        (
            "Discrepancy SLA (hours to resolve)",
            {"fields": [("sla_hours_critical", "sla_hours_high", "sla_hours_medium", "sla_hours_low")]},
        ),
        ("Adjustments", {"fields": ["adjustment_approval_threshold", "adjustment_approval_window_days"]}),
        ("Bank statements", {"fields": ["statement_accounts_listed_only"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The code is printed in customers' payment references: it never changes once used.
        return ["code"] if obj else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        def text(value):
            return None if value in (None, "") else str(value)

        if change:
            changes = {
                field: {"before": text(form.initial.get(field)), "after": text(form.cleaned_data.get(field))}
                for field in form.changed_data
            }
        else:
            changes = {field: text(form.cleaned_data.get(field)) for field in form.changed_data}
        services.client_policy_record(
            client=obj, actor=request.user, created=not change, changes=changes
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is BankClosureDay:
            return self._save_closure_days(request, form.instance, formset)
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            services.membership_record(membership=membership, actor=request.user, verb="membership.revoked")
            membership.delete()
        for membership in instances:
            verb = "membership.changed" if membership.pk else "membership.granted"
            membership.save()
            services.membership_record(membership=membership, actor=request.user, verb=verb)
        formset.save_m2m()

    def _save_closure_days(self, request, client, formset):
        # Closure days move due dates, so each change goes on the client's log like its policy.
        before = {day.pk: day for day in BankClosureDay.objects.filter(client=client)}
        formset.save()
        changes = {}
        for day in formset.deleted_objects:
            changes[f"bank closure day {day.date:%Y-%m-%d}"] = {"before": day.name, "after": None}
        for day in formset.new_objects:
            changes[f"bank closure day {day.date:%Y-%m-%d}"] = {"before": None, "after": day.name}
        for day, _ in formset.changed_objects:
            old = before[day.pk]
            if old.date != day.date:
                changes[f"bank closure day {old.date:%Y-%m-%d}"] = {"before": old.name, "after": None}
                changes[f"bank closure day {day.date:%Y-%m-%d}"] = {"before": None, "after": day.name}
            else:
                changes[f"bank closure day {day.date:%Y-%m-%d}"] = {"before": old.name, "after": day.name}
        if changes:
            services.client_policy_record(client=client, actor=request.user, created=False, changes=changes)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "client", "role", "created_at"]
    list_filter = ["role", "client"]
    search_fields = ["user__username", "user__email", "client__code"]
    autocomplete_fields = ["user", "client"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        verb = "membership.changed" if change else "membership.granted"
        services.membership_record(membership=obj, actor=request.user, verb=verb)

    def delete_model(self, request, obj):
        services.membership_record(membership=obj, actor=request.user, verb="membership.revoked")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("client", "user"):
            self.delete_model(request, membership)


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["name", "client", "external_ref", "email", "bank_account_masked", "email_consent", "sms_consent"]
    list_filter = ["client", "email_consent", "sms_consent"]
    search_fields = ["name", "external_ref", "email"]
    list_select_related = ["client"]
    # bank_account itself is never shown: only its masked form.
    fields = [
        "client", "external_ref", "name", "email", "phone", "timezone",
        "email_consent", "email_consent_at", "sms_consent", "sms_consent_at",
        "bank_account_masked", "created_at", "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="Bank account")
    def bank_account_masked(self, obj):
        return obj.bank_account_masked


@admin.register(PaymentImport)
class PaymentImportAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "client", "format", "entries_count", "created_count", "skipped_count", "created_at"]
    list_filter = ["client", "format"]
    search_fields = ["file_name", "sha256"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["value_date", "client", "kind", "source", "amount", "currency", "payer_name", "reference", "bank_transaction_id"]
    list_filter = ["client", "kind", "source", "currency"]
    search_fields = ["reference", "payer_name", "bank_transaction_id"]
    list_select_related = ["client"]
    date_hierarchy = "value_date"
    exclude = ["payer_account", "payer_account_hash"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["client", "seq", "created_at", "actor_label", "verb", "subject_type", "subject_id"]
    list_filter = ["client", "verb"]
    search_fields = ["verb", "actor_label", "subject_id"]
    list_select_related = ["client"]

    def get_actions(self, request):
        return {}
