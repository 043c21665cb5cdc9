import django.db.models.deletion
from django.db import migrations, models

# One composite foreign key instead of two single-column ones: a scheduled payment belongs to
# a schedule of its own client, enforced by the database, with one RI check per payment
# instead of two. The client's existence follows from the schedule's own foreign key.
ADD_FK = """
ALTER TABLE "schedules_scheduledpayment"
    ADD CONSTRAINT "scheduled_payment_schedule_same_client"
    FOREIGN KEY ("schedule_id", "client_id")
    REFERENCES "schedules_paymentschedule" ("id", "client_id")
    DEFERRABLE INITIALLY DEFERRED
"""
DROP_FK = """
ALTER TABLE "schedules_scheduledpayment" DROP CONSTRAINT "scheduled_payment_schedule_same_client"
"""


def add_fk(apps, schema_editor):
    # SQLite (the embedded development setup) can add a foreign key only when it creates a table.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ADD_FK)


def drop_fk(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FK)


class Migration(migrations.Migration):

    dependencies = [
        ("bpo_ledger", "0006_drop_redundant_client_index"),
        ("schedules", "0004_drop_redundant_fk_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="paymentschedule",
            constraint=models.UniqueConstraint(fields=("id", "client"), name="schedule_id_client"),
        ),
        migrations.RunPython(add_fk, drop_fk),
        migrations.AlterField(
            model_name="scheduledpayment",
            name="client",
            field=models.ForeignKey(
                db_constraint=False,
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
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="payments",
                to="schedules.paymentschedule",
            ),
        ),
    ]
