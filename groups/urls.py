from django.urls import path

from . import views

app_name = "groups"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("circles/", views.directory, name="directory"),
    path("new-circle/", views.circle_create, name="circle_create"),
    path("circles/<slug:slug>/", views.circle_detail, name="circle"),
    path("circles/<slug:slug>/join/", views.join, name="join"),
    path("circles/<slug:slug>/agreements/", views.agreements, name="agreements"),
    path("circles/<slug:slug>/leave/", views.leave, name="leave"),
    path("circles/<slug:slug>/me/", views.my_place, name="my_place"),
    path("circles/<slug:slug>/edit/", views.circle_edit, name="circle_edit"),
    path("circles/<slug:slug>/manage/", views.manage, name="manage"),
    path(
        "circles/<slug:slug>/manage/requests/<int:membership_id>/approve/",
        views.request_approve,
        name="request_approve",
    ),
    path(
        "circles/<slug:slug>/manage/requests/<int:membership_id>/decline/",
        views.request_decline,
        name="request_decline",
    ),
    path(
        "circles/<slug:slug>/manage/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "circles/<slug:slug>/manage/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path("circles/<slug:slug>/manage/invites/", views.invite_create, name="invite_create"),
    path(
        "circles/<slug:slug>/manage/invites/<int:invite_id>/revoke/",
        views.invite_revoke,
        name="invite_revoke",
    ),
    path("invite/<str:token>/", views.invite_landing, name="invite"),
]
