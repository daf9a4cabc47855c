from django.urls import path

from . import views

app_name = "facilitation"

urlpatterns = [
    path("circles/<slug:slug>/prompts/", views.library, name="library"),
    path("circles/<slug:slug>/prompts/add/", views.prompt_add, name="prompt_add"),
    path(
        "circles/<slug:slug>/prompts/<int:prompt_id>/edit/", views.prompt_edit, name="prompt_edit"
    ),
    path(
        "circles/<slug:slug>/prompts/<int:prompt_id>/delete/",
        views.prompt_delete,
        name="prompt_delete",
    ),
    path("circles/<slug:slug>/agenda/", views.agenda, name="agenda"),
    path("circles/<slug:slug>/agenda/<int:script_id>/", views.script_detail, name="script"),
    path(
        "circles/<slug:slug>/agenda/<int:script_id>/default/",
        views.script_default,
        name="script_default",
    ),
    path("circles/<slug:slug>/agenda/<int:script_id>/copy/", views.script_copy, name="script_copy"),
    path(
        "circles/<slug:slug>/agenda/<int:script_id>/rename/",
        views.script_rename,
        name="script_rename",
    ),
    path("circles/<slug:slug>/agenda/<int:script_id>/steps/", views.step_add, name="step_add"),
    path(
        "circles/<slug:slug>/agenda/<int:script_id>/steps/<int:step_id>/",
        views.step_edit,
        name="step_edit",
    ),
    path(
        "circles/<slug:slug>/agenda/<int:script_id>/steps/<int:step_id>/delete/",
        views.step_delete,
        name="step_delete",
    ),
    path(
        "circles/<slug:slug>/agenda/<int:script_id>/steps/<int:step_id>/move/",
        views.step_move,
        name="step_move",
    ),
]
