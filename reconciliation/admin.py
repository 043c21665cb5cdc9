from django.contrib import admin

from .models import BankAccount, CsvMapping, ImportJob


@admin.register(CsvMapping)
class CsvMappingAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "account", "currency", "sign", "date_format", "updated_at"]
    list_filter = ["client"]
    search_fields = ["name", "account"]
    list_select_related = ["client"]
    fieldsets = [
        (None, {"fields": ["client", "name", "account", "currency"]}),
        ("The file", {"fields": ["encoding", ("delimiter", "quote"), "header_row", "date_format",
                                 ("decimal_separator", "thousands_separator")]}),
        ("Amounts", {"fields": ["sign", "amount_column", ("debit_column", "credit_column")]}),
        ("Columns", {"fields": [
            "value_date_column", "booking_date_column", "reference_column", "remittance_column", "payer_name_column",
            "payer_account_column", "transaction_id_column", "currency_column", "account_column", "kind_column", "kinds",
        ]}),
    ]


@admin.register(BankAccount)
class BankAccountAdmin(admin.ModelAdmin):
    """The client's accounts: listed here by an admin, or recorded by the first statement for them."""

    list_display = ["account", "client", "currency", "name", "first_seen_at", "last_sequence"]
    list_filter = ["client"]
    search_fields = ["account", "name"]
    list_select_related = ["client"]
    readonly_fields = ["first_seen_at", "first_import", "last_sequence", "last_statement_id"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["file_name", "client", "status", "rows_read", "rows_stored", "created_by", "created_at"]
    list_filter = ["client", "status"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False
