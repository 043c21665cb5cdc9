"""What several kinds of discrepancy writes share: the conditional UPDATE that refuses a change
made from a stale page, the look-up of a problem already logged under its fingerprint, and the
columns of an SLA record."""

from django.db.models import F
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.errors import DomainError, StaleError
from bpo_ledger.models import Client

from .. import policy
from ..models import Discrepancy, Status


def stale_error(item: Discrepancy, status: str) -> StaleError:
    return StaleError(
        f"{item.reference} was changed by someone else (it is now {Status(status).label.lower()}): "
        "reload the page and try again. Nothing was overwritten."
    )


def conditional_update(item: Discrepancy, *, sources, version: int, conditions: dict | None = None, **changes) -> None:
    """UPDATE ... WHERE status IN sources AND version = version; refuse if someone got there first."""
    updated = Discrepancy.objects.filter(pk=item.pk, version=version, status__in=sources, **(conditions or {})).update(
        version=F("version") + 1, updated_at=timezone.now(), **changes
    )
    if updated:
        return
    current = Discrepancy.objects.filter(pk=item.pk).values("status", "version").get()
    if current["version"] != version:
        raise stale_error(item, current["status"])
    raise DomainError(f"{item.reference} is {Status(current['status']).label.lower()}: this step does not apply.")


def already_logged(client: Client, fingerprint: str) -> Discrepancy | None:
    """The item logged under this fingerprint, if any.

    Looked up under the client's chain head lock: two runs logging the same problem at once get
    one item (the second finds the first's), never an IntegrityError.
    """
    locks.client_chain_head(client_id=client.pk)
    return Discrepancy.objects.filter(client=client, fingerprint=fingerprint).first()


def sla_record(history: list[dict]) -> dict:
    """The columns that hold an SLA record (policy.sla_started and after): the record itself and
    the breach times it gives, which the queue's filter, the team page and the reports read."""
    first, any_breach = policy.sla_breaches(history)
    return {"sla_history": history, "first_sla_breached_at": first, "sla_breached_at": any_breach}
