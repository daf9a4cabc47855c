from django.core.management.base import BaseCommand

from facilitation.loading import load_library
from facilitation.models import Prompt, Script, ScriptStep


class Command(BaseCommand):
    help = "Load or update the built-in prompts and agenda scripts from facilitation/data."

    def handle(self, *args, **options):
        counts = load_library(Prompt=Prompt, Script=Script, ScriptStep=ScriptStep)
        self.stdout.write(f"Loaded {counts['prompts']} prompts and {counts['scripts']} scripts.")
