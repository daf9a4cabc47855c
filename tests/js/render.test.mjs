// Tests for static/room/view.js: the pure "what to show" functions behind the meeting room
// page (render.js only maps these view models to DOM elements).
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import { initialState, reduce } from "../../static/room/state.js";
import {
  FEELING_FAMILIES,
  agendaView,
  alertsPanelView,
  alertsView,
  coachingPick,
  composerView,
  connectionView,
  feelingsPickerView,
  flagsView,
  formatClock,
  formatDuration,
  humanize,
  lastUsedText,
  membersConsoleView,
  messagesView,
  openCounts,
  ordinal,
  outboxView,
  peopleView,
  promptFacets,
  promptListView,
  pushedPromptView,
  queueView,
  quietView,
  reportsView,
  roundControlsView,
  roundView,
  situationCards,
  statusView,
  stepView,
  supportView,
  timerView,
} from "../../static/room/view.js";

// -- fixtures (server-shaped: integer membership ids, as realtime/selectors.py sends) ------

const TOM = { membership_id: 1, alias: "Tom", role: "facilitator" };
const SAM = { membership_id: 2, alias: "Sam", role: "member" };
const ME = { membership_id: 3, alias: "River", role: "member" };
const ALEX = { membership_id: 4, alias: "Alex", role: "member" };
const T0 = Date.parse("2025-01-01T10:00:00Z");
const iso = (ms) => new Date(ms).toISOString();
const AT = iso(T0);

const CARDS = [
  { key: "situation-member-passes", situation: "member_passes", strategy: "normalize_not_knowing", title: "A member passes", body: "Thank them." },
  { key: "situation-passes-twice", situation: "passes_twice", strategy: "plan_for_blocks", title: "Passed twice", body: "Check in later." },
  { key: "situation-crisis-alert", situation: "crisis_alert", strategy: "handle_intensity", title: "Crisis alert", body: "Stay calm." },
  { key: "situation-first-round", situation: "first_round", strategy: "be_transparent", title: "First round", body: "Explain." },
  { key: "strategy-thoughts", situation: null, strategy: "thoughts_before_feelings", title: "Thoughts first", body: "Ask what he did." },
];
const PROMPTS = [
  { id: 10, text: "What did you do today?", strategy: "thoughts_before_feelings", phase: "check_in", depth: 1, own: false, last_used: null },
  { id: 11, text: "Where does it sit in your body?", strategy: "locate_the_body", phase: "sharing", depth: 3, own: false, last_used: iso(T0 - 21 * 86_400_000) },
  { id: 12, text: "One word to leave with?", strategy: "small_wins", phase: "check_out", depth: 1, own: true, last_used: iso(T0 - 2 * 86_400_000) },
];
const AGENDA = {
  id: 1,
  name: "Men's weekly circle",
  steps: [
    { id: 101, position: 1, title: "Arrival", purpose: "Settle in.", minutes: 5, round_kind: null, prompt_id: null, notes: "Greet by name." },
    { id: 102, position: 2, title: "Check-in round", purpose: "A short turn each.", minutes: 10, round_kind: "check_in", prompt_id: null, notes: "Go first." },
  ],
};

function snapshot(over = {}) {
  return {
    type: "snapshot",
    seq: 2,
    meeting: {
      id: "meet-1",
      circle: { name: "Tuesday", kind: "men", call_link: null },
      status: "live",
      step: null,
      step_started_at: null,
      agenda: AGENDA,
    },
    you: { ...ME, first_round: false },
    members: [TOM, SAM, ME, ALEX].map((m) => ({ ...m, muted_until: null })),
    present: [1, 3, 2],
    round: null,
    queue: { queue: [], floor: null, mode: { talking_piece: false, progressive: false } },
    events: [
      { type: "chat.message", seq: 1, at: AT, author: SAM, body: "hello", client_id: "a" },
      { type: "reaction.added", seq: 2, at: AT, target_seq: 1, kind: "heard", membership_id: 3 },
    ],
    help_lines: [{ name: "Samaritans", contact: "116 123", region: "GB" }],
    ...over,
  };
}

const load = (over) => reduce(reduce(initialState(), { type: "open" }), { type: "snapshot", snapshot: snapshot(over) });
const apply = (state, ...events) => events.reduce((s, event) => reduce(s, { type: "event", event }), state);

function roundPayload(over = {}) {
  return {
    id: 7,
    kind: "check_in",
    order_kind: "seating",
    prompt: { id: 10, text: "What did you do today?", strategy: "thoughts_before_feelings" },
    order: [1, 2, 3],
    outcomes: [null, null, null],
    seconds_per_turn: 120,
    quiet_until: null,
    current: { turn_id: 50, membership_id: 1, started_at: AT, deadline: iso(T0 + 120_000) },
    up_next: 2,
    ended: false,
    ...over,
  };
}

// -- formatting -------------------------------------------------------------------------

describe("formatting helpers", () => {
  test("ordinal", () => {
    assert.deepEqual([1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal), ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]);
  });
  test("formatClock and formatDuration", () => {
    assert.equal(formatClock(65), "1:05");
    assert.equal(formatClock(0.2), "0:01");
    assert.equal(formatClock(-12), "0:12");
    assert.equal(formatDuration(45), "45 s");
    assert.equal(formatDuration(240), "4 min");
    assert.equal(formatDuration(3900), "1 h 5 min");
  });
  test("humanize", () => {
    assert.equal(humanize("thoughts_before_feelings"), "Thoughts before feelings");
    assert.equal(humanize(null), "");
  });
  test("lastUsedText", () => {
    assert.equal(lastUsedText(null, T0), "never used here");
    assert.equal(lastUsedText(iso(T0 - 3600_000), T0), "used here today");
    assert.equal(lastUsedText(iso(T0 - 86_400_000), T0), "last used yesterday");
    assert.equal(lastUsedText(iso(T0 - 3 * 86_400_000), T0), "last used 3 days ago");
    assert.equal(lastUsedText(iso(T0 - 7 * 86_400_000), T0), "last used 1 week ago");
    assert.equal(lastUsedText(iso(T0 - 21 * 86_400_000), T0), "last used 3 weeks ago");
    assert.equal(lastUsedText(iso(T0 - 120 * 86_400_000), T0), "last used 4 months ago");
  });
});

// -- connection -------------------------------------------------------------------------

describe("connectionView", () => {
  const links = { loginUrl: "/accounts/login/", dashboardUrl: "/dashboard/", nextPath: "/meetings/x/" };
  test("connecting, connected, reconnecting with the attempt", () => {
    assert.equal(connectionView(initialState(), links).text, "Connecting…");
    assert.equal(connectionView(load(), links).text, "Connected");
    assert.equal(connectionView(load(), links).tone, "ok");
    const s = reduce(load(), { type: "reconnecting", attempt: 3, delay: 2000 });
    assert.equal(connectionView(s, links).text, "Reconnecting… (attempt 3)");
  });
  test("final closes explain themselves and link back", () => {
    const closed = (code) => connectionView(reduce(load(), { type: "closed", code }), links);
    assert.equal(closed(4401).link.href, "/accounts/login/?next=%2Fmeetings%2Fx%2F");
    assert.match(closed(4401).explanation, /sign in/i);
    assert.equal(closed(4403).link.href, "/dashboard/");
    assert.equal(closed(4404).link.label, "Back to my circles");
    assert.equal(closed(4410).text, "Meeting ended");
    assert.equal(closed(4410).final, true);
    assert.equal(closed(1006).final, false);
  });
  test("4409: open in another window, kindly, with a button to take it back here", () => {
    const s = reduce(load(), { type: "closed", code: 4409 });
    const v = connectionView(s, links);
    assert.equal(v.final, true);
    assert.equal(v.tone, "wait");
    assert.equal(v.text, "Open in another window");
    assert.equal(v.explanation, "This circle is open in another window or on another device, so we closed it here.");
    assert.deepEqual(v.action, { name: "reconnect", label: "Use this window instead" });
    assert.equal(v.link, null);
    assert.equal(connectionView(reduce(load(), { type: "closed", code: 4403 }), links).action, null);
    const composer = composerView(s, T0);
    assert.equal(composer.enabled, false);
    assert.match(composer.reason, /another window/);
    assert.deepEqual(composer.action, v.action, "offered beside the message box too (the notice may be scrolled away)");
    assert.equal(composerView(reduce(load(), { type: "closed", code: 4403 }), T0).action, undefined);
  });
});

// -- chat -------------------------------------------------------------------------------

describe("composerView", () => {
  test("open chat, and the waiting room", () => {
    assert.equal(composerView(load(), T0).enabled, true);
    const waiting = load({ meeting: { ...snapshot().meeting, status: "scheduled" } });
    const v = composerView(waiting, T0);
    assert.equal(v.enabled, false);
    assert.match(v.reason, /hasn't opened yet/);
  });
  test("during a round: the speaker's name for others, open for the speaker", () => {
    const s = load({ round: roundPayload() });
    const v = composerView(s, T0);
    assert.equal(v.enabled, false);
    assert.equal(v.reason, "It's Tom's turn — you can react to show you're listening.");
    const mine = load({ round: roundPayload({ current: { turn_id: 51, membership_id: 3, started_at: AT, deadline: null } }) });
    assert.equal(composerView(mine, T0).enabled, true);
  });
  test("muted, talking piece, offline", () => {
    const muted = load({ members: [TOM, SAM, { ...ME, muted_until: iso(T0 + 60_000) }, ALEX] });
    assert.match(composerView(muted, T0).reason, /paused/);
    const piece = load({ queue: { queue: [], floor: 2, mode: { talking_piece: true, progressive: false } } });
    assert.match(composerView(piece, T0).reason, /talking piece/);
    const offline = reduce(load(), { type: "reconnecting", attempt: 1, delay: 500 });
    const v = composerView(offline, T0);
    assert.equal(v.enabled, true);
    assert.match(v.hint, /offline/);
  });
});

describe("messagesView and outboxView", () => {
  test("rows with reactions, my own presses, and who may flag or remove", () => {
    const s = apply(load(), { type: "chat.message", seq: 3, at: AT, author: ME, body: "mine", client_id: "b" });
    const [first, second] = messagesView(s, { reported: [1] });
    assert.equal(first.alias, "Sam");
    assert.deepEqual(first.reactions.map((r) => [r.kind, r.count, r.pressed]), [["heard", 1, true], ["respect", 0, false], ["support", 0, false]]);
    assert.equal(first.canReport, true);
    assert.equal(first.reported, true);
    assert.equal(first.canDelete, false);
    assert.equal(second.mine, true);
    assert.equal(second.canReport, false, "not my own message");
  });
  test("deleted messages say so, without reactions", () => {
    const s = apply(load(), { type: "message.deleted", seq: 3, at: AT, target_seq: 1 });
    const [row] = messagesView(s);
    assert.equal(row.body, "Message removed by a facilitator");
    assert.equal(row.deleted, true);
    assert.deepEqual(row.reactions, []);
  });
  test("facilitators remove instead of flagging", () => {
    const s = load({ you: { ...TOM, first_round: false } });
    const [row] = messagesView(s);
    assert.equal(row.canDelete, true);
    assert.equal(row.canReport, false);
  });
  test("outbox: sending… and not sent with the server's words", () => {
    let s = reduce(load(), { type: "queue_message", client_id: "x", body: "hi" });
    s = reduce(s, { type: "queue_message", client_id: "y", body: "again" });
    s = reduce(s, { type: "error", ref: "c2", client_id: "y", code: "rate_limited", message: "Take a breath." });
    const [a, b] = outboxView(s);
    assert.equal(a.statusText, "Sending…");
    assert.equal(a.failed, false);
    assert.equal(b.failed, true);
    assert.equal(b.error, "Take a breath.");
  });
});

// -- people -------------------------------------------------------------------------------

describe("peopleView and membersConsoleView", () => {
  test("present first in arrival order, with roles and mutes", () => {
    const s = load({ members: [TOM, SAM, ME, { ...ALEX, muted_until: iso(T0 + 300_000) }] });
    const v = peopleView(s, T0);
    assert.deepEqual(v.rows.map((r) => r.alias), ["Tom", "River", "Sam", "Alex"]);
    assert.equal(v.hereCount, 3);
    assert.equal(v.rows[0].isFacilitator, true);
    assert.equal(v.rows[1].you, true);
    assert.equal(v.rows[3].here, false);
    assert.equal(v.rows[3].muted, true);
    assert.equal(v.countText, "3 here now · 4 in the circle");
  });
  test("after a final close nobody is shown as here", () => {
    const s = reduce(load(), { type: "closed", code: 4410 });
    assert.equal(peopleView(s, T0).hereCount, 0);
  });
  test("speaking stats and intentions for facilitators", () => {
    const s = load({
      you: { ...TOM, first_round: false },
      facilitator: { speaking: { 2: { count: 2, seconds: 240 } }, prompts: [], coaching: [], intentions: { 2: "To talk." } },
    });
    const rows = membersConsoleView(s, T0);
    const sam = rows.find((r) => r.id === 2);
    assert.equal(sam.speakingText, "Spoke 2 times · 4 min");
    assert.equal(sam.intention, "To talk.");
    assert.equal(sam.canModerate, true);
    assert.equal(rows.find((r) => r.id === 1).canModerate, false, "not myself, not a facilitator");
    assert.equal(rows.find((r) => r.id === 4).speakingText, "Hasn't spoken yet");
  });
});

// -- the meeting ---------------------------------------------------------------------------

describe("status, step and agenda", () => {
  test("waiting room and ended", () => {
    assert.match(statusView(load({ meeting: { ...snapshot().meeting, status: "scheduled" } })).title, /hasn't opened yet/);
    assert.equal(statusView(load()).title, null);
    assert.match(statusView(apply(load(), { type: "meeting.ended", seq: 3, at: AT })).title, /ended/);
  });
  test("the step shows minutes used against the suggestion", () => {
    const s = apply(load(), { type: "phase.changed", seq: 3, at: AT, step: AGENDA.steps[1], started_at: AT });
    const v = stepView(s, T0 + 8 * 60_000 + 5000);
    assert.equal(v.title, "Check-in round");
    assert.equal(v.timeText, "8 of 10 minutes");
    assert.equal(v.position, "Step 2 of 2");
    assert.equal(v.over, false);
    const over = stepView(s, T0 + 13 * 60_000);
    assert.equal(over.timeText, "13 minutes so far (10 suggested)");
    assert.equal(over.over, true);
    assert.equal(stepView(load(), T0), null);
  });
  test("agenda: notes only when asked for (facilitators)", () => {
    const s = load({ meeting: { ...snapshot().meeting, step: AGENDA.steps[0] } });
    const members = agendaView(s);
    assert.equal(members.steps[0].notes, "");
    assert.equal(members.steps[0].current, true);
    assert.equal(members.totalMinutes, 15);
    assert.equal(agendaView(s, { withNotes: true }).steps[1].notes, "Go first.");
  });
  test("pushed prompt", () => {
    assert.equal(pushedPromptView(load()), null);
    const s = apply(load(), { type: "prompt.pushed", seq: 3, at: AT, prompt: { id: 10, text: "What did you do today?", strategy: null } });
    assert.equal(pushedPromptView(s).text, "What did you do today?");
    const during = apply(s, { type: "round.started", seq: 4, at: AT, round: roundPayload({ prompt: { id: 11, text: "Another", strategy: null } }) });
    assert.equal(pushedPromptView(during), null, "pushed before the round began");
    const later = apply(during, { type: "prompt.pushed", seq: 5, at: AT, prompt: { id: 12, text: "A follow-up", strategy: null } });
    assert.equal(pushedPromptView(later).text, "A follow-up");
  });
});

// -- rounds ---------------------------------------------------------------------------------

describe("timers", () => {
  test("time left, then a gentle over time, never a cut-off", () => {
    const r = roundPayload();
    assert.deepEqual(timerView(r, T0 + 30_000), { kind: "left", text: "1:30 left", seconds: 90 });
    const over = timerView(r, T0 + 135_000);
    assert.equal(over.kind, "over");
    assert.match(over.text, /^Over time by 0:15 — no rush/);
    assert.equal(timerView(roundPayload({ seconds_per_turn: null, current: { ...r.current, deadline: null } }), T0).kind, "none");
    assert.equal(timerView({ ...r, current: null }, T0).text, "");
  });
  test("a quiet minute counts down and holds the turn's clock", () => {
    const r = roundPayload({ quiet_until: iso(T0 + 60_000), current: { ...roundPayload().current, deadline: iso(T0 + 180_000) } });
    assert.equal(quietView(r, T0 + 18_000).text, "A quiet minute to gather your thoughts — 0:42");
    assert.equal(timerView(r, T0 + 18_000).kind, "waiting");
    assert.equal(quietView(r, T0 + 61_000), null);
    assert.equal(timerView(r, T0 + 61_000).text, "1:59 left");
  });
});

describe("roundView", () => {
  const ui = { explainerDismissed: false, passAck: null, feelingsSent: null };
  test("order with outcomes, whose turn, who is next", () => {
    const s = load({ round: roundPayload({ outcomes: [null, null, null] }) });
    const v = roundView(s, ui, T0);
    assert.equal(v.kindLabel, "Check-in round");
    assert.equal(v.prompt, "What did you do today?");
    assert.equal(v.speakerText, "It's Tom's turn.");
    assert.equal(v.nextText, "Up next: Sam");
    assert.deepEqual(v.order.map((o) => [o.alias, o.statusText]), [["Tom", "speaking now"], ["Sam", "waiting"], ["River", "waiting"]]);
    assert.equal(v.order[1].next, true);
    assert.equal(v.myTurn, false);
    assert.equal(v.showFeelings, false);
  });
  test("my turn in a check-in: done, pass and the feelings picker", () => {
    const s = load({
      round: roundPayload({ outcomes: ["done", "passed", null], current: { turn_id: 52, membership_id: 3, started_at: AT, deadline: null }, up_next: null }),
    });
    const v = roundView(s, ui, T0);
    assert.equal(v.myTurn, true);
    assert.equal(v.turnId, 52);
    assert.equal(v.speakerText, "It's your turn. Take your time.");
    assert.equal(v.showFeelings, true);
    assert.equal(v.nextText, "Last turn of this round.");
    assert.deepEqual(v.order.map((o) => o.statusText), ["spoke", "passed", "speaking now"]);
    assert.equal(v.progress, "2 of 3 turns taken");
    const topic = load({ round: roundPayload({ kind: "topic", current: { turn_id: 52, membership_id: 3, started_at: AT, deadline: null } }) });
    assert.equal(roundView(topic, ui, T0).showFeelings, false);
  });
  test("you're next", () => {
    const s = load({ round: roundPayload({ up_next: 3 }) });
    assert.equal(roundView(s, ui, T0).nextText, "You're next.");
  });
  test("shared feelings show beside the person", () => {
    const s = apply(load({ round: roundPayload() }),
      { type: "feelings.shared", seq: 3, at: AT, round_id: 7, turn_id: 50, membership_id: 1, words: ["tired", "hopeful"], weather: 6 });
    assert.equal(roundView(s, ui, T0).order[0].feelings, "tired, hopeful · weather 6");
  });
  test("the kind acknowledgement after passing, and the first-round explainer", () => {
    const s = load({ round: roundPayload(), you: { ...ME, first_round: true } });
    assert.equal(roundView(s, { ...ui, passAck: 7 }, T0).passAck, "Thanks — passing is always fine.");
    assert.equal(roundView(s, ui, T0).explainer, true);
    assert.equal(roundView(s, { ...ui, explainerDismissed: true }, T0).explainer, false);
    const fac = load({ round: roundPayload(), you: { ...TOM, first_round: true } });
    assert.equal(roundView(fac, ui, T0).explainer, false, "facilitators run rounds");
    const later = {
      ...s,
      previousRound: { id: 1, order: [ME.membership_id], outcomes: ["passed"] },
    };
    assert.equal(roundView(later, ui, T0).explainer, false, "only his first round");
  });
  test("no round, no panel", () => {
    assert.equal(roundView(load(), ui, T0), null);
  });
});

describe("feelingsPickerView", () => {
  test("five families that open into finer words", () => {
    const v = feelingsPickerView({ open: "sad", words: ["tired"], weather: "" });
    assert.deepEqual(v.families.map((f) => f.family), Object.keys(FEELING_FAMILIES));
    const sad = v.families.find((f) => f.family === "sad");
    assert.equal(sad.open, true);
    assert.equal(sad.count, 1);
    assert.equal(sad.words[0].word, "sad");
    assert.equal(sad.words.find((w) => w.word === "tired").pressed, true);
    assert.equal(v.canShare, true);
    assert.equal(v.weather, null);
  });
  test("at most six words; weather alone is enough to share", () => {
    const six = ["low", "tired", "lonely", "hurt", "calm", "proud"];
    const v = feelingsPickerView({ open: "afraid", words: six });
    assert.equal(v.full, true);
    assert.equal(v.families.find((f) => f.family === "afraid").words.every((w) => w.disabled), true);
    assert.equal(feelingsPickerView({ words: [], weather: "4" }).canShare, true);
    assert.equal(feelingsPickerView({ words: [], weather: "" }).canShare, false);
    assert.equal(feelingsPickerView({ words: [], weather: "11" }).weather, null);
  });
});

// -- talking order --------------------------------------------------------------------------

describe("queueView", () => {
  const q = (entries, floor = null, mode = { talking_piece: false, progressive: false }) => ({
    queue: entries.map((m) => ({ membership_id: m.membership_id, alias: m.alias, raised_at: AT })), floor, mode,
  });
  test("my place, the floor and the mode", () => {
    const v = queueView(load({ queue: q([SAM, ME], 4, { talking_piece: true, progressive: true }) }));
    assert.equal(v.handRaised, true);
    assert.equal(v.position, 2);
    assert.equal(v.positionText, "Your hand is up — you are 2nd in line.");
    assert.equal(v.floorText, "Alex has the floor.");
    assert.match(v.modeText, /Talking piece/);
    assert.match(v.modeText, /haven't spoken yet go first/);
    assert.equal(v.entries[1].you, true);
  });
  test("first in line, hand down, holding the floor", () => {
    assert.equal(queueView(load({ queue: q([ME]) })).positionText, "Your hand is up — you are next.");
    assert.equal(queueView(load()).positionText, "Your hand is down.");
    const holding = queueView(load({ queue: q([], 3) }));
    assert.equal(holding.floorText, "You have the floor.");
    assert.equal(holding.canRaise, false);
  });
});

// -- facilitator console ---------------------------------------------------------------------

describe("prompt library", () => {
  test("facets and filters", () => {
    const f = promptFacets(PROMPTS);
    assert.deepEqual(f.phases.map((p) => p.label), ["Check-in", "Sharing", "Check-out"]);
    assert.deepEqual(f.depths.map((d) => d.value), ["1", "3"]);
    assert.equal(f.strategies[0].label, "Locate the body");
    assert.equal(promptListView(PROMPTS, {}, T0).items.length, 3);
    assert.deepEqual(promptListView(PROMPTS, { q: "BODY" }, T0).items.map((p) => p.id), [11]);
    assert.deepEqual(promptListView(PROMPTS, { depth: "1", phase: "check_out" }, T0).items.map((p) => p.id), [12]);
    assert.deepEqual(promptListView(PROMPTS, { strategy: "thoughts_before_feelings" }, T0).items.map((p) => p.id), [10]);
  });
  test("rows say when each was last used here and which round kind fits", () => {
    const [a, b, c] = promptListView(PROMPTS, {}, T0).items;
    assert.equal(a.lastUsed, "never used here");
    assert.equal(a.fresh, true);
    assert.equal(b.lastUsed, "last used 3 weeks ago");
    assert.equal(a.roundKind, "check_in");
    assert.equal(b.roundKind, "topic");
    assert.equal(c.roundKind, "check_out");
    assert.match(c.meta, /this circle's own/);
    const limited = promptListView(PROMPTS, {}, T0, 2);
    assert.equal(limited.items.length, 2);
    assert.match(limited.countText, /Showing 2 of 3/);
  });
});

describe("coachingPick", () => {
  const facState = (over = {}) => load({
    you: { ...TOM, first_round: false },
    facilitator: { speaking: {}, prompts: PROMPTS, coaching: CARDS, intentions: {} },
    ...over,
  });
  test("the strategy of the prompt in use, else nothing", () => {
    assert.equal(coachingPick(facState()), null);
    const s = facState({ round: roundPayload() });
    assert.equal(coachingPick(s).card.key, "strategy-thoughts");
    const pushed = apply(facState(), { type: "prompt.pushed", seq: 3, at: AT, prompt: { id: 10, text: "x", strategy: "thoughts_before_feelings" } });
    assert.equal(coachingPick(pushed).card.key, "strategy-thoughts");
    assert.equal(coachingPick(load()), null, "members never get cards");
  });
  test("a pass, then a pass in two rounds running", () => {
    let s = apply(facState(), { type: "round.started", seq: 3, at: AT, round: roundPayload() });
    s = apply(s,
      { type: "turn.ended", seq: 4, at: AT, round_id: 7, turn_id: 50, membership_id: 1, outcome: "done", round: roundPayload({ outcomes: ["done", null, null], current: { turn_id: 51, membership_id: 2, started_at: AT, deadline: null } }) },
      { type: "turn.started", seq: 5, at: AT, round_id: 7, turn_id: 51, membership_id: 2, deadline: null, round: roundPayload({ outcomes: ["done", null, null], current: { turn_id: 51, membership_id: 2, started_at: AT, deadline: null } }) });
    assert.equal(coachingPick(s).card.key, "strategy-thoughts");
    s = apply(s,
      { type: "turn.ended", seq: 6, at: AT, round_id: 7, turn_id: 51, membership_id: 2, outcome: "passed", round: roundPayload({ outcomes: ["done", "passed", null], current: { turn_id: 52, membership_id: 3, started_at: AT, deadline: null } }) },
      { type: "turn.started", seq: 7, at: AT, round_id: 7, turn_id: 52, membership_id: 3, deadline: null, round: roundPayload({ outcomes: ["done", "passed", null], current: { turn_id: 52, membership_id: 3, started_at: AT, deadline: null } }) });
    const pick = coachingPick(s);
    assert.equal(pick.card.key, "situation-member-passes");
    assert.equal(pick.why, "Sam passed.");
    s = apply(s, { type: "round.ended", seq: 8, at: AT, round_id: 7, round: roundPayload({ outcomes: ["done", "passed", "done"], current: null, ended: true }) });
    const r2 = roundPayload({ id: 8, outcomes: [null, null, null], current: { turn_id: 60, membership_id: 2, started_at: AT, deadline: null } });
    s = apply(s, { type: "round.started", seq: 9, at: AT, round: r2 },
      { type: "turn.ended", seq: 10, at: AT, round_id: 8, turn_id: 60, membership_id: 2, outcome: "passed", round: { ...r2, outcomes: [null, "passed", null] } });
    assert.equal(coachingPick(s).card.key, "situation-passes-twice");
  });
  test("a crisis alert wins; a first-round member's turn (when the server marks it)", () => {
    const s = apply(facState({ round: roundPayload() }), { type: "alert.crisis", target_seq: 1, membership_id: 2, alias: "Sam", category: "suicide" });
    const pick = coachingPick(s);
    assert.equal(pick.card.key, "situation-crisis-alert");
    assert.equal(pick.why, "Sam may need support.");
    const first = apply(
      facState({ members: [TOM, { ...SAM, first_round: true }, ME, ALEX].map((m) => ({ muted_until: null, ...m })) }),
      { type: "round.started", seq: 3, at: AT, round: roundPayload({ current: null }) },
      { type: "turn.started", seq: 4, at: AT, round_id: 7, turn_id: 51, membership_id: 2, deadline: null },
    );
    assert.equal(coachingPick(first).card.key, "situation-first-round");
    const mine = apply(
      facState({ you: { ...TOM, first_round: true } }),
      { type: "round.started", seq: 3, at: AT, round: roundPayload({ current: null }) },
      { type: "turn.started", seq: 4, at: AT, round_id: 7, turn_id: 50, membership_id: 1, deadline: null },
    );
    assert.equal(coachingPick(mine).card.key, "strategy-thoughts", "not for the facilitator's own first round");
  });
  test("situation cards for 'More cards', crisis first", () => {
    const list = situationCards(facState());
    assert.equal(list[0].situation, "crisis_alert");
    assert.equal(list.every((c) => c.situation), true);
  });
});

describe("round controls, alerts, flags, support", () => {
  test("start defaults follow the agenda step and the pushed prompt; Next names the turn", () => {
    let s = apply(load({ you: { ...TOM, first_round: false } }),
      { type: "phase.changed", seq: 3, at: AT, step: AGENDA.steps[1], started_at: AT },
      { type: "prompt.pushed", seq: 4, at: AT, prompt: { id: 10, text: "What did you do today?", strategy: null } });
    const idle = roundControlsView(s);
    assert.equal(idle.active, false);
    assert.equal(idle.canStart, true);
    assert.equal(idle.defaultKind, "check_in");
    assert.equal(idle.pushedPrompt.id, 10);
    s = apply(s, { type: "round.started", seq: 5, at: AT, round: roundPayload() });
    const running = roundControlsView(s);
    assert.equal(running.turnId, 50);
    assert.equal(running.skipLabel, "Skip Tom");
    const waiting = roundControlsView(load({ meeting: { ...snapshot().meeting, status: "scheduled" } }));
    assert.equal(waiting.canStart, false);
  });
  test("crisis alerts newest first, with the message and a handled filter", () => {
    const s = apply(load(),
      { type: "alert.crisis", target_seq: 1, membership_id: 2, alias: "Sam", category: "self_harm" });
    const [a] = alertsView(s);
    assert.equal(a.title, "Sam may need support");
    assert.equal(a.text, "Their message: “hello”");
    assert.equal(a.category, "self-harm");
    assert.deepEqual(alertsView(s, new Set([a.key])), []);
  });
  test("flags name the reporter and the message", () => {
    const s = apply(load(), { type: "report.received", report_id: 9, target_seq: 1, reason: "unkind", reporter: { membership_id: 3, alias: "River", role: "member" } });
    const [f] = reportsView(s);
    assert.equal(f.title, "River flagged a message from Sam");
    assert.equal(f.excerpt, "hello");
    assert.equal(f.reason, "Why: unkind");
    assert.equal(f.canDelete, true);
    assert.deepEqual(reportsView(s, new Set(["r9"])), []);
  });
  test("flags can be marked as looked at when they have an id; dismissed otherwise", () => {
    const s = apply(load({ you: { ...TOM, first_round: false } }),
      { type: "report.received", report_id: 9, target_seq: 1, reason: "", reporter: { membership_id: 3, alias: "River", role: "member" } },
      { type: "report.received", target_seq: 1, reason: "", reporter: { membership_id: 4, alias: "Alex", role: "member" } });
    const [idless, withId] = reportsView(s);
    assert.equal(withId.reportId, 9);
    assert.equal(withId.canResolve, true);
    assert.equal(idless.reportId, null);
    assert.equal(idless.canResolve, false);
  });
  test("open counts: '3 open flags', and 'showing the newest N' when more are open than listed", () => {
    assert.deepEqual(openCounts(0, 0, "flag"), { countText: null, moreText: null });
    assert.deepEqual(openCounts(1, 1, "flag"), { countText: "1 open flag", moreText: null });
    assert.deepEqual(openCounts(3, 3, "flag"), { countText: "3 open flags", moreText: null });
    assert.deepEqual(openCounts(23, 20, "flag"), {
      countText: "23 open flags", moreText: "Showing the newest 20. Older ones show here after you reload the page.",
    });
    assert.match(openCounts(2, 1, "alert").moreText, /^Showing the newest 1\./);
  });
  test("the console's flags and the alerts panel carry their counts", () => {
    const reporter = { membership_id: 3, alias: "River", role: "member" };
    const flags = Array.from({ length: 20 }, (_, i) => ({ type: "report.received", report_id: i + 1, target_seq: 1, reason: "", reporter, at: AT }));
    let s = load({
      you: { ...TOM, first_round: false },
      facilitator: { speaking: {}, prompts: [], coaching: [], intentions: {}, reports: flags, reports_open: 23, alerts: [{ type: "alert.crisis", target_seq: 1, membership_id: 2, alias: "Sam", category: "suicide", at: AT }], alerts_open: 1 },
    });
    let v = flagsView(s);
    assert.equal(v.items.length, 20);
    assert.equal(v.items[0].reportId, 20, "newest first");
    assert.equal(v.countText, "23 open flags");
    assert.match(v.moreText, /^Showing the newest 20\. .*reload/);
    s = apply(s, { type: "report.resolved", report_id: 20, by: TOM, reports_open: 22 });
    v = flagsView(s);
    assert.equal(v.items.length, 19);
    assert.equal(v.countText, "22 open flags");
    assert.match(v.moreText, /^Showing the newest 19\./);
    const few = flagsView(load({ you: { ...TOM, first_round: false }, facilitator: { speaking: {}, prompts: [], coaching: [], intentions: {}, reports: flags.slice(0, 3), reports_open: 3 } }));
    assert.equal(few.countText, "3 open flags");
    assert.equal(few.moreText, null);
    assert.equal(flagsView(load()).countText, null);
    const alerts = alertsPanelView(s);
    assert.equal(alerts.items.length, 1);
    assert.equal(alerts.countText, "1 open alert");
  });
  test("support: the circle's help lines, and prominent after crisis language", () => {
    assert.equal(supportView(load()).prominent, false);
    assert.equal(supportView(load()).lines[0].contact, "116 123");
    const s = apply(load(), { type: "support.resources", resources: [{ name: "Line", contact: "999", region: "GB" }] });
    assert.equal(supportView(s).prominent, true);
    assert.equal(supportView(s).lines[0].contact, "999");
  });
});
