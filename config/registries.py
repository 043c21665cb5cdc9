"""The registries through which the apps meet on shared pages.

The core app renders menus, the customer page and demo data without knowing the apps above it;
these lists, read by the core app as settings, name what each app contributes.
"""

# The menu of a client's pages: (label, url name, how to link, roles or None for all).
# "client" links take the client code as argument; "filter" links are lists across the
# user's clients, filtered to this one.
CLIENT_MENU = [
    ("Overview", "client_overview", "client", None),
    ("Queue", "queue", "filter", ("agent", "supervisor", "admin")),
    ("Discrepancies", "queue", "filter", ("auditor",)),
    ("Dashboard", "discrepancy_dashboard", "client", None),
    ("Schedules", "schedule_list", "filter", None),
    ("Customers", "customer_list", "client", None),
    ("Payments", "payment_list", "client", None),
    ("Statements", "import_list", "client", None),
    ("Runs", "run_list", "client", None),
    ("Audit trail", "audit_trail", "client", ("supervisor", "auditor", "admin")),
]

# The top bar's links to cross-client work pages: (label, url name, who sees it). "work": anyone
# who works items somewhere; "read": anyone who only reads; "supervise": supervisors and admins.
WORK_LINKS = [
    ("Queue", "queue", "work"),
    ("Discrepancies", "queue", "read"),
    ("Escalations", "escalations", "supervise"),
    ("Approvals", "approvals", "supervise"),
    ("Team", "team", "supervise"),
]

# Sections that higher apps add to the customer page: dotted paths of functions
# (customer=, access=) -> (template name, context).
CUSTOMER_PAGE_PANELS = ["schedules.panels.customer_schedules", "reconciliation.panels.customer_credit"]

# The page of one received payment (reconciliation, which knows its allocations, credit and
# discrepancies): the url name, taking the client code and the payment id, that the payments list
# and the schedule page link to.
PAYMENT_PAGE_URL = "payment_detail"

# What higher apps hold of a received payment besides its allocations and reversals (credit paid
# back to the customer, in reconciliation): dotted paths of functions (payment=) -> Decimal. A
# payment applied by hand may use only what none of them holds.
PAYMENT_HELD_ELSEWHERE = ["reconciliation.selectors.payment_refunded"]

# Demo data for `make run` (manage.py seed_demo), lowest app first.
DEMO_SEEDERS = ["bpo_ledger.demo.seed", "schedules.demo.seed", "discrepancies.demo.seed", "reconciliation.demo.seed"]
