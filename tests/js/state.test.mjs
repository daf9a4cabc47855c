// Tests for static/room/state.js: the pure reducer, its seq rules, selectors and announcements.
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import {
  initialState,
  reduce,
  seqStatus,
  currentSpeaker,
  upNext,
  myQueuePosition,
  presentMembers,
  isFacilitator,
  isMuted,
  canChat,
  announcementFor,
  reactionCounts,
  closeExplanation,
  isFinalCloseCode,
  feelingsText,
  MESSAGE_CAP,
} from "../../static/room/state.js";

// -- fixtures ---------------------------------------------------------------------------

const SAM = { membership_id: "m-sam", alias: "Sam", role: "member" };
const ME = { membership_id: "m-me", alias: "River", role: "member" };
const FAC = { membership_id: "m-fac", alias: "Ana", role: "facilitator" };
const ALEX = { membership_id: "m-alex", alias: "Alex", role: "member" };
const AT = "2025-01-01T10:00:00Z";

function chat(seq, author, body, clientId = `cid-${seq}`) {
  return { type: "chat.message", seq, at: AT, author, body, client_id: clientId };
}

function snapshot(overrides = {}) {
  return {
    type: "snapshot",
    seq: 3,
    meeting: { id: "meet-1", circle: { name: "Tuesday circle", kind: "peer", call_link: null }, status: "live", step: null },
    you: { ...ME },
    members: [SAM, ME, FAC, ALEX].map((m) => ({ ...m, muted_until: null })),
    present: ["m-sam", "m-me", "m-fac"],
    round: null,
    queue: { queue: [], floor: null, mode: { talking_piece: false, progressive: false } },
    events: [
      chat(1, SAM, "hello"),
      chat(2, FAC, "welcome all"),
      { type: "reaction.added", seq: 3, at: AT, target_seq: 1, kind: "heard", membership_id: "m-fac" },
    ],
    ...overrides,
  };
}

function deepFreeze(o) {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Reduce a list of actions, freezing every intermediate state to catch mutation. */
function run(state, ...actions) {
  let s = deepFreeze(state);
  for (const a of actions) s = deepFreeze(reduce(s, a));
  return s;
}

const ev = (event) => ({ type: "event", event });
const loaded = (overrides) => run(initialState(), { type: "snapshot", snapshot: snapshot(overrides) });

const ROUND = {
  id: "r1",
  kind: "check_in",
  prompt: "How are you arriving today?",
  order: ["m-sam", "m-me", "m-alex"],
  seconds_per_turn: 120,
};

// -- basics -----------------------------------------------------------------------------

describe("initialState and seqStatus", () => {
  test("initial state is empty and waiting", () => {
    const s = initialState();
    assert.equal(s.lastSeq, 0);
    assert.equal(s.needsResync, false);
    assert.deepEqual(s.messages, []);
    assert.deepEqual(s.outbox, []);
    assert.equal(s.connection.status, "idle");
    assert.equal(s.synced, false);
  });

  test("seqStatus classifies", () => {
    assert.equal(seqStatus(5, 5), "duplicate");
    assert.equal(seqStatus(5, 2), "duplicate");
    assert.equal(seqStatus(5, 6), "next");
    assert.equal(seqStatus(5, 8), "gap");
    assert.equal(seqStatus(5, undefined), "unsequenced");
    assert.equal(seqStatus(5, null), "unsequenced");
  });

  test("unknown actions return the same state", () => {
    const s = initialState();
    assert.equal(reduce(s, { type: "nope" }), s);
    assert.equal(reduce(s, null), s);
  });
});

describe("snapshot", () => {
  test("fills the state and folds its events into messages", () => {
    const s = loaded();
    assert.equal(s.synced, true);
    assert.equal(s.lastSeq, 3);
    assert.equal(s.meeting.circle.name, "Tuesday circle");
    assert.equal(s.you.membership_id, "m-me");
    assert.deepEqual(s.messages.map((m) => m.body), ["hello", "welcome all"]);
    assert.deepEqual(reactionCounts(s.messages[0]), { heard: 1 });
    assert.equal(s.log.length, 3);
  });

  test("replaces everything except the outbox", () => {
    let s = loaded({ round: { ...ROUND, current: null } });
    s = run(s, { type: "queue_message", client_id: "mine-1", body: "still sending" });
    s = run(s, ev(chat(4, SAM, "later")));
    const next = run(s, {
      type: "snapshot",
      snapshot: snapshot({ seq: 10, round: null, present: ["m-fac"], events: [chat(10, FAC, "fresh")] }),
    });
    assert.equal(next.lastSeq, 10);
    assert.equal(next.round, null);
    assert.deepEqual(next.present, ["m-fac"]);
    assert.deepEqual(next.messages.map((m) => m.body), ["fresh"]);
    assert.deepEqual(next.outbox.map((o) => o.client_id), ["mine-1"]);
  });

  test("drops outbox entries the snapshot shows were delivered", () => {
    let s = run(initialState(), { type: "queue_message", client_id: "mine-1", body: "hi" });
    s = run(s, { type: "snapshot", snapshot: snapshot({ seq: 1, events: [chat(1, ME, "hi", "mine-1")] }) });
    assert.deepEqual(s.outbox, []);
  });

  test("keeps the connection state", () => {
    let s = run(initialState(), { type: "open" });
    s = run(s, { type: "snapshot", snapshot: snapshot() });
    assert.equal(s.connection.status, "open");
  });

  test("does not mutate the input", () => {
    const before = initialState();
    const copy = structuredClone(before);
    reduce(before, { type: "snapshot", snapshot: snapshot() });
    assert.deepEqual(before, copy);
  });
});

// -- seq rules --------------------------------------------------------------------------

describe("seq rules", () => {
  test("the next seq applies and advances lastSeq", () => {
    const s = run(loaded(), ev(chat(4, SAM, "how is everyone")));
    assert.equal(s.lastSeq, 4);
    assert.equal(s.messages.at(-1).body, "how is everyone");
  });

  test("a seq already seen is ignored: same state object", () => {
    const s = run(loaded(), ev(chat(4, SAM, "once")));
    assert.equal(reduce(s, ev(chat(4, SAM, "once"))), s);
    assert.equal(reduce(s, ev(chat(2, SAM, "old"))), s);
    assert.equal(s.messages.filter((m) => m.body === "once").length, 1);
  });

  test("a gap is not applied and asks for a resync", () => {
    const s = run(loaded(), ev(chat(6, SAM, "from the future")));
    assert.equal(s.needsResync, true);
    assert.equal(s.lastSeq, 3);
    assert.equal(s.highestSeq, 6);
    assert.equal(s.messages.some((m) => m.body === "from the future"), false);
  });

  test("a resync batch fills the gap in order and clears needsResync", () => {
    let s = run(loaded(), ev(chat(6, SAM, "six")));
    s = run(s, { type: "events", seq: 6, events: [chat(4, SAM, "four"), chat(5, ALEX, "five"), chat(6, SAM, "six")] });
    assert.equal(s.lastSeq, 6);
    assert.equal(s.needsResync, false);
    assert.deepEqual(s.messages.slice(-3).map((m) => m.body), ["four", "five", "six"]);
  });

  test("a batch overlapping what we have applies each event once", () => {
    let s = run(loaded(), ev(chat(4, SAM, "four")));
    s = run(s, { type: "events", seq: 5, events: [chat(3, SAM, "x"), chat(4, SAM, "four"), chat(5, SAM, "five")] });
    assert.deepEqual(s.messages.map((m) => m.body), ["hello", "welcome all", "four", "five"]);
  });

  test("a split batch keeps needsResync until the latest seq arrives", () => {
    let s = run(loaded(), ev(chat(7, SAM, "seven")));
    s = run(s, { type: "events", seq: 7, events: [chat(4, SAM, "4"), chat(5, SAM, "5")] });
    assert.equal(s.lastSeq, 5);
    assert.equal(s.needsResync, true);
    s = run(s, { type: "events", seq: 7, events: [chat(6, SAM, "6"), chat(7, SAM, "7")] });
    assert.equal(s.lastSeq, 7);
    assert.equal(s.needsResync, false);
  });

  test("events without seq (presence) apply directly", () => {
    const s = run(loaded(), ev({ type: "presence.joined", membership_id: "m-alex", alias: "Alex" }));
    assert.equal(s.lastSeq, 3);
    assert.ok(s.present.includes("m-alex"));
  });

  test("unknown event types are logged and change nothing else", () => {
    const before = loaded();
    const s = run(before, ev({ type: "poll.opened", seq: 4, at: AT, round: null, queue: [] }));
    assert.equal(s.lastSeq, 4);
    assert.equal(s.log.at(-1).type, "poll.opened");
    assert.deepEqual({ ...s, log: null, lastSeq: null, highestSeq: null }, { ...before, log: null, lastSeq: null, highestSeq: null });
  });

  test("messages are capped at the last 500", () => {
    let s = loaded({ events: [], seq: 0 });
    const events = Array.from({ length: MESSAGE_CAP + 20 }, (_, i) => chat(i + 1, SAM, `m${i + 1}`));
    s = run(s, { type: "events", events, seq: events.length });
    assert.equal(s.messages.length, MESSAGE_CAP);
    assert.equal(s.messages[0].body, "m21");
    assert.equal(s.messages.at(-1).body, `m${MESSAGE_CAP + 20}`);
  });
});

// -- resume (a reconnect's snapshot) ------------------------------------------------------

describe("resume", () => {
  test("replays the snapshot's events after lastSeq and keeps the history", () => {
    let s = run(loaded(), ev(chat(4, SAM, "four")));
    s = run(s, {
      type: "resume",
      snapshot: snapshot({
        seq: 6,
        present: ["m-fac", "m-me"],
        events: [chat(3, FAC, "x"), chat(4, SAM, "four"), chat(5, ALEX, "five"), chat(6, SAM, "six")],
      }),
    });
    assert.equal(s.lastSeq, 6);
    assert.equal(s.needsResync, false);
    assert.deepEqual(s.messages.map((m) => m.body), ["hello", "welcome all", "four", "five", "six"]);
    assert.deepEqual(s.present, ["m-fac", "m-me"]);
  });

  test("asks for a resync when the snapshot doesn't reach back far enough", () => {
    const s = run(loaded(), {
      type: "resume",
      snapshot: snapshot({ seq: 300, events: [chat(201, SAM, "late")] }),
    });
    assert.equal(s.lastSeq, 3);
    assert.equal(s.needsResync, true);
    assert.equal(s.highestSeq, 300);
  });

  test("takes roster and role from the snapshot, round from the replay", () => {
    let s = loaded();
    s = run(s, {
      type: "resume",
      snapshot: snapshot({
        seq: 5,
        you: { ...ME, role: "facilitator" },
        round: { ...ROUND, current: { turn_id: "t1", membership_id: "m-sam", deadline: null } },
        events: [
          { type: "round.started", seq: 4, at: AT, round: ROUND },
          { type: "turn.started", seq: 5, at: AT, round_id: "r1", turn_id: "t1", membership_id: "m-sam", deadline: null },
        ],
      }),
    });
    assert.equal(isFacilitator(s), true);
    assert.equal(s.round.id, "r1");
    assert.equal(s.round.current.turn_id, "t1");
  });

  test("behaves as a snapshot when there is nothing to resume", () => {
    const s = run(initialState(), { type: "resume", snapshot: snapshot() });
    assert.equal(s.lastSeq, 3);
    assert.equal(s.messages.length, 2);
    const other = run(s, { type: "resume", snapshot: snapshot({ meeting: { ...snapshot().meeting, id: "meet-2" }, events: [] }) });
    assert.equal(other.meeting.id, "meet-2");
    assert.deepEqual(other.messages, []);
  });
});

// -- every event type -------------------------------------------------------------------

describe("events", () => {
  test("chat.message appends a message", () => {
    const s = run(loaded(), ev(chat(4, SAM, "hi there")));
    assert.deepEqual(s.messages.at(-1), {
      seq: 4, at: AT, author: SAM, body: "hi there", client_id: "cid-4", deleted: false, reactions: [],
    });
  });

  test("meeting.opened and meeting.ended set the status", () => {
    let s = loaded({ meeting: { ...snapshot().meeting, status: "scheduled" }, round: { ...ROUND, current: null } });
    s = run(s, ev({ type: "meeting.opened", seq: 4, at: AT }));
    assert.equal(s.meeting.status, "live");
    s = run(s, ev({ type: "meeting.ended", seq: 5, at: AT }));
    assert.equal(s.meeting.status, "ended");
    assert.equal(s.round, null);
  });

  test("phase.changed sets the step", () => {
    const s = run(loaded(), ev({ type: "phase.changed", seq: 4, at: AT, step: { id: "s2", title: "Sharing" } }));
    assert.deepEqual(s.meeting.step, { id: "s2", title: "Sharing" });
  });

  test("round lifecycle: started, turn started, turn ended, round ended", () => {
    let s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: ROUND }));
    assert.equal(s.round.id, "r1");
    assert.equal(s.round.current, null);
    s = run(s, ev({ type: "turn.started", seq: 5, at: AT, round_id: "r1", turn_id: "t1", membership_id: "m-sam", deadline: "2025-01-01T10:02:00Z" }));
    assert.deepEqual(s.round.current, { turn_id: "t1", membership_id: "m-sam", deadline: "2025-01-01T10:02:00Z" });
    s = run(s, ev({ type: "turn.ended", seq: 6, at: AT, round_id: "r1", membership_id: "m-sam", outcome: "done" }));
    assert.equal(s.round.current, null);
    s = run(s, ev({ type: "turn.started", seq: 7, at: AT, round_id: "r1", turn_id: "t2", membership_id: "m-me", deadline: null }));
    assert.equal(s.round.current.membership_id, "m-me");
    s = run(s, ev({ type: "round.ended", seq: 8, at: AT, round_id: "r1" }));
    assert.equal(s.round, null);
  });

  test("an event carrying a whole round replaces it", () => {
    let s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: ROUND }));
    const replaced = { ...ROUND, order: ["m-alex", "m-me"], current: { turn_id: "t9", membership_id: "m-alex", deadline: null } };
    s = run(s, ev({ type: "turn.ended", seq: 5, at: AT, round_id: "r1", membership_id: "m-sam", outcome: "passed", round: replaced }));
    assert.deepEqual(s.round.order, ["m-alex", "m-me"]);
    assert.equal(s.round.current.turn_id, "t9");
  });

  test("queue.updated replaces the queue", () => {
    let s = run(loaded(), ev({
      type: "queue.updated", seq: 4, at: AT,
      queue: [{ membership_id: "m-sam", alias: "Sam", raised_at: AT }, { membership_id: "m-me", alias: "River", raised_at: AT }],
      floor: null, mode: { talking_piece: true, progressive: false },
    }));
    assert.deepEqual(s.queue.queue.map((e) => e.membership_id), ["m-sam", "m-me"]);
    assert.equal(s.queue.mode.talking_piece, true);
    s = run(s, ev({ type: "queue.updated", seq: 5, at: AT, queue: [], floor: "m-sam", mode: { talking_piece: true, progressive: true } }));
    assert.deepEqual(s.queue, { queue: [], floor: "m-sam", mode: { talking_piece: true, progressive: true } });
  });

  test("floor.granted and floor.released", () => {
    let s = run(loaded(), ev({ type: "floor.granted", seq: 4, at: AT, membership_id: "m-sam" }));
    assert.equal(s.queue.floor, "m-sam");
    s = run(s, ev({ type: "floor.released", seq: 5, at: AT }));
    assert.equal(s.queue.floor, null);
  });

  test("prompt.pushed", () => {
    const s = run(loaded(), ev({ type: "prompt.pushed", seq: 4, at: AT, prompt: { id: "p1", text: "What helped this week?", strategy: "gentle" } }));
    assert.equal(s.prompt.text, "What helped this week?");
  });

  test("member.muted and member.unmuted", () => {
    let s = run(loaded(), ev({ type: "member.muted", seq: 4, at: AT, membership_id: "m-sam", until: "2025-01-01T10:10:00Z" }));
    assert.equal(s.members.find((m) => m.membership_id === "m-sam").muted_until, "2025-01-01T10:10:00Z");
    assert.equal(isMuted(s, "m-sam", Date.parse("2025-01-01T10:05:00Z")), true);
    assert.equal(isMuted(s, "m-sam", Date.parse("2025-01-01T10:15:00Z")), false);
    s = run(s, ev({ type: "member.unmuted", seq: 5, at: AT, membership_id: "m-sam" }));
    assert.equal(s.members.find((m) => m.membership_id === "m-sam").muted_until, null);
  });

  test("member.removed takes them out of the roster, presence and queue", () => {
    let s = loaded({ queue: { queue: [{ membership_id: "m-sam", alias: "Sam", raised_at: AT }], floor: null, mode: { talking_piece: false, progressive: false } } });
    s = run(s, ev({ type: "member.removed", seq: 4, at: AT, membership_id: "m-sam" }));
    assert.equal(s.members.some((m) => m.membership_id === "m-sam"), false);
    assert.equal(s.present.includes("m-sam"), false);
    assert.deepEqual(s.queue.queue, []);
    assert.equal(s.messages[0].author.alias, "Sam"); // history keeps the name
  });

  test("message.deleted blanks that message", () => {
    const s = run(loaded(), ev({ type: "message.deleted", seq: 4, at: AT, target_seq: 1 }));
    assert.equal(s.messages[0].body, "");
    assert.equal(s.messages[0].deleted, true);
    assert.equal(s.messages[1].body, "welcome all");
  });

  test("reaction.added counts once per event", () => {
    let s = run(loaded(), ev({ type: "reaction.added", seq: 4, at: AT, target_seq: 2, kind: "support", membership_id: "m-sam" }));
    s = run(s, ev({ type: "reaction.added", seq: 5, at: AT, target_seq: 2, kind: "support", membership_id: "m-me" }));
    assert.deepEqual(reactionCounts(s.messages[1]), { support: 2 });
  });

  test("presence.joined and presence.left", () => {
    let s = run(loaded(), ev({ type: "presence.joined", membership_id: "m-alex", alias: "Alex" }));
    s = run(s, ev({ type: "presence.joined", membership_id: "m-alex", alias: "Alex" }));
    assert.deepEqual(s.present, ["m-sam", "m-me", "m-fac", "m-alex"]);
    s = run(s, ev({ type: "presence.left", membership_id: "m-sam" }));
    assert.deepEqual(s.present, ["m-me", "m-fac", "m-alex"]);
    s = run(s, ev({ type: "presence.joined", membership_id: "m-new", alias: "Kai" }));
    assert.equal(s.members.find((m) => m.membership_id === "m-new").alias, "Kai");
  });

  test("private events: report.received, alert.crisis, support.resources", () => {
    let s = loaded({ you: { ...FAC } });
    s = run(s, ev({ type: "report.received", target_seq: 1, reason: "unkind", membership_id: "m-alex" }));
    s = run(s, ev({ type: "alert.crisis", target_seq: 1, membership_id: "m-sam", alias: "Sam", category: "self_harm" }));
    s = run(s, ev({ type: "support.resources", resources: [{ name: "Helpline", contact: "116 123", region: "UK" }] }));
    assert.equal(s.reports.length, 1);
    assert.equal(s.alerts[0].alias, "Sam");
    assert.equal(s.supportResources[0].name, "Helpline");
    assert.equal(s.lastSeq, 3);
  });
});

// -- outbox -------------------------------------------------------------------------------

describe("outbox", () => {
  test("queue_message adds a pending entry, once", () => {
    let s = run(loaded(), { type: "queue_message", client_id: "c-a", body: "hello all" });
    s = run(s, { type: "queue_message", client_id: "c-a", body: "hello all" });
    assert.deepEqual(s.outbox, [{ client_id: "c-a", body: "hello all", status: "pending", seq: null, error: null }]);
  });

  test("my echo removes the entry; someone else's same client_id does not", () => {
    let s = run(loaded(), { type: "queue_message", client_id: "c-a", body: "hi" });
    s = run(s, ev(chat(4, SAM, "hi", "c-a")));
    assert.equal(s.outbox.length, 1);
    s = run(s, ev(chat(5, ME, "hi", "c-a")));
    assert.deepEqual(s.outbox, []);
    assert.equal(s.messages.at(-1).body, "hi");
  });

  test("ack marks sent until the echo arrives", () => {
    let s = run(loaded(), { type: "queue_message", client_id: "c-a", body: "hi" });
    s = run(s, { type: "ack", ref: "c1", seq: 4, client_id: "c-a" });
    assert.equal(s.outbox[0].status, "sent");
    assert.equal(s.outbox[0].seq, 4);
    s = run(s, ev(chat(4, ME, "hi", "c-a")));
    assert.deepEqual(s.outbox, []);
  });

  test("an ack for an event already applied removes the entry", () => {
    let s = run(loaded(), { type: "queue_message", client_id: "c-old", body: "hello" });
    s = run(s, { type: "ack", ref: "c7", seq: 2, client_id: "c-old" });
    assert.deepEqual(s.outbox, []);
  });

  test("error marks the entry failed and records lastError; retry makes it pending", () => {
    let s = run(loaded(), { type: "queue_message", client_id: "c-a", body: "hi" });
    s = run(s, { type: "error", ref: "c1", code: "rate_limited", message: "Slow down a little.", client_id: "c-a" });
    assert.equal(s.outbox[0].status, "failed");
    assert.deepEqual(s.outbox[0].error, { code: "rate_limited", message: "Slow down a little." });
    assert.deepEqual(s.lastError, { ref: "c1", code: "rate_limited", message: "Slow down a little." });
    s = run(s, { type: "queue_message", client_id: "c-a", body: "hi" });
    assert.equal(s.outbox[0].status, "pending");
    s = run(s, { type: "discard_message", client_id: "c-a" });
    assert.deepEqual(s.outbox, []);
  });

  test("busy (the server pushing back under load) is kept like rate_limited: failed, with the server's words", () => {
    for (const code of ["rate_limited", "busy"]) {
      let s = run(loaded(), { type: "queue_message", client_id: "c-a", body: "my draft" });
      s = run(s, { type: "error", ref: "c1", code, message: "Busy right now, try again in a moment.", client_id: "c-a" });
      assert.deepEqual(s.outbox, [{ client_id: "c-a", body: "my draft", status: "failed", seq: null, error: { code, message: "Busy right now, try again in a moment." } }], code);
    }
  });

  test("an error not about chat only sets lastError", () => {
    const s = run(loaded(), { type: "error", ref: "c3", code: "forbidden", message: "Only facilitators can do that." });
    assert.equal(s.lastError.code, "forbidden");
    assert.deepEqual(s.outbox, []);
  });
});

// -- connection ---------------------------------------------------------------------------

describe("connection actions", () => {
  test("connecting → open → closed → reconnecting", () => {
    let s = run(initialState(), { type: "connecting" });
    assert.equal(s.connection.status, "connecting");
    s = run(s, { type: "open" });
    assert.equal(s.connection.status, "open");
    s = run(s, { type: "closed", code: 1006 });
    assert.deepEqual(s.connection, { status: "closed", code: 1006, final: false, attempt: 0, delay: null });
    s = run(s, { type: "reconnecting", attempt: 2, delay: 800 });
    assert.deepEqual(s.connection, { status: "reconnecting", code: 1006, final: false, attempt: 2, delay: 800 });
  });

  test("4409: open in another window, final, in plain words", () => {
    const s = run(loaded(), { type: "closed", code: 4409 });
    assert.equal(s.connection.final, true);
    assert.equal(closeExplanation(4409), "This circle is open in another window or on another device, so we closed it here.");
  });

  test("final close codes", () => {
    for (const code of [4401, 4403, 4404, 4409, 4410]) {
      const s = run(initialState(), { type: "closed", code });
      assert.equal(s.connection.final, true, String(code));
      assert.equal(isFinalCloseCode(code), true);
      assert.ok(closeExplanation(code));
    }
    assert.equal(isFinalCloseCode(1006), false);
    assert.equal(closeExplanation(1006), null);
  });
});

// -- selectors ----------------------------------------------------------------------------

describe("selectors", () => {
  const inRound = (who) => loaded({ round: { ...ROUND, current: { turn_id: "t1", membership_id: who, deadline: null } } });

  test("currentSpeaker and upNext in a round", () => {
    const s = inRound("m-sam");
    assert.equal(currentSpeaker(s).alias, "Sam");
    assert.equal(upNext(s).alias, "River");
    const last = inRound("m-alex");
    assert.equal(upNext(last), null);
  });

  test("currentSpeaker and upNext outside a round follow the floor and the queue", () => {
    const s = loaded({
      queue: {
        queue: [{ membership_id: "m-sam", alias: "Sam", raised_at: AT }, { membership_id: "m-me", alias: "River", raised_at: AT }],
        floor: "m-sam",
        mode: { talking_piece: true, progressive: false },
      },
    });
    assert.equal(currentSpeaker(s).alias, "Sam");
    assert.equal(upNext(s).alias, "River");
    assert.equal(myQueuePosition(s), 2);
    assert.equal(currentSpeaker(loaded()), null);
    assert.equal(upNext(loaded()), null);
    assert.equal(myQueuePosition(loaded()), null);
  });

  test("presentMembers and isFacilitator", () => {
    const s = loaded();
    assert.deepEqual(presentMembers(s).map((m) => m.alias), ["Sam", "River", "Ana"]);
    assert.equal(isFacilitator(s), false);
    assert.equal(isFacilitator(loaded({ you: { ...FAC } })), true);
  });

  test("canChat mirrors the server's rules", () => {
    const now = Date.parse("2025-01-01T10:05:00Z");
    assert.deepEqual(canChat(initialState(), now).ok, false);
    assert.equal(canChat(loaded(), now).ok, true);
    assert.equal(canChat(loaded({ meeting: { ...snapshot().meeting, status: "scheduled" } }), now).reason, "not_live");
    assert.equal(canChat(loaded({ meeting: { ...snapshot().meeting, status: "ended" } }), now).reason, "not_live");
    const muted = loaded({ members: [{ ...ME, muted_until: "2025-01-01T10:10:00Z" }] });
    assert.equal(canChat(muted, now).reason, "muted");
    assert.equal(canChat(muted, Date.parse("2025-01-01T10:11:00Z")).ok, true);
    assert.equal(canChat(inRound("m-sam"), now).reason, "not_your_turn");
    assert.equal(canChat(inRound("m-me"), now).ok, true);
    assert.equal(canChat(loaded({ you: { ...FAC }, round: { ...ROUND, current: { turn_id: "t", membership_id: "m-sam", deadline: null } } }), now).ok, true);
    const piece = (floor) => loaded({ queue: { queue: [], floor, mode: { talking_piece: true, progressive: false } } });
    assert.equal(canChat(piece("m-sam"), now).reason, "not_your_turn");
    assert.equal(canChat(piece("m-me"), now).ok, true);
    assert.ok(canChat(piece("m-sam"), now).message);
  });
});

// -- announcements --------------------------------------------------------------------------

describe("announcementFor", () => {
  const announce = (state, event) => announcementFor(state, reduce(state, ev(event)), event);

  test("a new message from someone else", () => {
    assert.equal(announce(loaded(), chat(4, SAM, "hello")), "Sam: hello");
  });

  test("not for my own message, nor a duplicate, nor a gap", () => {
    const s = loaded();
    assert.equal(announce(s, chat(4, ME, "mine")), null);
    assert.equal(announce(s, chat(2, SAM, "again")), null);
    assert.equal(announce(s, chat(9, SAM, "later")), null);
  });

  test("long messages are shortened", () => {
    const text = announce(loaded(), chat(4, SAM, "a".repeat(1000)));
    assert.ok(text.length < 300);
    assert.ok(text.endsWith("…"));
  });

  test("your turn, you're next, someone's turn", () => {
    const s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: ROUND }));
    const turn = (seq, who) => ({ type: "turn.started", seq, at: AT, round_id: "r1", turn_id: `t${seq}`, membership_id: who, deadline: null });
    assert.equal(announce(s, turn(5, "m-sam")), "It's Sam's turn. You're next.");
    assert.match(announce(s, turn(5, "m-me")), /^It's your turn/);
    assert.equal(announce(s, turn(5, "m-alex")), "It's Alex's turn.");
  });

  test("round started and ended, meeting ended", () => {
    const s = loaded();
    assert.equal(announce(s, { type: "round.started", seq: 4, at: AT, round: ROUND }), "Check-in round started: How are you arriving today?");
    assert.equal(announce(s, { type: "round.started", seq: 4, at: AT, round: { ...ROUND, kind: "topic", prompt: null } }), "Round started.");
    assert.equal(announce(s, { type: "round.ended", seq: 4, at: AT, round_id: "r1" }), "The round has ended.");
    assert.match(announce(s, { type: "meeting.ended", seq: 4, at: AT }), /^The meeting has ended/);
  });

  test("you're next in the queue", () => {
    const s = loaded({ queue: { queue: [{ membership_id: "m-sam", alias: "Sam", raised_at: AT }, { membership_id: "m-me", alias: "River", raised_at: AT }], floor: null, mode: { talking_piece: false, progressive: false } } });
    const moved = { type: "queue.updated", seq: 4, at: AT, queue: [{ membership_id: "m-me", alias: "River", raised_at: AT }], floor: "m-sam", mode: { talking_piece: false, progressive: false } };
    assert.equal(announce(s, moved), "You're next.");
  });

  test("reactions to my messages, mutes, private notices; quiet otherwise", () => {
    const s = run(loaded(), ev(chat(4, ME, "it was a hard week")));
    assert.equal(announce(s, { type: "reaction.added", seq: 5, at: AT, target_seq: 4, kind: "heard", membership_id: "m-sam" }), "Sam heard you.");
    assert.equal(announce(s, { type: "reaction.added", seq: 5, at: AT, target_seq: 1, kind: "heard", membership_id: "m-fac" }), null);
    assert.ok(announce(s, { type: "member.muted", seq: 5, at: AT, membership_id: "m-me", until: AT }));
    assert.equal(announce(s, { type: "member.muted", seq: 5, at: AT, membership_id: "m-sam", until: AT }), null);
    assert.equal(announce(s, { type: "member.unmuted", seq: 5, at: AT, membership_id: "m-me" }), "You can chat again.");
    assert.ok(announce(s, { type: "support.resources", resources: [] }));
    assert.equal(announce(s, { type: "presence.joined", membership_id: "m-alex", alias: "Alex" }), null);
    assert.equal(announce(s, { type: "poll.opened", seq: 5, at: AT }), null);
  });
});

// -- what the server really sends beyond the basics (round payloads, feelings, facilitator block)

describe("server payloads: round.updated, feelings, phase time, facilitator block", () => {
  const START = "2025-01-01T10:00:00Z";
  const payload = (over = {}) => ({
    ...ROUND, outcomes: [null, null, null], quiet_until: null, ended: false, up_next: "m-me",
    current: { turn_id: "t1", membership_id: "m-sam", started_at: START, deadline: "2025-01-01T10:02:00Z" },
    ...over,
  });
  const FACBLOCK = {
    speaking: { "m-sam": { count: 1, seconds: 30 } },
    prompts: [{ id: 1, text: "What did you do today?", strategy: "thoughts_before_feelings", phase: "check_in", depth: 1, own: false, last_used: null }],
    coaching: [{ key: "situation-member-passes", situation: "member_passes", strategy: "normalize_not_knowing", title: "t", body: "b" }],
    intentions: { "m-sam": "Somewhere to talk." },
  };

  test("snapshot keeps the facilitator block, help lines and the meeting's agenda and step time", () => {
    const s = loaded({
      facilitator: FACBLOCK,
      help_lines: [{ name: "Line", contact: "116 123", region: "GB" }],
      meeting: { ...snapshot().meeting, step_started_at: START, agenda: { id: 1, name: "Weekly", steps: [] } },
      you: { ...ME, first_round: true },
    });
    assert.equal(s.facilitator.speaking["m-sam"].count, 1);
    assert.equal(s.facilitator.asOfSeq, 3);
    assert.equal(s.facilitator.prompts.length, 1);
    assert.equal(s.helpLines[0].contact, "116 123");
    assert.equal(s.meeting.step_started_at, START);
    assert.equal(s.meeting.agenda.name, "Weekly");
    assert.equal(s.you.first_round, true);
    assert.equal(loaded().facilitator, null);
  });

  test("phase.changed records when the step started; clearing the step clears it", () => {
    let s = run(loaded(), ev({ type: "phase.changed", seq: 4, at: AT, step: { id: 2, title: "Check-in" }, started_at: START }));
    assert.equal(s.meeting.step_started_at, START);
    s = run(s, ev({ type: "phase.changed", seq: 5, at: AT, step: null, started_at: null }));
    assert.equal(s.meeting.step_started_at, null);
  });

  test("round.updated replaces the round (a late joiner at the end)", () => {
    let s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: payload() }));
    s = run(s, ev({ type: "round.updated", seq: 5, at: AT, round: payload({ order: ["m-sam", "m-me", "m-alex", "m-fac"], outcomes: [null, null, null, null] }) }));
    assert.deepEqual(s.round.order, ["m-sam", "m-me", "m-alex", "m-fac"]);
    assert.equal(s.lastSeq, 5);
  });

  test("turn.started keeps the started_at its round payload carries", () => {
    const s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: payload({ current: null }) }),
      ev({ type: "turn.started", seq: 5, at: AT, round_id: "r1", turn_id: "t1", membership_id: "m-sam", deadline: null, round: payload() }));
    assert.equal(s.round.current.started_at, START);
    assert.equal(s.round.current.deadline, null);
  });

  test("upNext follows the server's up_next when the round carries it", () => {
    const s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: payload({ up_next: "m-alex" }) }));
    assert.equal(upNext(s).alias, "Alex");
    const none = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: payload({ up_next: null }) }));
    assert.equal(upNext(none), null);
  });

  test("feelings.shared is kept in order, from the snapshot and live, and announced for others", () => {
    const share = (seq, who, words, weather) => ({ type: "feelings.shared", seq, at: AT, round_id: "r1", turn_id: "t1", membership_id: who, words, weather });
    let s = loaded({ seq: 4, events: [chat(1, SAM, "hello"), share(4, "m-sam", ["tired", "hopeful"], 6)] });
    assert.equal(s.feelings.length, 1);
    assert.deepEqual(s.feelings[0].words, ["tired", "hopeful"]);
    const next = run(s, ev(share(5, "m-alex", [], 3)));
    assert.equal(next.feelings.at(-1).weather, 3);
    assert.equal(announcementFor(s, next, share(5, "m-alex", [], 3)), "Alex: weather 3");
    const mine = run(s, ev(share(5, "m-me", ["calm"], null)));
    assert.equal(announcementFor(s, mine, share(5, "m-me", ["calm"], null)), null);
    assert.equal(feelingsText(["tired", "hopeful"], 6), "tired, hopeful · weather 6");
    assert.equal(feelingsText([], null), "");
  });

  test("round.ended remembers the finished round (for 'passed twice')", () => {
    let s = run(loaded(), ev({ type: "round.started", seq: 4, at: AT, round: payload() }));
    s = run(s, ev({ type: "round.ended", seq: 5, at: AT, round_id: "r1", round: payload({ outcomes: ["passed", "done", "done"], current: null, ended: true }) }));
    assert.equal(s.round, null);
    assert.deepEqual(s.previousRound.outcomes, ["passed", "done", "done"]);
    const fresh = loaded({ seq: 5, events: [{ type: "round.ended", seq: 5, at: AT, round_id: "r1", round: payload({ outcomes: ["passed", null, null], ended: true }) }] });
    assert.equal(fresh.previousRound.id, "r1");
  });

  test("speaking stats count turns done and floor holds after the snapshot, never twice", () => {
    let s = loaded({ facilitator: FACBLOCK });
    s = run(s, ev({ type: "round.started", seq: 4, at: AT, round: payload() }));
    s = run(s, ev({ type: "turn.ended", seq: 5, at: "2025-01-01T10:01:30Z", round_id: "r1", turn_id: "t1", membership_id: "m-sam", outcome: "done", round: payload({ current: null }) }));
    assert.deepEqual(s.facilitator.speaking["m-sam"], { count: 2, seconds: 120 });
    const passed = run(s, ev({ type: "turn.ended", seq: 6, at: AT, round_id: "r1", turn_id: "t2", membership_id: "m-me", outcome: "passed" }));
    assert.equal(passed.facilitator.speaking["m-me"], undefined);
    s = run(s, ev({ type: "floor.granted", seq: 6, at: "2025-01-01T10:05:00Z", membership_id: "m-alex" }));
    s = run(s, ev({ type: "floor.released", seq: 7, at: "2025-01-01T10:06:00Z", membership_id: "m-alex" }));
    assert.deepEqual(s.facilitator.speaking["m-alex"], { count: 1, seconds: 60 });
    // A reconnect: the server counted up to seq 7 already; replaying 6 and 7 adds nothing.
    const resumed = run(s, { type: "resume", snapshot: snapshot({ seq: 7, facilitator: { ...FACBLOCK, speaking: { "m-alex": { count: 1, seconds: 60 } } }, events: [] }) });
    assert.deepEqual(resumed.facilitator.speaking["m-alex"], { count: 1, seconds: 60 });
    assert.equal(resumed.facilitator.asOfSeq, 7);
  });

  test("member.left (he left the circle) takes him out like member.removed", () => {
    const s = run(loaded(), ev({ type: "member.left", seq: 4, at: AT, membership_id: "m-sam" }));
    assert.equal(s.members.some((m) => m.membership_id === "m-sam"), false);
    assert.equal(s.present.includes("m-sam"), false);
  });

  test("resume keeps the step's start time as of lastSeq", () => {
    let s = run(loaded(), ev({ type: "phase.changed", seq: 4, at: AT, step: { id: 2, title: "Check-in" }, started_at: START }));
    s = run(s, { type: "resume", snapshot: snapshot({ seq: 4, meeting: { ...snapshot().meeting, step: { id: 2 }, step_started_at: START }, events: [] }) });
    assert.equal(s.meeting.step_started_at, START);
    assert.equal(s.meeting.step.title, "Check-in");
  });
});

test("a facilitator's snapshot brings back kept crisis alerts and flags", async () => {
  const { initialState, reduce } = await import("../../static/room/state.js");
  const snapshot = {
    type: "snapshot", seq: 3,
    meeting: { id: "m", circle: { name: "C", kind: "men", call_link: null }, status: "live", step: null },
    you: { membership_id: 1, alias: "Host", role: "facilitator" },
    members: [], present: [], round: null,
    queue: { queue: [], floor: null, mode: { talking_piece: false, progressive: false } },
    events: [],
    facilitator: {
      speaking: {}, prompts: [], coaching: [], intentions: {},
      alerts: [{ type: "alert.crisis", target_seq: 2, membership_id: 5, alias: "Sam", category: "suicide" }],
      reports: [{ type: "report.received", report_id: 9, target_seq: 3, reason: "", reporter: { membership_id: 6, alias: "Jo", role: "member" } }],
    },
  };
  const state = reduce(initialState(), { type: "snapshot", snapshot });
  assert.equal(state.alerts.length, 1);
  assert.equal(state.alerts[0].alias, "Sam");
  assert.equal(state.reports.length, 1);
  assert.equal(state.reports[0].report_id, 9);
});

// -- open flags and alerts (facilitators) ---------------------------------------------------

describe("open flags and alerts: counts, report.received, report.resolved", () => {
  const REPORTER = { membership_id: "m-sam", alias: "Sam", role: "member" };
  const report = (id, over = {}) => ({ type: "report.received", report_id: id, target_seq: 1, reason: "", reporter: REPORTER, at: AT, ...over });
  const alert = (seq, over = {}) => ({ type: "alert.crisis", target_seq: seq, membership_id: "m-sam", alias: "Sam", category: "suicide", at: AT, ...over });
  const facBlock = (over = {}) => ({
    speaking: {}, prompts: [], coaching: [], intentions: {},
    reports: [report(7), report(8)], reports_open: 23, alerts: [alert(1)], alerts_open: 4, ...over,
  });
  const asFac = (over) => loaded({ you: { ...FAC }, facilitator: facBlock(over) });

  test("the snapshot brings the newest open ones and how many are open in all", () => {
    const s = asFac();
    assert.deepEqual(s.reports.map((r) => r.report_id), [7, 8]);
    assert.equal(s.reportsOpen, 23);
    assert.equal(s.alertsOpen, 4);
  });

  test("without counts (an older server) the lists count themselves; members have none", () => {
    const s = asFac({ reports_open: undefined, alerts_open: undefined });
    assert.equal(s.reportsOpen, 2);
    assert.equal(s.alertsOpen, 1);
    assert.equal(loaded().reportsOpen, 0);
    assert.equal(loaded().alertsOpen, 0);
  });

  test("report.received adds the flag and takes the server's count", () => {
    const s = run(asFac(), ev(report(9, { reports_open: 24 })));
    assert.deepEqual(s.reports.map((r) => r.report_id), [7, 8, 9]);
    assert.equal(s.reportsOpen, 24);
    assert.equal("reports_open" in s.reports.at(-1), false);
    assert.equal(s.lastSeq, 3); // a private notice: no seq
  });

  test("report.received without a count adds one; the same report twice counts once", () => {
    let s = run(asFac(), ev(report(9)));
    assert.equal(s.reportsOpen, 24);
    s = run(s, ev(report(9)));
    s = run(s, ev(report(8)));
    assert.deepEqual(s.reports.map((r) => r.report_id), [7, 8, 9]);
    assert.equal(s.reportsOpen, 24);
  });

  test("report.resolved (from any facilitator) takes it off the list and sets the count", () => {
    const by = { membership_id: "m-other-fac", alias: "Kim", role: "facilitator" };
    const s = run(asFac(), ev({ type: "report.resolved", report_id: 7, by, reports_open: 22 }));
    assert.deepEqual(s.reports.map((r) => r.report_id), [8]);
    assert.equal(s.reportsOpen, 22);
  });

  test("report.resolved for an older flag not in the list only changes the count", () => {
    let s = run(asFac(), ev({ type: "report.resolved", report_id: 2, by: FAC, reports_open: 22 }));
    assert.deepEqual(s.reports.map((r) => r.report_id), [7, 8]);
    assert.equal(s.reportsOpen, 22);
    // without a count: one fewer, never below zero
    s = run(s, ev({ type: "report.resolved", report_id: 8, by: FAC }));
    assert.deepEqual(s.reports.map((r) => r.report_id), [7]);
    assert.equal(s.reportsOpen, 21);
    s = run(asFac({ reports: [], reports_open: 0 }), ev({ type: "report.resolved", report_id: 1, by: FAC }));
    assert.equal(s.reportsOpen, 0);
  });

  test("a reconnect's snapshot replaces the lists and counts", () => {
    let s = run(asFac(), ev(report(9, { reports_open: 24 })));
    s = run(s, { type: "resume", snapshot: snapshot({ you: { ...FAC }, facilitator: facBlock({ reports: [report(9)], reports_open: 1, alerts: [], alerts_open: 0 }) }) });
    assert.deepEqual(s.reports.map((r) => r.report_id), [9]);
    assert.equal(s.reportsOpen, 1);
    assert.equal(s.alertsOpen, 0);
  });

  test("alert.crisis adds one to the open count, once per message", () => {
    let s = run(asFac(), ev(alert(2)));
    assert.equal(s.alerts.length, 2);
    assert.equal(s.alertsOpen, 5);
    s = run(s, ev(alert(2)));
    assert.equal(s.alerts.length, 2);
    assert.equal(s.alertsOpen, 5);
  });

  test("announced: a new flag; another facilitator's 'looked at' (not my own)", () => {
    const s = asFac();
    const other = { type: "report.resolved", report_id: 7, by: { membership_id: "m-kim", alias: "Kim", role: "facilitator" }, reports_open: 22 };
    assert.equal(announcementFor(s, run(s, ev(other)), other), "Kim marked a flag as looked at.");
    const mine = { ...other, by: FAC };
    assert.equal(announcementFor(s, run(s, ev(mine)), mine), null);
    const received = report(9, { reports_open: 24 });
    assert.match(announcementFor(s, run(s, ev(received)), received), /reported/);
  });
});
