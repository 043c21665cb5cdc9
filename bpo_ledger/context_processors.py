from django.conf import settings
from django.urls import reverse

from .access import ADMIN, accesses_of_request


def navigation(request):
    """The user's clients for the switcher; the current client's menu when a page has one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_accesses": accesses_of_request(request),
        "nav_is_admin": user.is_staff,
        "ADMIN_ROLE": ADMIN,
    }


def work_navigation(request):
    """The top bar's links to the cross-client work pages the user's roles open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    accesses = accesses_of_request(request)
    audiences = set()
    if any(a.can_write for a in accesses):
        audiences.add("work")
    elif accesses:
        audiences.add("read")
    if any(a.can_supervise for a in accesses):
        audiences.add("supervise")
    links = []
    for label, name, audience in settings.WORK_LINKS:
        if audience in audiences:
            url = reverse(name)
            links.append((label, url, request.path == url))
    return {"nav_work_links": links}
