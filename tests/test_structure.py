"""The rules of the layout, checked on the source: apps depend downward only, every row lock goes
through bpo_ledger/locks.py, and every audit verb a service writes is in the event catalogue."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Apps from the bottom up: each may import only the ones before it; config knows them all.
LAYERS = ["bpo_ledger", "schedules", "discrepancies", "reconciliation"]


def python_files(*folders: str):
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def string_constants(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


@pytest.mark.parametrize("index,app", list(enumerate(LAYERS)))
def test_an_app_never_imports_or_names_a_higher_one(index, app):
    higher = [*LAYERS[index + 1 :], "config"]
    found = []
    for path in python_files(app):
        tree = ast.parse(path.read_text(), filename=str(path))
        for lineno, module in imported_modules(tree):
            if module.split(".")[0] in higher:
                found.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
        for lineno, text in string_constants(tree):
            # A dotted path such as "schedules.panels.customer_schedules" names an app too.
            if re.match(rf"^({'|'.join(higher)})\.[a-z_]+", text):
                found.append(f"{path.relative_to(ROOT)}:{lineno} names {text!r}")
    assert found == []


def test_only_the_lock_module_calls_select_for_update():
    callers = [
        f"{path.relative_to(ROOT)}:{lineno}"
        for path in python_files(*LAYERS, "config", "tests", "bench")
        for lineno, line in enumerate(path.read_text().splitlines(), 1)
        if "select_for_update(" in line and path != ROOT / "bpo_ledger" / "locks.py"
        and path != Path(__file__).resolve()
    ]
    assert callers == []


def test_every_lock_in_the_lock_module_is_of_its_own_table():
    source = (ROOT / "bpo_ledger" / "locks.py").read_text()
    calls = re.findall(r"select_for_update\(([^)]*)\)", source)
    assert calls and all('of=("self",' in args for args in calls)


# --- The event catalogue ---------------------------------------------------------------------

# verb="x.y", PendingEvent("x.y", ...), and verbs built as f"discrepancy.{action}".
VERB_LITERAL = re.compile(r'(?:verb=|PendingEvent\()\s*"([a-z_]+\.[a-z_]+)"')
VERB_CONDITIONAL = re.compile(r'verb="([a-z_]+\.[a-z_]+)" if .*? else "([a-z_]+\.[a-z_]+)"')


def written_verbs() -> dict[str, str]:
    verbs = {}
    for path in python_files(*LAYERS):
        text = path.read_text()
        for match in VERB_LITERAL.finditer(text):
            verbs[match.group(1)] = str(path.relative_to(ROOT))
        for match in VERB_CONDITIONAL.finditer(text):
            for verb in match.groups():
                verbs[verb] = str(path.relative_to(ROOT))
    return verbs


def test_every_verb_a_service_writes_is_in_the_catalogue():
    from bpo_ledger import events

    verbs = written_verbs()
    assert len(verbs) > 20  # the scan finds the services' verbs at all
    unknown = {}
    for verb, path in verbs.items():
        try:
            events.event_type(verb)
        except events.UnknownEventError:
            unknown[verb] = path
    assert unknown == {}


def test_every_workflow_step_has_its_verb():
    from bpo_ledger import events
    from discrepancies.services import TRANSITIONS

    for action in TRANSITIONS:
        assert events.event_type(f"discrepancy.{action}").label


def test_every_verb_has_a_label_a_known_subject_and_reads_without_details():
    from bpo_ledger import events

    catalogue = events.catalogue()
    assert len(catalogue) >= len(written_verbs())
    for event_type in catalogue:
        assert event_type.label and event_type.label != event_type.verb, event_type.verb
        assert events.subject_label(event_type.subject_type) != "", event_type.verb
        # Old events may lack a detail that newer ones carry: describing never fails.
        assert isinstance(event_type.describe({}), str), event_type.verb


@pytest.mark.django_db
def test_a_service_writing_an_unknown_verb_is_refused_and_writes_nothing(client_a):
    from bpo_ledger.audit import PendingEvent, audit_record, audit_record_many
    from bpo_ledger.events import UnknownEventError
    from bpo_ledger.models import AuditEvent

    with pytest.raises(UnknownEventError, match="schedule.teleported"):
        audit_record(client=client_a, actor="system:test", verb="schedule.teleported", subject=client_a)
    with pytest.raises(UnknownEventError):
        audit_record_many(
            client=client_a,
            actor="system:test",
            events=[PendingEvent("client.policy_changed", client_a), PendingEvent("nope.nope", client_a)],
        )
    assert not AuditEvent.objects.filter(client=client_a).exclude(verb="client.created").exists()


def test_a_deferral_reads_in_words():
    from types import SimpleNamespace

    from bpo_ledger import events

    user = SimpleNamespace(get_full_name=lambda: "Alice Agent", get_username=lambda: "agent")
    event = SimpleNamespace(
        verb="schedule.deferred",
        actor=user,
        actor_id=1,
        actor_label="agent",
        details={
            "until": "2027-02-05",
            "reason_code": "hardship",
            "reason": "Lost her job",
            "moved": {"ACME-000001-03": {"before": "2027-01-15", "after": "2027-02-05"}},
        },
    )
    assert events.sentence(event) == (
        "Deferred by Alice Agent: next payment moved from 15 Jan 2027 to 5 Feb 2027; "
        "grounds: hardship. Reason: Lost her job"
    )
    system = SimpleNamespace(verb="payment.overdue", actor=None, actor_id=None, actor_label="system:nightly",
                             details={"payments": [{"reference": "ACME-000001-01", "due_date": "2027-01-15"}], "grace_days": 3})
    assert events.sentence(system) == (
        "Payments fell overdue by the nightly job: ACME-000001-01 (due 15 Jan 2027), unpaid 3 days after the due date"
    )
