// The room's buttons. render.js gives every button a data-action (and its data in data-*);
// one click listener on #room looks the action up here and runs it with the button's
// dataset. Most actions send one frame for an area of the page (requests.js shows its error
// there); some only change the page's own state (open a form, dismiss a card). A button
// marked aria-disabled or disabled does nothing. Focus moves only to follow the action.

import * as view from "./view.js";
import { writeFlag } from "./local-flags.js";
import { explainerKey } from "./config.js";
import { roundSettings } from "./forms.js";
import { toggleFamily, toggleWord } from "./ui.js";

/** @typedef {Record<string, string|undefined>} Data  a button's dataset */
/** @typedef {Record<string, (d: Data) => void>} ActionTable */

/**
 * A server id from a data- attribute: digits become a number (the server's ids are ints);
 * anything else is passed on as it is, for the server to refuse.
 * @param {unknown} v
 */
export const toId = (v) => (v != null && /^\d+$/.test(String(v)) ? Number(v) : v);

/**
 * Every action, by the name render.js puts in data-action.
 * @param {import("./ui.js").Room} room @returns {ActionTable}
 */
export function createActions(room) {
  return {
    ...messageActions(room),
    ...turnActions(room),
    ...meetingActions(room),
    ...queueActions(room),
    ...memberActions(room),
    ...noticeActions(room),
  };
}

/**
 * Runs actions on clicks inside #room (event delegation: panels are rebuilt, the listener stays).
 * @param {import("./ui.js").Room} room @param {ActionTable} actions
 */
export function installClicks(room, actions) {
  room.root.addEventListener("click", (e) => {
    const target = /** @type {HTMLElement} */ (e.target).closest("[data-action]");
    if (!target || !room.root.contains(target) || target.tagName === "SELECT") return;
    if (target.getAttribute("aria-disabled") === "true" || /** @type {HTMLButtonElement} */ (target).disabled) return;
    const handler = actions[target.dataset.action ?? ""];
    if (!handler) return;
    e.preventDefault();
    handler({ ...target.dataset });
    room.scheduleRender();
  });
}

/** Reactions, flags and removals on messages; the outbox's retry and discard. @param {import("./ui.js").Room} room @returns {ActionTable} */
function messageActions(room) {
  const { ui, send } = room;
  return {
    react: (d) => send(`message:${d.seq}`, { type: "reaction.send", target_seq: Number(d.seq), kind: d.kind }),
    "report-open": (d) => {
      ui.reporting = Number(d.seq);
      ui.reportReason = "";
      room.renderNow();
      room.root.querySelector(`[data-focus-key="report-reason:${d.seq}"]`)?.focus();
    },
    "report-cancel": (d) => closeReport(room, d.seq),
    "report-send": (d) => {
      const seq = Number(d.seq);
      send(`message:${seq}`, { type: "message.report", target_seq: seq, reason: ui.reportReason.trim() }, () => {
        ui.reported.add(seq);
        room.announce("Thanks. The facilitators will take a look.");
      }, () => ui.reported.delete(seq));
      ui.reporting = null;
      ui.reportReason = "";
      ui.reported.add(seq); // optimistic; an error brings the message's error line
      room.focusAfterRender(`[data-seq="${seq}"] [data-action="react"]`);
    },
    "delete-message": (d) => send(`message:${d.seq}`, { type: "message.delete", target_seq: Number(d.seq) }),
    retry: (d) => { room.conn.retryChat(d.clientId ?? ""); },
    discard: (d) => { room.conn.discardChat(d.clientId ?? ""); room.focusAfterRender("#message-input"); },
  };
}

/** My turn in a round, the feelings picker, my hand. @param {import("./ui.js").Room} room @returns {ActionTable} */
function turnActions(room) {
  const { ui, send } = room;
  return {
    "turn-done": (d) => send("turn", { type: "turn.done", turn_id: toId(d.turnId) }),
    "turn-pass": (d) => {
      const roundId = room.state.round?.id ?? null;
      send("turn", { type: "turn.pass", turn_id: toId(d.turnId) }, () => {
        room.announce("Thanks — passing is always fine.");
        if (room.state.round && room.state.round.id === roundId) {
          ui.passAck = roundId;
          ui.passAckAt = Date.now();
        } else {
          room.showStatus("Thanks — passing is always fine.", { quiet: true }); // the round ended with my pass
        }
      });
    },
    "dismiss-explainer": () => {
      ui.explainerDismissed = true;
      writeFlag(explainerKey(room.config));
    },
    "feelings-family": (d) => { ui.picker = toggleFamily(ui.picker, d.family ?? ""); },
    "feelings-word": (d) => { ui.picker = toggleWord(ui.picker, d.word ?? "", view.MAX_FEELING_WORDS); },
    "feelings-share": () => {
      const turnId = room.state.round?.current?.turn_id ?? null;
      const weather = ui.picker.weather === "" ? null : Number(ui.picker.weather);
      send("feelings", { type: "feelings.share", words: ui.picker.words, weather }, () => { ui.feelingsSent = turnId; });
    },
    "hand-toggle": () => toggleHand(room),
  };
}

/** Facilitators: open and end the meeting, the agenda, prompts and rounds. @param {import("./ui.js").Room} room @returns {ActionTable} */
function meetingActions(room) {
  const { ui, send } = room;
  return {
    "meeting-open": () => send("meeting", { type: "meeting.open" }),
    "meeting-end": () => { ui.confirmEnd = true; room.focusAfterRender("[data-testid='confirm-end-meeting']"); },
    "meeting-end-confirm": () => { ui.confirmEnd = false; send("meeting", { type: "meeting.end" }); },
    "confirm-cancel": (d) => cancelConfirm(room, d.id),
    "phase-set": (d) => send("agenda", { type: "phase.set", step_id: toId(d.stepId) }),
    "prompt-push": (d) => send("prompts", { type: "prompt.push", prompt_id: toId(d.promptId) }, () => room.announce("Prompt pushed to the circle.")),
    "prompt-round": (d) => {
      const form = room.refs["round-form"];
      form.elements.kind.value = d.kind;
      send("prompts", { ...roundSettings(form.elements), type: "round.start", kind: d.kind, prompt_id: toId(d.promptId) });
    },
    "round-next": (d) => send("round", { type: "round.next", turn_id: toId(d.turnId) }),
    "round-skip": (d) => send("round", { type: "round.skip", turn_id: toId(d.turnId) }),
    "round-end": () => send("round", { type: "round.end" }),
  };
}

/** Facilitators: the floor, the order of raised hands, the queue's mode. @param {import("./ui.js").Room} room @returns {ActionTable} */
function queueActions(room) {
  const { send } = room;
  return {
    "floor-grant": (d) => send("queue", { type: "floor.grant", membership_id: toId(d.id) }),
    "floor-release": () => send("queue", { type: "floor.release" }),
    "queue-move": (d) => send("queue", { type: "queue.move", membership_id: toId(d.id), position: Number(d.position) }),
    "queue-remove": (d) => send("queue", { type: "queue.remove", membership_id: toId(d.id) }),
    "mode-progressive": () => send("queue", { type: "queue.mode", progressive: !room.state.queue.mode.progressive }),
    "mode-talking-piece": () => send("queue", { type: "queue.mode", talking_piece: !room.state.queue.mode.talking_piece }),
  };
}

/** Facilitators: pause, unpause and remove members. @param {import("./ui.js").Room} room @returns {ActionTable} */
function memberActions(room) {
  const { ui, send } = room;
  return {
    mute: (d) => send(`member:${d.id}`, { type: "member.mute", membership_id: toId(d.id), minutes: Number(d.minutes) }),
    unmute: (d) => send(`member:${d.id}`, { type: "member.unmute", membership_id: toId(d.id) }),
    "remove-ask": (d) => { ui.confirmRemove = toId(d.id); room.focusAfterRender("[data-testid='confirm-remove-member']"); },
    "remove-confirm": (d) => { ui.confirmRemove = null; send(`member:${d.id}`, { type: "member.remove", membership_id: toId(d.id) }); },
  };
}

/** Coaching cards, crisis alerts, flags, and taking the room back from another window. @param {import("./ui.js").Room} room @returns {ActionTable} */
function noticeActions(room) {
  const { ui, send } = room;
  return {
    "open-card": (d) => openCard(room, d.card ?? ""),
    "alert-handled": (d) => { ui.handledAlerts.add(d.key ?? ""); },
    "flag-dismiss": (d) => { ui.dismissedFlags.add(d.key ?? ""); },
    // For every facilitator: the server answers with report.resolved, which takes it off the list.
    "report-resolve": (d) => send(`report:${d.reportId}`, { type: "report.resolve", report_id: toId(d.reportId) },
      () => room.announce("Marked as looked at.")),
    // After 4409 (open in too many windows): connect here again; the server then closes the
    // oldest other one. The button is gone once we are connecting: focus goes on to the
    // message box when it was the one beside it, else to "Now".
    reconnect: (d) => {
      if (room.conn.reconnect()) room.focusAfterRender(d.from === "composer" ? "#message-input" : "#room-now");
    },
  };
}

/** Closes the flag form and gives focus back to its "Flag" button. @param {import("./ui.js").Room} room @param {any} seq */
export function closeReport(room, seq) {
  room.ui.reporting = null;
  room.ui.reportReason = "";
  room.focusAfterRender(`[data-seq="${seq}"] [data-action="report-open"]`);
}

/**
 * "Keep going" / "Cancel" on a confirmation: removing a member (id given) or ending the meeting.
 * @param {import("./ui.js").Room} room @param {any} id
 */
export function cancelConfirm(room, id) {
  if (id != null) {
    room.ui.confirmRemove = null;
    room.focusAfterRender(`[data-testid='console-member-row'][data-membership-id="${id}"] [data-action='remove-ask']`);
  } else {
    room.ui.confirmEnd = false;
    room.focusAfterRender("[data-testid='end-meeting']");
  }
}

/** Raises or lowers my hand, or says why it can't be raised now. @param {import("./ui.js").Room} room */
export function toggleHand(room) {
  const q = view.queueView(room.state);
  if (!q.canRaise && !q.handRaised) {
    room.announce(q.iHoldFloor ? "You have the floor right now." : "Hands open when the circle does.");
    return;
  }
  room.send("hand", { type: q.handRaised ? "hand.lower" : "hand.raise" }, () => {
    room.announce(q.handRaised ? "Hand lowered." : "Hand raised.");
  });
}

/** Opens the console and one of its situation cards, and focuses it. @param {import("./ui.js").Room} room @param {string} situation */
function openCard(room, situation) {
  const details = room.refs["more-cards-details"];
  if (!details) return;
  details.open = true;
  if (room.refs["console-details"]) room.refs["console-details"].open = true;
  const card = details.querySelector(`[data-situation="${CSS.escape(situation)}"]`);
  if (card) {
    card.open = true;
    card.scrollIntoView({ block: "nearest" });
    card.querySelector("summary")?.focus();
  }
}
