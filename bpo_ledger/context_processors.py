from .access import ADMIN, accesses_for


def navigation(request):
    """The user's clients for the switcher; the current client's menu when a page has one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_accesses": accesses_for(user),
        "nav_is_admin": user.is_staff,
        "ADMIN_ROLE": ADMIN,
    }
