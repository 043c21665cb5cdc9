"""The supervisors' pages across the clients they supervise: escalations, approvals, the team's
workload and bulk assignment."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from bpo_ledger.access import accesses_of_request
from bpo_ledger.errors import DomainError
from bpo_ledger.tables import paginate

from .. import selectors, services
from ..forms import BulkAssignForm, DecisionForm
from ..tables import QueueTable
from ._common import error_text, next_or


def _supervised(request) -> list:
    """The clients the user supervises; none at all is a 403."""
    clients = [a.client for a in accesses_of_request(request) if a.can_supervise]
    if not clients:
        raise PermissionDenied("Only supervisors see this page.")
    return clients


@login_required
def escalations(request):
    clients = _supervised(request)
    table = QueueTable(selectors.escalations_for(clients=clients), order_by=request.GET.get("sort"), exclude=("status",))
    return render(request, "discrepancies/escalations.html", {
        "table": paginate(request, table), "bulk_workers": selectors.workers_of(clients=clients),
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
    back = next_or(request, reverse("queue"))
    if not form.is_valid():
        messages.error(request, error_text(form))
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
            left = len(ids) - count
            unchanged = f" {left} left as {'they were' if left != 1 else 'it was'}." if left else ""
            messages.success(request, f"{client.code}: {count} item{'s' if count != 1 else ''} given to {who}.{unchanged}")
    return redirect(back)
