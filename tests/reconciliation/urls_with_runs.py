"""The project's URLs for the "reconcile now" tests, with a stand-in for the runs list
("run_list", /clients/<code>/runs/, built with the runs pages) while it is not yet there."""

from django.http import HttpResponse
from django.urls import NoReverseMatch, path, reverse

from config.urls import urlpatterns as project_urls

try:
    reverse("run_list", args=["ACME"], urlconf="config.urls")
    urlpatterns = list(project_urls)
except NoReverseMatch:
    urlpatterns = [
        path("clients/<str:code>/runs/", lambda request, code: HttpResponse("runs"), name="run_list"),
        *project_urls,
    ]
