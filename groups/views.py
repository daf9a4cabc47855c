"""Circle pages. Each view parses input, asks groups.access who may see it, calls one
service for a write, and renders.

Forms with errors are re-rendered with status 400 (not Django's default 200), so
that a refused write is visible as such to tests, logs and assistive tooling alike.
A circle's own pages answer 404 to anyone who isn't an active member, exactly as for
a circle that doesn't exist.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .access import (
    access_circle,
    access_circle_as_facilitator,
    access_listed_circle,
    active_membership,
)
from .forms import (
    AgreementsForm,
    CircleCreateForm,
    CircleForm,
    JoinForm,
    RoleForm,
    add_service_error,
)
from .models import Circle, MembershipStatus
from .regions import help_lines_for

ERROR_STATUS = 400  # a form re-rendered with errors


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _circle_url(circle: Circle) -> str:
    return reverse("groups:circle", kwargs={"slug": circle.slug})


def _manage_url(circle: Circle) -> str:
    return reverse("groups:manage", kwargs={"slug": circle.slug})


# Public pages ------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    data = selectors.dashboard_for(user=request.user)
    return render(request, "groups/dashboard.html", {"dashboard": data})


def directory(request: HttpRequest) -> HttpResponse:
    by_kind = selectors.directory(user=request.user)
    sections = [
        ("men", _("Men's circles"), by_kind["men"]),
        ("partners", _("Partner circles"), by_kind["partners"]),
    ]
    return render(request, "groups/directory.html", {"sections": sections})


def _join_page(
    request: HttpRequest,
    *,
    circle: Circle,
    form: JoinForm,
    invite=None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "circle": circle,
        "form": form,
        "invite": invite,
        "seats_left": selectors.seats_left(circle=circle),
        "next_start": selectors.next_start(circle=circle),
        "own": selectors.own_membership(user=request.user, circle=circle),
    }
    return render(request, "groups/join.html", context, status=status)


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    circle = access_listed_circle(slug=slug)
    if request.method == "GET":
        if active_membership(user=request.user, circle=circle):
            return redirect(_circle_url(circle))
        return _join_page(request, circle=circle, form=JoinForm())
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = JoinForm(request.POST)
    if form.is_valid():
        try:
            services.membership_request(
                user=request.user,
                circle=circle,
                alias=form.cleaned_data["alias"],
                intention=form.cleaned_data["intention"],
            )
        except ValidationError as err:
            add_service_error(form, err)
        else:
            messages.success(
                request,
                _(
                    "Thank you. Your request is with the facilitators of “%(name)s”; "
                    "you'll see here when they've welcomed you in."
                )
                % {"name": circle.name},
            )
            return redirect("groups:dashboard")
    return _join_page(request, circle=circle, form=form, status=ERROR_STATUS)


@require_http_methods(["GET", "POST"])
def invite_landing(request: HttpRequest, token: str) -> HttpResponse:
    invite = services.invite_lookup(token=token)
    if invite is None:
        return render(request, "groups/invite_expired.html", status=404)
    circle = invite.circle
    if request.method == "GET":
        if active_membership(user=request.user, circle=circle):
            return redirect(_circle_url(circle))
        return _join_page(request, circle=circle, form=JoinForm(), invite=invite)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = JoinForm(request.POST)
    if form.is_valid():
        try:
            services.membership_request(
                user=request.user,
                circle=circle,
                alias=form.cleaned_data["alias"],
                intention=form.cleaned_data["intention"],
                invite=invite,
            )
        except ValidationError as err:
            add_service_error(form, err)
        else:
            messages.success(
                request,
                _("Welcome to “%(name)s”. One last step: the circle's agreements.")
                % {"name": circle.name},
            )
            return redirect("groups:agreements", slug=circle.slug)
    return _join_page(request, circle=circle, form=form, invite=invite, status=ERROR_STATUS)


# A member's pages --------------------------------------------------------------------------


@login_required
def circle_detail(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle(user=request.user, slug=slug)
    context = {
        "circle": circle,
        "membership": membership,
        "members": selectors.circle_members(circle=circle),
        "meetings": selectors.upcoming_meetings(circle=circle),
        "help_lines": help_lines_for(circle.region),
        "agreements_ok": membership.is_facilitator or membership.has_accepted_agreements,
    }
    return render(request, "groups/circle.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def agreements(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle(user=request.user, slug=slug)
    next_url = _safe_next(request, _circle_url(circle))
    form = AgreementsForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.agreements_accept(membership=membership)
            except ValidationError as err:
                add_service_error(form, err)
            else:
                messages.success(request, _("Thank you. You're ready to join the meetings."))
                return redirect(next_url)
        status = ERROR_STATUS
    context = {
        "circle": circle,
        "membership": membership,
        "form": form,
        "next": next_url,
        "already_accepted": membership.has_accepted_agreements,
    }
    return render(request, "groups/agreements.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def my_place(request: HttpRequest, slug: str) -> HttpResponse:
    """A member changes the name the circle calls him, or his own reason for coming."""
    circle, membership = access_circle(user=request.user, slug=slug)
    form = JoinForm(
        request.POST or None,
        initial={"alias": membership.alias, "intention": membership.intention},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.membership_update_profile(
                    membership=membership,
                    alias=form.cleaned_data["alias"],
                    intention=form.cleaned_data["intention"],
                )
            except ValidationError as err:
                add_service_error(form, err)
            else:
                messages.success(request, _("Saved. The circle will see your new name."))
                return redirect(_circle_url(circle))
        status = ERROR_STATUS
    context = {"circle": circle, "membership": membership, "form": form}
    return render(request, "groups/my_place.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest, slug: str) -> HttpResponse:
    """Leave a circle, or withdraw a request that is still waiting."""
    membership = selectors.own_current_membership(user=request.user, slug=slug)
    error = None
    if request.method == "POST":
        try:
            services.membership_leave(membership=membership)
        except ValidationError as err:
            error = err
        else:
            if membership.status == MembershipStatus.REQUESTED:
                text = _("Your request to join “%(name)s” is withdrawn.")
            else:
                text = _("You've left “%(name)s”. You're welcome back any time there's a seat.")
            messages.success(request, text % {"name": membership.circle.name})
            return redirect("groups:dashboard")
    context = {"circle": membership.circle, "membership": membership, "errors": error}
    return render(request, "groups/leave.html", context, status=ERROR_STATUS if error else 200)


# Facilitators' pages ------------------------------------------------------------------------


@login_required
def circle_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated or not user.can_host_circles:
        raise PermissionDenied(_("Opening a circle needs the facilitator permission."))
    form = CircleCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.service_fields()
            try:
                circle = services.circle_create(user=user, alias=form.cleaned_data["alias"], **data)
            except ValidationError as err:
                add_service_error(form, err)
            else:
                messages.success(request, _("Your circle is open. Welcome, facilitator."))
                return redirect(_circle_url(circle))
        status = ERROR_STATUS
    return render(request, "groups/circle_form.html", {"form": form}, status=status)


@login_required
def circle_edit(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    # The form validates a copy: a refused edit must not show half-changed values
    # elsewhere on the page.
    draft = Circle.objects.get(pk=circle.pk)
    form = CircleForm(request.POST or None, instance=draft)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.circle_update(actor=membership, circle=circle, **form.service_fields())
            except ValidationError as err:
                add_service_error(form, err)
            else:
                messages.success(request, _("The circle's details are saved."))
                return redirect(_circle_url(circle))
        status = ERROR_STATUS
    context = {"form": form, "circle": circle}
    return render(request, "groups/circle_form.html", context, status=status)


def _manage_page(request, *, circle, membership, error=None, status=200) -> HttpResponse:
    invites = selectors.usable_invites(circle=circle)
    for invite in invites:
        invite.url = request.build_absolute_uri(  # type: ignore[attr-defined]  # for the page
            reverse("groups:invite", kwargs={"token": invite.token})
        )
    context = {
        "circle": circle,
        "membership": membership,
        "requests": selectors.pending_requests(circle=circle),
        "members": selectors.circle_members(circle=circle),
        "invites": invites,
        "seats_left": selectors.seats_left(circle=circle),
        "role_form": RoleForm(),
        "errors": error,
    }
    return render(request, "groups/manage.html", context, status=status)


@login_required
def manage(request: HttpRequest, slug: str) -> HttpResponse:
    circle, membership = access_circle_as_facilitator(user=request.user, slug=slug)
    return _manage_page(request, circle=circle, membership=membership)


def _facilitator_action(request, slug, action, success_message) -> HttpResponse:
    """Shared shape of the manage page's buttons: check, call one service, redirect
    back, or re-render the page with the service's refusal at the top."""
    circle, actor = access_circle_as_facilitator(user=request.user, slug=slug)
    try:
        result = action(circle, actor)
    except ValidationError as err:
        return _manage_page(
            request, circle=circle, membership=actor, error=err, status=ERROR_STATUS
        )
    messages.success(request, success_message(result))
    return redirect(_manage_url(circle))


@login_required
@require_POST
def request_approve(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    def action(circle, actor):
        target = selectors.circle_membership(circle=circle, membership_id=membership_id)
        return services.membership_approve(actor=actor, membership=target)

    return _facilitator_action(
        request, slug, action, lambda m: _("%(alias)s is now a member.") % {"alias": m.alias}
    )


@login_required
@require_POST
def request_decline(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    def action(circle, actor):
        target = selectors.circle_membership(circle=circle, membership_id=membership_id)
        return services.membership_decline(actor=actor, membership=target)

    return _facilitator_action(
        request,
        slug,
        action,
        lambda m: _("You declined %(alias)s's request.") % {"alias": m.alias},
    )


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    def action(circle, actor):
        target = selectors.circle_membership(circle=circle, membership_id=membership_id)
        # As the room's own removal: his turn ends and his open sockets close.
        return services.membership_remove(actor=actor, membership=target)

    return _facilitator_action(
        request,
        slug,
        action,
        lambda m: _("%(alias)s is no longer in the circle.") % {"alias": m.alias},
    )


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    def action(circle, actor):
        target = selectors.circle_membership(circle=circle, membership_id=membership_id)
        form = RoleForm(request.POST)
        if not form.is_valid():
            raise ValidationError(_("Please choose a role: facilitator or member."), "role")
        return services.membership_set_role(
            actor=actor, membership=target, role=form.cleaned_data["role"]
        )

    return _facilitator_action(
        request,
        slug,
        action,
        lambda m: (
            _("%(alias)s is now a %(role)s.")
            % {"alias": m.alias, "role": m.get_role_display().lower()}
        ),
    )


@login_required
@require_POST
def invite_create(request: HttpRequest, slug: str) -> HttpResponse:
    return _facilitator_action(
        request,
        slug,
        lambda circle, actor: services.invite_create(actor=actor, circle=circle),
        lambda invite: _("A new invite link is ready below. Copy it and send it yourself."),
    )


@login_required
@require_POST
def invite_revoke(request: HttpRequest, slug: str, invite_id: int) -> HttpResponse:
    def action(circle, actor):
        invite = selectors.circle_invite(circle=circle, invite_id=invite_id)
        return services.invite_revoke(actor=actor, invite=invite)

    return _facilitator_action(
        request, slug, action, lambda invite: _("The invite link is withdrawn; it no longer works.")
    )
