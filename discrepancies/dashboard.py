# Placeholder so the URLconf imports while the dashboard is written; replaced.
from django.http import Http404


def dashboard(request, code):
    raise Http404("not built yet")
