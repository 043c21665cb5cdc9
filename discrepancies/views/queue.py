"""The queue across the user's clients: the list, Claim next and the CSV export."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from bpo_ledger.access import accesses_of_request, membership_of_request
from bpo_ledger.tables import paginate

from .. import selectors, services
from ..filters import QueueFilter
from ..tables import QueueTable, export_rows


def _queue_filter(request, accesses) -> QueueFilter:
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
    table = QueueTable(selectors.as_queue_rows(filterset.qs), order_by=request.GET.get("sort") or "sla_due_at", exclude=exclude)
    return render(request, "discrepancies/queue.html", {
        "filter": filterset, "table": paginate(request, table), "access": access,
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
    items = selectors.as_export_rows(filterset.qs).order_by("sla_due_at", "pk").iterator(chunk_size=1000)
    writer = csv.writer(_Echo())
    rows = (writer.writerow(row) for row in export_rows(items, now=timezone.now()))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    # The moment of the export in UTC, said with its Z: the file spans clients of any zone.
    response["Content-Disposition"] = f'attachment; filename="discrepancies-{timezone.now():%Y%m%d-%H%MZ}.csv"'
    return response
