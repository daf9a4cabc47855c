"""The person's own settings. Everything else about the account (email, password,
signing in and out) is django-allauth's, restyled by templates/allauth."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from .forms import ProfileForm

ERROR_STATUS = 400  # as in groups.views: a form re-rendered with errors


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, _("Saved. Meeting times now follow your setting."))
            return redirect("accounts:profile")
        return render(request, "accounts/profile.html", {"form": form}, status=ERROR_STATUS)
    return render(request, "accounts/profile.html", {"form": form})
