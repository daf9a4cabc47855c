// The room page's own state: what this person has open, typed, picked or dismissed on this
// page (never sent as such; the server's state is state.js). Plain data mutated in place by
// the page's modules, plus the pure helpers for the feelings picker. Also the shape of the
// one `room` object the page's modules share (built in room.js).

/**
 * @typedef {{open: string|null, words: string[], weather: string}} Picker
 * @typedef {object} UiState
 * @property {boolean} explainerDismissed      the first-round explainer (a local flag)
 * @property {Picker} picker                   the feelings picker of my current turn
 * @property {any} pickerTurn                  turn_id the picker belongs to
 * @property {any} feelingsSent                turn_id whose feelings were shared
 * @property {any} passAck                     round id in which I passed
 * @property {number} passAckAt                when (ms) I passed
 * @property {number|null} reporting           seq of the message whose flag form is open
 * @property {string} reportReason
 * @property {Set<number>} reported            seqs I flagged
 * @property {boolean} confirmEnd
 * @property {any} confirmRemove               membership id whose removal awaits a yes
 * @property {Record<string, string>} errors   area → the error shown there
 * @property {Set<string>} handledAlerts       alert keys marked handled on this page
 * @property {Set<string>} dismissedFlags      flag keys dismissed on this page
 * @property {{q: string, phase: string, depth: string, strategy: string}} promptFilters
 * @property {boolean} scrollToEnd             scroll the messages to the end on the next render
 */

/**
 * The object the page's modules share. `state` is replaced by dispatch (state.js's reduce);
 * everything else stays the same object for the page's life.
 * @typedef {object} Room
 * @property {HTMLElement} root
 * @property {import("./config.js").RoomConfig} config
 * @property {Record<string, any>} refs        elements by data-ref
 * @property {boolean} hasConsole              the facilitator console is on the page
 * @property {UiState} ui
 * @property {import("./state.js").RoomState} state
 * @property {import("./socket.js").Connection} conn
 * @property {(action: {type: string, [key: string]: any}) => void} dispatch
 * @property {(area: string, frame: {type: string, [key: string]: any}, onAck?: (a: any) => void, onError?: (a: any) => void) => string|null} send
 * @property {(text: string|null|undefined) => void} announce
 * @property {(message: string|null|undefined, opts?: {quiet?: boolean}) => void} showStatus
 * @property {() => void} scheduleRender
 * @property {() => void} renderNow
 * @property {(selector: string) => void} focusAfterRender
 */

/** @returns {Picker} */
export function freshPicker() {
  return { open: null, words: [], weather: "" };
}

/** @param {{explainerDismissed?: boolean}} [opts] @returns {UiState} */
export function createUiState({ explainerDismissed = false } = {}) {
  return {
    explainerDismissed,
    picker: freshPicker(),
    pickerTurn: null,
    feelingsSent: null,
    passAck: null,
    passAckAt: 0,
    reporting: null,
    reportReason: "",
    reported: new Set(),
    confirmEnd: false,
    confirmRemove: null,
    errors: {},
    handledAlerts: new Set(),
    dismissedFlags: new Set(),
    promptFilters: { q: "", phase: "", depth: "", strategy: "" },
    scrollToEnd: true,
  };
}

/** Opens a feeling family, or closes it when it is the open one. @param {Picker} picker @param {string} family @returns {Picker} */
export function toggleFamily(picker, family) {
  return { ...picker, open: picker.open === family ? null : family };
}

/**
 * Picks a word, or unpicks it; never more than `max` words.
 * @param {Picker} picker @param {string} word @param {number} max @returns {Picker}
 */
export function toggleWord(picker, word, max) {
  const words = picker.words.includes(word)
    ? picker.words.filter((w) => w !== word)
    : [...picker.words, word].slice(0, max);
  return { ...picker, words };
}
