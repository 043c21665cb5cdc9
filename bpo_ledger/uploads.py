"""Request bodies no larger than the page that takes them.

Every page takes a body of at most DATA_UPLOAD_MAX_MEMORY_SIZE (a form without files needs no
more); a page that takes a file says its own limit with @upload_limit. A larger body is refused
with a 413 from its declared length (Content-Length) before any of it is read: under WSGI Django
never reads past the declared length, so a body cannot grow after the check. The middleware runs
before the CSRF check, which would otherwise read the whole body to find its token.
"""

from collections.abc import Callable

from django.conf import settings
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.http import url_has_allowed_host_and_scheme

# Room for the form's other fields and the multipart headers around an upload.
MULTIPART_ALLOWANCE = 64 * 1024


def upload_limit(max_bytes: Callable[[], int], what: str):
    """Let a view take an upload of up to max_bytes() (read when a request comes), `what`
    naming it in the refusal ("evidence files")."""

    def decorate(view):
        view.upload_limit = (max_bytes, what)
        return view

    return decorate


def body_limit(view) -> tuple[int, int, str]:
    """(the largest body the view takes, the limit people are told, what it is for)."""
    declared = getattr(view, "upload_limit", None)
    if declared is None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return limit, limit, "a form"
    max_bytes, what = declared
    return max_bytes() + MULTIPART_ALLOWANCE, max_bytes(), what


class RequestBodyLimitMiddleware:
    """Refuse (413) a request whose declared body is larger than its view takes, unread."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body of an unreadable length
        largest, told, what = body_limit(view_func)
        if length <= largest:
            return None
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            back = ""
        return render(
            request,
            "413.html",
            {"size": filesizeformat(length), "limit": filesizeformat(told), "what": what, "back": back},
            status=413,
        )
