// Frames the page sent and still waits to hear about. Each is sent for an "area" of the page
// (a panel, a message, a member row): its error shows there (and is announced) until the
// next frame for that area, and an ack may run a follow-up (clear a form, say thanks).
// Chat is not here: socket.js keeps it in the outbox; a refused message (muted,
// rate_limited, busy…) stays there as failed, and this only announces why.

/**
 * @param {object} deps
 * @param {import("./ui.js").UiState} deps.ui
 * @param {() => import("./socket.js").Connection} deps.conn
 * @param {(text: string) => void} deps.announce
 * @param {(message: string) => void} deps.showStatus
 * @param {() => void} deps.scheduleRender
 */
export function createRequests({ ui, conn, announce, showStatus, scheduleRender }) {
  /** ref → where to show an error, and what to do on ack or error. */
  const pending = new Map();

  /**
   * @param {string} area @param {{type: string, [key: string]: any}} frame
   * @param {(action: any) => void} [onAck] @param {(action: any) => void} [onError]
   * @returns {string|null} the frame's id
   */
  function send(area, frame, onAck, onError) {
    delete ui.errors[area];
    const ref = conn().send(frame);
    if (ref != null) pending.set(ref, { area, onAck, onError });
    scheduleRender();
    return ref;
  }

  /** An ack (ok) or an error action from the connection. @param {any} action @param {boolean} ok */
  function answer(action, ok) {
    const info = action.ref != null ? pending.get(action.ref) : undefined;
    if (info) pending.delete(action.ref);
    if (!info) {
      if (!ok && action.client_id == null) showStatus(action.message);
      if (!ok && action.client_id != null) announce(`Your message wasn't sent: ${action.message}`);
      return;
    }
    if (ok) {
      delete ui.errors[info.area];
      info.onAck?.(action);
    } else {
      ui.errors[info.area] = action.message || "That didn't work. Please try again.";
      info.onError?.(action);
      announce(ui.errors[info.area]);
    }
  }

  return { send, answer };
}
