import datetime as dt

from django.db import migrations, models

SWEEP = "system:sla_sweep"
VERBS = (
    "discrepancy.logged", "discrepancy.escalate", "discrepancy.priority_changed", "discrepancy.resolve",
    "discrepancy.return_to_agent", "discrepancy.reopen", "adjustment.applied", "adjustment.rejected",
)


def _at(value):
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value) if value else None


def _period(level, due):
    return {"level": level, "due_at": due.isoformat(), "met_at": None, "missed_at": None}


def _end(periods, now):
    if periods and not (periods[-1]["met_at"] or periods[-1]["missed_at"]):
        due = _at(periods[-1]["due_at"])
        if now <= due:
            periods[-1]["met_at"] = now.isoformat()
        else:
            periods[-1]["missed_at"] = due.isoformat()


def _replay(events):
    """The SLA record of one item, from its log (the services' rules of 2026-12-02)."""
    periods = []
    for verb, actor_label, created_at, details in events:
        due = _at(details.get("sla_due_at"))
        level = periods[-1]["level"] if periods else 0
        if verb == "discrepancy.logged" and due:
            periods = [_period(0, due)]
        elif verb == "discrepancy.escalate" and actor_label == SWEEP and due:
            _end(periods, created_at)
            periods.append(_period(details.get("escalation_level") or level, due))
        elif verb == "discrepancy.priority_changed" and due:
            if periods and not (periods[-1]["met_at"] or periods[-1]["missed_at"]) and created_at <= _at(periods[-1]["due_at"]):
                periods[-1]["due_at"] = due.isoformat()
            else:
                _end(periods, created_at)
                periods.append(_period(level, due))
        elif verb in ("discrepancy.resolve", "adjustment.applied", "adjustment.rejected"):
            _end(periods, created_at)
        elif verb in ("discrepancy.return_to_agent", "discrepancy.reopen"):
            _end(periods, created_at)
            if due:
                periods.append(_period(level, due))
    return periods


def _fallback(item):
    """No usable log: the current due time alone, ended by the resolution if there is one."""
    periods = [_period(item.escalation_level, item.sla_due_at)]
    if item.resolved_at:
        _end(periods, item.resolved_at)
    return periods


def backfill_sla_records(apps, schema_editor):
    Discrepancy = apps.get_model("discrepancies", "Discrepancy")
    AuditEvent = apps.get_model("bpo_ledger", "AuditEvent")
    by_item = {}
    events = (
        AuditEvent.objects.filter(subject_type="discrepancy", verb__in=VERBS)
        .order_by("client_id", "seq")
        .values_list("subject_id", "verb", "actor_label", "created_at", "details")
    )
    for subject_id, *event in events.iterator(chunk_size=5000):
        by_item.setdefault(subject_id, []).append(event)
    batch = []
    for item in Discrepancy.objects.order_by("pk").iterator(chunk_size=2000):
        periods = _replay(by_item.get(str(item.pk), []))
        last_due = _at(periods[-1]["due_at"]) if periods else None
        if last_due is None or abs((last_due - item.sla_due_at).total_seconds()) >= 0.001:
            periods = _fallback(item)
        else:
            periods[-1]["due_at"] = item.sla_due_at.isoformat()  # the log keeps milliseconds only
        missed = [_at(p["missed_at"]) for p in periods if p["missed_at"]]
        item.sla_history = periods
        item.first_sla_breached_at = _at(periods[0]["missed_at"])
        item.sla_breached_at = min(missed) if missed else None
        batch.append(item)
        if len(batch) == 1000:
            Discrepancy.objects.bulk_update(batch, ["sla_history", "first_sla_breached_at", "sla_breached_at"])
            batch = []
    Discrepancy.objects.bulk_update(batch, ["sla_history", "first_sla_breached_at", "sla_breached_at"])


class Migration(migrations.Migration):
    """Every SLA due time of an item and whether it was met, kept for good; rebuilt from the
    items' logs (an item whose log does not give its current due time gets that due time alone)."""

    dependencies = [
        ("bpo_ledger", "0001_initial"),
        ("discrepancies", "0004_adjustment_approval_reason"),
    ]

    operations = [
        migrations.AddField(
            model_name="discrepancy",
            name="first_sla_breached_at",
            field=models.DateTimeField(blank=True, help_text="When the first SLA due time was missed: SLA performance counts it.", null=True),
        ),
        migrations.AddField(
            model_name="discrepancy",
            name="sla_breached_at",
            field=models.DateTimeField(blank=True, help_text="When the item first missed any of its SLA due times.", null=True),
        ),
        migrations.AddField(
            model_name="discrepancy",
            name="sla_history",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="discrepancy",
            name="sla_due_at",
            field=models.DateTimeField(help_text="The current SLA due time."),
        ),
        migrations.RunPython(backfill_sla_records, migrations.RunPython.noop),
    ]
