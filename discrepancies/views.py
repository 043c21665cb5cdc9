import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_tables2 import LazyPaginator, RequestConfig

from bpo_ledger.access import accesses_of_request, membership_of_request
from bpo_ledger.errors import DomainError
from bpo_ledger.selectors import audit_timeline

from . import selectors, services
from .filters import QueueFilter
from .forms import (
    AdjustmentForm,
    AssignForm,
    AttachForm,
    BulkAssignForm,
    DecisionForm,
    DiscrepancyForm,
    NoteForm,
    NotifyForm,
    PriorityForm,
    ResolveForm,
    TransitionForm,
)
from .models import Approval, Attachment, Discrepancy
from .tables import QueueTable, export_rows, sla_breached, sla_countdown

PAGE_SIZE = 50


def _paginate(request, table):
    RequestConfig(request, paginate={"per_page": PAGE_SIZE, "paginator_class": LazyPaginator}).configure(table)
    return table


def _item_or_404(access, pk) -> Discrepancy:
    try:
        return selectors.discrepancy_get(client=access.client, pk=pk)
    except Discrepancy.DoesNotExist:
        raise Http404("No such discrepancy") from None


def _supervised(request) -> list:
    """The clients the user supervises; none at all is a 403."""
    clients = [a.client for a in accesses_of_request(request) if a.can_supervise]
    if not clients:
        raise PermissionDenied("Only supervisors see this page.")
    return clients


def _next_or(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if target and allowed else default


def _add_errors(form, exc: ValidationError, renamed=None) -> None:
    renamed = renamed or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        field = renamed.get(field, field)
        form.add_error(field if field in form.fields else None, errors)


# --- Queue ------------------------------------------------------------------------------------


def _queue_filter(request, accesses):
    # Colleagues are offered as assignees only where the user sees everyone's items.
    overseen = selectors.clients_seen_whole(accesses=accesses)
    workers = selectors.workers_of(clients=overseen) if overseen else []
    queryset = selectors.queue_for(user=request.user, accesses=accesses)
    return QueueFilter(request.GET, queryset=queryset, accesses=accesses, user=request.user, workers=workers)


@login_required
def queue(request):
    """My items and the unassigned pool of my clients (everything where I supervise or audit)."""
    accesses = accesses_of_request(request)
    access = membership_of_request(request, request.GET["client"]) if request.GET.get("client") else None
    filterset = _queue_filter(request, accesses)
    supervised = [a.client for a in accesses if a.can_supervise]
    exclude = ("escalated_at",) if supervised else ("escalated_at", "select")
    table = _paginate(request, QueueTable(selectors.as_queue_rows(filterset.qs), order_by=request.GET.get("sort") or "sla_due_at", exclude=exclude))
    return render(request, "discrepancies/queue.html", {
        "filter": filterset, "table": table, "access": access,
        "can_claim": any(a.can_write for a in accesses),
        "bulk_workers": selectors.workers_of(clients=supervised) if supervised else None,
        "export_query": request.GET.urlencode(),
    })


@login_required
@require_POST
def claim_next(request):
    code = request.POST.get("client")
    if code:
        clients = [membership_of_request(request, code, write=True).client]
    else:
        clients = [a.client for a in accesses_of_request(request) if a.can_write]
        if not clients:
            raise PermissionDenied("Your roles are read-only: there is nothing to claim.")
    item = services.discrepancy_claim_next(user=request.user, clients=clients)
    if item is None:
        messages.info(request, "Nothing to claim: no unassigned open items" + (f" in {code}." if code else "."))
        return redirect(reverse("queue") + (f"?client={code}" if code else ""))
    messages.success(request, f"You claimed {item.reference}: {item.summary}")
    return redirect(item)


class _Echo:
    def write(self, value):
        return value


@login_required
def queue_export(request):
    """The filtered queue as CSV, streamed; safe to open in a spreadsheet."""
    accesses = accesses_of_request(request)
    if request.GET.get("client"):
        membership_of_request(request, request.GET["client"])
    filterset = _queue_filter(request, accesses)
    rows = export_rows(selectors.as_export_rows(filterset.qs).order_by("sla_due_at", "pk").iterator(chunk_size=1000), now=timezone.now())
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="discrepancies-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


# --- One item ---------------------------------------------------------------------------------


def _form_key(action: str) -> str:
    return "decide" if action in ("approve", "reject") else action


def _action_forms(access, item, user) -> dict:
    """The forms of the actions this user may take on this item now, by name."""
    if not access.can_write:
        return {}
    forms = {}
    for action in services.actions_for(discrepancy=item, user=user):
        form_class = ResolveForm if action == "resolve" else TransitionForm
        forms[action] = form_class(discrepancy=item, action=action)
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
        "breached": sla_breached(item, now=now),
        "payments": selectors.payments_of(discrepancy=item),
        "notes": selectors.notes_of(discrepancy=item),
        "attachments": selectors.attachments_of(discrepancy=item),
        "log": audit_timeline(client=access.client, subject_type="discrepancy", subject_id=item.pk)[:200],
        "own_adjustment": item.reported_by_id == request.user.pk,
    }, status=status)


def _adjustment_changes(item) -> list[tuple[str, str, str]]:
    before, after = item.adjustment_before or {}, item.adjustment_after or {}
    keys = list(before) + [key for key in after if key not in before]
    return [(key.replace("_", " "), before.get(key, "—"), after.get(key, "unchanged")) for key in keys]


@login_required
def discrepancy_detail(request, code, pk):
    access = membership_of_request(request, code)
    return _detail(request, access, _item_or_404(access, pk))


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
    # The email quotes the amounts on the page: refuse it if the item changed since it was read.
    if data["version"] != item.version:
        raise services.StaleError(f"{item.reference} was changed by someone else: reload the page and try again. Nothing was sent.")
    services.discrepancy_notify_customer(discrepancy=item, actor=user, message=data["message"])
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


@login_required
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
        except services.StaleError as exc:
            return _stale(request, access, item, form, str(exc))
        except ValidationError as exc:
            _add_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, message)
            return redirect(_next_or(request, item.get_absolute_url()))
    return _detail(request, access, _item_or_404(access, pk), failed=form, error=_error_text(form))


def _error_text(form) -> str:
    """The form's errors in one line, each named by its field, for the alert above the page."""
    parts = []
    for name, errors in form.errors.items():
        label = "" if name == "__all__" else f"{form[name].label}: "
        parts.extend(label + error for error in errors)
    return " ".join(parts)


def _stale(request, access, item, form, message):
    """Refused: show the item as it is now, the user's input kept, under the current version."""
    current = _item_or_404(access, item.pk)
    data = request.POST.copy()
    data["version"] = current.version
    form_class = type(form)
    extra = {"workers": form.fields["assignee"].queryset} if isinstance(form, AssignForm) else {}
    failed = form_class(data, discrepancy=current, action=form.action, **extra)
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
            _add_errors(form, exc, {"customer": "customer_ref", "scheduled_payment": "scheduled_payment_ref"})
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
            _add_errors(form, exc, {"scheduled_payment": "scheduled_payment_ref", "payment": "bank_transaction_id"})
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            if item.approval == Approval.PENDING:
                messages.warning(request, f"{item.reference} waits for a supervisor's approval: it is above "
                                 f"{access.client.currency} {access.client.adjustment_approval_threshold}. No balance changed yet.")
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


# --- Supervisors ------------------------------------------------------------------------------


@login_required
def escalations(request):
    clients = _supervised(request)
    table = QueueTable(selectors.escalations_for(clients=clients), order_by=request.GET.get("sort"), exclude=("status",))
    return render(request, "discrepancies/escalations.html", {
        "table": _paginate(request, table), "bulk_workers": selectors.workers_of(clients=clients),
    })


@login_required
def approvals(request):
    clients = _supervised(request)
    items = list(selectors.approvals_pending(clients=clients)[:200])
    rows = [(item, DecisionForm(discrepancy=item, action=f"decide_{item.pk}")) for item in items]
    return render(request, "discrepancies/approvals.html", {"rows": rows})


@login_required
def team(request):
    clients = _supervised(request)
    return render(request, "discrepancies/team.html", {"rows": selectors.team_workload(clients=clients), "clients": clients})


@login_required
@require_POST
def bulk_assign(request):
    clients = _supervised(request)
    form = BulkAssignForm(request.POST, clients=clients, workers=selectors.workers_of(clients=clients))
    back = _next_or(request, reverse("queue"))
    if not form.is_valid():
        messages.error(request, _error_text(form))
        return redirect(back)
    assignee = form.cleaned_data["assignee"]
    for client, ids in form.ids_by_client():
        try:
            count = services.discrepancies_bulk_assign(
                client=client, actor=request.user, ids=ids, assignee=assignee, reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            who = assignee.get_username() if assignee else "the pool"
            messages.success(request, f"{client.code}: {count} item{'s' if count != 1 else ''} given to {who}.")
    return redirect(back)
