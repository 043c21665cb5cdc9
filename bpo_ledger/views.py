from celery import current_app
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import selectors, services
from .access import SUPERVISE_ROLES, accesses_of_request, membership_of_request
from .errors import StaleError
from .filters import AuditEventFilter, CustomerFilter, PaymentFilter
from .forms import CustomerForm, add_service_errors
from .models import Customer, Role
from .tables import AuditEventTable, CustomerTable, PaymentTable, paginate

AUDIT_ROLES = SUPERVISE_ROLES | {Role.AUDITOR}


def _customer_or_404(access, pk) -> Customer:
    try:
        return selectors.customer_get(client=access.client, pk=pk)
    except Customer.DoesNotExist:
        raise Http404("No such customer") from None


@login_required
def home(request):
    accesses = accesses_of_request(request)
    cards = [(a, selectors.client_summary(client=a.client)) for a in accesses]
    return render(request, "bpo_ledger/home.html", {"cards": cards})


@login_required
def client_overview(request, code):
    access = membership_of_request(request, code)
    summary = selectors.client_summary(client=access.client)
    return render(
        request, "bpo_ledger/client_overview.html", {"access": access, "summary": summary}
    )


@login_required
def customer_list(request, code):
    access = membership_of_request(request, code)
    customers = selectors.customers_of(client=access.client).select_related("client")
    filterset = CustomerFilter(request.GET, queryset=customers)
    table = paginate(request, CustomerTable(filterset.qs))
    return render(
        request,
        "bpo_ledger/customer_list.html",
        {"access": access, "filter": filterset, "table": table},
    )


@login_required
def customer_detail(request, code, pk):
    access = membership_of_request(request, code)
    customer = _customer_or_404(access, pk)
    log = selectors.audit_timeline(client=access.client, subject_type="customer", subject_id=pk)
    panels = [
        import_string(path)(customer=customer, access=access) for path in settings.CUSTOMER_PAGE_PANELS
    ]
    return render(
        request,
        "bpo_ledger/customer_detail.html",
        {"access": access, "customer": customer, "log": log[:100], "panels": panels},
    )


@login_required
def customer_create(request, code):
    access = membership_of_request(request, code, write=True)
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer = services.customer_create(
                client=access.client,
                actor=request.user,
                external_ref=data["external_ref"],
                name=data["name"],
                email=data["email"],
                phone=data["phone"],
                timezone_name=data["timezone"],
                email_consent=data["email_consent"],
                sms_consent=data["sms_consent"],
                bank_account=data["bank_account"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Customer {customer.name} created.")
            return redirect(customer)
    return render(request, "bpo_ledger/customer_form.html", {"access": access, "form": form})


@login_required
def customer_edit(request, code, pk):
    access = membership_of_request(request, code, write=True)
    customer = _customer_or_404(access, pk)
    form = CustomerForm(request.POST or None, instance=customer)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.customer_update(
                customer=customer,
                actor=request.user,
                version=data["version"],
                reason=data["reason"],
                bank_account=form.bank_account_change(),
                **{field: data[field] for field in services.CUSTOMER_FIELDS},
            )
        except StaleError as exc:
            form.add_error(None, str(exc))
            status = 409
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect(customer)
    return render(
        request,
        "bpo_ledger/customer_form.html",
        {"access": access, "form": form, "customer": customer},
        status=status,
    )


@login_required
def payment_list(request, code):
    access = membership_of_request(request, code)
    filterset = PaymentFilter(request.GET, queryset=selectors.payments_of(client=access.client))
    table = paginate(request, PaymentTable(filterset.qs))
    return render(
        request,
        "bpo_ledger/payment_list.html",
        {"access": access, "filter": filterset, "table": table},
    )


@login_required
def audit_trail(request, code):
    access = membership_of_request(request, code, roles=AUDIT_ROLES)
    filterset = AuditEventFilter(request.GET, queryset=selectors.audit_events_of(client=access.client))
    with timezone.override(access.client.timezone):  # the dates asked for are the client's days, as shown
        events = filterset.qs
    table = paginate(request, AuditEventTable(events, time_zone=access.client.timezone))
    return render(
        request,
        "bpo_ledger/audit_trail.html",
        {"access": access, "filter": filterset, "table": table},
    )


@require_GET
@never_cache
def healthz(request):
    """Database and broker reachability for load balancers and compose health checks."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; the class name says which
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
