"""Statement imports: the history, the upload (with a CSV preview), an import's page, voiding;
"reconcile now"."""


from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from bpo_ledger.access import SUPERVISE_ROLES, membership_of_request
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Payment, PaymentImport
from bpo_ledger.money import format_money
from bpo_ledger.selectors import audit_timeline
from bpo_ledger.tables import paginate
from bpo_ledger.uploads import upload_limit

from . import selectors, services
from .filters import ImportFilter, RunFilter, UnmatchedPaymentFilter
from .formats import StatementError
from .forms import CreditRefundForm, UndoMatchForm, UploadForm, VoidForm, held_token
from .models import ImportItem, ImportJob, JobStatus, ReconciliationRun
from .tables import ImportTable, RunTable, UnmatchedPaymentTable


def _import_or_404(access, pk) -> PaymentImport:
    try:
        return selectors.import_get(client=access.client, pk=pk)
    except PaymentImport.DoesNotExist:
        raise Http404("No such import") from None


@login_required
def import_list(request, code):
    access = membership_of_request(request, code)
    filterset = ImportFilter(request.GET, queryset=selectors.imports_of(client=access.client).select_related("client"))
    with timezone.override(access.client.timezone):
        imports = filterset.qs
    table = paginate(request, ImportTable(imports, time_zone=access.client.timezone))
    return render(request, "reconciliation/import_list.html", {
        "access": access, "filter": filterset, "table": table,
        "jobs": selectors.jobs_running(client=access.client),
    })


def _held_upload(form: UploadForm):
    """The upload to import: the file sent now, or the one kept when it was previewed."""
    if form.cleaned_data.get("file"):
        return form.cleaned_data["file"], None
    held = form.cleaned_data.get("held")
    return services.upload_held_open(held=held), held["path"]


@login_required
@require_http_methods(["GET", "POST"])
@upload_limit(services.statement_max_bytes, "bank statements")
def import_upload(request, code):
    access = membership_of_request(request, code, write=True)
    form = UploadForm(request.POST or None, request.FILES or None, client=access.client)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = held_path = None
        try:
            upload, held_path = _held_upload(form)
            if "preview" in request.POST:
                if not data["mapping"]:
                    raise DomainError("Choose a CSV column mapping to preview the file under it.")
                preview = services.csv_preview(mapping=data["mapping"], stream=upload)
                if held_path:
                    upload.close()
                else:
                    held_path = services.upload_hold(client_code=access.client.code, upload=upload)
                form = UploadForm(
                    initial={"format": data["format"], "mapping": data["mapping"], "held": held_token(
                        client_code=access.client.code, path=held_path, name=upload.name, size=upload.size,
                    )},
                    client=access.client,
                )
                form.held_name = upload.name
            elif upload.size >= services.statement_async_bytes():
                job = services.statement_import_queue(
                    client=access.client, actor=request.user, upload=upload, format=data["format"] or None,
                    mapping=data["mapping"],
                )
                services.upload_forget(upload=upload, held_path=held_path)
                messages.info(request, f"{job.file_name} is being imported; this page follows it.")
                return redirect("import_job", access.client.code, job.pk)
            else:
                imported = services.statement_import(
                    client=access.client, actor=request.user, file_name=upload.name, stream=upload,
                    format=data["format"] or None, mapping=data["mapping"], source="upload",
                )
                services.upload_forget(upload=upload, held_path=held_path)
                messages.success(request, f"{imported.file_name}: {imported.created_count} payments stored, "
                                          f"{imported.skipped_count} already known.")
                return redirect("import_detail", access.client.code, imported.pk)
        except StatementError as exc:
            form.add_error(None, f"Refused at {exc.where or 'the start'}: {exc.message}. Nothing of the file was kept.")
        except DomainError as exc:
            form.add_error(None, str(exc))
    return render(request, "reconciliation/import_upload.html", {"access": access, "form": form, "preview": preview})


@login_required
def import_detail(request, code, pk):
    access = membership_of_request(request, code)
    payment_import = _import_or_404(access, pk)
    return render(request, "reconciliation/import_detail.html", {
        "access": access, "item": payment_import,
        "items": selectors.import_items(payment_import=payment_import),
        "statements": selectors.import_statements(payment_import=payment_import),
        "void_form": VoidForm() if access.can_supervise else None,
        "log": audit_timeline(client=access.client, subject_type="paymentimport", subject_id=pk),
    })


@login_required
@require_POST
def import_void(request, code, pk):
    access = membership_of_request(request, code, write=True, roles=SUPERVISE_ROLES)
    payment_import = _import_or_404(access, pk)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            services.statement_import_void(payment_import=payment_import, actor=request.user,
                                           reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Import #{payment_import.pk} voided: its payments are gone.")
    else:
        messages.error(request, "Say why the import is voided.")
    return redirect("import_detail", access.client.code, payment_import.pk)


@login_required
@require_POST
def notice_done(request, code, pk):
    access = membership_of_request(request, code, write=True)
    try:
        item = selectors.item_get(client=access.client, pk=pk)
    except ImportItem.DoesNotExist:
        raise Http404("No such notice") from None
    try:
        services.import_notice_done(item=item, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("import_detail", access.client.code, item.payment_import_id)


@login_required
def import_job(request, code, pk):
    access = membership_of_request(request, code)
    try:
        job = selectors.job_get(client=access.client, pk=pk)
    except ImportJob.DoesNotExist:
        raise Http404("No such import") from None
    if job.status == JobStatus.DONE and job.payment_import_id:
        return redirect("import_detail", access.client.code, job.payment_import_id)
    read, stored = selectors.job_progress(job=job)
    return render(request, "reconciliation/import_job.html", {
        "access": access, "job": job, "rows_read": read, "rows_stored": stored,
        "running": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
    })


# --- Reconciliation runs ---------------------------------------------------------------------------


@login_required
def run_list(request, code):
    access = membership_of_request(request, code)
    filterset = RunFilter(request.GET, queryset=selectors.runs_of(client=access.client))
    table = paginate(request, RunTable(filterset.qs, time_zone=access.client.timezone))
    return render(request, "reconciliation/run_list.html", {"access": access, "filter": filterset, "table": table})


@login_required
def run_detail(request, code, pk):
    access = membership_of_request(request, code)
    try:
        run = selectors.run_get(client=access.client, pk=pk)
    except ReconciliationRun.DoesNotExist:
        raise Http404("No such run") from None
    return render(request, "reconciliation/run_detail.html", {"access": access, "run": run, "summary": selectors.run_summary(run=run)})


# --- Received payments: the unmatched ones, one payment's page, undoing a match, refunding credit ------


@login_required
def payments_unmatched(request, code):
    access = membership_of_request(request, code)
    filterset = UnmatchedPaymentFilter(request.GET, queryset=selectors.payments_unmatched(client=access.client))
    table = paginate(request, UnmatchedPaymentTable(filterset.qs))
    return render(request, "reconciliation/unmatched_list.html", {"access": access, "filter": filterset, "table": table})


def _payment_or_404(access, pk) -> Payment:
    try:
        return selectors.payment_get(client=access.client, pk=pk)
    except Payment.DoesNotExist:
        raise Http404("No such payment") from None


@login_required
def payment_detail(request, code, pk):
    access = membership_of_request(request, code)
    payment = _payment_or_404(access, pk)
    allocations = list(selectors.payment_allocations(payment=payment))
    if access.can_supervise:
        for allocation in allocations:
            allocation.undo_form = UndoMatchForm(allocation_id=allocation.pk)
    holds_credit = payment.customer_id is not None and payment.rest > 0
    return render(request, "reconciliation/payment_detail.html", {
        "access": access, "payment": payment, "allocations": allocations,
        "reversals": selectors.payment_reversals(payment=payment),
        "discrepancies": selectors.payment_discrepancies(payment=payment),
        "refunds": selectors.payment_refunds(payment=payment),
        "refund_form": CreditRefundForm(initial={"amount": payment.rest}) if holds_credit and access.can_supervise else None,
        "log": selectors.payment_history(payment=payment, allocations=allocations)[:200],
    })


@login_required
@require_POST
def allocation_undo(request, code, pk, allocation_pk):
    access = membership_of_request(request, code, write=True, roles=SUPERVISE_ROLES)
    payment = _payment_or_404(access, pk)
    allocation = next((a for a in selectors.payment_allocations(payment=payment) if a.pk == allocation_pk), None)
    if allocation is None:
        messages.error(request, "This match was already undone.")
        return redirect("payment_detail", access.client.code, payment.pk)
    form = UndoMatchForm(request.POST, allocation_id=allocation.pk)
    if not form.is_valid():
        messages.error(request, "Say why the match is undone: it goes on the log.")
        return redirect("payment_detail", access.client.code, payment.pk)
    try:
        scheduled = services.allocation_undo(allocation=allocation, actor=request.user, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Match undone: {scheduled.reference} is {scheduled.get_status_display().lower()} again.")
    return redirect("payment_detail", access.client.code, payment.pk)


@login_required
@require_POST
def credit_refund(request, code, pk):
    access = membership_of_request(request, code, write=True, roles=SUPERVISE_ROLES)
    payment = _payment_or_404(access, pk)
    form = CreditRefundForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the amount to refund and say why.")
        return redirect("payment_detail", access.client.code, payment.pk)
    data = form.cleaned_data
    try:
        refund = services.credit_refund(payment=payment, actor=request.user, amount=data["amount"], reason=data["reason"])
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{format_money(refund.amount, payment.currency)} of credit refunded.")
    return redirect("payment_detail", access.client.code, payment.pk)


@login_required
@require_POST
def run_request(request, code):
    """Reconcile now (agents, supervisors): a run of today is queued; the runs list shows it."""
    access = membership_of_request(request, code, write=True)
    as_of = services.reconciliation_run_queue(client=access.client, actor=request.user)
    messages.success(request, f"A reconciliation of {access.client.code} as of {as_of.isoformat()} is queued; "
                              "it appears here when it has run.")
    return redirect("run_list", access.client.code)
