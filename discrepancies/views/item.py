"""One item: its page with the actions the user may take, each action's POST, logging an item or
an adjustment by hand, and its evidence files."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from bpo_ledger.access import membership_of_request
from bpo_ledger.errors import DomainError, StaleError
from bpo_ledger.forms import add_service_errors
from bpo_ledger.money import format_money
from bpo_ledger.selectors import audit_timeline
from bpo_ledger.uploads import upload_limit

from .. import policy, selectors, services
from ..forms import (
    AdjustmentForm,
    AssignForm,
    AttachForm,
    DecisionForm,
    DiscrepancyForm,
    NoteForm,
    NotifyForm,
    PriorityForm,
    ResolveForm,
    TransitionForm,
)
from ..models import Approval, Attachment, Discrepancy
from ..tables import sla_countdown
from ._common import error_text, next_or


def _item_or_404(access, pk) -> Discrepancy:
    try:
        return selectors.discrepancy_get(client=access.client, pk=pk)
    except Discrepancy.DoesNotExist:
        raise Http404("No such discrepancy") from None


# --- What each action does: (item, user, the form's cleaned data) -> the message shown. --------


def _transition(action):
    def perform(item, user, data):
        item = services.discrepancy_transition(
            discrepancy=item, actor=user, action=action, version=data["version"], reason=data.get("reason", ""),
            resolution_code=data.get("resolution_code", ""), resolution_text=data.get("resolution_text", ""),
            root_cause=data.get("root_cause", ""),
        )
        return f"{item.reference}: {services.ACTION_LABELS[action].lower()} done, now {item.get_status_display().lower()}."

    return perform


def _note(item, user, data):
    services.discrepancy_note_add(discrepancy=item, actor=user, text=data["text"])
    return "Note added."


def _attach(item, user, data):
    attachment = services.discrepancy_attach(discrepancy=item, actor=user, upload=data["file"])
    return f"{attachment.original_name} attached."


def _assign(item, user, data):
    item = services.discrepancy_assign(
        discrepancy=item, actor=user, assignee=data["assignee"], version=data["version"], reason=data["reason"]
    )
    return f"{item.reference} assigned to {item.assignee.get_username()}." if item.assignee else f"{item.reference} is back in the pool."


def _priority(item, user, data):
    item = services.discrepancy_set_priority(
        discrepancy=item, actor=user, priority=data["priority"], version=data["version"], reason=data["reason"]
    )
    return f"Priority set to {item.get_priority_display().lower()}; the SLA follows it."


def _notify(item, user, data):
    services.discrepancy_notify_customer(discrepancy=item, actor=user, message=data["message"], version=data["version"])
    return f"Email sent to {item.customer.name}."


def _decide(approve):
    def perform(item, user, data):
        item = services.adjustment_decide(
            discrepancy=item, actor=user, approve=approve, comment=data["comment"], version=data["version"]
        )
        if approve:
            return f"{item.reference} approved and applied."
        return f"{item.reference} rejected: nothing was changed."

    return perform


# action -> (form class, what it does); the forms are on the detail page, the URL takes the POST.
ACTIONS = {
    **{name: (ResolveForm if name == "resolve" else TransitionForm, _transition(name)) for name in services.TRANSITIONS},
    "note": (NoteForm, _note),
    "attach": (AttachForm, _attach),
    "assign": (AssignForm, _assign),
    "priority": (PriorityForm, _priority),
    "notify": (NotifyForm, _notify),
    "approve": (DecisionForm, _decide(True)),
    "reject": (DecisionForm, _decide(False)),
}


def _form_key(action: str) -> str:
    """Approve and reject share one form on the page."""
    return "decide" if action in ("approve", "reject") else action


def _action_forms(access, item, user) -> dict:
    """The forms of the actions this user may take on this item now, by name."""
    if not access.can_write:
        return {}
    forms = {action: ACTIONS[action][0](discrepancy=item, action=action) for action in services.actions_for(discrepancy=item, user=user)}
    if not services.notify_refusal(item):
        forms["notify"] = NotifyForm(discrepancy=item, action="notify")
    if access.can_supervise and item.is_active:
        forms["assign"] = AssignForm(discrepancy=item, action="assign", workers=selectors.workers_of(clients=[item.client]))
        forms["priority"] = PriorityForm(discrepancy=item, action="priority")
    if access.can_supervise and item.approval == Approval.PENDING:
        forms["decide"] = DecisionForm(discrepancy=item, action="decide")
    forms["note"] = NoteForm(discrepancy=item, action="note")
    forms["attach"] = AttachForm(discrepancy=item, action="attach")
    return forms


def _adjustment_changes(item) -> list[tuple[str, str, str]]:
    """(field, before, after) of an adjustment, its amounts written as money."""
    before, after = item.adjustment_before or {}, item.adjustment_after or {}

    def shown(key, values, missing):
        if key not in values:
            return missing
        return format_money(Decimal(values[key]), item.currency) if key.startswith("amount") else values[key]

    keys = list(before) + [key for key in after if key not in before]
    return [(key.replace("_", " "), shown(key, before, "—"), shown(key, after, "unchanged")) for key in keys]


def _detail(request, access, item, *, failed=None, error="", status=200):
    forms = _action_forms(access, item, request.user)
    if failed is not None and failed.action in forms:
        forms[failed.action] = failed
    now = timezone.now()
    return render(request, "discrepancies/discrepancy_detail.html", {
        "access": access, "item": item, "forms": forms, "error": error,
        "transitions": [(name, services.ACTION_LABELS[name], forms[name]) for name in services.TRANSITIONS if name in forms],
        "adjustment_changes": _adjustment_changes(item),
        "sla": sla_countdown(item.sla_due_at, now=now) if item.is_active else "",
        "breached": item.sla_breached(now),
        "sla_periods": policy.sla_periods(item.sla_history, now=now, active=item.is_active),
        "payments": selectors.payments_of(discrepancy=item),
        "notes": selectors.notes_of(discrepancy=item),
        "attachments": selectors.attachments_of(discrepancy=item),
        "log": audit_timeline(client=access.client, subject_type="discrepancy", subject_id=item.pk)[:200],
        "own_adjustment": item.reported_by_id == request.user.pk,
    }, status=status)


@login_required
def discrepancy_detail(request, code, pk):
    access = membership_of_request(request, code)
    return _detail(request, access, _item_or_404(access, pk))


@login_required
@upload_limit(services.attachment_max_bytes, "evidence files")
def discrepancy_action(request, code, pk, action):
    access = membership_of_request(request, code, write=True)
    item = _item_or_404(access, pk)
    if action not in ACTIONS:
        raise Http404("No such action")
    if request.method != "POST":
        return redirect(item)
    form_class, perform = ACTIONS[action]
    extra = {"workers": selectors.workers_of(clients=[item.client])} if form_class is AssignForm else {}
    form = form_class(request.POST, request.FILES, discrepancy=item, action=_form_key(action), **extra)
    if form.is_valid():
        try:
            message = perform(item, request.user, form.cleaned_data)
        except StaleError as exc:
            return _stale(request, access, item, form, str(exc))
        except ValidationError as exc:
            add_service_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, message)
            return redirect(next_or(request, item.get_absolute_url()))
    return _detail(request, access, _item_or_404(access, pk), failed=form, error=error_text(form))


def _stale(request, access, item, form, message):
    """Refused: show the item as it is now, the user's input kept, under the current version."""
    current = _item_or_404(access, item.pk)
    data = request.POST.copy()
    data["version"] = current.version
    extra = {"workers": form.fields["assignee"].queryset} if isinstance(form, AssignForm) else {}
    failed = type(form)(data, discrepancy=current, action=form.action, **extra)
    failed.is_valid()
    failed.add_error(None, message)
    return _detail(request, access, current, failed=failed, error=message, status=409)


@login_required
def discrepancy_create(request, code):
    access = membership_of_request(request, code, write=True)
    form = DiscrepancyForm(request.POST or None, client=access.client, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            item, created = services.discrepancy_log(
                client=access.client, actor=request.user, kind=data["kind"], summary=data["summary"],
                currency=data["currency"], amount_expected=data["amount_expected"], amount_actual=data["amount_actual"],
                customer=data["customer_ref"], scheduled_payment=data["scheduled_payment_ref"],
                mismatch_field=data["mismatch_field"], root_cause=data["root_cause"], fingerprint=form.fingerprint,
            )
        except ValidationError as exc:
            add_service_errors(form, exc, {"customer": "customer_ref", "scheduled_payment": "scheduled_payment_ref"})
        else:
            if created:
                messages.success(request, f"{item.reference} logged: {item.get_priority_display().lower()} priority.")
            else:
                messages.info(request, f"{item.reference} was already logged from this form.")
            return redirect(item)
    return render(request, "discrepancies/discrepancy_form.html", {"access": access, "form": form})


@login_required
def adjustment_create(request, code):
    access = membership_of_request(request, code, write=True)
    form = AdjustmentForm(request.POST or None, client=access.client, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            item = services.adjustment_request(
                client=access.client, actor=request.user, adjustment_type=data["adjustment_type"],
                scheduled_payment=data["scheduled_payment_ref"], amount=data["amount"], reason=data["reason"],
                payment=data.get("payment"), root_cause=data["root_cause"], fingerprint=form.fingerprint,
            )
        except ValidationError as exc:
            add_service_errors(form, exc, {"scheduled_payment": "scheduled_payment_ref", "payment": "bank_transaction_id"})
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            if item.approval == Approval.PENDING:
                messages.warning(request, f"{item.reference} waits. {item.approval_reason} No balance changed yet.")
            else:
                messages.success(request, f"{item.reference} applied: the scheduled payment is updated.")
            return redirect(item)
    return render(request, "discrepancies/adjustment_form.html", {"access": access, "form": form})


@login_required
def attachment_download(request, code, pk):
    access = membership_of_request(request, code)
    try:
        attachment = selectors.attachment_get(client=access.client, pk=pk)
    except Attachment.DoesNotExist:
        raise Http404("No such attachment") from None
    response = FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
