"""The facilitators' library pages: a circle's prompts and its agenda scripts.

Each view asks groups.access for the facilitator's membership (everyone else gets 404,
exactly as for a circle that doesn't exist), calls one service for a write, and
renders. A refused write re-renders the page with the reason and status 400.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from groups.access import access_circle_as_facilitator
from groups.models import Circle

from . import library_services, scripts, selectors
from .forms import LibraryFilterForm, PromptForm, ScriptNameForm, StepForm, add_service_error

ERROR_STATUS = 400  # a form re-rendered with errors, or a refused button


def _library_url(circle: Circle) -> str:
    return reverse("facilitation:library", kwargs={"slug": circle.slug})


def _own_prompt_url(circle: Circle, prompt) -> str:
    """The circle's own prompts, this one in view: a short list, so the confirmation at
    the top of the page and the prompt are both on screen."""
    return f"{_library_url(circle)}?source=own#prompt-{prompt.pk}"


def _agenda_url(circle: Circle, anchor: str = "") -> str:
    url = reverse("facilitation:agenda", kwargs={"slug": circle.slug})
    return f"{url}#{anchor}" if anchor else url


def _script_url(circle: Circle, script_id: int, anchor: str = "") -> str:
    url = reverse("facilitation:script", kwargs={"slug": circle.slug, "script_id": script_id})
    return f"{url}#{anchor}" if anchor else url


def _prompt_initial(prompt) -> dict:
    return {
        "text": prompt.text,
        "strategy": prompt.strategy,
        "phase": prompt.phase,
        "depth": prompt.depth,
    }


# Prompt library ------------------------------------------------------------------------------


def _library_page(
    request: HttpRequest,
    *,
    circle: Circle,
    membership,
    add_form: PromptForm | None = None,
    bound: PromptForm | None = None,
    bound_id: int | None = None,
    errors: ValidationError | None = None,
    status: int = 200,
) -> HttpResponse:
    filters = LibraryFilterForm(request.GET if request.method == "GET" else None)
    criteria = filters.cleaned_data if filters.is_bound and filters.is_valid() else {}
    if filters.errors:
        status = ERROR_STATUS
    page = selectors.prompt_library(
        circle=circle,
        q=(criteria.get("q") or "").strip(),
        phase=criteria.get("phase") or "",
        depth=criteria.get("depth"),
        strategy=criteria.get("strategy") or "",
        source=criteria.get("source") or "",
    )
    for prompt in page.prompts:
        if prompt.circle_id is None:
            continue
        if prompt.pk == bound_id:
            prompt.form = bound  # type: ignore[attr-defined]  # for the template
        else:
            prompt.form = PromptForm(  # type: ignore[attr-defined]
                prefix=f"prompt-{prompt.pk}", initial=_prompt_initial(prompt)
            )
    context = {
        "circle": circle,
        "membership": membership,
        "library": page,
        "filters": filters,
        "add_form": add_form or PromptForm(prefix="new", initial={"depth": 1}),
        "bound_id": bound_id,
        "errors": errors,
        "own_source": library_services.own_prompt_source(),
    }
    return render(request, "facilitation/library.html", context, status=status)


@login_required
@require_GET
def library(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    return _library_page(request, circle=circle, membership=membership)


@login_required
@require_POST
def prompt_add(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    form = PromptForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            prompt = library_services.prompt_create(
                actor=membership, circle=circle, **form.service_fields()
            )
        except ValidationError as err:
            add_service_error(form, err)
        else:
            messages.success(request, _("Your prompt is in the circle's library."))
            return redirect(_own_prompt_url(circle, prompt))
    return _library_page(
        request, circle=circle, membership=membership, add_form=form, status=ERROR_STATUS
    )


@login_required
@require_POST
def prompt_edit(request: HttpRequest, slug: str, prompt_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    prompt = selectors.library_prompt(circle=circle, prompt_id=prompt_id)
    form = PromptForm(request.POST, prefix=f"prompt-{prompt.pk}")
    if form.is_valid():
        try:
            library_services.prompt_update(
                actor=membership, circle=circle, prompt=prompt, **form.service_fields()
            )
        except ValidationError as err:
            if prompt.circle_id is None:
                # A built-in has no form on the page: say so at the top.
                return _library_page(
                    request, circle=circle, membership=membership, errors=err, status=ERROR_STATUS
                )
            add_service_error(form, err)
        else:
            messages.success(request, _("The prompt is saved."))
            return redirect(_own_prompt_url(circle, prompt))
    return _library_page(
        request,
        circle=circle,
        membership=membership,
        bound=form,
        bound_id=prompt.pk,
        status=ERROR_STATUS,
    )


@login_required
@require_POST
def prompt_delete(request: HttpRequest, slug: str, prompt_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    prompt = selectors.library_prompt(circle=circle, prompt_id=prompt_id)
    try:
        steps = library_services.prompt_delete(actor=membership, circle=circle, prompt=prompt)
    except ValidationError as err:
        return _library_page(
            request, circle=circle, membership=membership, errors=err, status=ERROR_STATUS
        )
    text = _("The prompt is removed from the circle's library.")
    if steps:
        text += " " + ngettext(
            "The agenda step that used it now has no prompt.",
            "The %(n)s agenda steps that used it now have no prompt.",
            steps,
        ) % {"n": steps}
    messages.success(request, text)
    return redirect(_library_url(circle))


# Agenda scripts ----------------------------------------------------------------------------


def _agenda_page(
    request: HttpRequest,
    *,
    circle: Circle,
    membership,
    errors: ValidationError | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "circle": circle,
        "membership": membership,
        "scripts": selectors.agenda_scripts(circle=circle),
        "errors": errors,
    }
    return render(request, "facilitation/agenda.html", context, status=status)


@login_required
@require_GET
def agenda(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    return _agenda_page(request, circle=circle, membership=membership)


@login_required
@require_POST
def script_default(request: HttpRequest, slug: str, script_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    script = selectors.usable_script(circle=circle, script_id=script_id)
    try:
        scripts.script_set_default(actor=membership, circle=circle, script=script)
    except ValidationError as err:
        return _agenda_page(
            request, circle=circle, membership=membership, errors=err, status=ERROR_STATUS
        )
    messages.success(
        request,
        _(
            "“%(name)s” is now the agenda for the circle's next meetings. A meeting already "
            "under way keeps the agenda it started with."
        )
        % {"name": script.name},
    )
    return redirect(_agenda_url(circle, f"script-{script.pk}"))


@login_required
@require_POST
def script_copy(request: HttpRequest, slug: str, script_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    script = selectors.usable_script(circle=circle, script_id=script_id)
    try:
        # A copy of a built-in gets a name of its own, so the two are told apart.
        name = (
            (_("%(name)s (our version)") % {"name": script.name})[:120]
            if script.circle_id is None
            else None
        )
        copy = scripts.script_copy(actor=membership, circle=circle, script=script, name=name)
    except ValidationError as err:
        return _agenda_page(
            request, circle=circle, membership=membership, errors=err, status=ERROR_STATUS
        )
    messages.success(
        request,
        _(
            "This is the circle's own copy of “%(name)s”. Change it as you like: the "
            "original stays as it was."
        )
        % {"name": script.name},
    )
    return redirect(_script_url(circle, copy.pk))


# Editing one of the circle's own scripts -----------------------------------------------


def _script_page(
    request: HttpRequest,
    *,
    circle: Circle,
    membership,
    script_id: int,
    rename_form: ScriptNameForm | None = None,
    add_form: StepForm | None = None,
    bound: StepForm | None = None,
    bound_id: int | None = None,
    errors: ValidationError | None = None,
    status: int = 200,
) -> HttpResponse:
    script = selectors.own_script(circle=circle, script_id=script_id)
    choices = selectors.prompt_choices(circle=circle)
    steps = list(script.steps.all())
    for step in steps:
        if step.pk == bound_id:
            step.form = bound  # type: ignore[attr-defined]  # for the template
        else:
            step.form = StepForm.for_step(  # type: ignore[attr-defined]
                step, prompt_choices=choices
            )
    context = {
        "circle": circle,
        "membership": membership,
        "script": script,
        "steps": steps,
        "total_minutes": sum(step.minutes for step in steps),
        "rename_form": rename_form
        or ScriptNameForm(prefix="script", initial={"name": script.name}),
        "add_form": add_form
        or StepForm(prefix="new-step", prompt_choices=choices, initial={"minutes": 10}),
        "bound_id": bound_id,
        "errors": errors,
    }
    return render(request, "facilitation/script.html", context, status=status)


@login_required
@require_GET
def script_detail(request: HttpRequest, slug: str, script_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    return _script_page(request, circle=circle, membership=membership, script_id=script_id)


# The step and rename buttons exist only for the circle's own scripts: a built-in, like
# another circle's script, answers 404 here (and the services refuse built-ins too).


@login_required
@require_POST
def script_rename(request: HttpRequest, slug: str, script_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    script = selectors.own_script(circle=circle, script_id=script_id, with_steps=False)
    form = ScriptNameForm(request.POST, prefix="script")
    if form.is_valid():
        try:
            library_services.script_rename(
                actor=membership, circle=circle, script=script, name=form.cleaned_data["name"]
            )
        except ValidationError as err:
            add_service_error(form, err)
        else:
            messages.success(request, _("The agenda's new name is saved."))
            return redirect(_script_url(circle, script.pk))
    return _script_page(
        request,
        circle=circle,
        membership=membership,
        script_id=script.pk,
        rename_form=form,
        status=ERROR_STATUS,
    )


@login_required
@require_POST
def step_add(request: HttpRequest, slug: str, script_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    script = selectors.own_script(circle=circle, script_id=script_id, with_steps=False)
    choices = selectors.prompt_choices(circle=circle)
    form = StepForm(request.POST, prefix="new-step", prompt_choices=choices)
    if form.is_valid():
        try:
            step = library_services.script_step_add(
                actor=membership, circle=circle, script=script, **form.service_fields()
            )
        except ValidationError as err:
            add_service_error(form, err)
        else:
            messages.success(request, _("The new step is added at the end."))
            return redirect(_script_url(circle, script.pk, f"step-{step.pk}"))
    return _script_page(
        request,
        circle=circle,
        membership=membership,
        script_id=script.pk,
        add_form=form,
        status=ERROR_STATUS,
    )


@login_required
@require_POST
def step_edit(request: HttpRequest, slug: str, script_id: int, step_id: int) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    script = selectors.own_script(circle=circle, script_id=script_id, with_steps=False)
    step = selectors.script_step(script=script, step_id=step_id)
    choices = selectors.prompt_choices(circle=circle)
    form = StepForm(request.POST, prefix=f"step-{step.pk}", prompt_choices=choices)
    if form.is_valid():
        try:
            library_services.script_step_update(
                actor=membership, circle=circle, step=step, **form.service_fields()
            )
        except ValidationError as err:
            add_service_error(form, err)
        else:
            messages.success(request, _("The step is saved."))
            return redirect(_script_url(circle, script.pk, f"step-{step.pk}"))
    return _script_page(
        request,
        circle=circle,
        membership=membership,
        script_id=script.pk,
        bound=form,
        bound_id=step.pk,
        status=ERROR_STATUS,
    )


def _step_button(request, slug, script_id, step_id, action, success_message) -> HttpResponse:
    """Shared shape of the remove and move buttons: check, call one service, redirect
    back to the step, or re-render the page with the refusal at the top."""
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    script = selectors.own_script(circle=circle, script_id=script_id, with_steps=False)
    step = selectors.script_step(script=script, step_id=step_id)
    try:
        anchor = action(circle=circle, membership=membership, step=step)
    except ValidationError as err:
        return _script_page(
            request,
            circle=circle,
            membership=membership,
            script_id=script.pk,
            errors=err,
            status=ERROR_STATUS,
        )
    messages.success(request, success_message % {"title": step.title})
    return redirect(_script_url(circle, script.pk, anchor))


@login_required
@require_POST
def step_delete(request: HttpRequest, slug: str, script_id: int, step_id: int) -> HttpResponse:
    def action(*, circle, membership, step):
        library_services.script_step_delete(actor=membership, circle=circle, step=step)
        return "steps-title"

    return _step_button(
        request, slug, script_id, step_id, action, _("“%(title)s” is removed from the agenda.")
    )


@login_required
@require_POST
def step_move(request: HttpRequest, slug: str, script_id: int, step_id: int) -> HttpResponse:
    direction = request.POST.get("direction", "")

    def action(*, circle, membership, step):
        library_services.script_step_move(
            actor=membership, circle=circle, step=step, direction=direction
        )
        return f"step-{step.pk}"

    text = _("“%(title)s” moved up.") if direction == "up" else _("“%(title)s” moved down.")
    return _step_button(request, slug, script_id, step_id, action, text)
