import django_tables2 as tables

from .models import PaymentSchedule, ScheduledPayment


class ScheduleTable(tables.Table):
    reference = tables.Column(linkify=True, order_by=("client__code", "number"))
    client = tables.Column(accessor="client__code", verbose_name="Client")
    customer = tables.Column(accessor="customer__name", verbose_name="Customer")
    amount = tables.Column(attrs={"td": {"class": "num"}})
    next_due_date = tables.DateColumn(format="Y-m-d", verbose_name="Next due")
    is_overdue = tables.BooleanColumn(verbose_name="Overdue", yesno="Overdue,")

    class Meta:
        model = PaymentSchedule
        fields = ("reference", "client", "customer", "kind", "status", "amount", "currency", "next_due_date", "is_overdue")
        attrs = {"class": "table"}
        empty_text = "No schedules match."
        row_attrs = {"data-overdue": lambda record: "1" if record.is_overdue else "0"}


class ScheduledPaymentTable(tables.Table):
    reference = tables.Column(orderable=False)
    due_date = tables.DateColumn(format="Y-m-d", orderable=False)
    original_due_date = tables.DateColumn(format="Y-m-d", verbose_name="Originally due", orderable=False)
    amount_due = tables.Column(attrs={"td": {"class": "num"}}, orderable=False)
    amount_paid = tables.Column(attrs={"td": {"class": "num"}}, orderable=False)
    status = tables.Column(orderable=False, attrs={"td": {"data-status": lambda record: record.status}})

    class Meta:
        model = ScheduledPayment
        fields = ("sequence", "reference", "due_date", "original_due_date", "amount_due", "amount_paid", "status")
        attrs = {"class": "table"}
        orderable = False
        empty_text = "No payments generated."

    def render_original_due_date(self, value, record):
        return "" if value == record.due_date else value.strftime("%Y-%m-%d")
