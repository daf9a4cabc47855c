"""The meeting room page: the shell the live room (static/room) runs in."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from groups import selectors
from groups.access import active_membership
from room.access import access_meeting
from room.errors import AccessDenied, CloseCode


@login_required
def meeting_room(request: HttpRequest, meeting_id) -> HttpResponse:
    """Ended meetings open too (the page says so kindly); a member who has not accepted
    the circle's current agreements is sent to accept them first."""
    try:
        membership, meeting = access_meeting(
            user=request.user, meeting_id=meeting_id, allow_ended=True
        )
    except AccessDenied as denied:
        if denied.code == CloseCode.NOT_LOGGED_IN:
            return redirect_to_login(request.get_full_path())
        if denied.code == CloseCode.NOT_ALLOWED:
            circle = selectors.meeting_circle(meeting_id=meeting_id)
            waiting = circle and active_membership(user=request.user, circle=circle)
            if circle and waiting and not waiting.has_accepted_agreements:
                url = reverse("groups:agreements", kwargs={"slug": circle.slug})
                return redirect(f"{url}?{urlencode({'next': request.path})}")
        raise Http404("No such meeting.") from None
    context = {
        "meeting": meeting,
        "circle": meeting.circle,
        "membership": membership,
        "ws_path": f"/ws/meetings/{meeting.public_id}/",
    }
    return render(request, "meetings/room.html", context)
