// What the meeting room shows, as pure functions of the state (state.js), a little local UI
// state (what this person has open, typed or dismissed) and the time. No DOM, no clock, no
// I/O: render.js maps these view models to elements, room.js wires the events. Every string
// a person reads is decided here, so it can be tested with `node --test`.
//
// Copy: warm, plain, non-clinical. Server text (aliases, chat, prompts) is data, never markup.

import {
  CLOSE_REPLACED,
  canChat,
  closeExplanation,
  currentSpeaker,
  feelingsText,
  isFacilitator,
  isMuted,
  memberById,
  myQueuePosition,
  reactionCounts,
  upNext,
} from "./state.js";

// ---------------------------------------------------------------------------------------
// Constants (mirrors of the server's vocabularies)

/** Mirrors facilitation/feelings.py FEELING_FAMILIES: five families, each with finer words. */
export const FEELING_FAMILIES = Object.freeze({
  mad: Object.freeze(["annoyed", "frustrated", "irritated", "resentful", "angry", "furious"]),
  sad: Object.freeze(["low", "tired", "lonely", "disappointed", "hurt", "grieving"]),
  glad: Object.freeze(["calm", "relieved", "hopeful", "grateful", "proud", "content"]),
  afraid: Object.freeze(["uneasy", "worried", "anxious", "stressed", "overwhelmed", "scared"]),
  ashamed: Object.freeze(["awkward", "embarrassed", "guilty", "exposed", "small", "not enough"]),
});
/** The server accepts at most this many words in one feelings.share. */
export const MAX_FEELING_WORDS = 6;
export const WEATHER_HELP = "1 is a storm, 10 is clear skies.";

export const REACTIONS = Object.freeze([
  { kind: "heard", label: "Heard" },
  { kind: "respect", label: "Respect" },
  { kind: "support", label: "Support" },
]);

export const ROUND_KINDS = Object.freeze({ check_in: "Check-in round", check_out: "Check-out round", topic: "Topic round" });
export const ROUND_ORDERS = Object.freeze({ seating: "Seating order", random: "Random order", facilitator_first: "Facilitator first" });
export const PHASES = Object.freeze({ opening: "Opening", check_in: "Check-in", sharing: "Sharing", check_out: "Check-out" });
export const DEPTHS = Object.freeze({ 1: "1 · thoughts and facts", 2: "2 · a little deeper", 3: "3 · feelings and the body" });
const OUTCOMES = Object.freeze({ done: "spoke", passed: "passed", skipped: "skipped" });
/** Coaching situations in the order the "More cards" list shows them. */
export const SITUATIONS = Object.freeze([
  "crisis_alert", "member_passes", "passes_twice", "first_round", "says_dont_know", "goes_silent",
  "deflects", "gets_angry", "heavy_share", "me_too_story",
]);

// ---------------------------------------------------------------------------------------
// Small formatting helpers

/** "1st", "2nd", "3rd", "4th", "11th", "22nd". @param {number} n */
export function ordinal(n) {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] ?? "th"}`;
}

/** m:ss for a number of seconds (absolute value, rounded up so 0:01 shows until it is 0). */
export function formatClock(seconds) {
  const s = Math.max(0, Math.ceil(Math.abs(seconds)));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** "45 s", "4 min", "1 h 5 min": a rough speaking time. @param {number} seconds */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** "thoughts_before_feelings" → "Thoughts before feelings". @param {string|null|undefined} key */
export function humanize(key) {
  const t = String(key ?? "").replace(/[_-]+/g, " ").trim();
  return t ? t[0].toUpperCase() + t.slice(1) : "";
}

/** @param {any} prompt a prompt object {text} or a string @returns {string} */
export function promptText(prompt) {
  if (!prompt) return "";
  return typeof prompt === "string" ? prompt : String(prompt.text ?? "");
}

/** @param {string|null|undefined} iso @returns {number} ms, NaN when unknown */
function ms(iso) {
  return iso ? Date.parse(iso) : Number.NaN;
}

/** @param {RoomState} state @param {any} id */
function aliasOf(state, id) {
  return memberById(state, id)?.alias || "Someone";
}

/** @param {RoomState} state @param {any} id */
function isMe(state, id) {
  return id != null && state.you?.membership_id === id;
}

/** @typedef {import("./state.js").RoomState} RoomState */

// ---------------------------------------------------------------------------------------
// Connection

/** After 4409: connect here again (actions.js "reconnect"); the server closes the oldest other. */
const REPLACED_ACTION = Object.freeze({ name: "reconnect", label: "Use this window instead" });

/**
 * @param {RoomState} state
 * @param {{loginUrl?: string, dashboardUrl?: string, nextPath?: string}} [links]
 * @returns {{status: string, tone: "ok"|"wait"|"bad", text: string, explanation: string|null,
 *   link: {href: string, label: string}|null, action: {name: string, label: string}|null, final: boolean}}
 *   action: a button (data-action) offered instead of a link
 */
export function connectionView(state, links = {}) {
  const c = state.connection;
  const base = { status: c.status, explanation: null, link: null, action: null, final: false };
  switch (c.status) {
    case "open":
      return { ...base, tone: state.synced ? "ok" : "wait", text: state.synced ? "Connected" : "Connected — loading the room…" };
    case "reconnecting":
      return { ...base, tone: "wait", text: `Reconnecting… (attempt ${c.attempt || 1})`, explanation: "Your messages are kept and will be sent when we're back." };
    case "closed": {
      if (!c.final) return { ...base, tone: "wait", text: "Connection lost. Reconnecting…" };
      if (c.code === CLOSE_REPLACED) {
        // Not an error: he is in the circle, just elsewhere. He may take it back here.
        return {
          ...base, tone: "wait", text: "Open in another window", explanation: closeExplanation(c.code),
          action: REPLACED_ACTION, final: true,
        };
      }
      const explanation = closeExplanation(c.code) ?? "You've left the room.";
      let link = null;
      if (c.code === 4401 && links.loginUrl) {
        const next = links.nextPath ? `?next=${encodeURIComponent(links.nextPath)}` : "";
        link = { href: `${links.loginUrl}${next}`, label: "Sign in again" };
      } else if (links.dashboardUrl) {
        link = { href: links.dashboardUrl, label: "Back to my circles" };
      }
      const text = c.code === 4410 ? "Meeting ended" : "Not connected";
      return { ...base, tone: c.code === 4410 ? "ok" : "bad", text, explanation, link, final: true };
    }
    default:
      return { ...base, tone: "wait", text: "Connecting…" };
  }
}

// ---------------------------------------------------------------------------------------
// Chat

/**
 * Whether the message box takes a message now, and if not, why (in words for people).
 * @param {RoomState} state @param {number} now
 * @returns {{enabled: boolean, reason: string|null, hint: string|null, action?: {name: string, label: string}}}
 *   action: a button to offer beside the reason
 */
export function composerView(state, now) {
  if (!state.synced) return { enabled: false, reason: "Joining the room…", hint: null };
  if (state.connection.status === "closed" && state.connection.final) {
    if (state.connection.code === CLOSE_REPLACED) {
      // On a phone the notice at the top is scrolled away: offer the way back here too.
      return { enabled: false, reason: "The circle is open in another window or on another device.", hint: null, action: REPLACED_ACTION };
    }
    return { enabled: false, reason: "You're not connected to this meeting any more.", hint: null };
  }
  const verdict = canChat(state, now);
  const offline = state.connection.status !== "open"
    ? "You're offline for a moment. Messages wait here and go out when we reconnect."
    : null;
  if (verdict.ok) return { enabled: true, reason: null, hint: offline };
  if (verdict.reason === "not_live" && state.meeting?.status === "scheduled") {
    return { enabled: false, reason: "The circle hasn't opened yet. Chat opens when a facilitator starts the meeting.", hint: null };
  }
  if (verdict.reason === "not_your_turn" && state.round) {
    const speaker = currentSpeaker(state);
    const reason = speaker && state.round.current
      ? `It's ${speaker.alias}'s turn — you can react to show you're listening.`
      : "A round is under way — you can react to show you're listening.";
    return { enabled: false, reason, hint: null };
  }
  return { enabled: false, reason: verdict.message, hint: null };
}

/**
 * The message list.
 * @param {RoomState} state @param {{reported?: Set<number>|number[]}} [ui]
 */
export function messagesView(state, ui = {}) {
  const me = state.you?.membership_id;
  const reported = new Set(ui.reported ?? []);
  const canModerate = isFacilitator(state);
  const live = state.meeting?.status === "live";
  const ended = state.meeting?.status === "ended" || (state.connection.final && state.connection.status === "closed");
  return state.messages.map((m) => {
    const counts = reactionCounts(m);
    const mineReacted = new Set(m.reactions.filter((r) => r.membership_id === me && me != null).map((r) => r.kind));
    const alias = m.author?.alias || "Someone";
    return {
      key: `m${m.seq}`,
      seq: m.seq,
      alias,
      role: m.author?.role ?? "member",
      isFacilitator: m.author?.role === "facilitator",
      at: m.at,
      mine: me != null && m.author?.membership_id === me,
      deleted: m.deleted,
      body: m.deleted ? "Message removed by a facilitator" : m.body,
      reactions: m.deleted ? [] : REACTIONS.map(({ kind, label }) => ({
        kind,
        label,
        count: counts[kind] ?? 0,
        pressed: mineReacted.has(kind),
        disabled: !live,
      })),
      // Members flag to facilitators; facilitators can remove a message themselves.
      canReport: !m.deleted && !ended && !canModerate && !(me != null && m.author?.membership_id === me),
      reported: reported.has(m.seq),
      canDelete: canModerate && !m.deleted && !ended,
    };
  });
}

/** My messages not yet delivered: "sending…" or "not sent — retry". @param {RoomState} state */
export function outboxView(state) {
  return state.outbox.map((o) => ({
    key: `o${o.client_id}`,
    client_id: o.client_id,
    body: o.body,
    failed: o.status === "failed",
    statusText: o.status === "failed" ? "Not sent" : "Sending…",
    error: o.status === "failed" ? (o.error?.message || "It didn't go through.") : null,
  }));
}

// ---------------------------------------------------------------------------------------
// People

/**
 * Everyone in the circle, those here first (in arrival order), then the others.
 * @param {RoomState} state @param {number} now
 */
export function peopleView(state, now) {
  // After a final close nobody's presence is known any more.
  const gone = state.connection.status === "closed" && state.connection.final;
  const here = new Set(gone ? [] : state.present);
  const arrival = new Map(state.present.map((id, i) => [id, i]));
  const rows = state.members.map((m) => ({
    id: m.membership_id,
    alias: m.alias || "Someone",
    isFacilitator: m.role === "facilitator",
    you: isMe(state, m.membership_id),
    here: here.has(m.membership_id),
    muted: isMuted(state, m.membership_id, now),
    mutedUntil: isMuted(state, m.membership_id, now) ? m.muted_until : null,
  }));
  rows.sort((a, b) => {
    if (a.here !== b.here) return a.here ? -1 : 1;
    if (a.here) return (arrival.get(a.id) ?? 0) - (arrival.get(b.id) ?? 0);
    return a.alias.localeCompare(b.alias);
  });
  const hereCount = rows.filter((r) => r.here).length;
  return {
    rows,
    hereCount,
    countText: gone ? `${rows.length} in the circle` : `${hereCount} here now · ${rows.length} in the circle`,
  };
}

// ---------------------------------------------------------------------------------------
// The meeting: status, agenda step, prompt

/** @param {RoomState} state */
export function statusView(state) {
  const status = state.meeting?.status;
  if (status === "scheduled") {
    return {
      status,
      title: "The circle hasn't opened yet",
      text: "Settle in and take a breath. A facilitator will open the circle soon; chat and rounds start then.",
    };
  }
  if (status === "ended") return { status, title: "This meeting has ended", text: "Thank you for being part of it." };
  return { status: status ?? "loading", title: null, text: null };
}

/**
 * The current agenda step with honest timing: minutes used against the suggestion.
 * @param {RoomState} state @param {number} now
 */
export function stepView(state, now) {
  const step = state.meeting?.step;
  if (!step) return null;
  const started = ms(state.meeting.step_started_at);
  const used = Number.isNaN(started) ? null : Math.max(0, Math.floor((now - started) / 60000));
  const minutes = typeof step.minutes === "number" ? step.minutes : null;
  let timeText = null;
  if (used != null && minutes) {
    timeText = used > minutes ? `${used} minutes so far (${minutes} suggested)` : `${used} of ${minutes} minutes`;
  } else if (minutes) {
    timeText = `About ${minutes} minutes`;
  } else if (used != null) {
    timeText = `${used} minutes so far`;
  }
  const steps = state.meeting.agenda?.steps ?? [];
  const index = steps.findIndex((s) => s.id === step.id);
  return {
    id: step.id,
    title: step.title || "This part of the meeting",
    purpose: step.purpose || "",
    timeText,
    over: used != null && minutes != null && used > minutes,
    position: index === -1 ? null : `Step ${index + 1} of ${steps.length}`,
  };
}

/**
 * The agenda, for members (titles, purposes, minutes) or facilitators (with notes).
 * @param {RoomState} state @param {{withNotes?: boolean}} [opts]
 */
export function agendaView(state, { withNotes = false } = {}) {
  const agenda = state.meeting?.agenda;
  if (!agenda || !Array.isArray(agenda.steps) || !agenda.steps.length) return null;
  const current = state.meeting.step?.id ?? null;
  return {
    name: agenda.name || "Tonight's plan",
    totalMinutes: agenda.steps.reduce((n, s) => n + (s.minutes || 0), 0),
    steps: agenda.steps.map((s, i) => ({
      id: s.id,
      number: i + 1,
      title: s.title || `Step ${i + 1}`,
      purpose: s.purpose || "",
      minutes: s.minutes ?? null,
      notes: withNotes ? (s.notes || "") : "",
      roundKind: s.round_kind ?? null,
      current: s.id === current,
    })),
  };
}

/**
 * The prompt a facilitator pushed to the circle, if any. During a round it shows only when it
 * was pushed after the round began (the round shows its own prompt).
 * @param {RoomState} state
 */
export function pushedPromptView(state) {
  const text = promptText(state.prompt);
  if (!text) return null;
  if (state.round) {
    const pushedAt = state.log.findLastIndex((e) => e.type === "prompt.pushed");
    const roundAt = state.log.findLastIndex((e) => e.type === "round.started");
    if (pushedAt <= roundAt || text === promptText(state.round.prompt)) return null;
  }
  return { text };
}

// ---------------------------------------------------------------------------------------
// Rounds

/**
 * Time left in a turn. Never a cut-off: after zero it says "over time", gently.
 * @param {any} round @param {number} now
 * @returns {{kind: "none"|"waiting"|"left"|"over", text: string, seconds: number|null}}
 */
export function timerView(round, now) {
  if (!round?.current) return { kind: "none", text: "", seconds: null };
  const deadline = ms(round.current.deadline);
  if (!round.seconds_per_turn || Number.isNaN(deadline)) return { kind: "none", text: "No time limit — take the time you need.", seconds: null };
  const quiet = ms(round.quiet_until);
  if (!Number.isNaN(quiet) && quiet > now) {
    return { kind: "waiting", text: `${formatClock(round.seconds_per_turn)} once the quiet minute ends`, seconds: round.seconds_per_turn };
  }
  const left = (deadline - now) / 1000;
  if (left > 0) return { kind: "left", text: `${formatClock(left)} left`, seconds: Math.ceil(left) };
  return { kind: "over", text: `Over time by ${formatClock(-left)} — no rush, finish your thought.`, seconds: Math.floor(left) };
}

/** A quiet minute still running, or null. @param {any} round @param {number} now */
export function quietView(round, now) {
  const quiet = ms(round?.quiet_until);
  if (Number.isNaN(quiet) || quiet <= now) return null;
  const left = (quiet - now) / 1000;
  return { seconds: Math.ceil(left), text: `A quiet minute to gather your thoughts — ${formatClock(left)}` };
}

/**
 * Everything the round panel shows.
 * @param {RoomState} state
 * @param {{explainerDismissed?: boolean, passAck?: any, feelingsSent?: any}} ui
 * @param {number} now
 */
function hadTurnIn(round, me) {
  if (!round || me == null) return false;
  const at = (round.order ?? []).indexOf(me);
  return at >= 0 && (round.outcomes ?? [])[at] != null;
}

export function roundView(state, ui, now) {
  const round = state.round;
  if (!round) return null;
  const me = state.you?.membership_id ?? null;
  const current = round.current?.membership_id ?? null;
  const next = upNext(state);
  const here = new Set(state.present);
  const outcomes = Array.isArray(round.outcomes) ? round.outcomes : [];
  const shares = state.feelings.filter((f) => f.round_id === round.id);
  const order = round.order.map((id, i) => {
    const outcome = outcomes[i] ?? null;
    const speaking = id === current;
    const share = shares.findLast((f) => f.membership_id === id);
    return {
      id,
      alias: aliasOf(state, id),
      you: id === me && me != null,
      speaking,
      next: next?.membership_id === id && !speaking,
      outcome: speaking ? "speaking" : (outcome ?? "waiting"),
      statusText: speaking ? "speaking now" : (OUTCOMES[outcome] ?? (here.has(id) ? "waiting" : "waiting · away")),
      feelings: share ? feelingsText(share.words, share.weather) : "",
    };
  });
  const myTurn = current != null && current === me;
  const speaker = current != null ? aliasOf(state, current) : null;
  const nextIsMe = next != null && next.membership_id === me;
  const done = order.filter((o) => o.outcome === "done" || o.outcome === "passed" || o.outcome === "skipped").length;
  return {
    id: round.id,
    kindLabel: ROUND_KINDS[round.kind] ?? "Round",
    kind: round.kind,
    prompt: promptText(round.prompt),
    order,
    progress: `${done} of ${order.length} turns taken`,
    turnId: round.current?.turn_id ?? null,
    myTurn,
    speakerText: myTurn ? "It's your turn. Take your time." : (speaker ? `It's ${speaker}'s turn.` : "Getting the next turn ready…"),
    speakerAlias: speaker,
    nextText: next ? (nextIsMe ? "You're next." : `Up next: ${next.alias}`) : (current != null ? "Last turn of this round." : ""),
    nextIsMe,
    timer: timerView(round, now),
    quiet: quietView(round, now),
    showFeelings: myTurn && round.kind === "check_in",
    feelingsSent: Boolean(ui?.feelingsSent && ui.feelingsSent === round.current?.turn_id),
    passAck: ui?.passAck != null && ui.passAck === round.id ? "Thanks — passing is always fine." : null,
    // Facilitators run rounds; the explainer is for a member's first one.
    // Shown once: not after he has had a turn in an earlier round of this meeting.
    explainer:
      Boolean(state.you?.first_round) &&
      !isFacilitator(state) &&
      !ui?.explainerDismissed &&
      !hadTurnIn(state.previousRound, state.you?.membership_id),
  };
}

/**
 * The feelings picker: families, the open family's words, what's chosen.
 * @param {{open?: string|null, words?: string[], weather?: string|number|null}} picker
 */
export function feelingsPickerView(picker = {}) {
  const chosen = Array.isArray(picker.words) ? picker.words : [];
  const full = chosen.length >= MAX_FEELING_WORDS;
  const families = Object.entries(FEELING_FAMILIES).map(([family, words]) => {
    const all = [family, ...words];
    return {
      family,
      label: humanize(family),
      open: picker.open === family,
      count: all.filter((w) => chosen.includes(w)).length,
      words: all.map((w) => ({
        word: w,
        label: w === family ? `${humanize(w)} (in general)` : w,
        pressed: chosen.includes(w),
        disabled: full && !chosen.includes(w),
      })),
    };
  });
  const weather = picker.weather == null || picker.weather === "" ? null : Number(picker.weather);
  return {
    families,
    chosen,
    chosenText: chosen.length ? chosen.join(", ") : "No words picked yet — that's fine.",
    full,
    weather: Number.isInteger(weather) && weather >= 1 && weather <= 10 ? weather : null,
    canShare: chosen.length > 0 || (Number.isInteger(weather) && weather >= 1 && weather <= 10),
  };
}

// ---------------------------------------------------------------------------------------
// Talking order outside rounds

/** @param {RoomState} state */
export function queueView(state) {
  const me = state.you?.membership_id ?? null;
  const pos = myQueuePosition(state);
  const floor = state.queue.floor;
  const entries = state.queue.queue.map((e, i) => ({
    id: e.membership_id,
    alias: e.alias || aliasOf(state, e.membership_id),
    position: i + 1,
    you: e.membership_id === me && me != null,
  }));
  const iHoldFloor = floor != null && floor === me;
  let positionText = "Your hand is down.";
  if (iHoldFloor) positionText = "";
  else if (pos === 1) positionText = "Your hand is up — you are next.";
  else if (pos != null) positionText = `Your hand is up — you are ${ordinal(pos)} in line.`;
  const mode = state.queue.mode;
  return {
    active: !state.round,
    entries,
    handRaised: pos != null,
    position: pos,
    positionText,
    canRaise: state.meeting?.status === "live" && !iHoldFloor,
    iHoldFloor,
    floorId: floor,
    floorText: floor == null ? "Nobody holds the floor." : (iHoldFloor ? "You have the floor." : `${aliasOf(state, floor)} has the floor.`),
    talkingPiece: mode.talking_piece,
    progressive: mode.progressive,
    modeText: [
      mode.talking_piece ? "Talking piece: only the person holding it (and facilitators) writes." : "Open conversation: anyone can write.",
      mode.progressive ? "People who haven't spoken yet go first." : null,
    ].filter(Boolean).join(" "),
  };
}

// ---------------------------------------------------------------------------------------
// Facilitator console

/**
 * "last used 3 weeks ago" / "never used here".
 * @param {string|null|undefined} iso @param {number} now
 */
export function lastUsedText(iso, now) {
  const at = ms(iso);
  if (Number.isNaN(at)) return "never used here";
  const days = Math.floor((now - at) / 86_400_000);
  if (days < 1) return "used here today";
  if (days === 1) return "last used yesterday";
  if (days < 7) return `last used ${days} days ago`;
  const weeks = Math.floor(days / 7);
  if (weeks < 9) return weeks === 1 ? "last used 1 week ago" : `last used ${weeks} weeks ago`;
  const months = Math.floor(days / 30);
  return `last used ${months} months ago`;
}

/** Options for the prompt filters, from the prompts themselves. @param {any[]} prompts */
export function promptFacets(prompts) {
  const phases = [...new Set(prompts.map((p) => p.phase).filter(Boolean))];
  const depths = [...new Set(prompts.map((p) => p.depth).filter((d) => d != null))].sort();
  const strategies = [...new Set(prompts.map((p) => p.strategy).filter(Boolean))].sort();
  return {
    phases: phases.map((v) => ({ value: v, label: PHASES[v] ?? humanize(v) })),
    depths: depths.map((v) => ({ value: String(v), label: DEPTHS[v] ?? String(v) })),
    strategies: strategies.map((v) => ({ value: v, label: humanize(v) })),
  };
}

/**
 * The prompt library, filtered by search text, phase, depth and strategy.
 * @param {any[]} prompts @param {{q?: string, phase?: string, depth?: string, strategy?: string}} filters
 * @param {number} now @param {number} [limit]
 */
export function promptListView(prompts, filters, now, limit = 40) {
  const q = String(filters?.q ?? "").trim().toLowerCase();
  const matches = (prompts ?? []).filter((p) =>
    (!q || String(p.text).toLowerCase().includes(q) || String(p.strategy ?? "").replace(/_/g, " ").includes(q))
    && (!filters?.phase || p.phase === filters.phase)
    && (!filters?.depth || String(p.depth) === String(filters.depth))
    && (!filters?.strategy || p.strategy === filters.strategy));
  const items = matches.slice(0, limit).map((p) => ({
    id: p.id,
    text: String(p.text ?? ""),
    meta: [PHASES[p.phase] ?? humanize(p.phase), p.depth != null ? `depth ${p.depth}` : null, humanize(p.strategy), p.own ? "this circle's own" : null]
      .filter(Boolean).join(" · "),
    lastUsed: lastUsedText(p.last_used, now),
    fresh: !p.last_used,
    roundKind: { check_in: "check_in", check_out: "check_out" }[p.phase] ?? "topic",
  }));
  return {
    items,
    total: matches.length,
    countText: matches.length > items.length
      ? `Showing ${items.length} of ${matches.length} prompts. Search to narrow them down.`
      : `${matches.length} ${matches.length === 1 ? "prompt" : "prompts"}`,
  };
}

/**
 * Whether it is this member's first round ever. Only the server can know: the snapshot's
 * `you.first_round` is about the viewer (here a facilitator, who needs no card for himself),
 * so this reads a per-member `first_round` flag that members[] may carry (see the report).
 * @param {RoomState} state @param {any} id
 */
function isFirstRound(state, id) {
  const m = state.members.find((x) => x.membership_id === id);
  return Boolean(m && m.role !== "facilitator" && m.first_round === true);
}

/**
 * The coaching card for this moment, chosen by what just happened:
 *  - a crisis alert → "crisis_alert";
 *  - the last turn that ended was passed → "member_passes" ("passes_twice" if that member
 *    also passed in the previous round);
 *  - a member's first round has his turn now → "first_round";
 *  - otherwise the card for the strategy of the prompt in use (the round's, else the pushed one).
 * Looks back through the log only as far as the last round start/end.
 * @param {RoomState} state
 * @returns {{card: any, why: string}|null}
 */
export function coachingPick(state) {
  const cards = state.facilitator?.coaching ?? [];
  if (!cards.length) return null;
  const situation = (key) => cards.find((c) => c.situation === key);
  const pick = (key, why) => (situation(key) ? { card: situation(key), why } : null);
  for (let i = state.log.length - 1; i >= 0; i -= 1) {
    const e = state.log[i];
    if (e.type === "alert.crisis") {
      const found = pick("crisis_alert", `${e.alias || aliasOf(state, e.membership_id)} may need support.`);
      if (found) return found;
      break;
    }
    if (e.type === "turn.ended") {
      if (e.outcome !== "passed") break;
      const who = aliasOf(state, e.membership_id);
      const prev = state.previousRound;
      const twice = prev && prev.id !== e.round_id
        && (prev.outcomes ?? [])[prev.order.indexOf(e.membership_id)] === "passed";
      const found = twice
        ? pick("passes_twice", `${who} passed this round and the last one.`) ?? pick("member_passes", `${who} passed.`)
        : pick("member_passes", `${who} passed.`);
      if (found) return found;
      break;
    }
    if (e.type === "turn.started") {
      if (isFirstRound(state, e.membership_id)) {
        const found = pick("first_round", `It's ${aliasOf(state, e.membership_id)}'s first round.`);
        if (found) return found;
      }
      continue;
    }
    if (e.type === "round.started" || e.type === "round.ended" || e.type === "meeting.opened") break;
  }
  const prompt = state.round?.prompt && typeof state.round.prompt === "object" ? state.round.prompt : state.prompt;
  const strategy = prompt?.strategy;
  if (strategy) {
    const card = cards.find((c) => !c.situation && c.strategy === strategy);
    if (card) return { card, why: `For the prompt in use (${humanize(strategy).toLowerCase()}).` };
  }
  return null;
}

/** All situation cards, in a useful order, for the "More cards" list. @param {RoomState} state */
export function situationCards(state) {
  const cards = (state.facilitator?.coaching ?? []).filter((c) => c.situation);
  const rank = (c) => {
    const i = SITUATIONS.indexOf(c.situation);
    return i === -1 ? SITUATIONS.length : i;
  };
  return [...cards].sort((a, b) => rank(a) - rank(b));
}

/**
 * The round controls: what Next/Skip name, or the start form's defaults.
 * @param {RoomState} state
 */
export function roundControlsView(state) {
  const round = state.round;
  const live = state.meeting?.status === "live";
  if (!round) {
    const stepKind = state.meeting?.step?.round_kind ?? null;
    const pushed = state.prompt?.id != null ? state.prompt : null;
    return {
      active: false,
      canStart: live,
      startHint: live ? null : "Open the circle to start a round.",
      defaultKind: stepKind ?? "check_in",
      pushedPrompt: pushed ? { id: pushed.id, text: promptText(pushed) } : null,
    };
  }
  const speaker = round.current ? aliasOf(state, round.current.membership_id) : null;
  return {
    active: true,
    kindLabel: ROUND_KINDS[round.kind] ?? "Round",
    turnId: round.current?.turn_id ?? null,
    speaker,
    nowText: speaker ? `${speaker} has the turn.` : "Between turns.",
    skipLabel: speaker ? `Skip ${speaker}` : "Skip",
  };
}

/**
 * People, for facilitators: speaking count and time, intention, moderation rights.
 * @param {RoomState} state @param {number} now
 */
export function membersConsoleView(state, now) {
  const speaking = state.facilitator?.speaking ?? {};
  const intentions = state.facilitator?.intentions ?? {};
  const here = new Set(state.present);
  return state.members.map((m) => {
    const stats = speaking[String(m.membership_id)] ?? { count: 0, seconds: 0 };
    const muted = isMuted(state, m.membership_id, now);
    const you = isMe(state, m.membership_id);
    return {
      id: m.membership_id,
      alias: m.alias || "Someone",
      isFacilitator: m.role === "facilitator",
      you,
      here: here.has(m.membership_id),
      muted,
      mutedUntil: muted ? m.muted_until : null,
      count: stats.count,
      seconds: stats.seconds,
      speakingText: stats.count
        ? `Spoke ${stats.count} ${stats.count === 1 ? "time" : "times"} · ${formatDuration(stats.seconds)}`
        : "Hasn't spoken yet",
      intention: intentions[String(m.membership_id)] || "",
      canModerate: m.role !== "facilitator" && !you,
    };
  }).sort((a, b) => (a.here === b.here ? 0 : a.here ? -1 : 1));
}

/** @param {RoomState} state @param {number} seq */
function excerptOf(state, seq) {
  const m = state.messages.find((x) => x.seq === seq);
  if (!m) return { text: "(an earlier message)", author: null, deleted: false };
  if (m.deleted) return { text: "Message removed by a facilitator", author: m.author?.alias ?? null, deleted: true };
  const body = m.body.length > 160 ? `${m.body.slice(0, 159)}…` : m.body;
  return { text: body, author: m.author?.alias ?? null, deleted: false };
}

const CRISIS_CATEGORIES = { suicide: "thoughts of suicide", self_harm: "self-harm" };

/** Private crisis alerts, newest first, minus those marked handled. @param {RoomState} state @param {Set<string>} [handled] */
export function alertsView(state, handled = new Set()) {
  return state.alerts
    .map((a) => ({ ...a, key: `a${a.target_seq}-${a.membership_id}` }))
    .filter((a) => !handled.has(a.key))
    .reverse()
    .map((a) => ({
      key: a.key,
      alias: a.alias || aliasOf(state, a.membership_id),
      membershipId: a.membership_id,
      targetSeq: a.target_seq,
      title: `${a.alias || aliasOf(state, a.membership_id)} may need support`,
      text: `Their message: “${excerptOf(state, a.target_seq).text}”`,
      category: CRISIS_CATEGORIES[a.category] ?? (a.category ? humanize(a.category).toLowerCase() : ""),
    }));
}

/**
 * "3 open flags", and when the server counts more than the list holds (its snapshot sends
 * the newest 20; older ones come with the next snapshot, i.e. a reload) "Showing the newest
 * 20 …". Both null when none is open.
 * @param {number} open @param {number} shown @param {string} noun singular
 * @returns {{countText: string|null, moreText: string|null}}
 */
export function openCounts(open, shown, noun) {
  if (!(open > 0)) return { countText: null, moreText: null };
  return {
    countText: `${open} open ${open === 1 ? noun : `${noun}s`}`,
    moreText: open > shown ? `Showing the newest ${shown}. Older ones show here after you reload the page.` : null,
  };
}

/** Crisis alerts for the panel above the room, with how many are open. @param {RoomState} state @param {Set<string>} [handled] */
export function alertsPanelView(state, handled = new Set()) {
  return { items: alertsView(state, handled), ...openCounts(state.alertsOpen, state.alerts.length, "alert") };
}

/** The console's flags, with how many are open. @param {RoomState} state @param {Set<string>} [dismissed] */
export function flagsView(state, dismissed = new Set()) {
  return { items: reportsView(state, dismissed), ...openCounts(state.reportsOpen, state.reports.length, "flag") };
}

/** Flags from members (report.received), newest first, minus dismissed. @param {RoomState} state @param {Set<string>} [dismissed] */
export function reportsView(state, dismissed = new Set()) {
  return state.reports
    .map((r) => ({ ...r, key: `r${r.report_id ?? `${r.target_seq}-${r.reporter?.membership_id}`}` }))
    .filter((r) => !dismissed.has(r.key))
    .reverse()
    .map((r) => {
      const ex = excerptOf(state, r.target_seq);
      return {
        key: r.key,
        reportId: r.report_id ?? null,
        // Marking it looked at needs its id; an id-less one can only be dismissed here.
        canResolve: r.report_id != null,
        targetSeq: r.target_seq,
        title: `${r.reporter?.alias || "Someone"} flagged a message${ex.author ? ` from ${ex.author}` : ""}`,
        excerpt: ex.text,
        reason: r.reason ? `Why: ${r.reason}` : "No reason given.",
        canDelete: !ex.deleted && state.messages.some((m) => m.seq === r.target_seq),
      };
    });
}

/** Support lines for me (after crisis language) or the circle's help lines. @param {RoomState} state */
export function supportView(state) {
  if (state.supportResources) {
    return {
      prominent: true,
      title: "You're not alone",
      text: "What you wrote sounded heavy. The circle is here with you, and these people can help right now, any time:",
      lines: state.supportResources,
    };
  }
  if (state.helpLines.length) {
    return { prominent: false, title: "Need help now?", text: "If things feel too much, these lines are there any time:", lines: state.helpLines };
  }
  return null;
}
