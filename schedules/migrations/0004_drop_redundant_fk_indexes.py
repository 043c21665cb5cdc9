import django.db.models.deletion
from django.db import migrations, models

# Django's single-column foreign-key indexes that a composite index already serves (its
# leading column). Dropped with plain SQL: AlterField(db_index=False) would also drop and
# re-add the foreign-key constraints, revalidating every row of the biggest tables.
REDUNDANT = [
    # schedule_unique_number (client_id, number) and schedule_list_idx lead with client_id.
    ("schedules_paymentschedule", "schedules_paymentschedule_client_id_cba1e140", "client_id"),
    # scheduled_payment_due_idx (client_id, status, due_date), scheduled_payment_unique_ref.
    ("schedules_scheduledpayment", "schedules_scheduledpayment_client_id_03492226", "client_id"),
    # scheduled_payment_unique_seq (schedule_id, sequence).
    ("schedules_scheduledpayment", "schedules_scheduledpayment_schedule_id_721aad1b", "schedule_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ("bpo_ledger", "0006_drop_redundant_client_index"),
        ("schedules", "0003_schedule_version"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")',
                )
                for table, index, column in REDUNDANT
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="paymentschedule",
                    name="client",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="schedules",
                        to="bpo_ledger.client",
                    ),
                ),
                migrations.AlterField(
                    model_name="scheduledpayment",
                    name="client",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="bpo_ledger.client",
                    ),
                ),
                migrations.AlterField(
                    model_name="scheduledpayment",
                    name="schedule",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payments",
                        to="schedules.paymentschedule",
                    ),
                ),
            ],
        ),
    ]
