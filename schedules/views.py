from collections.abc import Callable
from typing import NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from bpo_ledger.access import clients_for, membership_of_request
from bpo_ledger.errors import DomainError, StaleError
from bpo_ledger.forms import add_service_errors
from bpo_ledger.selectors import audit_timeline
from bpo_ledger.tables import paginate

from . import selectors, services
from .filters import ScheduleFilter
from .forms import (
    AmountForm,
    DeferForm,
    FailPaymentForm,
    InquiryForm,
    MethodForm,
    ReasonForm,
    RecordPaymentForm,
    ScheduleForm,
)
from .models import PaymentSchedule, ScheduleKind
from .tables import ScheduledPaymentTable, ScheduleTable


def _schedule_or_404(access, pk) -> PaymentSchedule:
    try:
        return selectors.schedule_get(client=access.client, pk=pk)
    except PaymentSchedule.DoesNotExist:
        raise Http404("No such schedule") from None


@login_required
def schedule_list(request):
    """Schedules of every client the user works for, filtered and sorted."""
    clients = clients_for(request.user)
    filterset = ScheduleFilter(
        request.GET, queryset=selectors.schedules_visible_to(user=request.user), clients=clients
    )
    table = paginate(request, ScheduleTable(filterset.qs, order_by=request.GET.get("sort") or "next_due_date"))
    access = None
    code = request.GET.get("client")
    if code:
        access = membership_of_request(request, code)
    return render(request, "schedules/schedule_list.html", {"filter": filterset, "table": table, "access": access})


@login_required
@require_http_methods(["GET", "POST"])
def schedule_create(request, code):
    access = membership_of_request(request, code, write=True)
    kind = request.GET.get("kind") or request.POST.get("kind")
    if kind not in ScheduleKind.values:
        return render(request, "schedules/schedule_kind.html", {"access": access, "kinds": ScheduleKind.choices})
    initial = {}
    if request.GET.get("customer"):
        initial["customer"] = request.GET["customer"]
    form = ScheduleForm(request.POST or None, client=access.client, kind=kind, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            if "save" in request.POST:
                schedule = services.schedule_create(client=access.client, actor=request.user, spec=form.spec())
                messages.success(request, f"Schedule {schedule.reference} created with {schedule.payments.count()} scheduled payments.")
                return redirect(schedule)
            preview = services.schedule_preview(client=access.client, spec=form.spec())
        except ValidationError as exc:
            add_service_errors(form, exc)
    return render(
        request,
        "schedules/schedule_form.html",
        {"access": access, "form": form, "kind": kind, "kind_label": ScheduleKind(kind).label, "preview": preview},
    )


RECEIVED_SHOWN = 200  # the schedule page's list of payments received, newest first


@login_required
def schedule_detail(request, code, pk):
    access = membership_of_request(request, code)
    schedule = _schedule_or_404(access, pk)
    payments = paginate(request, ScheduledPaymentTable(selectors.scheduled_payments_of(schedule=schedule)), per_page=100)
    log = audit_timeline(client=access.client, subject_type="paymentschedule", subject_id=schedule.pk)[:200]
    received = selectors.allocations_of(schedule=schedule)[:RECEIVED_SHOWN]
    actions = [(name, a.label) for name, a in ACTIONS.items() if services.schedule_step_allowed(schedule, name)]
    return render(
        request,
        "schedules/schedule_detail.html",
        {
            "access": access, "schedule": schedule, "payments": payments, "log": log, "actions": actions,
            "received": received, "received_shown": RECEIVED_SHOWN,
        },
    )


def _defer(schedule, user, data):
    approver = data["approved_by"].user if data.get("approved_by") else None
    services.schedule_defer(
        schedule=schedule, actor=user, version=data["version"], until=data["until"], scope=data["scope"],
        reason_code=data["reason_code"], reason=data["reason"], approved_by=approver,
    )
    if data["scope"] == services.DeferScope.ALL_LATER:
        return "Deferred: the next payment and all later ones moved, keeping their day of month."
    return "Deferred: the next payment moved; the later ones keep their dates."


def _defer_preview(schedule, user, data):
    return services.schedule_defer_preview(schedule=schedule, actor=user, until=data["until"], scope=data["scope"])


def _method(schedule, user, data):
    services.schedule_change_method(
        schedule=schedule, actor=user, version=data["version"], method=data["method"], reason=data["reason"],
        autopay_method=data.get("autopay_method") or "", autopay_account=data.get("autopay_account") or "",
        mandate_reference=data.get("mandate_reference") or "",
    )
    return "Payment method changed."


def _amount(schedule, user, data):
    services.schedule_change_amount(
        schedule=schedule, actor=user, version=data["version"], amount=data["amount"], reason=data["reason"]
    )
    return "Amount changed for future payments."


def _inquiry(schedule, user, data):
    services.schedule_log_inquiry(
        schedule=schedule, actor=user, version=data["version"], channel=data["channel"],
        summary=data["summary"], outcome=data["outcome"],
    )
    return "Inquiry logged."


def _payment(schedule, user, data):
    payment = services.scheduled_payment_record(
        scheduled_payment=data["scheduled_payment"], actor=user, version=data["version"], amount=data["amount"],
        paid_on=data["paid_on"], method=data["method"], note=data["note"],
    )
    return f"Payment recorded on {payment.reference}: {payment.get_status_display().lower()}."


def _fail(schedule, user, data):
    payment = services.scheduled_payment_fail(
        scheduled_payment=data["scheduled_payment"], actor=user, version=data["version"], reason=data["reason"]
    )
    return f"Failed payment logged on {payment.reference}."


def _status_change(service, message):
    def perform(schedule, user, data):
        service(schedule=schedule, actor=user, version=data["version"], reason=data["reason"])
        return message

    return perform


class Action(NamedTuple):
    label: str  # the button's and the page's
    form_class: type
    perform: Callable  # (schedule, user, cleaned data) -> the message on success
    # (schedule, user, cleaned data) -> what would change, shown before saving; the page then
    # saves only when its "save" button is pressed, as the create form does.
    preview: Callable | None = None


# action name -> Action; services.schedule_step_allowed says when
ACTIONS = {
    "defer": Action("Defer", DeferForm, _defer, _defer_preview),
    "pause": Action("Pause", ReasonForm, _status_change(services.schedule_pause, "Schedule paused.")),
    "resume": Action("Resume", ReasonForm, _status_change(services.schedule_resume, "Schedule resumed.")),
    "method": Action("Change method", MethodForm, _method),
    "amount": Action("Change amount", AmountForm, _amount),
    "inquiry": Action("Log inquiry", InquiryForm, _inquiry),
    "payment": Action("Record payment", RecordPaymentForm, _payment),
    "fail": Action("Log failed payment", FailPaymentForm, _fail),
    "cancel": Action("Cancel schedule", ReasonForm, _status_change(services.schedule_cancel, "Schedule cancelled.")),
}


@login_required
@require_http_methods(["GET", "POST"])
def schedule_action(request, code, pk, action):
    access = membership_of_request(request, code, write=True)
    schedule = _schedule_or_404(access, pk)
    if action not in ACTIONS:
        raise Http404("No such action")
    label, form_class, perform, preview_of = ACTIONS[action]
    if not services.schedule_step_allowed(schedule, action):
        messages.error(request, f"{label} is not possible: the schedule is {schedule.get_status_display().lower()}.")
        return redirect(schedule)
    form = form_class(request.POST or None, schedule=schedule, step=action)
    status, preview = 200, None
    if request.method == "POST" and form.is_valid():
        try:
            if preview_of and "save" not in request.POST:
                preview = preview_of(schedule, request.user, form.cleaned_data)
            else:
                messages.success(request, perform(schedule, request.user, form.cleaned_data))
                return redirect(schedule)
        except StaleError as exc:
            form.add_error(None, str(exc))
            status = 409
        except DomainError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_service_errors(form, exc)
    return render(
        request,
        "schedules/schedule_action.html",
        {
            "access": access, "schedule": schedule, "form": form, "label": label, "action": action,
            "previews": preview_of is not None, "preview": preview,
        },
        status=status,
    )
