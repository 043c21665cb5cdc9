"""A client's discrepancy dashboard: the report's numbers, its charts and the tables under them."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from bpo_ledger.access import membership_of_request

from .. import reports
from ..dashboard import dashboard_charts


@login_required
def dashboard(request, code):
    access = membership_of_request(request, code)
    report = reports.discrepancy_dashboard(client=access.client)
    return render(
        request,
        "discrepancies/dashboard.html",
        {"access": access, "report": report, "charts": dashboard_charts(report)},
    )
