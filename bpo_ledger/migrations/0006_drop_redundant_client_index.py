import django.db.models.deletion
from django.db import migrations, models

# audit_chain_linear (client_id, seq) leads with client_id, so Django's single-column
# foreign-key index is redundant. Dropped with plain SQL: AlterField(db_index=False) would
# also drop and re-add the foreign-key constraint, revalidating every audit event.
INDEX = "bpo_ledger_auditevent_client_id_826e384a"


class Migration(migrations.Migration):

    dependencies = [
        ("bpo_ledger", "0005_customer_version"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "bpo_ledger_auditevent" ("client_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="client",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_events",
                        to="bpo_ledger.client",
                    ),
                ),
            ],
        ),
    ]
