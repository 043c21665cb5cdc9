"""What several discrepancy pages share."""

from django.utils.http import url_has_allowed_host_and_scheme


def next_or(request, default: str) -> str:
    """Where to go after a POST: the page's own "next" if it is on this site, else `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if target and allowed else default


def error_text(form) -> str:
    """The form's errors in one line, each named by its field, for the alert above the page."""
    parts = []
    for name, errors in form.errors.items():
        label = "" if name == "__all__" else f"{form[name].label}: "
        parts.extend(label + error for error in errors)
    return " ".join(parts)
