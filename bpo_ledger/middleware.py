"""Responses that no browser or proxy may keep."""

from django.utils.cache import patch_cache_control


def private_no_store(get_response):
    """Every response the app builds (static files are served before this runs) is sent with
    `Cache-Control: private, no-store`: pages, CSV exports and attachments carry personal data,
    and a shared computer's cache or back button must not show them after logout."""

    def middleware(request):
        response = get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response

    return middleware
