// Tests for static/room/socket.js with a fake WebSocket and fake timers (no network, no clock).
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import { createConnection, backoffDelay, BACKOFF_CAP_MS } from "../../static/room/socket.js";
import { initialState, reduce } from "../../static/room/state.js";

// -- fakes --------------------------------------------------------------------------------

class FakeWebSocket {
  static instances = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = false;
    FakeWebSocket.instances.push(this);
  }
  send(data) {
    if (this.closed) throw new Error("send on a closed socket");
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.serverClose(code);
  }
  // what the server does
  serverOpen() {
    this.onopen?.({});
  }
  serverSend(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  serverClose(code) {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({ code });
  }
  framesOfType(type) {
    return this.sent.filter((f) => f.type === type);
  }
}

function setup({ random = () => 0.5, clientIds } = {}) {
  FakeWebSocket.instances = [];
  const timers = [];
  const actions = [];
  let state = initialState();
  let n = 0;
  const conn = createConnection({
    url: "wss://hearth.test/ws/meetings/meet-1/",
    onAction: (a) => {
      actions.push(a);
      state = reduce(state, a);
    },
    WebSocketImpl: FakeWebSocket,
    setTimeoutImpl: (fn, ms) => {
      const t = { fn, ms, done: false };
      timers.push(t);
      return t;
    },
    clearTimeoutImpl: (t) => {
      t.done = true;
    },
    random,
    makeClientId: () => (clientIds ? clientIds[n++] : `cid-${++n}`),
  });
  return {
    conn,
    timers,
    actions,
    get state() {
      return state;
    },
    get ws() {
      return FakeWebSocket.instances.at(-1);
    },
    /** Runs the pending reconnect timer; returns its delay. */
    fireTimer() {
      const t = timers.find((x) => !x.done);
      assert.ok(t, "a timer is scheduled");
      t.done = true;
      t.fn();
      return t.ms;
    },
    pendingTimers: () => timers.filter((x) => !x.done),
    ofType: (type) => actions.filter((a) => a.type === type),
  };
}

const ME = { membership_id: "m-me", alias: "River", role: "member" };
const SAM = { membership_id: "m-sam", alias: "Sam", role: "member" };
const AT = "2025-01-01T10:00:00Z";
const chat = (seq, author, body, clientId = `x-${seq}`) => ({ type: "chat.message", seq, at: AT, author, body, client_id: clientId });
const chats = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => chat(from + i, SAM, `m${from + i}`));

function snapshot(seq, events = chats(Math.max(1, seq - 99), seq)) {
  return {
    type: "snapshot",
    seq,
    meeting: { id: "meet-1", circle: { name: "Circle", kind: "peer", call_link: null }, status: "live", step: null },
    you: ME,
    members: [{ ...ME, muted_until: null }, { ...SAM, muted_until: null }],
    present: ["m-me", "m-sam"],
    round: null,
    queue: { queue: [], floor: null, mode: { talking_piece: false, progressive: false } },
    events,
  };
}

/** Connects the current fake socket and delivers a snapshot. */
function join(t, snap) {
  t.ws.serverOpen();
  t.ws.serverSend(snap);
}

// -- backoff --------------------------------------------------------------------------------

describe("backoff", () => {
  test("backoffDelay doubles from 0.5 s to a 15 s cap, jittered in the upper half", () => {
    const top = () => 0.999999;
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((a) => backoffDelay(a, top)), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    const bottom = () => 0;
    assert.deepEqual([1, 2, 6].map((a) => backoffDelay(a, bottom)), [250, 500, 7500]);
    assert.equal(backoffDelay(30, top) <= BACKOFF_CAP_MS, true);
  });

  test("repeated failures wait longer each time, up to the cap", () => {
    const t = setup({ random: () => 0.999999 });
    const delays = [];
    for (let i = 0; i < 8; i++) {
      t.ws.serverClose(1006); // the server is unreachable
      delays.push(t.fireTimer());
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    assert.deepEqual(t.ofType("reconnecting").map((a) => a.attempt), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(FakeWebSocket.instances.length, 9);
    assert.equal(t.state.connection.status, "connecting");
  });

  test("jitter comes from the injected random", () => {
    const t = setup({ random: () => 0 });
    t.ws.serverClose(1006);
    assert.equal(t.fireTimer(), 250);
  });

  test("a snapshot resets the backoff", () => {
    const t = setup({ random: () => 0.999999 });
    t.ws.serverClose(1006);
    t.fireTimer();
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(0, []));
    t.ws.serverClose(1006);
    assert.equal(t.fireTimer(), 500);
  });

  test("an open that is closed before a snapshot does not reset the backoff", () => {
    const t = setup({ random: () => 0.999999 });
    t.ws.serverClose(1006);
    t.fireTimer();
    t.ws.serverOpen();
    t.ws.serverClose(1011);
    assert.equal(t.fireTimer(), 1000);
  });
});

// -- final close codes ---------------------------------------------------------------------

describe("close codes", () => {
  for (const code of [4401, 4403, 4404, 4409, 4410]) {
    test(`no reconnect after ${code}`, () => {
      const t = setup();
      join(t, snapshot(3));
      t.ws.serverClose(code);
      assert.equal(t.pendingTimers().length, 0);
      assert.equal(t.ofType("reconnecting").length, 0);
      assert.deepEqual(t.ofType("closed").at(-1), { type: "closed", code, final: true });
      assert.equal(t.state.connection.status, "closed");
      assert.equal(t.state.connection.final, true);
      assert.equal(t.conn.status, "closed");
    });
  }

  test("after 4409 (open elsewhere) reconnect() connects again when asked, and resumes", () => {
    const t = setup();
    join(t, snapshot(3));
    assert.equal(t.conn.reconnect(), false, "not while connected");
    t.ws.serverClose(4409);
    const clientId = t.conn.sendChat("written after the close");
    assert.equal(t.pendingTimers().length, 0);
    const before = FakeWebSocket.instances.length;

    assert.equal(t.conn.reconnect(), true);
    assert.equal(FakeWebSocket.instances.length, before + 1);
    assert.equal(t.conn.reconnect(), false, "not twice");
    assert.equal(t.state.connection.status, "connecting");
    assert.equal(t.state.connection.final, false);
    join(t, snapshot(5, chats(1, 5)));
    assert.equal(t.ofType("snapshot").length, 1, "the second snapshot resumes");
    assert.equal(t.ofType("resume").length, 1);
    assert.equal(t.state.lastSeq, 5);
    assert.equal(t.ws.framesOfType("chat.send")[0].client_id, clientId);
    assert.equal(t.conn.status, "open");

    // Closed again from elsewhere: still final.
    t.ws.serverClose(4409);
    assert.equal(t.pendingTimers().length, 0);
    assert.equal(t.conn.status, "closed");
  });

  test("other codes reconnect", () => {
    const t = setup();
    join(t, snapshot(3));
    t.ws.serverClose(1012);
    assert.deepEqual(t.ofType("closed").at(-1), { type: "closed", code: 1012, final: false });
    assert.equal(t.pendingTimers().length, 1);
    assert.equal(t.state.connection.status, "reconnecting");
  });

  test("close() stops for good", () => {
    const t = setup();
    join(t, snapshot(3));
    t.conn.close();
    assert.equal(t.pendingTimers().length, 0);
    assert.deepEqual(t.ofType("closed").at(-1), { type: "closed", code: 1000, final: true });
  });

  test("close() while waiting to reconnect cancels the timer", () => {
    const t = setup();
    t.ws.serverClose(1006);
    assert.equal(t.pendingTimers().length, 1);
    t.conn.close();
    assert.equal(t.pendingTimers().length, 0);
    assert.equal(FakeWebSocket.instances.length, 1);
  });
});

// -- snapshots, resync and the cursor -----------------------------------------------------

describe("reconnect and resync", () => {
  test("first connect: the snapshot replaces the state, no resync", () => {
    const t = setup();
    join(t, snapshot(3));
    assert.deepEqual(t.actions.map((a) => a.type), ["connecting", "open", "snapshot"]);
    assert.equal(t.conn.lastSeq, 3);
    assert.equal(t.ws.framesOfType("resync").length, 0);
    assert.equal(t.state.messages.length, 3);
  });

  test("after a reconnect, a resync is sent with the last seq seen when the snapshot doesn't cover the gap", () => {
    const t = setup();
    join(t, snapshot(3));
    t.ws.serverSend(chat(4, SAM, "four"));
    t.ws.serverSend(chat(5, SAM, "five"));
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(300)); // carries 201..300: 6..200 are missing
    assert.equal(t.ofType("resume").length, 1);
    const [resync] = t.ws.framesOfType("resync");
    assert.equal(resync.after, 5);
    assert.match(resync.id, /^c\d+$/);
    assert.equal(t.state.needsResync, true);

    t.ws.serverSend({ type: "events", seq: 300, events: chats(6, 300) });
    assert.equal(t.conn.lastSeq, 300);
    assert.equal(t.state.lastSeq, 300);
    assert.equal(t.state.needsResync, false);
    const seqs = t.state.messages.map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: 300 }, (_, i) => i + 1)); // nothing missed, nothing twice
    assert.equal(t.ws.framesOfType("resync").length, 1);
  });

  test("after a short outage the snapshot's own events are enough: no resync", () => {
    const t = setup();
    join(t, snapshot(3));
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(8));
    assert.equal(t.ws.framesOfType("resync").length, 0);
    assert.equal(t.conn.lastSeq, 8);
    assert.deepEqual(t.state.messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("a gap on a live connection sends one resync; later gaps wait for it", () => {
    const t = setup();
    join(t, snapshot(3));
    t.ws.serverSend(chat(6, SAM, "six"));
    t.ws.serverSend(chat(7, SAM, "seven"));
    assert.deepEqual(t.ws.framesOfType("resync").map((f) => f.after), [3]);
    t.ws.serverSend({ type: "events", seq: 7, events: chats(4, 7) });
    assert.equal(t.conn.lastSeq, 7);
    assert.equal(t.state.needsResync, false);
    assert.deepEqual(t.state.messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
    t.ws.serverSend(chat(8, SAM, "eight"));
    assert.equal(t.ws.framesOfType("resync").length, 1);
  });

  test("a reply split over several frames is waited for", () => {
    const t = setup();
    join(t, snapshot(3));
    t.ws.serverSend(chat(10, SAM, "ten"));
    t.ws.serverSend({ type: "events", seq: 10, events: chats(4, 6) });
    t.ws.serverSend(chat(11, SAM, "eleven")); // still a gap, but a resync is in flight
    assert.equal(t.ws.framesOfType("resync").length, 1);
    t.ws.serverSend({ type: "events", seq: 10, events: chats(7, 10) });
    // the reply is complete but 11 was skipped as a gap while waiting: ask again
    assert.deepEqual(t.ws.framesOfType("resync").map((f) => f.after), [3, 10]);
    t.ws.serverSend({ type: "events", seq: 11, events: chats(11, 11) });
    assert.equal(t.state.lastSeq, 11);
    assert.equal(t.state.needsResync, false);
  });

  test("events already seen are dispatched but change nothing", () => {
    const t = setup();
    join(t, snapshot(3));
    const before = t.state;
    t.ws.serverSend(chat(3, SAM, "again"));
    assert.equal(t.state, before);
    assert.equal(t.conn.lastSeq, 3);
  });

  test("presence and unknown frames pass through as events", () => {
    const t = setup();
    join(t, snapshot(3));
    t.ws.serverSend({ type: "presence.left", membership_id: "m-sam" });
    t.ws.serverSend({ type: "something.new", seq: 4, at: AT });
    assert.deepEqual(t.state.present, ["m-me"]);
    assert.equal(t.state.lastSeq, 4);
    assert.equal(t.state.log.at(-1).type, "something.new");
  });

  test("frames that are not JSON are ignored", () => {
    const t = setup();
    join(t, snapshot(3));
    const n = t.actions.length;
    t.ws.onmessage({ data: "<b>not json</b>" });
    assert.equal(t.actions.length, n);
  });
});

// -- the outbox -----------------------------------------------------------------------------

describe("outbox", () => {
  test("a message written while offline is sent after the snapshot", () => {
    const t = setup();
    const clientId = t.conn.sendChat("hello everyone");
    assert.equal(clientId, "cid-1");
    assert.equal(t.ws.sent.length, 0);
    assert.deepEqual(t.state.outbox.map((o) => o.client_id), ["cid-1"]);
    join(t, snapshot(3));
    assert.deepEqual(t.ws.framesOfType("chat.send").map(({ body, client_id }) => ({ body, client_id })), [
      { body: "hello everyone", client_id: "cid-1" },
    ]);
  });

  test("an unacknowledged message is re-sent after reconnect with the same client_id", () => {
    const t = setup();
    join(t, snapshot(3));
    t.conn.sendChat("are you there?");
    const first = t.ws.framesOfType("chat.send")[0];
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(3));
    const again = t.ws.framesOfType("chat.send")[0];
    assert.equal(again.client_id, first.client_id);
    assert.equal(again.body, "are you there?");
    assert.notEqual(again.id, first.id);

    // the server had already stored it: it acks with the first seq, and the echo arrives
    t.ws.serverSend({ type: "ack", ref: again.id, seq: 4 });
    t.ws.serverSend(chat(4, ME, "are you there?", first.client_id));
    assert.deepEqual(t.state.outbox, []);
    assert.equal(t.state.messages.filter((m) => m.client_id === first.client_id).length, 1);

    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(4));
    assert.equal(t.ws.framesOfType("chat.send").length, 0);
  });

  test("a message whose echo arrived is not re-sent even without an ack", () => {
    const t = setup();
    join(t, snapshot(3));
    const clientId = t.conn.sendChat("hi");
    t.ws.serverSend(chat(4, ME, "hi", clientId));
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(4));
    assert.equal(t.ws.framesOfType("chat.send").length, 0);
    assert.deepEqual(t.state.outbox, []);
  });

  test("a message delivered during the outage is recognised from the snapshot", () => {
    const t = setup();
    join(t, snapshot(3));
    const clientId = t.conn.sendChat("hi");
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(4, [...chats(1, 3), chat(4, ME, "hi", clientId)]));
    assert.equal(t.ws.framesOfType("chat.send").length, 0);
    assert.deepEqual(t.state.outbox, []);
  });

  for (const code of ["rate_limited", "busy"]) test(`a refused message (${code}) is kept as failed, not re-sent by itself, and can be retried`, () => {
    const t = setup();
    join(t, snapshot(3));
    const clientId = t.conn.sendChat("too fast");
    const frame = t.ws.framesOfType("chat.send")[0];
    t.ws.serverSend({ type: "error", ref: frame.id, code, message: "Slow down a little." });
    assert.deepEqual(t.ofType("error").at(-1), {
      type: "error", ref: frame.id, code, message: "Slow down a little.", client_id: clientId,
    });
    assert.equal(t.state.outbox[0].status, "failed");

    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(3));
    assert.equal(t.ws.framesOfType("chat.send").length, 0);

    assert.equal(t.conn.retryChat(clientId), true);
    const retry = t.ws.framesOfType("chat.send")[0];
    assert.equal(retry.client_id, clientId);
    assert.equal(t.state.outbox[0].status, "pending");

    t.conn.discardChat(clientId);
    assert.deepEqual(t.state.outbox, []);
    assert.equal(t.conn.retryChat(clientId), false);
  });

  test("send() of a chat.send frame goes through the outbox", () => {
    const t = setup();
    join(t, snapshot(3));
    const id = t.conn.send({ type: "chat.send", body: "via send", client_id: "my-own-id" });
    const [frame] = t.ws.framesOfType("chat.send");
    assert.equal(frame.id, id);
    assert.equal(frame.client_id, "my-own-id");
    assert.deepEqual(t.state.outbox.map((o) => o.client_id), ["my-own-id"]);
  });
});

// -- ids and refs ---------------------------------------------------------------------------

describe("frame ids", () => {
  test("send() numbers frames c1, c2, … and acks/errors come back with that ref", () => {
    const t = setup();
    join(t, snapshot(3));
    const a = t.conn.send({ type: "hand.raise" });
    const b = t.conn.send({ type: "reaction.send", target_seq: 2, kind: "heard" });
    assert.equal(a, "c1");
    assert.equal(b, "c2");
    assert.deepEqual(t.ws.sent, [
      { type: "hand.raise", id: "c1" },
      { type: "reaction.send", target_seq: 2, kind: "heard", id: "c2" },
    ]);
    t.ws.serverSend({ type: "ack", ref: "c2", seq: 4 });
    t.ws.serverSend({ type: "error", ref: "c1", code: "forbidden", message: "Not now." });
    assert.deepEqual(t.ofType("ack"), [{ type: "ack", ref: "c2", seq: 4 }]);
    assert.deepEqual(t.ofType("error"), [{ type: "error", ref: "c1", code: "forbidden", message: "Not now." }]);
    assert.equal(t.state.lastError.ref, "c1");
  });

  test("a chat ack carries the client_id so the state can match it", () => {
    const t = setup();
    join(t, snapshot(3));
    const clientId = t.conn.sendChat("hello");
    const frame = t.ws.framesOfType("chat.send")[0];
    t.ws.serverSend({ type: "ack", ref: frame.id, seq: 4 });
    assert.deepEqual(t.ofType("ack").at(-1), { type: "ack", ref: frame.id, seq: 4, client_id: clientId });
    assert.equal(t.state.outbox[0].status, "sent");
  });

  test("offline, a non-chat frame is not queued: an offline error with its ref follows", async () => {
    const t = setup();
    const id = t.conn.send({ type: "round.next", turn_id: "t1" });
    assert.equal(id, "c1");
    assert.equal(t.ofType("error").length, 0); // the caller learns the id first
    await Promise.resolve();
    assert.deepEqual(t.ofType("error"), [{ type: "error", ref: "c1", code: "offline", message: t.ofType("error")[0].message }]);
    join(t, snapshot(3));
    assert.equal(t.ws.framesOfType("round.next").length, 0);
  });

  test("frames in flight when the connection drops are reported as unconfirmed", () => {
    const t = setup();
    join(t, snapshot(3));
    const id = t.conn.send({ type: "floor.release" });
    t.ws.serverClose(1006);
    const err = t.ofType("error").at(-1);
    assert.equal(err.ref, id);
    assert.equal(err.code, "disconnected");
  });

  test("ids keep counting across reconnects", () => {
    const t = setup();
    join(t, snapshot(3));
    t.conn.send({ type: "hand.raise" });
    t.ws.serverClose(1006);
    t.fireTimer();
    join(t, snapshot(3));
    assert.equal(t.conn.send({ type: "hand.lower" }), "c2");
  });
});

describe("the device's network", () => {
  function setupWithNetwork() {
    const network = new EventTarget();
    FakeWebSocket.instances = [];
    const timers = [];
    const actions = [];
    const conn = createConnection({
      url: "wss://hearth.test/ws/meetings/meet-1/",
      onAction: (a) => actions.push(a),
      WebSocketImpl: FakeWebSocket,
      setTimeoutImpl: (fn, ms) => {
        const t = { fn, ms, done: false };
        timers.push(t);
        return t;
      },
      clearTimeoutImpl: (t) => {
        t.done = true;
      },
      random: () => 0.5,
      network,
    });
    return { conn, network, timers, actions, ws: () => FakeWebSocket.instances.at(-1) };
  }

  test("going offline drops the socket at once and says so", () => {
    const t = setupWithNetwork();
    t.ws().serverOpen();
    t.ws().serverSend(snapshot(3));
    const first = t.ws();
    t.network.dispatchEvent(new Event("offline"));
    assert.equal(first.closed, true);
    assert.equal(t.conn.status, "reconnecting");
    assert.ok(t.actions.some((a) => a.type === "closed" && a.final === false));
  });

  test("coming back online reconnects without waiting for the backoff", () => {
    const t = setupWithNetwork();
    t.ws().serverOpen();
    t.ws().serverSend(snapshot(3));
    t.network.dispatchEvent(new Event("offline"));
    const sockets = FakeWebSocket.instances.length;
    t.network.dispatchEvent(new Event("online"));
    assert.equal(FakeWebSocket.instances.length, sockets + 1);
    assert.ok(t.timers.every((x) => x.done), "the pending backoff timer was cancelled");
  });

  test("after close() network events do nothing", () => {
    const t = setupWithNetwork();
    t.ws().serverOpen();
    t.conn.close();
    const sockets = FakeWebSocket.instances.length;
    t.network.dispatchEvent(new Event("online"));
    assert.equal(FakeWebSocket.instances.length, sockets);
  });
});
