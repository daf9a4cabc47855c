"""The facilitators' library pages through the real URLs and views: the prompt library
and the agendas. Who may see them (only the circle's facilitators), what each kind of
circle sees (never the other kind's prompts or scripts), and what a refused write
leaves behind (nothing).

Every test asks for the `library` fixture: transactional tests elsewhere truncate the
tables the data migration filled.
"""

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from facilitation import library_services
from facilitation.models import Prompt, PromptUse, Script, ScriptStep
from facilitation.scripts import script_copy
from groups.services import CircleRuleError
from tests import factories

pytestmark = pytest.mark.django_db


def url(name: str, circle, **kwargs) -> str:
    return reverse(f"facilitation:{name}", kwargs={"slug": circle.slug, **kwargs})


def html(response) -> str:
    return response.content.decode()


def item(page: str, prompt_or_step_id: str) -> str:
    """The <li> of one prompt or step on a page."""
    found = re.search(rf'<li class="list__item" id="{prompt_or_step_id}".*?</li>', page, re.S)
    assert found, f"{prompt_or_step_id} is not on the page"
    return found.group(0)


def own_prompt(circle, facilitator, text="What did you fix or build this week?", **fields):
    return library_services.prompt_create(
        actor=facilitator,
        circle=circle,
        text=text,
        strategy=fields.get("strategy", "thoughts_before_feelings"),
        phase=fields.get("phase", "check_in"),
        depth=fields.get("depth", 1),
    )


def prompt_post(prefix: str, **fields) -> dict:
    data = {
        "text": "What is one thing you did this week that you're quietly proud of?",
        "strategy": "small_wins",
        "phase": "check_in",
        "depth": "1",
        **fields,
    }
    return {f"{prefix}-{name}": value for name, value in data.items()}


def step_post(prefix: str, **fields) -> dict:
    data = {
        "title": "Quiet minute",
        "purpose": "A minute of quiet helps us arrive before anyone talks.",
        "notes": "",
        "minutes": "3",
        "round_kind": "",
        "prompt": "",
        **fields,
    }
    return {f"{prefix}-{name}": value for name, value in data.items()}


def snapshot(script: Script) -> list[tuple]:
    return list(
        script.steps.order_by("position").values_list(
            "pk", "position", "title", "purpose", "notes", "minutes", "round_kind", "prompt_id"
        )
    )


@pytest.fixture
def fac_client(client, facilitator):
    client.force_login(facilitator.user)
    return client


@pytest.fixture
def other_circle(db):
    return factories.make_circle(name="Thursday Men")


@pytest.fixture
def partner_circle(db):
    return factories.make_circle(kind="partners", name="Monday Partners")


@pytest.fixture
def copy(library, circle, facilitator):
    """The circle's own copy of the built-in men's weekly agenda."""
    return script_copy(
        actor=facilitator, circle=circle, script=Script.objects.get(key="men_weekly")
    )


# Who may see the pages ---------------------------------------------------------------------


def page_urls(circle, copy) -> list[str]:
    return [url("library", circle), url("agenda", circle), url("script", circle, script_id=copy.pk)]


def test_anonymous_visitors_are_sent_to_log_in(client, circle, copy):
    for page in page_urls(circle, copy):
        response = client.get(page)
        assert response.status_code == 302
        assert reverse("account_login") in response["Location"]
    response = client.post(url("prompt_add", circle), prompt_post("new"))
    assert response.status_code == 302
    assert not Prompt.objects.filter(circle=circle).exists()


@pytest.mark.parametrize("who", ["outsider", "member", "other_facilitator"])
def test_only_the_circles_facilitators_see_the_pages(client, circle, copy, member, who):
    if who == "outsider":
        user = factories.make_user()
    elif who == "member":
        user = member.user
    else:
        user = factories.facilitator_of(factories.make_circle(name="Elsewhere")).user
    client.force_login(user)

    for page in page_urls(circle, copy):
        assert client.get(page).status_code == 404
    # Nor can they use the buttons.
    before = snapshot(copy)
    step = copy.steps.first()
    posts = [
        (url("prompt_add", circle), prompt_post("new")),
        (url("script_default", circle, script_id=copy.pk), {}),
        (url("script_copy", circle, script_id=copy.pk), {}),
        (url("script_rename", circle, script_id=copy.pk), {"script-name": "Ours now"}),
        (url("step_add", circle, script_id=copy.pk), step_post("new-step")),
        (
            url("step_edit", circle, script_id=copy.pk, step_id=step.pk),
            step_post(f"step-{step.pk}"),
        ),
        (url("step_delete", circle, script_id=copy.pk, step_id=step.pk), {}),
        (url("step_move", circle, script_id=copy.pk, step_id=step.pk), {"direction": "down"}),
    ]
    for target, data in posts:
        assert client.post(target, data).status_code == 404, target
    assert not Prompt.objects.filter(circle=circle).exists()
    assert Script.objects.filter(circle=circle).count() == 1
    copy.refresh_from_db()
    assert copy.name == "Men's weekly circle"
    assert snapshot(copy) == before
    circle.refresh_from_db()
    assert circle.default_script_id is None


def test_the_manage_page_links_to_both_tools(fac_client, circle):
    page = html(fac_client.get(reverse("groups:manage", kwargs={"slug": circle.slug})))
    assert "Facilitation tools" in page
    assert url("library", circle) in page
    assert url("agenda", circle) in page


# The prompt library --------------------------------------------------------------------------


def test_library_lists_built_ins_for_the_kind_and_the_circles_own(
    fac_client, library, circle, facilitator
):
    mine = own_prompt(circle, facilitator)

    response = fac_client.get(url("library", circle))

    assert response.status_code == 200
    page = html(response)
    expected = Prompt.objects.filter(circle__isnull=True, kind__in=["men", "both"]).count() + 1
    assert page.count('<li class="list__item" id="prompt-') == expected
    assert f"{expected} prompts in the library" in page
    mine_html = item(page, f"prompt-{mine.pk}")
    assert mine.text in mine_html
    assert "<span>Thoughts before feelings</span>" in mine_html  # the strategy's title
    assert "Check-in" in page
    assert "1 of 3" in mine_html
    assert "Written by the circle&#x27;s facilitators" in mine_html
    assert "This circle's own" in mine_html
    assert "Edit this prompt" in mine_html
    built_in = Prompt.objects.filter(circle__isnull=True, kind="men").first()
    built_in_html = item(page, f"prompt-{built_in.pk}")
    assert "Psychology Today" in page
    assert built_in.source.split(",")[0] in built_in_html
    assert "Edit this prompt" not in built_in_html
    assert url("prompt_edit", circle, prompt_id=built_in.pk) not in page
    assert ' style="' not in page


def test_last_used_here_counts_only_this_circle(
    fac_client, library, circle, other_circle, facilitator
):
    used, elsewhere = Prompt.objects.filter(circle__isnull=True, kind="men")[:2]
    now = timezone.now()
    meeting = factories.make_meeting(circle)
    PromptUse.objects.create(
        prompt=used, circle=circle, meeting=meeting, used_at=now - dt.timedelta(days=15)
    )
    other_meeting = factories.make_meeting(other_circle)
    PromptUse.objects.create(
        prompt=elsewhere, circle=other_circle, meeting=other_meeting, used_at=now
    )

    page = html(fac_client.get(url("library", circle)))

    assert "2\xa0weeks" in item(page, f"prompt-{used.pk}")  # timesince's own spacing
    assert "Never used here" in item(page, f"prompt-{elsewhere.pk}")


def test_library_search_and_filters(fac_client, library, circle, facilitator):
    mine = own_prompt(
        circle,
        facilitator,
        text="Where in your body do you feel the week right now?",
        strategy="locate_the_body",
        phase="check_in",
        depth=3,
    )

    page = html(fac_client.get(url("library", circle), {"q": "BODY do you feel the week"}))
    assert page.count('id="prompt-') == 1
    assert f'id="prompt-{mine.pk}"' in page
    assert "1 of " in page and "prompts matches" in page

    for criteria, field, value in [
        ({"phase": "check_out"}, "phase", "check_out"),
        ({"depth": "3"}, "depth", 3),
        ({"strategy": "locate_the_body"}, "strategy", "locate_the_body"),
    ]:
        response = fac_client.get(url("library", circle), criteria)
        assert response.status_code == 200
        shown = {int(pk) for pk in re.findall(r'id="prompt-(\d+)"', html(response))}
        expected = set(
            Prompt.objects.filter(
                circle__isnull=True, kind__in=["men", "both"], **{field: value}
            ).values_list("pk", flat=True)
        )
        if getattr(mine, field) == value:
            expected.add(mine.pk)
        assert shown == expected, criteria
        assert shown

    combined = html(
        fac_client.get(url("library", circle), {"q": "body", "phase": "check_in", "depth": "3"})
    )
    assert f'id="prompt-{mine.pk}"' in combined

    only_ours = html(fac_client.get(url("library", circle), {"source": "own"}))
    assert re.findall(r'id="prompt-(\d+)"', only_ours) == [str(mine.pk)]
    built_ins = html(fac_client.get(url("library", circle), {"source": "built_in"}))
    assert f'id="prompt-{mine.pk}"' not in built_ins
    assert (
        built_ins.count('id="prompt-')
        == Prompt.objects.filter(circle__isnull=True, kind__in=["men", "both"]).count()
    )

    nothing = html(fac_client.get(url("library", circle), {"q": "zebra crossings"}))
    assert 'id="prompt-' not in nothing
    assert "No prompts match" in nothing


def test_an_unknown_filter_value_is_shown_as_an_error(fac_client, library, circle):
    response = fac_client.get(url("library", circle), {"depth": "9", "phase": "dessert"})

    assert response.status_code == 400
    assert "Something needs your attention" in html(response)


@pytest.mark.parametrize(("kind", "hidden_kind"), [("men", "partners"), ("partners", "men")])
def test_a_circle_never_lists_the_other_kinds_prompts(client, library, kind, hidden_kind):
    mine = factories.make_circle(kind=kind, name=f"Our {kind}")
    other = factories.make_circle(kind=hidden_kind, name=f"Their {hidden_kind}")
    theirs = own_prompt(other, factories.facilitator_of(other), text="Their own private question?")
    client.force_login(factories.facilitator_of(mine).user)

    page = html(client.get(url("library", mine)))

    shown = {int(pk) for pk in re.findall(r'id="prompt-(\d+)"', page)}
    hidden = set(Prompt.objects.filter(kind=hidden_kind).values_list("pk", flat=True))
    assert hidden  # built-ins exist for both kinds, and their circle's own prompt
    assert not shown & hidden
    assert theirs.pk not in shown
    assert theirs.text not in page
    both = set(Prompt.objects.filter(kind="both").values_list("pk", flat=True))
    assert both <= shown


# Writing the circle's own prompts --------------------------------------------------------------


def test_a_facilitator_adds_a_prompt_of_the_circles_own(fac_client, library, circle, facilitator):
    response = fac_client.post(url("prompt_add", circle), prompt_post("new"))

    prompt = Prompt.objects.get(circle=circle)
    assert response.status_code == 302
    assert response["Location"] == url("library", circle) + f"?source=own#prompt-{prompt.pk}"
    assert (prompt.kind, prompt.strategy, prompt.phase, prompt.depth, prompt.key) == (
        "men",
        "small_wins",
        "check_in",
        1,
        None,
    )
    assert prompt.source == "Written by the circle's facilitators"
    assert prompt.created_by_id == facilitator.pk
    page = html(fac_client.get(response["Location"]))
    assert "Your prompt is in the circle&#x27;s library." in page  # a message: escaped
    assert escape(prompt.text) in page


def test_a_partner_circles_prompt_is_for_partners(client, library, partner_circle):
    client.force_login(factories.facilitator_of(partner_circle).user)

    client.post(url("prompt_add", partner_circle), prompt_post("new", strategy="boundaries"))

    assert Prompt.objects.get(circle=partner_circle).kind == "partners"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "Why?"}, "as you would say it aloud"),
        ({"text": ""}, "Please write the prompt as you would say it aloud."),
        ({"strategy": ""}, "Please pick the strategy this prompt draws on."),
        ({"strategy": "made_up"}, "Select a valid choice"),
        ({"depth": "4"}, "Select a valid choice"),
    ],
)
def test_an_invalid_prompt_is_refused_with_the_reason(fac_client, library, circle, fields, message):
    response = fac_client.post(url("prompt_add", circle), prompt_post("new", **fields))

    assert response.status_code == 400
    page = html(response)
    assert "Something needs your attention" in page
    assert message in page
    assert '<details class="card" id="add" open>' in page
    assert not Prompt.objects.filter(circle=circle).exists()


def test_the_same_prompt_is_not_added_twice(fac_client, library, circle):
    built_in = Prompt.objects.filter(circle__isnull=True, kind="men").first()
    fac_client.post(url("prompt_add", circle), prompt_post("new"))

    again = fac_client.post(url("prompt_add", circle), prompt_post("new"))
    copied = fac_client.post(url("prompt_add", circle), prompt_post("new", text=built_in.text))

    for response in (again, copied):
        assert response.status_code == 400
        assert "already in the circle&#x27;s library" in html(response)
    assert Prompt.objects.filter(circle=circle).count() == 1


def test_a_facilitator_edits_and_deletes_the_circles_own_prompt(
    fac_client, library, circle, facilitator, copy
):
    prompt = own_prompt(circle, facilitator)
    step = copy.steps.get(position=3)
    ScriptStep.objects.filter(pk=step.pk).update(prompt=prompt)

    response = fac_client.post(
        url("prompt_edit", circle, prompt_id=prompt.pk),
        prompt_post(f"prompt-{prompt.pk}", text="What  did you make   this week?", depth="2"),
    )

    assert response.status_code == 302
    prompt.refresh_from_db()
    assert (prompt.text, prompt.depth, prompt.strategy) == (
        "What did you make this week?",
        2,
        "small_wins",
    )

    bad = fac_client.post(
        url("prompt_edit", circle, prompt_id=prompt.pk),
        prompt_post(f"prompt-{prompt.pk}", text="Hm?"),
    )
    assert bad.status_code == 400
    assert "as you would say it aloud" in item(html(bad), f"prompt-{prompt.pk}")
    prompt.refresh_from_db()
    assert prompt.text == "What did you make this week?"

    response = fac_client.post(url("prompt_delete", circle, prompt_id=prompt.pk))

    assert response.status_code == 302
    assert not Prompt.objects.filter(pk=prompt.pk).exists()
    step.refresh_from_db()
    assert step.prompt_id is None
    page = html(fac_client.get(response["Location"]))
    assert "The agenda step that used it now has no prompt." in page


def test_another_circles_facilitator_cannot_edit_or_delete_our_prompt(
    client, library, circle, facilitator, other_circle
):
    prompt = own_prompt(circle, facilitator)
    before = Prompt.objects.filter(pk=prompt.pk).values().get()
    client.force_login(factories.facilitator_of(other_circle).user)

    for where in (circle, other_circle):
        edit = client.post(
            url("prompt_edit", where, prompt_id=prompt.pk),
            prompt_post(f"prompt-{prompt.pk}", text="Rewritten by someone else entirely."),
        )
        delete = client.post(url("prompt_delete", where, prompt_id=prompt.pk))
        assert (edit.status_code, delete.status_code) == (404, 404)

    assert Prompt.objects.filter(pk=prompt.pk).values().get() == before
    # And the services say no, whatever the caller passes.
    with pytest.raises(PermissionDenied):
        library_services.prompt_delete(
            actor=factories.facilitator_of(other_circle), circle=circle, prompt=prompt
        )
    with pytest.raises(PermissionDenied):
        library_services.prompt_update(
            actor=factories.facilitator_of(other_circle),
            circle=other_circle,
            prompt=prompt,
            text="Rewritten by someone else entirely.",
            strategy="small_wins",
            phase="check_in",
            depth=1,
        )
    assert Prompt.objects.filter(pk=prompt.pk).values().get() == before


def test_built_in_prompts_cannot_be_edited_or_deleted(fac_client, library, circle, facilitator):
    built_in = Prompt.objects.filter(circle__isnull=True, kind="men").first()
    before = Prompt.objects.filter(pk=built_in.pk).values().get()

    edit = fac_client.post(
        url("prompt_edit", circle, prompt_id=built_in.pk),
        prompt_post(f"prompt-{built_in.pk}", text="A different question for everyone?"),
    )
    delete = fac_client.post(url("prompt_delete", circle, prompt_id=built_in.pk))

    for response in (edit, delete):
        assert response.status_code == 400
        assert "built-in prompts are shared by every circle" in html(response)
    assert Prompt.objects.filter(pk=built_in.pk).values().get() == before
    partner_only = Prompt.objects.filter(circle__isnull=True, kind="partners").first()
    assert (
        fac_client.post(url("prompt_delete", circle, prompt_id=partner_only.pk)).status_code == 404
    )
    assert Prompt.objects.filter(pk=partner_only.pk).exists()


# Agendas ---------------------------------------------------------------------------------------


def test_agenda_page_lists_the_kinds_scripts_and_marks_the_default(fac_client, library, circle):
    response = fac_client.get(url("agenda", circle))

    assert response.status_code == 200
    page = html(response)
    weekly = Script.objects.get(key="men_weekly")
    first = Script.objects.get(key="first_meeting")
    partners = Script.objects.get(key="partner_weekly")
    assert f'id="script-{weekly.pk}"' in page
    assert f'id="script-{first.pk}"' in page
    assert f'id="script-{partners.pk}"' not in page
    assert partners.name not in page
    # Nothing picked yet: the built-in weekly agenda for the kind is the default.
    default = re.search(r'<li class="card card--attention" id="script-(\d+)"', page)
    assert default and int(default.group(1)) == weekly.pk
    assert page.count("card--attention") == 1
    assert "90 minutes in all" in page
    for step in weekly.steps.all():
        assert step.title in page
    assert escape(weekly.steps.exclude(notes="").first().notes) in page
    assert ' style="' not in page


def test_a_facilitator_makes_another_agenda_the_default(fac_client, library, circle):
    first = Script.objects.get(key="first_meeting")

    response = fac_client.post(url("script_default", circle, script_id=first.pk))

    assert response.status_code == 302
    circle.refresh_from_db()
    assert circle.default_script_id == first.pk
    page = html(fac_client.get(url("agenda", circle)))
    assert f'<li class="card card--attention" id="script-{first.pk}"' in page
    assert "is now the agenda for the circle" in page


def test_another_kinds_or_circles_agenda_cannot_be_picked(
    fac_client, library, circle, other_circle
):
    theirs = script_copy(
        actor=factories.facilitator_of(other_circle),
        circle=other_circle,
        script=Script.objects.get(key="men_weekly"),
    )
    count = Script.objects.count()
    for script in (Script.objects.get(key="partner_weekly"), theirs):
        assert (
            fac_client.post(url("script_default", circle, script_id=script.pk)).status_code == 404
        )
        assert fac_client.post(url("script_copy", circle, script_id=script.pk)).status_code == 404
        assert fac_client.get(url("script", circle, script_id=script.pk)).status_code == 404
    assert Script.objects.count() == count
    circle.refresh_from_db()
    assert circle.default_script_id is None


def test_copy_a_script_then_edit_its_steps(fac_client, library, circle):
    weekly = Script.objects.get(key="men_weekly")
    weekly_before = snapshot(weekly)

    response = fac_client.post(url("script_copy", circle, script_id=weekly.pk))

    copy = Script.objects.get(circle=circle)
    assert response["Location"] == url("script", circle, script_id=copy.pk)
    assert copy.name == "Men's weekly circle (our version)"
    page = html(fac_client.get(response["Location"]))
    assert "the original stays as it was" in page
    assert page.count('<li class="list__item" id="step-') == weekly.steps.count()
    assert ' style="' not in page

    # Rename.
    fac_client.post(url("script_rename", circle, script_id=copy.pk), {"script-name": " Our  week "})
    copy.refresh_from_db()
    assert copy.name == "Our week"

    # Edit a step: new words, minutes, round and a prompt from the circle's library.
    step = copy.steps.get(position=2)
    prompt = Prompt.objects.filter(circle__isnull=True, kind="both", phase="check_in").first()
    response = fac_client.post(
        url("step_edit", circle, script_id=copy.pk, step_id=step.pk),
        step_post(
            f"step-{step.pk}",
            title="Two quiet minutes",
            notes="Ring the bell.",
            minutes="4",
            round_kind="check_in",
            prompt=str(prompt.pk),
        ),
    )
    assert response.status_code == 302
    step.refresh_from_db()
    assert (step.title, step.minutes, step.round_kind, step.prompt_id, step.notes) == (
        "Two quiet minutes",
        4,
        "check_in",
        prompt.pk,
        "Ring the bell.",
    )

    # Add a step at the end, then move it up one place.
    count = copy.steps.count()
    response = fac_client.post(
        url("step_add", circle, script_id=copy.pk), step_post("new-step", title="Tea")
    )
    assert response.status_code == 302
    added = copy.steps.get(title="Tea")
    assert added.position == count + 1
    fac_client.post(
        url("step_move", circle, script_id=copy.pk, step_id=added.pk), {"direction": "up"}
    )
    titles = list(copy.steps.order_by("position").values_list("title", flat=True))
    assert titles[-2:] == ["Tea", weekly.steps.order_by("position").last().title]
    # Moving the first step up changes nothing.
    first = copy.steps.get(position=1)
    fac_client.post(
        url("step_move", circle, script_id=copy.pk, step_id=first.pk), {"direction": "up"}
    )
    first.refresh_from_db()
    assert first.position == 1

    # Remove a step in the middle: the later ones close the gap.
    fac_client.post(url("step_delete", circle, script_id=copy.pk, step_id=step.pk))
    assert not ScriptStep.objects.filter(pk=step.pk).exists()
    positions = list(copy.steps.order_by("position").values_list("position", flat=True))
    assert positions == list(range(1, count + 1))

    page = html(fac_client.get(url("agenda", circle)))
    assert "Our week" in page
    total = sum(copy.steps.values_list("minutes", flat=True))
    assert f"{total} minutes in all" in page
    # The built-in it came from is untouched.
    assert snapshot(weekly) == weekly_before


def test_a_step_is_refused_with_the_reason(fac_client, library, circle, copy):
    step = copy.steps.get(position=1)
    before = snapshot(copy)
    partner_prompt = Prompt.objects.filter(circle__isnull=True, kind="partners").first()
    edit = url("step_edit", circle, script_id=copy.pk, step_id=step.pk)

    for fields, message in [
        ({"minutes": "0"}, "between 1 and 180 minutes"),
        ({"minutes": "soon"}, "between 1 and 180 minutes"),
        ({"title": ""}, "Please give the step a short title."),
        ({"prompt": str(partner_prompt.pk)}, "Select a valid choice"),
    ]:
        response = fac_client.post(edit, step_post(f"step-{step.pk}", **fields))
        assert response.status_code == 400
        assert message in item(html(response), f"step-{step.pk}")

    assert snapshot(copy) == before
    # The service checks the library itself, whatever the form offered.
    with pytest.raises(CircleRuleError) as refused:
        library_services.script_step_update(
            actor=factories.facilitator_of(circle),
            circle=circle,
            step=step,
            title="Opening",
            purpose="We begin.",
            minutes=5,
            prompt_id=partner_prompt.pk,
        )
    assert refused.value.code == "prompt"
    assert snapshot(copy) == before


def test_invisible_characters_are_refused_on_the_page_and_in_the_service(
    fac_client, library, circle, copy, facilitator
):
    """Control characters never reach an agenda (they show as nothing, and weigh six
    bytes each in the room's frames); tabs and line breaks in notes are kept."""
    step = copy.steps.get(position=1)
    before = snapshot(copy)
    edit = url("step_edit", circle, script_id=copy.pk, step_id=step.pk)
    response = fac_client.post(edit, step_post(f"step-{step.pk}", title="Quiet\x01minute"))
    assert response.status_code == 400
    assert "invisible control character" in item(html(response), f"step-{step.pk}")
    for field in ("title", "purpose", "notes"):
        fields = {"title": "Opening", "purpose": "We begin.", "notes": "", field: "a\x1bb"}
        with pytest.raises(CircleRuleError) as refused:
            library_services.script_step_update(
                actor=facilitator, circle=circle, step=step, minutes=5, **fields
            )
        assert refused.value.code == field
    with pytest.raises(CircleRuleError):
        own_prompt(circle, facilitator, text="What did you build\x7f this week?")
    assert snapshot(copy) == before
    library_services.script_step_update(
        actor=facilitator,
        circle=circle,
        step=step,
        title="Opening",
        purpose="We begin.",
        notes="First:\n\tbreathe",
        minutes=5,
    )
    step.refresh_from_db()
    assert step.notes == "First:\n\tbreathe"


def test_an_agendas_notes_together_have_a_limit(fac_client, library, circle, copy, facilitator):
    """All the steps' notes together stay within AGENDA_NOTES_MAX (the facilitator's
    snapshot carries them all); the step that would pass it is refused and says why."""
    copy.steps.update(notes="")  # the built-in agenda's own notes aside
    steps = list(copy.steps.order_by("position"))
    per_step = library_services.STEP_NOTES_MAX
    full = library_services.AGENDA_NOTES_MAX // per_step
    while len(steps) < full + 1:
        steps.append(
            library_services.script_step_add(
                actor=facilitator,
                circle=circle,
                script=copy,
                title="More",
                purpose="More.",
                minutes=1,
            )
        )
    for step in steps[:full]:
        library_services.script_step_update(
            actor=facilitator,
            circle=circle,
            step=step,
            title=step.title,
            purpose=step.purpose,
            notes="n" * per_step,
            minutes=step.minutes,
        )
    before = snapshot(copy)
    last = steps[full]
    edit = url("step_edit", circle, script_id=copy.pk, step_id=last.pk)
    response = fac_client.post(edit, step_post(f"step-{last.pk}", notes="one more"))
    assert response.status_code == 400
    assert "notes are full" in item(html(response), f"step-{last.pk}")
    assert snapshot(copy) == before
    # Shortening a step that holds notes frees room; the step's own limit still holds.
    library_services.script_step_update(
        actor=facilitator,
        circle=circle,
        step=steps[0],
        title=steps[0].title,
        purpose=steps[0].purpose,
        notes="short",
        minutes=steps[0].minutes,
    )
    response = fac_client.post(edit, step_post(f"step-{last.pk}", notes="one more"))
    assert response.status_code == 302
    with pytest.raises(CircleRuleError) as refused:
        library_services.script_step_update(
            actor=facilitator,
            circle=circle,
            step=last,
            title="More",
            purpose="More.",
            notes="n" * (per_step + 1),
            minutes=1,
        )
    assert refused.value.code == "notes"


def test_the_last_step_stays(fac_client, library, circle, copy):
    steps = list(copy.steps.order_by("position"))
    for step in steps[1:]:
        fac_client.post(url("step_delete", circle, script_id=copy.pk, step_id=step.pk))

    response = fac_client.post(url("step_delete", circle, script_id=copy.pk, step_id=steps[0].pk))

    assert response.status_code == 400
    assert "An agenda needs at least one step" in html(response)
    assert list(copy.steps.values_list("pk", "position")) == [(steps[0].pk, 1)]


def test_built_in_scripts_cannot_be_edited(fac_client, library, circle, facilitator):
    weekly = Script.objects.get(key="men_weekly")
    before = snapshot(weekly)
    step = weekly.steps.get(position=2)

    posts = [
        (url("script_rename", circle, script_id=weekly.pk), {"script-name": "Ours"}),
        (url("step_add", circle, script_id=weekly.pk), step_post("new-step")),
        (
            url("step_edit", circle, script_id=weekly.pk, step_id=step.pk),
            step_post(f"step-{step.pk}", title="Changed"),
        ),
        (url("step_delete", circle, script_id=weekly.pk, step_id=step.pk), {}),
        (url("step_move", circle, script_id=weekly.pk, step_id=step.pk), {"direction": "up"}),
    ]
    for target, data in posts:
        assert fac_client.post(target, data).status_code == 404, target
    assert fac_client.get(url("script", circle, script_id=weekly.pk)).status_code == 404
    # The agenda page offers copying, not editing.
    page = html(fac_client.get(url("agenda", circle)))
    assert f'href="{url("script", circle, script_id=weekly.pk)}"' not in page
    assert url("script_copy", circle, script_id=weekly.pk) in page

    # The services refuse too, with a reason a person can act on.
    calls = [
        lambda: library_services.script_rename(
            actor=facilitator, circle=circle, script=weekly, name="Ours"
        ),
        lambda: library_services.script_step_add(
            actor=facilitator, circle=circle, script=weekly, title="Tea", purpose="Tea.", minutes=5
        ),
        lambda: library_services.script_step_update(
            actor=facilitator, circle=circle, step=step, title="X", purpose="Y.", minutes=5
        ),
        lambda: library_services.script_step_delete(actor=facilitator, circle=circle, step=step),
        lambda: library_services.script_step_move(
            actor=facilitator, circle=circle, step=step, direction="up"
        ),
    ]
    for call in calls:
        with pytest.raises(CircleRuleError) as refused:
            call()
        assert refused.value.code == "built_in"
        assert "Copy to edit" in refused.value.messages[0]
    weekly.refresh_from_db()
    assert weekly.name == "Men's weekly circle"
    assert snapshot(weekly) == before


def test_a_step_cannot_use_another_circles_own_prompt(library, circle, facilitator, copy):
    other = factories.make_circle(name="Across town")
    theirs = own_prompt(other, factories.facilitator_of(other))
    step = copy.steps.get(position=1)

    with pytest.raises(CircleRuleError):
        library_services.script_step_update(
            actor=facilitator,
            circle=circle,
            step=step,
            title="Opening",
            purpose="We begin.",
            minutes=5,
            prompt_id=theirs.pk,
        )
    step.refresh_from_db()
    assert step.prompt_id != theirs.pk


# Query counts ------------------------------------------------------------------------------


def test_library_page_queries_do_not_grow_with_the_library(
    fac_client, library, circle, facilitator, django_assert_max_num_queries
):
    meeting = factories.make_meeting(circle)
    for n in range(15):
        prompt = own_prompt(circle, facilitator, text=f"Our own question number {n}?")
        PromptUse.objects.create(
            prompt=prompt, circle=circle, meeting=meeting, used_at=timezone.now()
        )

    # Session, user, circle, membership, prompts (+ the library's size when filtered).
    with django_assert_max_num_queries(5):
        response = fac_client.get(url("library", circle))
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        fac_client.get(url("library", circle), {"q": "own", "depth": "1"})


def test_agenda_pages_queries_do_not_grow_with_the_scripts(
    fac_client, library, circle, facilitator, django_assert_max_num_queries
):
    weekly = Script.objects.get(key="men_weekly")
    copies = [script_copy(actor=facilitator, circle=circle, script=weekly) for _ in range(4)]

    # Session, user, circle, membership, scripts, steps with prompts (+ the prompt picker).
    with django_assert_max_num_queries(6):
        response = fac_client.get(url("agenda", circle))
    assert response.status_code == 200
    with django_assert_max_num_queries(7):
        response = fac_client.get(url("script", circle, script_id=copies[0].pk))
    assert response.status_code == 200
