from django.urls import path

from . import views

client_urls = [
    path("schedules/new/", views.schedule_create, name="schedule_create"),
    path("schedules/<int:pk>/", views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:pk>/<slug:action>/", views.schedule_action, name="schedule_action"),
]

urlpatterns = [
    path("schedules/", views.schedule_list, name="schedule_list"),
]
