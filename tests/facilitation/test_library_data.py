"""The built-in library's coverage rules, and the loader's refusal of bad data.

Plain pytest functions: no Django, no database. The coverage rules are product rules
(every strategy is usable, both audiences can run every phase at every depth, partner
prompts stay about the partner's own life), so they are checked on the real data files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from facilitation.library import (
    DEPTHS,
    PHASES,
    SITUATIONS,
    CardData,
    PromptData,
    ScriptData,
    count_sentences,
    load_cards,
    load_prompts,
    load_scripts,
    parse_card,
    parse_cards,
    parse_prompt,
    parse_prompts,
    parse_script,
    parse_scripts,
    serves,
)
from facilitation.strategies import SOURCES, STRATEGIES

AUDIENCES = ("men", "partners")
SOURCE_A_KEYS = {
    "normalize_not_knowing",
    "plan_for_blocks",
    "handle_intensity",
    "be_transparent",
    "hold_back_me_too",
    "locate_the_body",
    "use_conjecture",
    "pattern_recognition",
    "experience_near_language",
}
SOURCE_B_KEYS = {
    "fear_of_rejection",
    "share_at_same_level",
    "listen_validate_reflect",
    "thoughts_before_feelings",
    "respect_vulnerability",
    "small_wins",
}
SOURCE_C_KEYS = {
    "own_reason",
    "normative_alexithymia",
    "attachment_styles",
    "own_healing",
    "boundaries",
    "honest_needs",
    "letting_go",
    "group_as_first_step",
}
PARTNER_THEMES = ("own_healing", "boundaries", "attachment_styles", "letting_go", "honest_needs")


@pytest.fixture(scope="module")
def prompts() -> list[PromptData]:
    return load_prompts()


@pytest.fixture(scope="module")
def cards() -> list[CardData]:
    return load_cards()


@pytest.fixture(scope="module")
def scripts() -> list[ScriptData]:
    return load_scripts()


def for_audience(prompts: list[PromptData], audience: str) -> list[PromptData]:
    return [p for p in prompts if serves(p.kind, audience)]


# --- strategies ----------------------------------------------------------------------


def test_strategy_keys_are_exactly_the_three_sources() -> None:
    assert set(STRATEGIES) == SOURCE_A_KEYS | SOURCE_B_KEYS | SOURCE_C_KEYS
    by_source = {
        "A": SOURCE_A_KEYS,
        "B": SOURCE_B_KEYS,
        "C": SOURCE_C_KEYS,
    }
    for source_key, keys in by_source.items():
        assert {s.key for s in STRATEGIES.values() if s.source_key == source_key} == keys


def test_strategies_are_complete_and_cite_their_source() -> None:
    assert set(SOURCES) == {"A", "B", "C"}
    assert SOURCES["A"].citation == (
        'Jett Stone, Ph.D., "9 Actionable Strategies to Earn Men\'s Trust", Psychology Today'
    )
    for key, strategy in STRATEGIES.items():
        assert strategy.key == key
        assert strategy.title
        assert 1 <= count_sentences(strategy.summary) <= 2, key
        assert strategy.source == SOURCES[strategy.source_key].citation


def test_plain_python_modules_do_not_import_django() -> None:
    code = (
        "import sys, facilitation.strategies, facilitation.library as lib; "
        "lib.load_scripts(); "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- prompts -------------------------------------------------------------------------


def test_library_is_large_enough(prompts: list[PromptData]) -> None:
    assert len(prompts) >= 90


def test_every_strategy_has_at_least_three_prompts(prompts: list[PromptData]) -> None:
    counts = Counter(p.strategy for p in prompts)
    thin = {key: counts[key] for key in STRATEGIES if counts[key] < 3}
    assert not thin


def test_keys_and_texts_are_unique(prompts: list[PromptData]) -> None:
    keys = Counter(p.key for p in prompts)
    texts = Counter(" ".join(p.text.casefold().split()) for p in prompts)
    assert [k for k, n in keys.items() if n > 1] == []
    assert [t for t, n in texts.items() if n > 1] == []


def test_texts_are_short_questions_or_invitations(prompts: list[PromptData]) -> None:
    for p in prompts:
        assert 10 <= len(p.text) <= 300, p.key
        assert p.text.endswith(("?", ".")), p.key


def test_every_prompt_cites_its_strategys_source(prompts: list[PromptData]) -> None:
    for p in prompts:
        assert p.source == STRATEGIES[p.strategy].source, p.key


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_every_phase_has_every_depth_for_each_audience(
    prompts: list[PromptData], audience: str, phase: str, depth: int
) -> None:
    found = [p.key for p in for_audience(prompts, audience) if (p.phase, p.depth) == (phase, depth)]
    assert len(found) >= 2, (audience, phase, depth, found)


def test_partner_circles_have_their_own_set(prompts: list[PromptData]) -> None:
    partner_only = [p for p in prompts if p.kind == "partners"]
    assert len(partner_only) >= 25
    counts = Counter(p.strategy for p in partner_only)
    for theme in PARTNER_THEMES:
        assert counts[theme] >= 3, theme


def test_partner_prompts_stay_about_the_partners_own_life(prompts: list[PromptData]) -> None:
    # Partners' prompts never aim at the man: no "he/him/his", no "your partner",
    # and nothing about getting, making or helping anyone else change.
    aimed_at_him = re.compile(
        r"\b(he|him|his|himself|husband|boyfriend|your partner|your man)\b"
        r"|\b(get|make|help|convince)\w*\s+(him|them|your partner)\b",
        re.IGNORECASE,
    )
    offenders = [p.key for p in for_audience(prompts, "partners") if aimed_at_him.search(p.text)]
    assert offenders == []


def test_mens_first_step_is_thoughts_not_feelings(prompts: list[PromptData]) -> None:
    # "Thoughts before feelings": a depth-1 men's prompt asks about facts, never feelings.
    offenders = [
        p.key
        for p in for_audience(prompts, "men")
        if p.depth == 1 and re.search(r"\bfeel", p.text, re.IGNORECASE)
    ]
    assert offenders == []


def test_depth_three_reaches_feelings_or_the_body(prompts: list[PromptData]) -> None:
    words = re.compile(
        r"feel|felt|settle|body|breath|mood|weather|word|guess|anger|shoulders|notice|inside",
        re.IGNORECASE,
    )
    offenders = [p.key for p in prompts if p.depth == 3 and not words.search(p.text)]
    assert offenders == []


@pytest.mark.parametrize("audience", AUDIENCES)
def test_pass_friendly_prompts_exist_for_each_audience(
    prompts: list[PromptData], audience: str
) -> None:
    passing = [p for p in for_audience(prompts, audience) if re.search(r"\bpass", p.text, re.I)]
    assert len(passing) >= 2


def test_signature_prompt_styles_are_present(prompts: list[PromptData]) -> None:
    def texts(strategy: str) -> list[str]:
        return [p.text for p in prompts if p.strategy == strategy]

    # Bold what-if questions, body prompts and pattern prompts.
    assert sum(t.startswith("If ") for t in texts("plan_for_blocks")) >= 2
    assert sum("body" in t for t in texts("locate_the_body")) >= 3
    assert any("first" in t for t in texts("pattern_recognition"))


def test_prompts_do_not_reuse_the_articles_examples(prompts: list[PromptData]) -> None:
    # Our own words: the articles' own example lines are not ours to reprint.
    borrowed = ("whom would you write to", "that sounds terrifying", "if you had no fear")
    for p in prompts:
        assert not any(phrase in p.text.casefold() for phrase in borrowed), p.key


# --- coaching cards ------------------------------------------------------------------


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_every_situation_has_a_card_for_each_audience(
    cards: list[CardData], situation: str, audience: str
) -> None:
    matching = [c for c in cards if c.situation == situation and serves(c.kind, audience)]
    assert len(matching) == 1


def test_every_strategy_has_a_coaching_card(cards: list[CardData]) -> None:
    covered = {c.strategy for c in cards if c.situation == ""}
    assert covered == set(STRATEGIES)


def test_the_prompt_in_use_always_has_coaching(
    prompts: list[PromptData], cards: list[CardData]
) -> None:
    strategy_cards = [c for c in cards if c.situation == ""]
    for p in prompts:
        audiences = AUDIENCES if p.kind == "both" else (p.kind,)
        for audience in audiences:
            assert any(
                c.strategy == p.strategy and serves(c.kind, audience) for c in strategy_cards
            ), (p.key, audience)


def test_cards_are_short_and_give_a_line_to_say(cards: list[CardData]) -> None:
    for card in cards:
        assert 2 <= count_sentences(card.body) <= 5, card.key
        assert '"' in card.body, card.key  # an example line, in quotes
        assert len(card.title) <= 60, card.key


def test_crisis_card_says_what_to_do_and_never_to_diagnose(cards: list[CardData]) -> None:
    (card,) = [c for c in cards if c.situation == "crisis_alert"]
    body = card.body.casefold()
    for phrase in ("privately", "help lines", "safety plan", "never diagnose"):
        assert phrase in body, phrase


# --- scripts -------------------------------------------------------------------------


def test_three_built_in_scripts(scripts: list[ScriptData]) -> None:
    by_key = {s.key: s for s in scripts}
    assert set(by_key) == {"men_weekly", "partner_weekly", "first_meeting"}
    assert (by_key["men_weekly"].kind, by_key["men_weekly"].total_minutes) == ("men", 90)
    assert (by_key["partner_weekly"].kind, by_key["partner_weekly"].total_minutes) == (
        "partners",
        75,
    )


def test_script_minutes_add_up(scripts: list[ScriptData]) -> None:
    for script in scripts:
        assert sum(step.minutes for step in script.steps) == script.total_minutes, script.key


def test_weekly_scripts_run_the_three_rounds(scripts: list[ScriptData]) -> None:
    for script in scripts:
        kinds = [step.round_kind for step in script.steps if step.round_kind]
        assert kinds[0] == "check_in" and kinds[-1] == "check_out", script.key
        if script.key != "first_meeting":
            assert "topic" in kinds, script.key


def test_first_meeting_explains_rounds_passing_and_own_reason(scripts: list[ScriptData]) -> None:
    (script,) = [s for s in scripts if s.key == "first_meeting"]
    titles = " ".join(step.title.casefold() for step in script.steps)
    assert "round" in titles and "pass" in titles and "reason" in titles


def test_script_prompts_exist_and_suit_the_audience(
    scripts: list[ScriptData], prompts: list[PromptData]
) -> None:
    by_key = {p.key: p for p in prompts}
    for script in scripts:
        for step in script.steps:
            if step.prompt is not None:
                assert serves(by_key[step.prompt].kind, script.kind), (script.key, step.title)


def test_every_step_says_why_in_one_sentence(scripts: list[ScriptData]) -> None:
    for script in scripts:
        for step in script.steps:
            assert count_sentences(step.purpose) == 1, (script.key, step.title)
            assert step.minutes > 0


# --- validation rejects bad data -----------------------------------------------------


def good_prompt(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": "men-test-good",
        "text": "What did you spend most of your energy on this week?",
        "strategy": "thoughts_before_feelings",
        "kind": "men",
        "phase": "check_in",
        "depth": 1,
        "source": STRATEGIES["thoughts_before_feelings"].source,
    }
    row.update(changes)
    return row


def test_a_good_prompt_parses() -> None:
    assert parse_prompt(good_prompt()).key == "men-test-good"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategy": "be_nice"}, "unknown strategy 'be_nice'"),
        ({"phase": "middle"}, "bad phase 'middle'"),
        ({"kind": "women"}, "bad kind 'women'"),
        ({"depth": 4}, "bad depth"),
        ({"depth": 0}, "bad depth"),
        ({"depth": "2"}, "'depth' must be an integer"),
        ({"depth": True}, "'depth' must be an integer"),
        ({"text": "Why?"}, "text is 4 characters"),
        ({"text": "Tell us " + "a lot " * 60 + "."}, "expected 10-300"),
        ({"text": "Tell us about your week"}, "must end with"),
        ({"text": " What did you do today? "}, "whitespace"),
        ({"source": "Somebody, somewhere"}, "does not match strategy"),
        ({"key": "Men Test"}, "lowercase slug"),
        ({"colour": "blue"}, "unknown field(s) colour"),
    ],
)
def test_bad_prompts_are_rejected_by_name(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_prompt(good_prompt(**changes), index=7)
    name = changes.get("key", "men-test-good")
    assert repr(name) in str(caught.value) or "prompt #7" in str(caught.value)


@pytest.mark.parametrize("missing", ["key", "text", "strategy", "kind", "phase", "depth"])
def test_missing_prompt_fields_are_rejected(missing: str) -> None:
    row = good_prompt()
    del row[missing]
    with pytest.raises(ValueError, match=f"missing field '{missing}'"):
        parse_prompt(row)


def test_duplicate_prompt_keys_and_texts_are_rejected() -> None:
    first = good_prompt()
    with pytest.raises(ValueError, match="prompt 'men-test-good': duplicate key"):
        parse_prompts([first, good_prompt(text="What is one thing you got done today?")])
    with pytest.raises(ValueError, match="prompt 'men-test-other': duplicate text"):
        parse_prompts([first, good_prompt(key="men-test-other", text=first["text"].upper())])


def test_a_prompt_must_be_a_table() -> None:
    with pytest.raises(ValueError, match="prompt #3: expected a table"):
        parse_prompt("not a table", index=3)


def good_card(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": "situation-test",
        "situation": "member_passes",
        "strategy": "normalize_not_knowing",
        "title": "A member passes",
        "body": 'Thank them and move on. Try: "Thanks, passing is fine."',
        "kind": "both",
    }
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"situation": "gets_bored"}, "bad situation 'gets_bored'"),
        ({"strategy": "be_nice"}, "unknown strategy 'be_nice'"),
        ({"kind": "everyone"}, "bad kind 'everyone'"),
        ({"body": "Just one sentence."}, "body has 1 sentences"),
        ({"body": "One. Two. Three. Four. Five. Six."}, "body has 6 sentences"),
        ({"title": "x" * 61}, "title is longer"),
    ],
)
def test_bad_cards_are_rejected_by_name(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_card(good_card(**changes))
    assert "card 'situation-test'" in str(caught.value)


def test_strategy_cards_may_leave_situation_empty() -> None:
    card = parse_card(good_card(key="strategy-test", situation=""))
    assert card.situation == ""


def test_two_cards_for_the_same_slot_and_audience_are_rejected() -> None:
    men = good_card(key="passes-men", kind="men")
    partners = good_card(key="passes-partners", kind="partners")
    assert len(parse_cards([men, partners])) == 2
    with pytest.raises(ValueError, match="card 'passes-both'.*already covered"):
        parse_cards([men, good_card(key="passes-both", kind="both")])


def good_script(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": "test_script",
        "name": "Test",
        "kind": "men",
        "description": "A script for tests.",
        "total_minutes": 15,
        "step": [
            {"title": "Arrive", "purpose": "We settle in.", "notes": "", "minutes": 5},
            {
                "title": "Check-in",
                "purpose": "Everyone speaks once.",
                "notes": "Go first.",
                "minutes": 10,
                "round_kind": "check_in",
                "prompt": "men-test-good",
            },
        ],
    }
    row.update(changes)
    return row


LIBRARY = {p.key: p for p in [parse_prompt(good_prompt())]}


def test_a_good_script_parses() -> None:
    script = parse_script(good_script(), prompts=LIBRARY)
    assert [s.minutes for s in script.steps] == [5, 10]
    assert script.steps[1].round_kind == "check_in"


def with_step(index: int, **changes: Any) -> dict[str, Any]:
    script = good_script()
    script["step"][index] = {**script["step"][index], **changes}
    return script


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (good_script(total_minutes=20), "step minutes add up to 15, but total_minutes is 20"),
        (with_step(1, prompt="no-such-prompt"), "step 2 ('Check-in'): unknown prompt"),
        (with_step(1, round_kind="check_out"), "is a check_in prompt, but the step runs"),
        (with_step(1, round_kind="lecture"), "bad round_kind 'lecture'"),
        (with_step(0, minutes=0), "minutes must be positive"),
        (with_step(0, minutes=2.5), "'minutes' must be an integer"),
        (good_script(kind="partners"), "is for men, but the script is for partners"),
        (good_script(kind="both"), "is for men, but the script is for both"),
        (good_script(step=[]), "needs at least one [[script.step]]"),
        (good_script(steps=[]), "unknown field(s) steps"),
    ],
)
def test_bad_scripts_are_rejected_by_name(script: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_script(script, prompts=LIBRARY)
    assert "script 'test_script'" in str(caught.value)


def test_duplicate_script_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate key"):
        parse_scripts([good_script(), good_script()], prompts=LIBRARY.values())


def test_loaders_reject_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[[prompt]\nkey = ", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_prompts(broken)

    wrong_table = tmp_path / "wrong.toml"
    wrong_table.write_text('[[prompts]]\nkey = "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown top-level key"):
        load_prompts(wrong_table)

    bad_phase = tmp_path / "bad_phase.toml"
    bad_phase.write_text(
        '[[prompt]]\nkey = "men-x"\ntext = "What did you do today?"\n'
        'strategy = "thoughts_before_feelings"\nkind = "men"\nphase = "lunch"\ndepth = 1\n'
        f"source = {json.dumps(STRATEGIES['thoughts_before_feelings'].source)}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="prompt 'men-x': bad phase 'lunch'"):
        load_prompts(bad_phase)

    script_file = tmp_path / "scripts.toml"
    script_file.write_text(
        '[[script]]\nkey = "s"\nname = "S"\nkind = "men"\ndescription = "D."\n'
        "total_minutes = 10\n"
        '[[script.step]]\ntitle = "T"\npurpose = "P."\nminutes = 10\nprompt = "nope"\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="script 's' step 1 \\('T'\\): unknown prompt 'nope'"):
        load_scripts(script_file)
