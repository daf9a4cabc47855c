"""Create the coming weeks' meetings for every circle. Idempotent: run it from cron
as often as you like; slots that already have a meeting are left alone."""

from django.core.management.base import BaseCommand

from groups import services
from groups.models import Circle


class Command(BaseCommand):
    help = "Create the coming weeks' meetings for every circle (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--weeks", type=int, default=None, help="How many weeks ahead (default: setting)."
        )

    def handle(self, *args, weeks: int | None = None, **options) -> None:
        total = 0
        circles = 0
        for circle in Circle.objects.order_by("name"):
            created = services.meetings_generate(circle=circle, weeks=weeks)
            circles += 1
            total += len(created)
            if options["verbosity"] >= 2 or created:
                self.stdout.write(f"{circle.name}: {len(created)} new meeting(s)")
        self.stdout.write(
            self.style.SUCCESS(f"Done: {total} new meeting(s) across {circles} circle(s).")
        )
