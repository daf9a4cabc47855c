// The meeting room page's entry module: builds the one `room` object the page's modules
// share (ui.js describes it), connects, and wires the modules together. Each concern has its
// module: config.js (what the HTML says), socket.js (the connection), state.js (the room's
// state), after-action.js (what follows each change), schedule.js (when to draw), paint.js
// (what to draw: view.js decides, render.js draws), announce.js (the ONE live region and the
// status line), requests.js (frames awaiting an answer), actions.js (buttons), forms.js
// (composer and forms), shortcuts.js (keys), console-layout.js, local-flags.js.
// Nothing moves focus on its own, except to follow a person's own action (a shortcut,
// opening a form) — never while they are typing.

import { createConnection } from "./socket.js";
import { initialState, reduce } from "./state.js";
import { collectRefs, explainerKey, readConfig, socketUrl } from "./config.js";
import { readFlag } from "./local-flags.js";
import { createUiState } from "./ui.js";
import { createAnnouncer, createStatusLine } from "./announce.js";
import { createScheduler, focusAfterRender, startClock } from "./schedule.js";
import { createRequests } from "./requests.js";
import { afterAction } from "./after-action.js";
import { paint } from "./paint.js";
import { createActions, installClicks } from "./actions.js";
import { installForms } from "./forms.js";
import { installShortcuts } from "./shortcuts.js";
import { installConsoleLayout } from "./console-layout.js";

const root = document.getElementById("room");
if (root) start(root);

/** @param {HTMLElement} root */
function start(root) {
  const config = readConfig(root, location);
  const refs = collectRefs(root);
  const announce = createAnnouncer(refs.live);
  const scheduler = createScheduler({ render: () => paint(room) });
  /** @type {import("./ui.js").Room} */
  const room = {
    root,
    config,
    refs,
    hasConsole: Boolean(refs["console-details"]),
    ui: createUiState({ explainerDismissed: readFlag(explainerKey(config)) }),
    state: initialState(),
    conn: /** @type {any} */ (null), // set below, before any event can arrive
    dispatch,
    send: (...args) => requests.send(...args),
    announce,
    showStatus: createStatusLine(refs["status-line"], announce),
    scheduleRender: scheduler.schedule,
    renderNow: scheduler.renderNow,
    focusAfterRender: (selector) => focusAfterRender(root, selector),
  };
  const requests = createRequests({
    ui: room.ui, conn: () => room.conn, announce, showStatus: room.showStatus, scheduleRender: room.scheduleRender,
  });

  /** The one way the room's state changes: reduce, follow up, draw on the next frame. */
  function dispatch(action) {
    const prev = room.state;
    room.state = reduce(prev, action);
    afterAction(room, prev, action, requests);
    room.scheduleRender();
  }

  installClicks(room, createActions(room));
  installForms(room);
  installShortcuts(room);
  installConsoleLayout(refs["console-details"]);

  room.conn = createConnection({ url: socketUrl(config, location), onAction: dispatch });
  startClock(room.renderNow, () => room.state.synced);
  room.scheduleRender();
}
