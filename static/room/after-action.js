// What the page does after each action is reduced into the state: say what happened (the live
// region), mark #room ready and its meeting status (the browser tests and the CSS read them),
// route acks and errors to the frame that asked, and keep the page's own state in step with
// the room's (a new turn of mine starts a fresh feelings picker; thanks for a pass that ended
// the round go to the status line, as the round panel is gone).

import { announcementFor } from "./state.js";
import { connectionView } from "./view.js";
import { freshPicker } from "./ui.js";

const PASS_THANKS = "Thanks — passing is always fine.";
const PASS_THANKS_MS = 4000;

/**
 * @param {import("./ui.js").Room} room  with room.state already the new state
 * @param {import("./state.js").RoomState} prev
 * @param {{type: string, [key: string]: any}} action
 * @param {{answer: (action: any, ok: boolean) => void}} requests
 */
export function afterAction(room, prev, action, requests) {
  const { state, ui } = room;
  switch (action.type) {
    case "event":
      room.announce(announcementFor(prev, state, action.event));
      if (action.event?.type === "chat.message" && action.event.author?.membership_id === state.you?.membership_id) ui.scrollToEnd = true;
      break;
    case "snapshot":
    case "resume":
      room.root.dataset.ready = "true";
      if (prev.connection.status === "open" && prev.synced && action.type === "resume") room.announce("Back in the room.");
      break;
    case "reconnecting":
      if (action.attempt === 1) room.announce("The connection dropped. Reconnecting…");
      break;
    case "closed":
      if (state.connection.final) room.announce(connectionView(state).explanation);
      break;
    case "ack":
      requests.answer(action, true);
      break;
    case "error":
      requests.answer(action, false);
      break;
    default:
      break;
  }
  if (state.meeting) room.root.dataset.status = state.meeting.status;
  keepUiInStep(room);
}

/** @param {import("./ui.js").Room} room */
function keepUiInStep(room) {
  const { state, ui } = room;
  const turnId = state.round?.current?.turn_id ?? null;
  if (turnId !== ui.pickerTurn) {
    ui.pickerTurn = turnId;
    ui.picker = freshPicker();
  }
  if (!state.round && ui.passAck != null) {
    // My pass ended the round: the panel is gone, so say thanks in the status line.
    if (Date.now() - ui.passAckAt < PASS_THANKS_MS) room.showStatus(PASS_THANKS, { quiet: true });
    ui.passAck = null;
  }
}
