// Keyboard shortcuts (listed on the page under "Keyboard shortcuts"): Alt+H raises or lowers
// my hand, Alt+M goes to the message box, Alt+N to "Now"; Esc closes the open flag form or
// confirmation. Keys are matched by e.code so they work on any keyboard layout (Alt+letter
// types other characters on some). Focus moves only because the person asked.

import { cancelConfirm, closeReport, toggleHand } from "./actions.js";

/**
 * Which shortcut a keydown is, if any.
 * @param {{key: string, code: string, altKey?: boolean, ctrlKey?: boolean, metaKey?: boolean}} e
 * @returns {"escape"|"hand"|"message"|"now"|null}
 */
export function shortcutFor(e) {
  if (e.key === "Escape") return "escape";
  if (!e.altKey || e.ctrlKey || e.metaKey) return null;
  switch (e.code) {
    case "KeyH": return "hand";
    case "KeyM": return "message";
    case "KeyN": return "now";
    default: return null;
  }
}

/** Esc closes what is open, one thing at a time. @param {import("./ui.js").Room} room */
function closeOpen(room) {
  const { ui } = room;
  if (ui.reporting != null) closeReport(room, ui.reporting);
  else if (ui.confirmEnd) cancelConfirm(room, undefined);
  else if (ui.confirmRemove != null) cancelConfirm(room, ui.confirmRemove);
  else return;
  room.scheduleRender();
}

/** @param {import("./ui.js").Room} room */
export function installShortcuts(room) {
  document.addEventListener("keydown", (e) => {
    const shortcut = shortcutFor(e);
    if (shortcut == null) return;
    if (shortcut === "escape") {
      closeOpen(room);
      return;
    }
    e.preventDefault();
    if (shortcut === "hand") toggleHand(room);
    else if (shortcut === "message") room.refs["message-input"].focus();
    else document.getElementById("room-now")?.focus();
  });
}
