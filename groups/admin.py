"""Admin for the people who run Hearth. Memberships are shown by alias; a person's
email is reachable only by following the link to their account."""

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Attendance, Circle, Invite, Meeting, Membership


def _person_link(user_id: int):
    url = reverse("admin:accounts_user_change", args=[user_id])
    return format_html('<a href="{}">{}</a>', url, _("Person #%(id)s") % {"id": user_id})


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ("alias", "role", "status", "person", "agreements_accepted_at", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("person"))
    def person(self, obj: Membership):
        return _person_link(obj.user_id)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Circle)
class CircleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "weekday",
        "start_time",
        "time_zone",
        "capacity",
        "member_count",
        "listed",
        "region",
    )
    list_filter = ("kind", "listed", "region", "weekday")
    search_fields = ("name", "slug", "description")
    readonly_fields = ("slug", "agreements_updated_at", "created_at")
    inlines = [MembershipInline]
    actions = ["generate_meetings"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _members=Count(
                    "memberships",
                    filter=Q(memberships__status="active", memberships__role="member"),
                )
            )
        )

    @admin.display(description=_("members"), ordering="_members")
    def member_count(self, obj: Circle) -> int:
        return obj._members  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.action(description=_("Create the coming weeks' meetings"))
    def generate_meetings(self, request, queryset) -> None:
        created = sum(len(services.meetings_generate(circle=circle)) for circle in queryset)
        self.message_user(
            request,
            ngettext("%(n)d meeting created.", "%(n)d meetings created.", created) % {"n": created},
            messages.SUCCESS,
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("alias", "circle", "role", "status", "person", "agreements_ok", "created_at")
    list_filter = ("role", "status", "circle__kind", "circle")
    search_fields = ("alias", "circle__name")
    list_select_related = ("circle",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description=_("person"))
    def person(self, obj: Membership):
        return _person_link(obj.user_id)

    @admin.display(description=_("agreements accepted"), boolean=True)
    def agreements_ok(self, obj: Membership) -> bool:
        return obj.has_accepted_agreements


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("circle", "starts_at", "ends_at", "status")
    list_filter = ("status", "circle__kind", "circle")
    search_fields = ("circle__name", "public_id")
    list_select_related = ("circle",)
    date_hierarchy = "starts_at"
    readonly_fields = ("public_id", "opened_at", "ended_at")


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("circle", "created_at", "expires_at", "revoked_at", "usable")
    list_filter = ("circle",)
    search_fields = ("circle__name",)
    list_select_related = ("circle",)
    readonly_fields = ("token", "created_by", "created_at")

    @admin.display(description=_("usable"), boolean=True)
    def usable(self, obj: Invite) -> bool:
        return obj.is_usable(timezone.now())


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ("membership_alias", "meeting", "joined_at", "left_at")
    list_filter = ("meeting__circle",)
    search_fields = ("membership__alias", "meeting__circle__name")
    list_select_related = ("membership", "meeting__circle")
    raw_id_fields = ("meeting", "membership")

    @admin.display(description=_("alias"), ordering="membership__alias")
    def membership_alias(self, obj: Attendance) -> str:
        return obj.membership.alias
