// The meeting room's websocket (PROTOCOL.md): JSON frames in, actions out, in arrival order.
// Its cursor (lastSeq) follows state.js's seqStatus rule, so across reconnects nothing is missed
// and nothing applies twice. Unsent chat is re-sent with the SAME client_id (the server
// de-duplicates). Close codes 4401/4403/4404/4409/4410 are final: no reconnect by itself
// (after 4409, "open in another window", the person may choose reconnect()). No HTML is built
// from server data.
//
// Reconnect sequence (the server sends a `snapshot` on every connect):
//  1. First snapshot of this connection object: dispatch {type:"snapshot"} (replace state).
//  2. Any later snapshot (a reconnect, same meeting): dispatch {type:"resume"}. The state
//     keeps what events build as of lastSeq (messages already on screen stay), takes what
//     has no events (you, roster, presence) from the snapshot, and replays the snapshot's
//     events after lastSeq. If those don't reach back to lastSeq + 1 (more than ~100 events
//     were missed), send {"type":"resync","after":lastSeq} and apply the `events` reply.
//     We don't send resync before the snapshot: the snapshot usually covers a short outage
//     without a round trip, and its seq tells us how far the resync has to go.
//  3. Then re-send the outbox (every unsent chat message, same client_id, new frame id).
// A seq gap on a live connection triggers the same resync. One resync is in flight at a
// time; a reply may be split over several `events` frames, ending when the last event's
// seq reaches the frame's `seq` (the server's latest).

import { isFinalCloseCode, seqStatus } from "./state.js";

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 15_000;

/**
 * The wait before reconnect attempt `attempt` (1, 2, …): 0.5 s doubling to a 15 s cap, with
 * "equal jitter" (a random point in the upper half) so a room of clients dropped together
 * doesn't come back in one burst.
 * @param {number} attempt 1-based
 * @param {() => number} [random] returns [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

/** @param {() => number} random @returns {string} */
function defaultClientId(random) {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const part = () => Math.floor(random() * 2 ** 32).toString(36);
  return `m-${Date.now().toString(36)}-${part()}${part()}`;
}

/**
 * @typedef {object} Connection
 * @property {(frame: {type: string, [key: string]: any}) => string|null} send
 *   Sends a frame with a fresh id ("c1", "c2", …) and returns that id, which comes back as
 *   `ref` on its ack or error. When offline, non-chat frames are not queued (a stale
 *   facilitator action must not fire later): an error action {code:"offline"} follows with
 *   that ref. A `chat.send` frame goes through the outbox (see sendChat) and returns the id
 *   it was sent under now, or null if it waits for the connection.
 * @property {(body: string, clientId?: string) => string} sendChat
 *   Queues a chat message (dispatches queue_message), sends it when connected, and returns
 *   its client_id.
 * @property {(clientId: string) => boolean} retryChat  re-sends a failed message, same client_id
 * @property {(clientId: string) => void} discardChat   forgets an unsent message
 * @property {(after?: number) => string|null} resync   asks for events after `after` (default lastSeq)
 * @property {() => void} close                          closes for good (no reconnect)
 * @property {() => boolean} reconnect
 *   After a final close (or close()), connects again because the person asked (4409: "use this
 *   window instead"). Resumes like any reconnect: same cursor, outbox re-sent. False, doing
 *   nothing, while the connection is still alive or trying.
 * @property {number} lastSeq                            read-only cursor
 * @property {"connecting"|"open"|"reconnecting"|"closed"} status  read-only
 */

/**
 * Opens the connection and keeps it open until close() or a final close code.
 * One long factory on purpose: the connection's private state (the socket, the cursor, the
 * outbox, the frames in flight) is shared by the short functions inside it, each of which
 * stays small; a class would only put `this.` before every name.
 * @param {object} options
 * @param {string} options.url                         e.g. `wss://host/ws/meetings/<uuid>/`
 * @param {(action: {type: string, [key: string]: any}) => void} options.onAction  usually dispatch → reduce
 * @param {any} [options.WebSocketImpl]                a WebSocket-compatible class
 * @param {(fn: () => void, ms: number) => any} [options.setTimeoutImpl]
 * @param {(handle: any) => void} [options.clearTimeoutImpl]
 * @param {() => number} [options.random]              for jitter, [0, 1)
 * @param {() => string} [options.makeClientId]        for chat client_ids (≤ 64 chars)
 * @param {any} [options.network]                      emits "offline"/"online" (default: window)
 * @returns {Connection}
 */
export function createConnection({
  url,
  onAction,
  WebSocketImpl = globalThis.WebSocket,
  setTimeoutImpl = (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeoutImpl = (handle) => globalThis.clearTimeout(handle),
  random = Math.random,
  makeClientId = () => defaultClientId(random),
  network = globalThis.window,
}) {
  /** @type {any} */ let ws = null;
  let isOpen = false; // the current socket has opened
  let status = /** @type {Connection["status"]} */ ("connecting");
  let stopped = false; // close() called or a final code: never reconnect
  let attempt = 0;
  let timer = null;
  let nextId = 1;

  let cursor = 0; // last seq applied (mirrors state.lastSeq)
  let highest = 0; // highest seq heard of
  let hasSnapshot = false; // a snapshot was applied by this connection object
  let meetingId = null;
  let me = null; // my membership_id, to recognise my chat echoes
  /** @type {string|null} */ let resyncRef = null; // the resync in flight

  /** Outbox: client_id → {body, ref (frame id on the current socket, or null), failed}. */
  const outbox = new Map();
  /** Frames sent on the current socket, awaiting ack/error: ref → {type, client_id?}. */
  const pending = new Map();

  const dispatch = (action) => {
    try {
      onAction(action);
    } catch (err) {
      // A failing UI must not break the connection's own bookkeeping.
      globalThis.console?.error?.(err);
    }
  };

  const newId = () => `c${nextId++}`;

  function rawSend(frame) {
    ws.send(JSON.stringify(frame));
  }

  // -- connecting and reconnecting ------------------------------------------------------

  function connect() {
    timer = null;
    if (stopped) return;
    status = attempt === 0 ? "connecting" : "reconnecting";
    dispatch({ type: "connecting", attempt });
    let socket;
    try {
      socket = new WebSocketImpl(url);
    } catch {
      ws = null;
      scheduleReconnect();
      return;
    }
    ws = socket;
    socket.onopen = () => {
      if (ws !== socket) return;
      isOpen = true;
      status = "open";
      dispatch({ type: "open" });
    };
    socket.onmessage = (ev) => {
      if (ws !== socket) return;
      let frame;
      try {
        frame = JSON.parse(typeof ev.data === "string" ? ev.data : String(ev.data));
      } catch {
        return; // not JSON: nothing the protocol sends; ignore
      }
      if (frame && typeof frame === "object" && typeof frame.type === "string") handleFrame(frame);
    };
    socket.onerror = () => {}; // a close event always follows
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      handleClose(typeof ev?.code === "number" ? ev.code : 1006);
    };
  }

  function handleClose(code) {
    ws = null;
    isOpen = false;
    resyncRef = null;
    // Frames in flight on the dead socket will get no answer. Chat stays in the outbox
    // (re-sent after reconnect); anything else is reported so the UI stops waiting.
    for (const [ref, info] of pending) {
      if (info.type === "chat.send" || info.type === "resync") continue;
      dispatch({ type: "error", ref, code: "disconnected", message: "The connection dropped before this was confirmed. It may not have gone through." });
    }
    pending.clear();
    for (const entry of outbox.values()) entry.ref = null;

    const final = stopped || isFinalCloseCode(code);
    dispatch({ type: "closed", code, final });
    if (final) {
      stopped = true;
      status = "closed";
      return;
    }
    scheduleReconnect();
  }

  // -- the device's network ---------------------------------------------------------------
  // A socket can outlive a dropped network for minutes before TCP notices. When the
  // device says it went offline, treat the socket as lost now (the UI says
  // "reconnecting…" and keeps what is typed); when it is back, reconnect at once.

  function wentOffline() {
    if (stopped || !ws) return;
    const socket = ws;
    handleClose(1006);
    try {
      socket.close();
    } catch {
      // already closing
    }
  }

  function cameOnline() {
    if (stopped || ws || timer == null) return;
    clearTimeoutImpl(timer);
    connect();
  }

  network?.addEventListener?.("offline", wentOffline);
  network?.addEventListener?.("online", cameOnline);

  function scheduleReconnect() {
    attempt += 1;
    const delay = backoffDelay(attempt, random);
    status = "reconnecting";
    dispatch({ type: "reconnecting", attempt, delay });
    timer = setTimeoutImpl(connect, delay);
  }

  // -- incoming frames -------------------------------------------------------------------

  function handleFrame(frame) {
    switch (frame.type) {
      case "snapshot":
        return handleSnapshot(frame);
      case "events":
        return handleEvents(frame);
      case "ack":
        return handleAnswer(frame, { type: "ack", ref: frame.ref ?? null, seq: frame.seq });
      case "error":
        return handleAnswer(frame, { type: "error", ref: frame.ref ?? null, code: frame.code, message: frame.message });
      default:
        // Every other frame is an event, known or not (unknown ones are logged by state.js).
        track(frame);
        dispatch({ type: "event", event: frame });
        if (resyncRef == null && highest > cursor) sendResync();
        return undefined;
    }
  }

  /** Moves the cursor over one event exactly as state.js does. @returns {boolean} applied */
  function track(ev) {
    const s = seqStatus(cursor, ev.seq);
    if (s === "gap") highest = Math.max(highest, ev.seq);
    if (s !== "next" && s !== "unsequenced") return false;
    if (s === "next") {
      cursor = ev.seq;
      highest = Math.max(highest, cursor);
    }
    if (ev.type === "chat.message" && me != null && ev.author?.membership_id === me && ev.client_id != null) {
      outbox.delete(ev.client_id); // delivered
    }
    return true;
  }

  function handleSnapshot(snap) {
    attempt = 0; // the server is answering properly: the next outage starts from 0.5 s again
    const events = (Array.isArray(snap.events) ? snap.events : [])
      .filter((e) => e && typeof e.type === "string")
      .slice()
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    const seq = typeof snap.seq === "number" ? snap.seq : 0;
    const sameMeeting = meetingId != null && snap.meeting?.id === meetingId;
    me = snap.you?.membership_id ?? me;

    if (!hasSnapshot || !sameMeeting || seq < cursor) {
      // First contact (or a different/reset meeting): the snapshot is the whole truth.
      hasSnapshot = true;
      meetingId = snap.meeting?.id ?? null;
      cursor = seq;
      highest = seq;
      for (const ev of events) {
        if (ev.type === "chat.message" && ev.author?.membership_id === me && ev.client_id != null) outbox.delete(ev.client_id);
      }
      dispatch({ type: "snapshot", snapshot: snap });
    } else {
      // Reconnect: replay what the snapshot carries after our cursor, resync the rest.
      highest = Math.max(highest, seq);
      for (const ev of events) track(ev);
      dispatch({ type: "resume", snapshot: snap });
      if (highest > cursor) sendResync();
    }
    flushOutbox();
  }

  function handleEvents(frame) {
    const events = Array.isArray(frame.events) ? frame.events : [];
    const before = cursor;
    for (const ev of events) if (ev && typeof ev.type === "string") track(ev);
    if (typeof frame.seq === "number") highest = Math.max(highest, frame.seq);
    dispatch({ type: "events", events, seq: frame.seq });

    const last = events.length ? events[events.length - 1]?.seq : null;
    const complete = typeof frame.seq !== "number" || events.length === 0 || (typeof last === "number" && last >= frame.seq);
    if (!complete) return; // more `events` frames of this reply are on their way
    if (resyncRef != null) pending.delete(resyncRef);
    resyncRef = null;
    // Still behind (events that arrived during the resync were skipped as gaps): go again,
    // but only if this round made progress, so a misbehaving server can't make us loop.
    if (highest > cursor && cursor > before) sendResync();
  }

  function handleAnswer(frame, action) {
    const ref = action.ref;
    const info = ref != null ? pending.get(ref) : undefined;
    if (info) pending.delete(ref);
    if (info?.type === "resync") {
      if (action.type === "error") resyncRef = null;
    }
    if (info?.type === "chat.send") {
      action.client_id = info.client_id;
      const entry = outbox.get(info.client_id);
      if (entry && entry.ref === ref) {
        if (action.type === "ack") outbox.delete(info.client_id);
        else {
          // Refused (muted, not your turn, rate_limited, busy…): keep it for retryChat(), but
          // don't re-send it by itself after a reconnect, out of its moment.
          entry.failed = true;
          entry.ref = null;
        }
      }
    }
    dispatch(action);
  }

  // -- outgoing frames -------------------------------------------------------------------

  function sendResync(after = cursor) {
    if (!isOpen) return null;
    const id = newId();
    resyncRef = id;
    pending.set(id, { type: "resync" });
    rawSend({ type: "resync", after, id });
    return id;
  }

  function sendChatFrame(clientId) {
    const entry = outbox.get(clientId);
    if (!entry || !isOpen) return null;
    const id = newId();
    entry.ref = id;
    entry.failed = false;
    pending.set(id, { type: "chat.send", client_id: clientId });
    rawSend({ type: "chat.send", id, body: entry.body, client_id: clientId });
    return id;
  }

  function flushOutbox() {
    for (const [clientId, entry] of outbox) {
      if (entry.ref == null && !entry.failed) sendChatFrame(clientId);
    }
  }

  function queueChat(body, clientId) {
    const id = clientId ?? makeClientId();
    if (!outbox.has(id)) outbox.set(id, { body: String(body ?? ""), ref: null, failed: false });
    dispatch({ type: "queue_message", client_id: id, body: outbox.get(id).body });
    return id;
  }

  /** @type {Connection["send"]} */
  function send(frame) {
    if (!frame || typeof frame.type !== "string") throw new TypeError("send() needs a frame with a type");
    if (frame.type === "chat.send") {
      const clientId = queueChat(frame.body, frame.client_id);
      return hasSnapshot ? sendChatFrame(clientId) : null;
    }
    const id = newId();
    if (!isOpen) {
      // Let the caller learn the id before hearing about it.
      queueMicrotask(() => dispatch({ type: "error", ref: id, code: "offline", message: "You're offline right now. We're reconnecting; please try again in a moment." }));
      return id;
    }
    pending.set(id, { type: frame.type });
    rawSend({ ...frame, id });
    return id;
  }

  connect();

  return {
    send,
    sendChat(body, clientId) {
      const id = queueChat(body, clientId);
      if (hasSnapshot) sendChatFrame(id);
      return id;
    },
    retryChat(clientId) {
      const entry = outbox.get(clientId);
      if (!entry) return false;
      entry.failed = false;
      dispatch({ type: "queue_message", client_id: clientId, body: entry.body });
      if (entry.ref == null && hasSnapshot) sendChatFrame(clientId);
      return true;
    },
    discardChat(clientId) {
      outbox.delete(clientId);
      dispatch({ type: "discard_message", client_id: clientId });
    },
    resync(after) {
      return sendResync(after ?? cursor);
    },
    reconnect() {
      if (!stopped || ws || timer != null) return false;
      stopped = false;
      attempt = 0;
      network?.addEventListener?.("offline", wentOffline);
      network?.addEventListener?.("online", cameOnline);
      connect();
      return true;
    },
    close() {
      stopped = true;
      network?.removeEventListener?.("offline", wentOffline);
      network?.removeEventListener?.("online", cameOnline);
      if (timer != null) clearTimeoutImpl(timer);
      timer = null;
      if (ws) ws.close(1000);
      else if (status !== "closed") {
        status = "closed";
        dispatch({ type: "closed", code: 1000, final: true });
      }
    },
    get lastSeq() {
      return cursor;
    },
    get status() {
      return status;
    },
  };
}
