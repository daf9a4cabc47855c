// The meeting room's client state, as one pure module (no DOM, no clock, no I/O): the server
// decides, selectors such as canChat() are UI hints. reduce() never mutates its input. An event
// with a seq applies at most once and only when seq === lastSeq + 1 (a gap is not applied: it
// sets needsResync); events without a seq (presence, private notices) apply directly.

/** @typedef {{membership_id: string, alias: string, role: "facilitator"|"member", muted_until: string|null}} Member */
/** @typedef {{membership_id: string, alias: string, role?: string}} Author */
/** @typedef {{turn_id: string, membership_id: string, deadline: string|null, started_at?: string}} Turn */
/**
 * @typedef {{id: string, kind: string, prompt: any, order: string[], seconds_per_turn: number|null,
 *   current: Turn|null, outcomes?: (string|null)[], up_next?: string|null, quiet_until?: string|null}} Round
 *   (the server's round payload; outcomes[i] is "done"/"passed"/"skipped"/null for order[i])
 */
/**
 * @typedef {{queue: {membership_id: string, alias: string, raised_at: string}[], floor: string|null,
 *   mode: {talking_piece: boolean, progressive: boolean}}} Queue
 */
/**
 * @typedef {{seq: number, at: string, author: Author, body: string, client_id: string|null,
 *   deleted: boolean, reactions: {seq: number|null, kind: string, membership_id: string}[]}} Message
 */
/**
 * @typedef {{client_id: string, body: string, status: "pending"|"sent"|"failed", seq: number|null,
 *   error: {code: string, message: string}|null}} OutboxEntry
 */
/**
 * @typedef {{status: "idle"|"connecting"|"open"|"reconnecting"|"closed", code: number|null,
 *   final: boolean, attempt: number, delay: number|null}} ConnectionState
 */
/**
 * @typedef {object} RoomState
 * @property {ConnectionState} connection
 * @property {{id: string, circle: {name: string, kind: string, call_link: string|null}, status: "scheduled"|"live"|"ended", step: any,
 *   step_started_at?: string|null, agenda?: {id: any, name: string, steps: any[]}|null}|null} meeting
 *   step_started_at follows phase.changed's started_at; agenda (steps; notes for facilitators) comes from the snapshot
 * @property {{membership_id: string, alias: string, role: "facilitator"|"member", first_round?: boolean}|null} you
 * @property {Member[]} members
 * @property {string[]} present           membership ids, in the order they arrived
 * @property {Round|null} round
 * @property {Queue} queue
 * @property {{id: string, text: string, strategy: string}|null} prompt  the last pushed prompt
 * @property {Message[]} messages         oldest first, at most MESSAGE_CAP
 * @property {object[]} log               every applied event (unknown types too), at most LOG_CAP
 * @property {OutboxEntry[]} outbox       my chat messages not yet seen come back from the server
 * @property {object[]} reports           open flags (report.received), oldest first (facilitators)
 * @property {number} reportsOpen         how many flags are open in all (may be more than `reports`)
 * @property {object[]} alerts            private alert.crisis, oldest first (facilitators)
 * @property {number} alertsOpen          how many crisis alerts are open in all
 * @property {{name: string, contact: string, region: string}[]|null} supportResources  private, for me
 * @property {{ref: string|null, code: string, message: string}|null} lastError
 * @property {number} lastSeq             seq of the last event applied (no gaps up to here)
 * @property {number} highestSeq          highest seq heard of (events not yet applied included)
 * @property {boolean} needsResync        highestSeq > lastSeq: events are missing
 * @property {boolean} synced             a snapshot has been applied
 * @property {Facilitator|null} facilitator  the facilitator-only snapshot block (null for members)
 * @property {{name: string, contact: string, region: string}[]} helpLines  the circle's help lines (snapshot)
 * @property {FeelingShare[]} feelings     feelings.shared events, oldest first, at most FEELINGS_CAP
 * @property {Round|null} previousRound   the last round that ended (its final order and outcomes)
 */
/**
 * @typedef {{round_id: any, turn_id: any, membership_id: any, words: string[], weather: number|null,
 *   seq: number|null, at: string|null}} FeelingShare
 */
/**
 * The facilitator block of the snapshot, kept current by events where that is cheap:
 * `speaking` (keyed by String(membership_id)) counts turns ended "done" and floor holds,
 * like the server's speaking_stats, for events with seq > asOfSeq (the snapshot's seq), so a
 * reconnect's replay never counts twice. Floor time is added when a hold we saw start ends;
 * a hold already running at the snapshot is only re-counted on the next snapshot.
 * @typedef {{speaking: Record<string, {count: number, seconds: number}>, prompts: any[], coaching: any[],
 *   intentions: Record<string, string>, asOfSeq: number, floor: {membership_id: any, since: string|null}|null}} Facilitator
 */

export const MESSAGE_CAP = 500;
export const LOG_CAP = 500;
export const FEELINGS_CAP = 200;
const PRIVATE_CAP = 100;

/** Close codes after which the client must not reconnect by itself (see PROTOCOL.md). */
export const FINAL_CLOSE_CODES = Object.freeze([4401, 4403, 4404, 4409, 4410]);
/**
 * The person opened this meeting in more sockets than the server keeps (another tab or
 * device), and this one was the oldest. Final, but he may choose to connect here again.
 */
export const CLOSE_REPLACED = 4409;

/** @param {number|null|undefined} code @returns {boolean} */
export function isFinalCloseCode(code) {
  return FINAL_CLOSE_CODES.includes(/** @type {number} */ (code));
}

/**
 * Plain words for why the connection ended, for the UI (null when there is nothing to explain).
 * @param {number|null|undefined} code
 * @returns {string|null}
 */
export function closeExplanation(code) {
  switch (code) {
    case 4401: return "Your sign-in has expired. Please sign in again to rejoin.";
    case 4403: return "You can't join this meeting right now. A facilitator of the circle can help.";
    case 4404: return "We couldn't find this meeting. The link may be out of date.";
    case 4409: return "This circle is open in another window or on another device, so we closed it here.";
    case 4410: return "This meeting has ended. Thank you for being part of it.";
    default: return null;
  }
}

/**
 * How an event's seq relates to the last applied one. Shared with socket.js so the
 * connection's cursor follows exactly the same rule as the state.
 * @param {number} lastSeq
 * @param {unknown} seq
 * @returns {"unsequenced"|"duplicate"|"next"|"gap"}
 */
export function seqStatus(lastSeq, seq) {
  if (typeof seq !== "number" || !Number.isFinite(seq)) return "unsequenced";
  if (seq <= lastSeq) return "duplicate";
  if (seq === lastSeq + 1) return "next";
  return "gap";
}

/** @returns {Queue} */
function emptyQueue() {
  return { queue: [], floor: null, mode: { talking_piece: false, progressive: false } };
}

/** @returns {RoomState} */
export function initialState() {
  return {
    connection: { status: "idle", code: null, final: false, attempt: 0, delay: null },
    meeting: null,
    you: null,
    members: [],
    present: [],
    round: null,
    queue: emptyQueue(),
    prompt: null,
    messages: [],
    log: [],
    outbox: [],
    reports: [],
    reportsOpen: 0,
    alerts: [],
    alertsOpen: 0,
    supportResources: null,
    lastError: null,
    lastSeq: 0,
    highestSeq: 0,
    needsResync: false,
    synced: false,
    facilitator: null,
    helpLines: [],
    feelings: [],
    previousRound: null,
  };
}

// ---------------------------------------------------------------------------------------
// Small pure helpers

/** @template T @param {T[]} list @param {number} cap @returns {T[]} */
function capped(list, cap) {
  return list.length > cap ? list.slice(list.length - cap) : list;
}

/** @param {any} round @returns {Round|null} */
function normalizeRound(round) {
  if (!round || typeof round !== "object") return null;
  return {
    ...round,
    order: Array.isArray(round.order) ? [...round.order] : [],
    current: round.current ? { ...round.current } : null,
  };
}

/** @param {any} q @param {Queue} [prev] @returns {Queue} */
function normalizeQueue(q, prev = emptyQueue()) {
  if (!q || typeof q !== "object") return prev;
  return {
    queue: Array.isArray(q.queue) ? q.queue.map((e) => ({ ...e })) : [],
    floor: "floor" in q ? (q.floor ?? null) : prev.floor,
    mode: {
      talking_piece: Boolean((q.mode ?? prev.mode).talking_piece),
      progressive: Boolean((q.mode ?? prev.mode).progressive),
    },
  };
}

/**
 * The queue an event carries, if any: queue.updated puts the list, floor and mode on the
 * event itself; an event may also carry a whole `queue` object.
 * @param {any} ev @param {Queue} prev @returns {Queue|null}
 */
function carriedQueue(ev, prev) {
  if (Array.isArray(ev.queue)) {
    return normalizeQueue({ queue: ev.queue, floor: "floor" in ev ? ev.floor : prev.floor, mode: ev.mode ?? prev.mode }, prev);
  }
  if (ev.queue && typeof ev.queue === "object") return normalizeQueue(ev.queue, prev);
  return null;
}

/** @param {any} ev @returns {Message} */
function messageFrom(ev) {
  return {
    seq: ev.seq,
    at: ev.at ?? null,
    author: { ...(ev.author ?? {}) },
    body: typeof ev.body === "string" ? ev.body : "",
    client_id: ev.client_id ?? null,
    deleted: Boolean(ev.deleted),
    reactions: [],
  };
}

/**
 * Applies the parts of an event that concern the message list (chat, deletions, reactions).
 * @param {Message[]} messages @param {any} ev @returns {Message[]}
 */
function foldMessage(messages, ev) {
  switch (ev.type) {
    case "chat.message":
      if (messages.some((m) => m.seq === ev.seq)) return messages;
      return capped([...messages, messageFrom(ev)], MESSAGE_CAP);
    case "message.deleted":
      return messages.map((m) => (m.seq === ev.target_seq ? { ...m, body: "", deleted: true } : m));
    case "reaction.added":
      return messages.map((m) => {
        if (m.seq !== ev.target_seq) return m;
        if (ev.seq != null && m.reactions.some((r) => r.seq === ev.seq)) return m;
        return { ...m, reactions: [...m.reactions, { seq: ev.seq ?? null, kind: ev.kind, membership_id: ev.membership_id }] };
      });
    default:
      return messages;
  }
}

/**
 * Drops outbox entries that the given events show were delivered (my chat.message echoes).
 * @param {OutboxEntry[]} outbox @param {any[]} events @param {string|null|undefined} me
 * @returns {OutboxEntry[]}
 */
function withoutDelivered(outbox, events, me) {
  if (!outbox.length || me == null) return outbox;
  const delivered = new Set(
    events
      .filter((e) => e && e.type === "chat.message" && e.author?.membership_id === me && e.client_id != null)
      .map((e) => e.client_id),
  );
  if (!delivered.size) return outbox;
  const kept = outbox.filter((o) => !delivered.has(o.client_id));
  return kept.length === outbox.length ? outbox : kept;
}

/** @param {any[]|undefined} events @returns {any[]} */
function sortedEvents(events) {
  return (Array.isArray(events) ? events : [])
    .filter((e) => e && typeof e.type === "string")
    .slice()
    .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

/** @param {any} ev @returns {FeelingShare} */
function feelingFrom(ev) {
  return {
    round_id: ev.round_id ?? null,
    turn_id: ev.turn_id ?? null,
    membership_id: ev.membership_id ?? null,
    words: Array.isArray(ev.words) ? ev.words.map(String) : [],
    weather: typeof ev.weather === "number" ? ev.weather : null,
    seq: typeof ev.seq === "number" ? ev.seq : null,
    at: ev.at ?? null,
  };
}

/** @param {any} block @param {number} seq @returns {Facilitator|null} */
function normalizeFacilitator(block, seq) {
  if (!block || typeof block !== "object") return null;
  const speaking = {};
  for (const [k, v] of Object.entries(block.speaking ?? {})) {
    speaking[String(k)] = { count: Number(v?.count ?? 0), seconds: Number(v?.seconds ?? 0) };
  }
  return {
    speaking,
    prompts: Array.isArray(block.prompts) ? block.prompts.map((p) => ({ ...p })) : [],
    coaching: Array.isArray(block.coaching) ? block.coaching.map((c) => ({ ...c })) : [],
    intentions: { ...(block.intentions ?? {}) },
    asOfSeq: seq,
    floor: null,
  };
}

/** @param {any[]} list @returns {{name: string, contact: string, region: string}[]} */
function normalizeHelpLines(list) {
  return Array.isArray(list) ? list.map((l) => ({ ...l })) : [];
}

/**
 * Adds speaking time to a member's stats (facilitators only), unless the snapshot already
 * counted this event.
 * @param {Facilitator|null} fac @param {any} ev @param {any} id @param {number} count @param {number} seconds
 * @returns {Facilitator|null}
 */
function addSpeaking(fac, ev, id, count, seconds) {
  if (!fac || id == null || typeof ev.seq !== "number" || ev.seq <= fac.asOfSeq) return fac;
  const key = String(id);
  const prev = fac.speaking[key] ?? { count: 0, seconds: 0 };
  const secs = Number.isFinite(seconds) ? Math.max(0, Math.round(seconds)) : 0;
  return { ...fac, speaking: { ...fac.speaking, [key]: { count: prev.count + count, seconds: prev.seconds + secs } } };
}

/** @param {string|null|undefined} from @param {string|null|undefined} to @returns {number} seconds, NaN if unknown */
function secondsBetween(from, to) {
  return (Date.parse(String(to)) - Date.parse(String(from))) / 1000;
}

// ---------------------------------------------------------------------------------------
// Open crisis alerts and flags (facilitators)
// The snapshot carries the newest 20 of each and how many are open in all; the private
// notices add to both (report.received carries the new total), report.resolved takes one
// off. A notice already in the list (the snapshot raced it) is not added or counted twice.

/** @param {unknown} count @param {any[]} list @returns {number} */
function openCount(count, list) {
  return typeof count === "number" && count >= 0 ? count : list.length;
}

/** @param {any} block the snapshot's facilitator block */
function openAlertsAndReports(block) {
  const alerts = capped(Array.isArray(block?.alerts) ? block.alerts : [], PRIVATE_CAP);
  const reports = capped(Array.isArray(block?.reports) ? block.reports : [], PRIVATE_CAP);
  return { alerts, alertsOpen: openCount(block?.alerts_open, alerts), reports, reportsOpen: openCount(block?.reports_open, reports) };
}

/** On a reconnect, a list the snapshot doesn't carry is kept as it is. @param {any} block */
function resumedAlertsAndReports(block) {
  if (!block) return {};
  const fresh = openAlertsAndReports(block);
  return {
    ...(block.alerts ? { alerts: fresh.alerts, alertsOpen: fresh.alertsOpen } : {}),
    ...(block.reports ? { reports: fresh.reports, reportsOpen: fresh.reportsOpen } : {}),
  };
}

/** report.received @param {RoomState} state @param {any} ev @returns {RoomState} */
function withReport(state, ev) {
  const { reports_open: total, ...report } = ev;
  const known = ev.report_id != null && state.reports.some((r) => r.report_id === ev.report_id);
  return {
    ...state,
    reports: known ? state.reports : capped([...state.reports, report], PRIVATE_CAP),
    reportsOpen: typeof total === "number" ? total : state.reportsOpen + (known ? 0 : 1),
  };
}

/** report.resolved (by any facilitator) @param {RoomState} state @param {any} ev @returns {RoomState} */
function withoutReport(state, ev) {
  const reports = state.reports.filter((r) => r.report_id == null || r.report_id !== ev.report_id);
  const reportsOpen = typeof ev.reports_open === "number" ? ev.reports_open : Math.max(0, state.reportsOpen - 1);
  return { ...state, reports: reports.length === state.reports.length ? state.reports : reports, reportsOpen };
}

/** alert.crisis @param {RoomState} state @param {any} ev @returns {RoomState} */
function withAlert(state, ev) {
  const { alerts_open: total, ...alert } = ev;
  const known = state.alerts.some((a) => a.target_seq === ev.target_seq && a.membership_id === ev.membership_id);
  return {
    ...state,
    alerts: known ? state.alerts : capped([...state.alerts, alert], PRIVATE_CAP),
    alertsOpen: typeof total === "number" ? total : state.alertsOpen + (known ? 0 : 1),
  };
}

// ---------------------------------------------------------------------------------------
// Snapshots

/**
 * A snapshot replaces the whole state (the server's word is the truth), except the local
 * outbox of messages not yet delivered. Its events become the message list and the log.
 * @param {RoomState} state @param {any} snap @returns {RoomState}
 */
function fromSnapshot(state, snap) {
  const events = sortedEvents(snap.events);
  const me = snap.you?.membership_id ?? null;
  const seq = typeof snap.seq === "number" ? snap.seq : 0;
  let messages = [];
  for (const ev of events) messages = foldMessage(messages, ev);
  const lastEnded = events.findLast((e) => e.type === "round.ended" && e.round);
  return {
    ...initialState(),
    connection: state.connection,
    meeting: snap.meeting ? { ...snap.meeting } : null,
    you: snap.you ? { ...snap.you } : null,
    members: Array.isArray(snap.members) ? snap.members.map((m) => ({ muted_until: null, ...m })) : [],
    present: Array.isArray(snap.present) ? [...new Set(snap.present)] : [],
    round: normalizeRound(snap.round),
    queue: normalizeQueue(snap.queue),
    prompt: snap.prompt ?? events.findLast((e) => e.type === "prompt.pushed")?.prompt ?? null,
    messages,
    log: capped(events, LOG_CAP),
    outbox: withoutDelivered(state.outbox, events, me),
    lastSeq: seq,
    highestSeq: seq,
    needsResync: false,
    synced: true,
    facilitator: normalizeFacilitator(snap.facilitator, seq),
    // Kept by the server: a facilitator who reconnects or joins late still sees them.
    ...openAlertsAndReports(snap.facilitator),
    helpLines: normalizeHelpLines(snap.help_lines),
    feelings: capped(events.filter((e) => e.type === "feelings.shared").map(feelingFrom), FEELINGS_CAP),
    previousRound: lastEnded && lastEnded.round.id !== snap.round?.id ? normalizeRound(lastEnded.round) : null,
  };
}

/**
 * A snapshot received on a reconnect, by a client that already holds the state up to
 * lastSeq. What has no events (who I am, the roster and its mutes, who is present, the
 * circle) is taken from the snapshot; what events build (round, queue, status, step,
 * messages) is kept as of lastSeq and brought forward by replaying the missed events in
 * order: first those the snapshot carries, then (if they don't reach back far enough)
 * those a resync returns. state(lastSeq) + events(lastSeq+1 .. N) = state(N), with every
 * message seen exactly once and the history already on screen kept.
 * Falls back to a plain snapshot when there is nothing to resume from.
 * @param {RoomState} state @param {any} snap @returns {RoomState}
 */
function resumeFromSnapshot(state, snap) {
  const seq = typeof snap.seq === "number" ? snap.seq : 0;
  const sameMeeting = state.synced && state.meeting && snap.meeting && state.meeting.id === snap.meeting.id;
  if (!sameMeeting || seq < state.lastSeq) return fromSnapshot(state, snap);
  const refreshed = {
    ...state,
    meeting: {
      ...snap.meeting,
      status: state.meeting?.status ?? snap.meeting.status,
      step: state.meeting?.step ?? null,
      step_started_at: state.meeting?.step_started_at ?? null,
    },
    you: snap.you ? { ...snap.you } : state.you,
    members: Array.isArray(snap.members) ? snap.members.map((m) => ({ muted_until: null, ...m })) : state.members,
    present: Array.isArray(snap.present) ? [...new Set(snap.present)] : state.present,
    highestSeq: Math.max(state.highestSeq, seq),
    // Counted by the server up to the snapshot's seq: replayed events don't add to it.
    facilitator: normalizeFacilitator(snap.facilitator, seq),
    ...resumedAlertsAndReports(snap.facilitator),
    helpLines: "help_lines" in snap ? normalizeHelpLines(snap.help_lines) : state.helpLines,
  };
  const next = applyBatch(refreshed, sortedEvents(snap.events));
  return { ...next, needsResync: next.highestSeq > next.lastSeq };
}

// ---------------------------------------------------------------------------------------
// Events

/**
 * The effect of one event on the state, without the seq bookkeeping: one case per event
 * type, read as a table (the longer effects have functions of their own below).
 * Unknown types change nothing (they are still logged by the caller).
 * @param {RoomState} state @param {any} ev @returns {RoomState}
 */
function applyEffect(state, ev) {
  const me = state.you?.membership_id ?? null;
  switch (ev.type) {
    case "chat.message": {
      const mine = me != null && ev.author?.membership_id === me;
      return {
        ...state,
        messages: foldMessage(state.messages, ev),
        outbox: mine ? withoutDelivered(state.outbox, [ev], me) : state.outbox,
      };
    }
    case "message.deleted":
    case "reaction.added":
      return { ...state, messages: foldMessage(state.messages, ev) };

    case "meeting.opened":
    case "meeting.ended":
    case "phase.changed":
      return meetingEffect(state, ev);

    case "round.updated":
      // A late joiner was added to the order (or the round changed otherwise): replace it.
      if (!("round" in ev)) return state;
      return { ...state, round: ev.round?.ended ? null : normalizeRound(ev.round) };

    case "feelings.shared":
      return { ...state, feelings: capped([...state.feelings, feelingFrom(ev)], FEELINGS_CAP) };

    case "round.started":
    case "turn.started":
    case "turn.ended":
    case "round.ended":
      return roundEffect(state, ev);

    case "queue.updated":
    case "floor.granted":
    case "floor.released":
      return floorEffect(state, ev);

    case "prompt.pushed":
      return { ...state, prompt: ev.prompt ? { ...ev.prompt } : null };

    case "member.muted":
    case "member.unmuted":
    case "member.removed":
    case "member.left":
    case "presence.joined":
    case "presence.left":
      return rosterEffect(state, ev);

    case "report.received":
      return withReport(state, ev);
    case "report.resolved":
      return withoutReport(state, ev);
    case "alert.crisis":
      return withAlert(state, ev);
    case "support.resources":
      return { ...state, supportResources: Array.isArray(ev.resources) ? ev.resources.map((r) => ({ ...r })) : [] };

    default:
      return state;
  }
}

/**
 * meeting.opened, meeting.ended, phase.changed: the meeting's status and agenda step.
 * @param {RoomState} state @param {any} ev @returns {RoomState}
 */
function meetingEffect(state, ev) {
  switch (ev.type) {
    case "meeting.opened":
      return state.meeting ? { ...state, meeting: { ...state.meeting, status: "live" } } : state;
    case "meeting.ended":
      // A round cannot go on in an ended meeting; nobody holds the floor.
      return {
        ...state,
        meeting: state.meeting ? { ...state.meeting, status: "ended" } : state.meeting,
        round: null,
        queue: { ...state.queue, floor: null },
      };
    case "phase.changed":
      return state.meeting
        ? { ...state, meeting: { ...state.meeting, step: ev.step ?? null, step_started_at: ev.step ? (ev.started_at ?? ev.at ?? null) : null } }
        : state;
    default:
      return state;
  }
}

/**
 * round.started, turn.started, turn.ended, round.ended: the round (replaced when the event
 * carries it), the queue some carry, speaking time for a turn done, the round just ended.
 * @param {RoomState} state @param {any} ev @returns {RoomState}
 */
function roundEffect(state, ev) {
  let round = "round" in ev ? normalizeRound(ev.round) : state.round;
  let { facilitator, previousRound } = state;
  if (ev.type === "round.ended") {
    const ended = "round" in ev ? round : state.round;
    if (ended && (ev.round_id == null || ended.id === ev.round_id)) previousRound = ended;
    round = round && ev.round_id != null && round.id !== ev.round_id && !("round" in ev) ? round : null;
  } else if (ev.type === "turn.started" && round && (ev.round_id == null || ev.round_id === round.id)) {
    const carried = round.current && round.current.turn_id === ev.turn_id ? round.current : {};
    round = { ...round, current: { ...carried, turn_id: ev.turn_id, membership_id: ev.membership_id, deadline: ev.deadline ?? null } };
  } else if (ev.type === "turn.ended" && ev.outcome === "done") {
    const was = state.round?.current;
    const startedAt = was && (ev.turn_id == null || was.turn_id === ev.turn_id) ? was.started_at : null;
    facilitator = addSpeaking(facilitator, ev, ev.membership_id, 1, secondsBetween(startedAt, ev.at));
  }
  if (ev.type === "turn.ended" && round?.current && round.current.membership_id === ev.membership_id
    && (ev.round_id == null || ev.round_id === round.id)) {
    round = { ...round, current: null };
  }
  const queue = carriedQueue(ev, state.queue);
  return { ...state, round, queue: queue ?? state.queue, facilitator, previousRound };
}

/**
 * queue.updated, floor.granted, floor.released: the queue, and the floor's speaking time.
 * @param {RoomState} state @param {any} ev @returns {RoomState}
 */
function floorEffect(state, ev) {
  let queue = carriedQueue(ev, state.queue) ?? state.queue;
  if (ev.type === "floor.granted") queue = { ...queue, floor: ev.membership_id ?? null };
  if (ev.type === "floor.released") queue = { ...queue, floor: null };
  let facilitator = state.facilitator;
  if (facilitator && ev.type !== "queue.updated" && typeof ev.seq === "number" && ev.seq > facilitator.asOfSeq) {
    // Floor time, like the server's FloorHold rows: a grant counts once; its time is added
    // when the hold ends (released, or the floor passed straight to someone else).
    const held = facilitator.floor;
    if (held) facilitator = addSpeaking(facilitator, ev, held.membership_id, 0, secondsBetween(held.since, ev.at));
    facilitator = { ...facilitator, floor: null };
    if (ev.type === "floor.granted" && ev.membership_id != null) {
      facilitator = addSpeaking(facilitator, ev, ev.membership_id, 1, 0);
      facilitator = { ...facilitator, floor: { membership_id: ev.membership_id, since: ev.at ?? null } };
    }
  }
  return { ...state, queue, facilitator };
}

/**
 * Mutes, removals and presence: the roster, who is here, and the queue of one who left.
 * @param {RoomState} state @param {any} ev @returns {RoomState}
 */
function rosterEffect(state, ev) {
  switch (ev.type) {
    case "member.muted":
    case "member.unmuted": {
      const until = ev.type === "member.muted" ? (ev.until ?? null) : null;
      return {
        ...state,
        members: state.members.map((m) => (m.membership_id === ev.membership_id ? { ...m, muted_until: until } : m)),
      };
    }
    case "member.removed":
    case "member.left": // he left the circle himself: same effect on the room
      return {
        ...state,
        members: state.members.filter((m) => m.membership_id !== ev.membership_id),
        present: state.present.filter((id) => id !== ev.membership_id),
        queue: { ...state.queue, queue: state.queue.queue.filter((e) => e.membership_id !== ev.membership_id) },
      };

    case "presence.joined": {
      const known = state.members.some((m) => m.membership_id === ev.membership_id);
      return {
        ...state,
        present: state.present.includes(ev.membership_id) ? state.present : [...state.present, ev.membership_id],
        members: known || ev.membership_id == null
          ? state.members
          : [...state.members, { membership_id: ev.membership_id, alias: ev.alias ?? "", role: ev.role ?? "member", muted_until: null }],
      };
    }
    case "presence.left":
      return state.present.includes(ev.membership_id)
        ? { ...state, present: state.present.filter((id) => id !== ev.membership_id) }
        : state;
    default:
      return state;
  }
}

/**
 * One incoming event, with the seq rules: duplicates are ignored, a gap is remembered
 * (needsResync) but not applied, the next seq and unsequenced events are applied and logged.
 * @param {RoomState} state @param {any} ev @returns {RoomState}
 */
function applyIncoming(state, ev) {
  if (!ev || typeof ev !== "object" || typeof ev.type !== "string") return state;
  const status = seqStatus(state.lastSeq, ev.seq);
  if (status === "duplicate") return state;
  if (status === "gap") {
    const highestSeq = Math.max(state.highestSeq, ev.seq);
    if (state.needsResync && highestSeq === state.highestSeq) return state;
    return { ...state, highestSeq, needsResync: true };
  }
  const applied = applyEffect(state, ev);
  const log = capped([...state.log, ev], LOG_CAP);
  if (status === "unsequenced") return { ...applied, log };
  const highestSeq = Math.max(state.highestSeq, ev.seq);
  return { ...applied, log, lastSeq: ev.seq, highestSeq, needsResync: highestSeq > ev.seq };
}

/** @param {RoomState} state @param {any[]} events @returns {RoomState} */
function applyBatch(state, events) {
  let next = state;
  for (const ev of events) next = applyIncoming(next, ev);
  return next;
}

// ---------------------------------------------------------------------------------------
// Outbox

/** @param {RoomState} state @param {any} action @returns {RoomState} */
function queueMessage(state, action) {
  const { client_id: clientId, body } = action;
  if (clientId == null) return state;
  const me = state.you?.membership_id;
  if (state.messages.some((m) => m.client_id === clientId && m.author?.membership_id === me)) return state;
  const existing = state.outbox.find((o) => o.client_id === clientId);
  if (existing) {
    // A retry: same client_id, same body (the server de-duplicates by client_id).
    return {
      ...state,
      outbox: state.outbox.map((o) => (o.client_id === clientId ? { ...o, status: "pending", error: null } : o)),
    };
  }
  return { ...state, outbox: [...state.outbox, { client_id: clientId, body: String(body ?? ""), status: "pending", seq: null, error: null }] };
}

/** @param {RoomState} state @param {any} action @returns {RoomState} */
function ackMessage(state, action) {
  const entry = action.client_id != null && state.outbox.find((o) => o.client_id === action.client_id);
  if (!entry) return state;
  if (typeof action.seq === "number" && action.seq <= state.lastSeq) {
    // Its event is already applied (e.g. a re-send the server de-duplicated): delivered.
    return { ...state, outbox: state.outbox.filter((o) => o !== entry) };
  }
  return {
    ...state,
    outbox: state.outbox.map((o) => (o === entry ? { ...o, status: "sent", seq: action.seq ?? null, error: null } : o)),
  };
}

/** @param {RoomState} state @param {any} action @returns {RoomState} */
function errorFrame(state, action) {
  const error = { code: String(action.code ?? "invalid"), message: String(action.message ?? "") };
  const lastError = { ref: action.ref ?? null, ...error };
  const hit = action.client_id != null && state.outbox.some((o) => o.client_id === action.client_id);
  return {
    ...state,
    lastError,
    outbox: hit
      ? state.outbox.map((o) => (o.client_id === action.client_id ? { ...o, status: "failed", error } : o))
      : state.outbox,
  };
}

// ---------------------------------------------------------------------------------------
// The reducer

/**
 * The one way the state changes. Returns `state` itself when an action changes nothing.
 *
 * Actions:
 *  - {type:"snapshot", snapshot}            replace everything but the outbox
 *  - {type:"resume", snapshot}              a reconnect's snapshot (see resumeFromSnapshot)
 *  - {type:"event", event}                  one server event (seq rules apply)
 *  - {type:"events", events, seq?}          a resync batch; seq = the server's latest seq
 *  - {type:"connecting"} | {type:"open"} | {type:"closed", code, final?}
 *  - {type:"reconnecting", attempt, delay}
 *  - {type:"queue_message", client_id, body}  a chat message waiting to be delivered
 *  - {type:"ack", ref, seq, client_id?}     client_id is set by socket.js for chat.send frames
 *  - {type:"error", ref, code, message, client_id?}
 *  - {type:"discard_message", client_id}    the person gives up on a failed message
 * @param {RoomState} state
 * @param {{type: string, [key: string]: any}} action
 * @returns {RoomState}
 */
export function reduce(state, action) {
  if (!action || typeof action.type !== "string") return state;
  switch (action.type) {
    case "snapshot":
      return action.snapshot ? fromSnapshot(state, action.snapshot) : state;
    case "resume":
      return action.snapshot ? resumeFromSnapshot(state, action.snapshot) : state;
    case "event":
      return applyIncoming(state, action.event);
    case "events": {
      const next = applyBatch(state, sortedEvents(action.events));
      const highestSeq = Math.max(next.highestSeq, typeof action.seq === "number" ? action.seq : 0);
      const needsResync = highestSeq > next.lastSeq;
      if (next === state && highestSeq === state.highestSeq && needsResync === state.needsResync) return state;
      return { ...next, highestSeq, needsResync };
    }

    case "connecting":
      return { ...state, connection: { ...state.connection, status: "connecting", code: null, final: false, delay: null } };
    case "open":
      return { ...state, connection: { status: "open", code: null, final: false, attempt: 0, delay: null } };
    case "closed": {
      const code = typeof action.code === "number" ? action.code : null;
      const final = action.final ?? isFinalCloseCode(code);
      return { ...state, connection: { ...state.connection, status: "closed", code, final: Boolean(final), delay: null } };
    }
    case "reconnecting":
      return {
        ...state,
        connection: { ...state.connection, status: "reconnecting", final: false, attempt: action.attempt ?? state.connection.attempt + 1, delay: action.delay ?? null },
      };

    case "queue_message":
      return queueMessage(state, action);
    case "ack":
      return ackMessage(state, action);
    case "error":
      return errorFrame(state, action);
    case "discard_message":
      return state.outbox.some((o) => o.client_id === action.client_id)
        ? { ...state, outbox: state.outbox.filter((o) => o.client_id !== action.client_id) }
        : state;

    default:
      return state;
  }
}

// ---------------------------------------------------------------------------------------
// Selectors (pure; hints for the UI, never a decision)

/**
 * A member by id, falling back to what the queue knows, then to a neutral name.
 * @param {RoomState} state @param {string|null|undefined} id @returns {Member|null}
 */
export function memberById(state, id) {
  if (id == null) return null;
  const m = state.members.find((x) => x.membership_id === id);
  if (m) return m;
  const q = state.queue.queue.find((x) => x.membership_id === id);
  return { membership_id: id, alias: q?.alias ?? "Someone", role: "member", muted_until: null };
}

/**
 * Whether a member is muted now. `now` is milliseconds since the epoch.
 * @param {RoomState} state @param {string|null|undefined} id @param {number} [now]
 * @returns {boolean}
 */
export function isMuted(state, id, now = Date.now()) {
  const m = state.members.find((x) => x.membership_id === id);
  if (!m || m.muted_until == null) return false;
  const until = Date.parse(m.muted_until);
  return Number.isNaN(until) ? true : until > now;
}

/**
 * Who speaks now: the current turn of a round, else whoever holds the floor.
 * @param {RoomState} state @returns {Member|null}
 */
export function currentSpeaker(state) {
  if (state.meeting?.status === "ended") return null;
  if (state.round) return memberById(state, state.round.current?.membership_id);
  return memberById(state, state.queue.floor);
}

/**
 * Who speaks next: in a round, the one after the current speaker in the round's order;
 * otherwise the first raised hand that doesn't already hold the floor.
 * @param {RoomState} state @returns {Member|null}
 */
export function upNext(state) {
  if (state.meeting?.status === "ended") return null;
  if (state.round) {
    const current = state.round.current?.membership_id;
    if (current == null) return null;
    // The server's pick (it skips those who already spoke or aren't here), when it sent one.
    if ("up_next" in state.round) return state.round.up_next == null ? null : memberById(state, state.round.up_next);
    const i = state.round.order.indexOf(current);
    return i === -1 ? null : memberById(state, state.round.order[i + 1]);
  }
  const entry = state.queue.queue.find((e) => e.membership_id !== state.queue.floor);
  return entry ? memberById(state, entry.membership_id) : null;
}

/**
 * My place among raised hands, 1 for first; null when my hand is down.
 * @param {RoomState} state @returns {number|null}
 */
export function myQueuePosition(state) {
  const me = state.you?.membership_id;
  if (me == null) return null;
  const i = state.queue.queue.findIndex((e) => e.membership_id === me);
  return i === -1 ? null : i + 1;
}

/**
 * The members present now, in the order they arrived.
 * @param {RoomState} state @returns {Member[]}
 */
export function presentMembers(state) {
  return state.present.map((id) => /** @type {Member} */ (memberById(state, id)));
}

/** @param {RoomState} state @returns {boolean} */
export function isFacilitator(state) {
  return state.you?.role === "facilitator";
}

/**
 * Whether the server would take a chat.send from me now, mirroring PROTOCOL.md's rules.
 * `reason` is the server's error code it would answer with; `message` is copy for the UI.
 * @param {RoomState} state @param {number} [now] milliseconds since the epoch
 * @returns {{ok: boolean, reason: string|null, message: string|null}}
 */
export function canChat(state, now = Date.now()) {
  const no = (reason, message) => ({ ok: false, reason, message });
  const me = state.you?.membership_id;
  if (!state.meeting || me == null) return no("not_live", "Joining the meeting…");
  if (state.meeting.status === "ended") return no("not_live", "The meeting has ended.");
  if (state.meeting.status !== "live") return no("not_live", "Chat opens when a facilitator starts the meeting.");
  if (isMuted(state, me, now)) return no("muted", "A facilitator has paused your chat for a little while.");
  if (isFacilitator(state)) return { ok: true, reason: null, message: null };
  if (state.round) {
    if (state.round.current?.membership_id === me) return { ok: true, reason: null, message: null };
    return no("not_your_turn", "It's someone else's turn to share. You can still send reactions.");
  }
  if (state.queue.mode.talking_piece && state.queue.floor !== me) {
    return no("not_your_turn", "The talking piece is with someone else. Raise your hand to ask for it.");
  }
  return { ok: true, reason: null, message: null };
}

/**
 * Counts of each reaction kind on a message.
 * @param {Message} message @returns {Record<string, number>}
 */
export function reactionCounts(message) {
  const counts = {};
  for (const r of message.reactions ?? []) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------
// Announcements for screen readers

const ANNOUNCE_BODY_MAX = 280;

/** @param {string} text */
function clip(text) {
  const t = String(text ?? "").trim();
  return t.length > ANNOUNCE_BODY_MAX ? `${t.slice(0, ANNOUNCE_BODY_MAX - 1)}…` : t;
}

/** @param {RoomState} state @param {string|null|undefined} id */
function nameOf(state, id) {
  return memberById(state, id)?.alias || "Someone";
}

/** @param {RoomState} prev @param {RoomState} next @param {any} ev */
function wasApplied(prev, next, ev) {
  if (prev === next) return false;
  if (typeof ev.seq === "number") return prev.lastSeq < ev.seq && next.lastSeq >= ev.seq;
  return true;
}

/**
 * A check-in share in words: "tired, hopeful · weather 6" (empty when there is nothing).
 * @param {string[]|null|undefined} words @param {number|null|undefined} weather @returns {string}
 */
export function feelingsText(words, weather) {
  const parts = [];
  if (Array.isArray(words) && words.length) parts.push(words.join(", "));
  if (typeof weather === "number") parts.push(`weather ${weather}`);
  return parts.join(" · ");
}

const ROUND_NAMES = { check_in: "Check-in round", check_out: "Check-out round", topic: "Round" };
const REACTION_COPY = { heard: "heard you", respect: "sent you respect", support: "sent you support" };

/**
 * The short text to announce (aria-live) for an event just reduced from prevState to
 * nextState, or null when it is not worth interrupting someone for (or was not applied).
 * @param {RoomState} prevState @param {RoomState} nextState @param {any} event
 * @returns {string|null}
 */
export function announcementFor(prevState, nextState, event) {
  if (!event || !wasApplied(prevState, nextState, event)) return null;
  const me = nextState.you?.membership_id ?? null;
  switch (event.type) {
    case "chat.message": {
      if (event.author?.membership_id === me) return null; // they just wrote it
      const body = clip(event.body);
      return body ? `${event.author?.alias || "Someone"}: ${body}` : null;
    }
    case "meeting.opened":
      return "The meeting is open. Welcome.";
    case "meeting.ended":
      return "The meeting has ended. Thank you for being here.";
    case "phase.changed": {
      const title = event.step?.title ?? event.step?.name ?? event.step?.label;
      return title ? `Now: ${title}.` : null;
    }
    case "round.started": {
      const r = event.round ?? {};
      const name = ROUND_NAMES[r.kind] ?? "Round";
      const prompt = typeof r.prompt === "string" ? r.prompt : r.prompt?.text;
      return prompt ? `${name} started: ${clip(prompt)}` : `${name} started.`;
    }
    case "turn.started": {
      if (event.membership_id === me) return "It's your turn. Take your time.";
      const who = nameOf(nextState, event.membership_id);
      return upNext(nextState)?.membership_id === me && me != null ? `It's ${who}'s turn. You're next.` : `It's ${who}'s turn.`;
    }
    case "round.ended":
      return "The round has ended.";
    case "feelings.shared": {
      if (event.membership_id === me) return null;
      const line = feelingsText(event.words, event.weather);
      return line ? `${nameOf(nextState, event.membership_id)}: ${line}` : null;
    }
    case "queue.updated": {
      if (nextState.round) return null;
      const was = myQueuePosition(prevState);
      const now = myQueuePosition(nextState);
      if (now === 1 && was !== 1 && nextState.queue.floor !== me) return "You're next.";
      return null;
    }
    case "floor.granted":
      return event.membership_id === me ? "You have the floor." : `${nameOf(nextState, event.membership_id)} has the floor.`;
    case "prompt.pushed": {
      const text = event.prompt?.text;
      return text ? `New prompt: ${clip(text)}` : null;
    }
    default:
      return personalAnnouncement(nextState, event, me);
  }
}

/**
 * Announcements about me or for me alone: mutes, reactions to my messages, the private
 * notices (flags and alerts for facilitators, support lines for me).
 * @param {RoomState} nextState @param {any} event @param {any} me @returns {string|null}
 */
function personalAnnouncement(nextState, event, me) {
  switch (event.type) {
    case "member.muted":
      return event.membership_id === me ? "A facilitator has paused your chat for a little while." : null;
    case "member.unmuted":
      return event.membership_id === me ? "You can chat again." : null;
    case "reaction.added": {
      const target = nextState.messages.find((m) => m.seq === event.target_seq);
      if (!target || target.author?.membership_id !== me || event.membership_id === me) return null;
      return `${nameOf(nextState, event.membership_id)} ${REACTION_COPY[event.kind] ?? "reacted to your message"}.`;
    }
    case "report.received":
      return "A message was reported. You can review it when you have a moment.";
    case "report.resolved":
      // The one who pressed "Mark as looked at" hears it from the ack.
      return event.by?.membership_id === me || !event.by?.alias ? null : `${event.by.alias} marked a flag as looked at.`;
    case "alert.crisis":
      return `${event.alias || nameOf(nextState, event.membership_id)} may need support. Please check in with them.`;
    case "support.resources":
      return "You're not alone. We've shared some places you can reach for support.";
    default:
      return null;
  }
}
