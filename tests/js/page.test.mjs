// Tests for the room page's smaller modules (static/room/*.js besides state, view, socket):
// their pure parts, and their wiring with fakes for the page (no DOM, no clock, no network).
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import { initialState, reduce } from "../../static/room/state.js";
import { collectRefs, explainerKey, readConfig, socketUrl } from "../../static/room/config.js";
import { readFlag, writeFlag } from "../../static/room/local-flags.js";
import { createAnnouncer, createStatusLine } from "../../static/room/announce.js";
import { createScheduler, focusAfterRender, startClock } from "../../static/room/schedule.js";
import { createUiState, freshPicker, toggleFamily, toggleWord } from "../../static/room/ui.js";
import { CHAT_MAX, chatVerdict, isSendKey, roundSettings, roundStartFrame } from "../../static/room/forms.js";
import { shortcutFor } from "../../static/room/shortcuts.js";
import { createActions, toId } from "../../static/room/actions.js";
import { createRequests } from "../../static/room/requests.js";
import { afterAction } from "../../static/room/after-action.js";

// -- fakes --------------------------------------------------------------------------------

/** Timers run by hand, in order of their due time. */
function fakeTimers() {
  let now = 0;
  let timers = [];
  return {
    setTimeoutImpl: (fn, ms) => {
      const t = { fn, at: now + ms };
      timers.push(t);
      return t;
    },
    clearTimeoutImpl: (t) => { timers = timers.filter((x) => x !== t); },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        timers = timers.filter((t) => t !== next);
        now = next.at;
        next.fn();
      }
      now = until;
    },
  };
}

/** A room object as room.js builds it, with recording fakes. */
function fakeRoom(state = initialState()) {
  const said = [];
  const sent = [];
  const focused = [];
  const room = {
    root: { dataset: {} },
    config: { wsPath: "/ws/meetings/m/", meetingId: "m", dashboardUrl: "/d/", loginUrl: "/l/", roomPath: "/meetings/m/" },
    refs: {},
    hasConsole: true,
    ui: createUiState(),
    state,
    conn: { reconnect: () => true, retryChat: () => true, discardChat: () => {} },
    dispatch: () => {},
    send: (area, frame, onAck, onError) => { sent.push({ area, frame, onAck, onError }); return `c${sent.length}`; },
    announce: (text) => { if (text) said.push(text); },
    showStatus: (text) => said.push(`status: ${text}`),
    scheduleRender: () => {},
    renderNow: () => {},
    focusAfterRender: (selector) => focused.push(selector),
  };
  return { room, said, sent, focused };
}

// -- config and local flags -----------------------------------------------------------------

describe("config.js", () => {
  const root = { dataset: { wsPath: "/ws/meetings/abc/", meetingId: "abc", dashboardUrl: "/circles/", loginUrl: "/accounts/login/", roomPath: "" } };
  test("reads the data- attributes; the room path falls back to the location", () => {
    const config = readConfig(root, { pathname: "/meetings/abc/" });
    assert.deepEqual(config, { wsPath: "/ws/meetings/abc/", meetingId: "abc", dashboardUrl: "/circles/", loginUrl: "/accounts/login/", roomPath: "/meetings/abc/" });
    assert.equal(explainerKey(config), "hearth:round-explainer-dismissed:abc");
  });
  test("the socket URL follows the page's scheme and host", () => {
    const config = readConfig(root, { pathname: "/" });
    assert.equal(socketUrl(config, { protocol: "https:", host: "hearth.example" }), "wss://hearth.example/ws/meetings/abc/");
    assert.equal(socketUrl(config, { protocol: "http:", host: "127.0.0.1:8000" }), "ws://127.0.0.1:8000/ws/meetings/abc/");
  });
  test("refs by data-ref", () => {
    const a = { dataset: { ref: "live" } };
    const b = { dataset: { ref: "status-line" } };
    assert.deepEqual(collectRefs({ querySelectorAll: () => [a, b] }), { live: a, "status-line": b });
  });
});

describe("local-flags.js", () => {
  test("a flag is set once written", () => {
    const store = new Map();
    const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
    assert.equal(readFlag("k", storage), false);
    writeFlag("k", storage);
    assert.equal(readFlag("k", storage), true);
  });
  test("a storage that refuses (private mode) reads as unset and writes nothing, quietly", () => {
    const refusing = { getItem: () => { throw new Error("denied"); }, setItem: () => { throw new Error("denied"); } };
    assert.equal(readFlag("k", refusing), false);
    assert.doesNotThrow(() => writeFlag("k", refusing));
    assert.equal(readFlag("k", undefined), false);
  });
});

// -- announcements and scheduling -----------------------------------------------------------

describe("announce.js", () => {
  test("announcements close together are read as one, after emptying the region", () => {
    const timers = fakeTimers();
    const live = { textContent: "old" };
    const announce = createAnnouncer(live, timers);
    announce("Sam: hello");
    announce(null);
    timers.advance(100);
    announce("It's your turn. Take your time.");
    timers.advance(150);
    assert.equal(live.textContent, "", "emptied first, so a repeated message is read again");
    timers.advance(60);
    assert.equal(live.textContent, "Sam: hello It's your turn. Take your time.");
  });
  test("the status line shows for 8 s and announces unless quiet", () => {
    const timers = fakeTimers();
    const said = [];
    const line = { textContent: "", hidden: true };
    const show = createStatusLine(line, (t) => said.push(t), timers);
    show("Hands open when the circle does.");
    show("Thanks — passing is always fine.", { quiet: true });
    assert.equal(line.textContent, "Thanks — passing is always fine.");
    assert.equal(line.hidden, false);
    assert.deepEqual(said, ["Hands open when the circle does."]);
    timers.advance(7999);
    assert.equal(line.hidden, false);
    timers.advance(1);
    assert.equal(line.hidden, true);
  });
});

describe("schedule.js", () => {
  test("many changes before a frame make one render", () => {
    const frames = [];
    let renders = 0;
    const s = createScheduler({ render: () => { renders += 1; }, requestFrame: (fn) => frames.push(fn) });
    s.schedule();
    s.schedule();
    assert.equal(frames.length, 1);
    frames.shift()();
    assert.equal(renders, 1);
    s.schedule();
    assert.equal(frames.length, 1, "a new frame after the render");
    s.renderNow();
    assert.equal(renders, 2);
  });
  test("the clock renders once a second, only once the room is ready", () => {
    let tick = null;
    let renders = 0;
    let ready = false;
    startClock(() => { renders += 1; }, () => ready, (fn, ms) => { assert.equal(ms, 1000); tick = fn; });
    tick();
    assert.equal(renders, 0);
    ready = true;
    tick();
    assert.equal(renders, 1);
  });
  test("focus waits for the render after this one", () => {
    const frames = [];
    const focused = [];
    const root = { querySelector: (sel) => ({ focus: () => focused.push(sel) }) };
    focusAfterRender(root, "#message-input", (fn) => frames.push(fn));
    frames.shift()();
    assert.deepEqual(focused, []);
    frames.shift()();
    assert.deepEqual(focused, ["#message-input"]);
  });
});

// -- the page's own state, forms, keys ------------------------------------------------------

describe("ui.js: the feelings picker", () => {
  test("a family opens and closes; words toggle, at most the maximum", () => {
    let p = toggleFamily(freshPicker(), "sad");
    assert.equal(p.open, "sad");
    assert.equal(toggleFamily(p, "sad").open, null);
    assert.equal(toggleFamily(p, "glad").open, "glad");
    for (const w of ["low", "tired", "calm"]) p = toggleWord(p, w, 2);
    assert.deepEqual(p.words, ["low", "tired"]);
    p = toggleWord(p, "low", 2);
    assert.deepEqual(p.words, ["tired"]);
  });
});

describe("forms.js", () => {
  test("plain Enter sends; Shift+Enter, modifiers and IME composition don't", () => {
    assert.equal(isSendKey({ key: "Enter" }), true);
    assert.equal(isSendKey({ key: "Enter", shiftKey: true }), false);
    assert.equal(isSendKey({ key: "Enter", ctrlKey: true }), false);
    assert.equal(isSendKey({ key: "Enter", isComposing: true }), false);
    assert.equal(isSendKey({ key: "a" }), false);
  });
  test("the composer's verdict: send trimmed, nothing when empty, say why otherwise", () => {
    const open = { enabled: true, reason: null };
    assert.deepEqual(chatVerdict("  hello \n", open), { send: "hello" });
    assert.equal(chatVerdict("   ", open), null);
    assert.deepEqual(chatVerdict("x".repeat(CHAT_MAX + 1), open), { error: "That's longer than 2,000 characters. Could you split it in two?", announce: false });
    assert.deepEqual(chatVerdict("hi", { enabled: false, reason: "It's Sam's turn." }), { error: "It's Sam's turn.", announce: true });
  });
  test("round.start from the form: own words, else the pushed prompt", () => {
    const f = {
      kind: { value: "check_in" }, order: { value: "random" }, seconds: { value: "120" }, quiet: { checked: true }, prompt: { value: "  " },
    };
    assert.deepEqual(roundSettings(f), { order: "random", seconds_per_turn: 120, quiet_seconds: 60 });
    const state = { ...initialState(), prompt: { id: 10, text: "What did you do today?" } };
    assert.deepEqual(roundStartFrame(f, state), { type: "round.start", kind: "check_in", order: "random", seconds_per_turn: 120, quiet_seconds: 60, prompt_id: 10 });
    assert.equal(roundStartFrame({ ...f, prompt: { value: " Mine " } }, state).prompt, "Mine");
    const noLimit = roundStartFrame({ ...f, seconds: { value: "" }, quiet: { checked: false } }, initialState());
    assert.deepEqual(noLimit, { type: "round.start", kind: "check_in", order: "random", seconds_per_turn: null, quiet_seconds: null });
  });
});

describe("shortcuts.js", () => {
  test("Alt+H/M/N by key position, Esc; nothing with Ctrl or Meta", () => {
    assert.equal(shortcutFor({ key: "Escape", code: "Escape" }), "escape");
    assert.equal(shortcutFor({ key: "˙", code: "KeyH", altKey: true }), "hand");
    assert.equal(shortcutFor({ key: "m", code: "KeyM", altKey: true }), "message");
    assert.equal(shortcutFor({ key: "n", code: "KeyN", altKey: true }), "now");
    assert.equal(shortcutFor({ key: "h", code: "KeyH" }), null);
    assert.equal(shortcutFor({ key: "h", code: "KeyH", altKey: true, ctrlKey: true }), null);
    assert.equal(shortcutFor({ key: "x", code: "KeyX", altKey: true }), null);
  });
});

// -- actions, requests, after each action ---------------------------------------------------

describe("actions.js", () => {
  test("ids from data- attributes: digits become numbers", () => {
    assert.equal(toId("42"), 42);
    assert.equal(toId(7), 7);
    assert.equal(toId("m-sam"), "m-sam");
    assert.equal(toId(undefined), undefined);
  });
  test("'Mark as looked at' sends report.resolve for that flag's area, and thanks on ack", () => {
    const { room, sent, said } = fakeRoom();
    createActions(room)["report-resolve"]({ reportId: "9" });
    assert.equal(sent.length, 1);
    assert.equal(sent[0].area, "report:9");
    assert.deepEqual(sent[0].frame, { type: "report.resolve", report_id: 9 });
    sent[0].onAck({});
    assert.deepEqual(said, ["Marked as looked at."]);
  });
  test("'Use this window instead' reconnects, then focus goes on from where it was pressed", () => {
    const { room, focused } = fakeRoom();
    let asked = 0;
    room.conn.reconnect = () => { asked += 1; return asked !== 2; };
    const actions = createActions(room);
    actions.reconnect({});
    actions.reconnect({}); // already connecting: nothing to follow
    actions.reconnect({ from: "composer" });
    assert.equal(asked, 3);
    assert.deepEqual(focused, ["#room-now", "#message-input"]);
  });
  test("feelings words stop at six", () => {
    const { room } = fakeRoom();
    const actions = createActions(room);
    for (const word of ["low", "tired", "lonely", "hurt", "calm", "proud", "scared"]) actions["feelings-word"]({ word });
    assert.equal(room.ui.picker.words.length, 6);
  });
});

describe("requests.js", () => {
  function setup() {
    const ui = createUiState();
    const said = [];
    const frames = [];
    const requests = createRequests({
      ui,
      conn: () => ({ send: (frame) => { frames.push(frame); return `c${frames.length}`; } }),
      announce: (t) => said.push(t),
      showStatus: (t) => said.push(`status: ${t}`),
      scheduleRender: () => {},
    });
    return { ui, said, frames, requests };
  }
  test("an error shows in the frame's area and is announced; the next send clears it", () => {
    const { ui, said, requests } = setup();
    let failed = 0;
    const ref = requests.send("queue", { type: "floor.release" }, undefined, () => { failed += 1; });
    requests.answer({ type: "error", ref, code: "conflict", message: "Nobody holds the floor." }, false);
    assert.equal(ui.errors.queue, "Nobody holds the floor.");
    assert.deepEqual(said, ["Nobody holds the floor."]);
    assert.equal(failed, 1);
    requests.send("queue", { type: "floor.release" });
    assert.equal(ui.errors.queue, undefined);
  });
  test("an ack runs the follow-up once", () => {
    const { requests } = setup();
    let acks = 0;
    const ref = requests.send("hand", { type: "hand.raise" }, () => { acks += 1; });
    requests.answer({ type: "ack", ref }, true);
    requests.answer({ type: "ack", ref }, true);
    assert.equal(acks, 1);
  });
  test("a refused chat message (busy, like rate_limited) is announced with the server's words; other strays go to the status line", () => {
    const { said, requests } = setup();
    requests.answer({ type: "error", ref: "c9", code: "busy", message: "We're busy, try again in a moment.", client_id: "x" }, false);
    requests.answer({ type: "error", ref: null, code: "invalid", message: "That didn't work." }, false);
    assert.deepEqual(said, ["Your message wasn't sent: We're busy, try again in a moment.", "status: That didn't work."]);
  });
});

describe("after-action.js", () => {
  function snap() {
    return {
      type: "snapshot", seq: 1,
      meeting: { id: "m", circle: { name: "C", kind: "men", call_link: null }, status: "live", step: null },
      you: { membership_id: 1, alias: "Tom", role: "facilitator" },
      members: [], present: [], round: null,
      queue: { queue: [], floor: null, mode: { talking_piece: false, progressive: false } },
      events: [],
    };
  }
  function step(room, action, requests = { answer: () => {} }) {
    const prev = room.state;
    room.state = reduce(prev, action);
    afterAction(room, prev, action, requests);
  }
  test("a snapshot marks the room ready and its status", () => {
    const { room } = fakeRoom();
    step(room, { type: "open" });
    step(room, { type: "snapshot", snapshot: snap() });
    assert.equal(room.root.dataset.ready, "true");
    assert.equal(room.root.dataset.status, "live");
  });
  test("4409 is announced in plain words through the live region; taking it back says we're back", () => {
    const { room, said } = fakeRoom();
    step(room, { type: "open" });
    step(room, { type: "snapshot", snapshot: snap() });
    step(room, { type: "closed", code: 4409, final: true });
    assert.deepEqual(said, ["This circle is open in another window or on another device, so we closed it here."]);
    step(room, { type: "connecting", attempt: 0 });
    step(room, { type: "open" });
    step(room, { type: "resume", snapshot: snap() });
    assert.equal(said.at(-1), "Back in the room.");
  });
  test("acks and errors go to the frame that asked", () => {
    const { room } = fakeRoom();
    const answers = [];
    const requests = { answer: (a, ok) => answers.push([a.ref, ok]) };
    step(room, { type: "ack", ref: "c1", seq: null }, requests);
    step(room, { type: "error", ref: "c2", code: "busy", message: "Busy." }, requests);
    assert.deepEqual(answers, [["c1", true], ["c2", false]]);
  });
});
