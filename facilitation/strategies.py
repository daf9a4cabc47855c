"""The strategies every prompt, coaching card and script step traces back to.

Invariants: keys are stable (prompts, cards and stored rows refer to them); each strategy
belongs to exactly one source; summaries are our own words, never the articles' sentences.
Plain Python with no Django imports, so data files can be validated anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    """One of the articles the product draws on (see /work/shared/STRATEGIES.md)."""

    key: str
    author: str
    title: str
    publisher: str = ""

    @property
    def citation(self) -> str:
        """The string stored in every prompt's `source` field."""
        text = f'{self.author}, "{self.title}"'
        return f"{text}, {self.publisher}" if self.publisher else text


@dataclass(frozen=True, slots=True)
class Strategy:
    """A named idea from a source, in our own words."""

    key: str
    title: str
    summary: str
    source: str
    source_key: str


SOURCES: dict[str, Source] = {
    "A": Source(
        key="A",
        author="Jett Stone, Ph.D.",
        title="9 Actionable Strategies to Earn Men's Trust",
        publisher="Psychology Today",
    ),
    "B": Source(
        key="B",
        author="Dr. Lisa Arango",
        title="How To Get Him To Open Up?",
    ),
    # Our notes do not name this author; change it here and in the data files together.
    "C": Source(
        key="C",
        author="A men's therapist writing to partners",
        title="How to get a man to go to therapy",
    ),
}


def _strategy(source_key: str, key: str, title: str, summary: str) -> Strategy:
    return Strategy(
        key=key,
        title=title,
        summary=summary,
        source=SOURCES[source_key].citation,
        source_key=source_key,
    )


_ALL: tuple[Strategy, ...] = (
    # Source A: earning men's trust.
    _strategy(
        "A",
        "normalize_not_knowing",
        "Not knowing is a start",
        'Saying "I don\'t know what I feel" is an honest place to begin, not a failure. '
        "We take it as a real answer and build from there.",
    ),
    _strategy(
        "A",
        "plan_for_blocks",
        "Plan for blocks",
        "Expect jokes, silences and side-steps, and don't push through them. Ease off and "
        "find another way in: something he is good at or cares about, or a bold what-if.",
    ),
    _strategy(
        "A",
        "handle_intensity",
        "Stay steady with strong feelings",
        "Anger and old pain are allowed in the room, and the facilitator stays calm enough "
        "to hold them. Instead of arguing with a belief, get curious about where it came from.",
    ),
    _strategy(
        "A",
        "be_transparent",
        "Say what we do and why",
        "Explain each step of the meeting and the reason behind a question, so nobody feels "
        "handled or tested.",
    ),
    _strategy(
        "A",
        "hold_back_me_too",
        'Hold back the "me too"',
        "Answering a share with a similar story of your own pulls the spotlight away and can "
        "turn into a contest. Listen first; your turn will come.",
    ),
    _strategy(
        "A",
        "locate_the_body",
        "Find it in the body",
        "When words run out, ask where something sits in the body, like a tight chest or a "
        "clenched jaw. The body often knows before the words arrive.",
    ),
    _strategy(
        "A",
        "use_conjecture",
        "Offer a guess",
        "A tentative guess about what someone might be going through gives them something to "
        "agree with or correct, which is easier than naming it from nothing.",
    ),
    _strategy(
        "A",
        "pattern_recognition",
        "Spot the pattern",
        "Noticing how habits learned growing up still run in adult life turns shame into "
        "something closer to cracking a code.",
    ),
    _strategy(
        "A",
        "experience_near_language",
        "Use everyday words",
        "Talk the way people actually talk, in their own words, rather than in clinical terms. "
        "It keeps the conversation close to real life.",
    ),
    # Source B: helping him open up.
    _strategy(
        "B",
        "fear_of_rejection",
        "Make it safe to be seen",
        "Many men expect to be criticised or laughed at for opening up. Meet whatever they "
        "share with respect, never dismissal.",
    ),
    _strategy(
        "B",
        "share_at_same_level",
        "Share at the same level",
        "Openness is easier when it goes both ways. Model the kind of sharing you ask for, at "
        "a similar depth, without flooding the room.",
    ),
    _strategy(
        "B",
        "listen_validate_reflect",
        "Listen, validate, reflect",
        "Listen with curiosity, let people know their experience makes sense, and say back "
        "what you heard so they can tell you whether you got it right.",
    ),
    _strategy(
        "B",
        "thoughts_before_feelings",
        "Thoughts before feelings",
        'Questions about what someone did or thinks are easier doors than "how do you '
        'feel?". Start with facts and meaning; feelings can follow.',
    ),
    _strategy(
        "B",
        "respect_vulnerability",
        "Honour what was shared",
        "What someone shares is never used against them later, inside the circle or outside "
        "it. Keeping that promise is what makes the next share possible.",
    ),
    _strategy(
        "B",
        "small_wins",
        "Notice small wins",
        "Small moments of openness are worth noticing out loud. Week by week they add up to "
        "real change.",
    ),
    # Source C: written to partners.
    _strategy(
        "C",
        "own_reason",
        "Your own reason",
        "People stay with support when they can see what they get from it for themselves. "
        "Showing up only because someone else pushed rarely lasts past a session or two.",
    ),
    _strategy(
        "C",
        "normative_alexithymia",
        "Words for feelings",
        "Many men were raised to steer around feelings, so they notice and name them less, "
        "though they feel just as much. Naming feelings is a skill anyone can learn.",
    ),
    _strategy(
        "C",
        "attachment_styles",
        "How we attach",
        "Some of us fear being left and reach harder; some guard our independence and pull "
        "back. Knowing your own pattern helps you move toward feeling secure.",
    ),
    _strategy(
        "C",
        "own_healing",
        "Your own healing",
        "Partners do best when they put energy into their own recovery: support, trusted "
        "friends, writing things down, and time that is theirs.",
    ),
    _strategy(
        "C",
        "boundaries",
        "Boundaries",
        "Deciding what you will and won't accept, and acting on it, protects your wellbeing "
        "without waiting for anyone else to change first.",
    ),
    _strategy(
        "C",
        "honest_needs",
        "Say your needs plainly",
        "Naming what you need, directly and honestly, works better than hinting and hoping "
        "someone guesses.",
    ),
    _strategy(
        "C",
        "letting_go",
        "Let go of the outcome",
        "You can't steer another adult's choices. Put your energy into what you can change, "
        "make peace with what you can't, and learn to tell the two apart.",
    ),
    _strategy(
        "C",
        "group_as_first_step",
        "A group as a first step",
        "For many men a group, especially a men's group, is an easier start than opening up "
        "to one person alone: others go first and the attention is shared.",
    ),
)

STRATEGIES: dict[str, Strategy] = {s.key: s for s in _ALL}
