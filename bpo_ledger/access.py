"""Who may see and change what: the one place that decides.

A client the user holds no membership of does not exist for them (404). A read-only role
asking to change something is refused (403). Superusers are the admins: they see every client.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .models import Client, Membership, Role

ADMIN = "admin"  # the role a superuser acts in; not stored in Membership
WRITE_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, ADMIN})
SUPERVISE_ROLES = frozenset({Role.SUPERVISOR, ADMIN})


@dataclass(frozen=True)
class Access:
    """The user's standing in one client."""

    client: Client
    role: str

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES

    @property
    def can_supervise(self) -> bool:
        return self.role in SUPERVISE_ROLES

    @property
    def role_label(self) -> str:
        return "Admin" if self.role == ADMIN else Role(self.role).label


def accesses_for(user) -> list[Access]:
    """Every client the user may open, with their role in it, ordered by client code."""
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return [Access(client, ADMIN) for client in Client.objects.filter(is_active=True)]
    memberships = Membership.objects.filter(user=user, client__is_active=True).select_related(
        "client"
    )
    return sorted(
        (Access(m.client, m.role) for m in memberships), key=lambda a: a.client.code
    )


def accesses_of_request(request) -> list[Access]:
    """accesses_for(request.user), looked up once per request: the layout, the menus and the
    view all need it, and django-tables2 renders its template with the context processors again."""
    cached = getattr(request, "_bpo_accesses", None)
    if cached is None or cached[0] is not request.user:
        cached = (request.user, accesses_for(request.user))
        request._bpo_accesses = cached
    return cached[1]


def clients_for(user) -> QuerySet[Client]:
    if user.is_superuser:
        return Client.objects.filter(is_active=True)
    return Client.objects.filter(is_active=True, memberships__user=user)


def membership_of_request(request, client_code: str, *, write: bool = False, roles=None) -> Access:
    """The user's access to a client, or 404 if they are no member; 403 if the role may not act.

    write=True refuses read-only roles (auditors); roles=... restricts to those roles (admins
    pass every role check). Answered from accesses_of_request: the page's layout reads all of
    the user's clients anyway, so this asks the database nothing more.
    """
    for access in accesses_of_request(request):
        if access.client.code == client_code:
            return _allowed(access, write=write, roles=roles)
    raise Http404("No such client")


def _allowed(access: Access, *, write: bool, roles) -> Access:
    if write and not access.can_write:
        raise PermissionDenied("Your role for this client is read-only.")
    if roles is not None and access.role != ADMIN and access.role not in roles:
        raise PermissionDenied("Your role for this client may not do this.")
    return access


def role_of(user, client: Client) -> str | None:
    """The user's role in the client (ADMIN for superusers), or None for outsiders."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    return Membership.objects.filter(user=user, client=client).values_list("role", flat=True).first()


def actor_role(actor, client: Client) -> str:
    """The role a service acts in: system jobs (a "system:..." name) act as admins, on record
    under their own name; a user who is no member of the client is refused."""
    if isinstance(actor, str):
        return ADMIN
    role = role_of(actor, client)
    if role is None:
        raise PermissionDenied("You are not a member of this client.")
    return role


def require_role(actor, client: Client, roles=WRITE_ROLES) -> str:
    """What every service checks first: the actor may make this change in this client."""
    role = actor_role(actor, client)
    if role not in roles:
        raise PermissionDenied("Your role for this client may not do this.")
    return role
