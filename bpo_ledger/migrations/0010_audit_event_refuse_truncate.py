"""On PostgreSQL the database itself refuses to TRUNCATE the audit table.

The row trigger of 0002 refuses UPDATE and DELETE; TRUNCATE fires no row trigger, so a statement
trigger refuses it too (also a TRUNCATE of another table that cascades to this one). It reuses
0002's function, whose message names the operation.
"""

from django.db import migrations

CREATE = """
CREATE TRIGGER bpo_ledger_auditevent_no_truncate
    BEFORE TRUNCATE ON bpo_ledger_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION bpo_ledger_auditevent_append_only();
"""

DROP = "DROP TRIGGER IF EXISTS bpo_ledger_auditevent_no_truncate ON bpo_ledger_auditevent;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("bpo_ledger", "0009_client_adjustment_approval_window")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
