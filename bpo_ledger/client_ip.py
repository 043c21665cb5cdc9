"""The address a request comes from, for the login lockout (django-axes' AXES_CLIENT_IP_CALLABLE).

Behind reverse proxies REMOTE_ADDR is the nearest proxy's address, the same for everyone: a
lockout by username and address would then lock a user out for every address, so anyone could
lock anyone out. With AXES_IPWARE_PROXY_COUNT = N proxies in front, each appending the address it
was called from to X-Forwarded-For, the client is the N-th address from the right; whatever
stands further left was written by the client and is never trusted. (axes would do the same
through django-ipware, which is not installed.)
"""

import ipaddress

from django.conf import settings


def client_ip_address(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    count = settings.AXES_IPWARE_PROXY_COUNT or 0
    if count < 1:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote  # not through every proxy: the peer is the client
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
