from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html

from bpo_ledger import events
from bpo_ledger.clock import local_time_text
from bpo_ledger.money import format_money

register = template.Library()


@register.inclusion_tag("bpo_ledger/_client_menu.html", takes_context=True)
def client_menu(context, access):
    """The menu of one client for the user's role there (settings.CLIENT_MENU)."""
    code = access.client.code
    current = context["request"].get_full_path()
    items = []
    for label, url_name, how, roles in settings.CLIENT_MENU:
        if roles is not None and access.role not in roles:
            continue
        url = reverse(url_name, args=[code]) if how == "client" else f"{reverse(url_name)}?client={code}"
        items.append((label, url))
    def active(url):
        path = url.split("?")[0]
        return current == url or (url != items[0][1] and "?" not in url and current.startswith(path))
    return {"items": [(label, url, active(url)) for label, url in items], "access": access}


@register.filter
def money(amount, currency=""):
    return format_money(amount, currency)


@register.filter
def local_time(moment, tz_name, *, seconds=False):
    """A stored moment in the zone `tz_name`, labelled with the zone: every date and time a page
    shows goes through here (or LocalDateTimeColumn), so none is unlabelled UTC."""
    if not moment:
        return ""
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), tz_name, local_time_text(moment, tz_name, seconds=seconds)
    )


@register.filter
def in_minutes(delta):
    return round(delta.total_seconds() / 60)


@register.filter
def event_sentence(event, tz_name):
    """An audit event in words, from the app's event catalogue (bpo_ledger.events), its times in the zone."""
    return events.sentence(event, tz_name)


@register.simple_tag
def payment_page(code, payment_id):
    """The page of one received payment (settings.PAYMENT_PAGE_URL, kept by a higher app)."""
    return reverse(settings.PAYMENT_PAGE_URL, args=[code, payment_id])
