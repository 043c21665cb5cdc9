"""On PostgreSQL the database itself refuses to update or delete an audit event."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION bpo_ledger_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused on bpo_ledger_auditevent', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER bpo_ledger_auditevent_append_only
    BEFORE UPDATE OR DELETE ON bpo_ledger_auditevent
    FOR EACH ROW EXECUTE FUNCTION bpo_ledger_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS bpo_ledger_auditevent_append_only ON bpo_ledger_auditevent;
DROP FUNCTION IF EXISTS bpo_ledger_auditevent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("bpo_ledger", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
