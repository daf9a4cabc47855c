// What the room says out loud, and the short status line. Every screen-reader announcement
// goes through the ONE polite live region (the template's data-ref="live"): announcements
// made within 150 ms of each other are read as one, and the region is emptied first so even
// a repeated message is read again. The status line shows a passing message for 8 s (and
// announces it unless told to stay quiet, e.g. when the same words were just announced).

const GATHER_MS = 150;
const REFILL_MS = 60;
const STATUS_MS = 8000;

/**
 * @typedef {{setTimeoutImpl?: (fn: () => void, ms: number) => any, clearTimeoutImpl?: (handle: any) => void}} Timers
 */

/**
 * @param {{textContent: string|null}} live  the live region
 * @param {Timers} [timers]
 * @returns {(text: string|null|undefined) => void}
 */
export function createAnnouncer(live, {
  setTimeoutImpl = (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeoutImpl = (handle) => globalThis.clearTimeout(handle),
} = {}) {
  /** @type {string[]} */
  let spoken = [];
  let timer = null;
  return function announce(text) {
    if (!text) return;
    spoken.push(text);
    clearTimeoutImpl(timer);
    timer = setTimeoutImpl(() => {
      const message = spoken.join(" ");
      spoken = [];
      live.textContent = "";
      // A fresh text node after clearing makes screen readers read even a repeated message.
      setTimeoutImpl(() => { live.textContent = message; }, REFILL_MS);
    }, GATHER_MS);
  };
}

/**
 * @param {{textContent: string|null, hidden: boolean}} line  the status line
 * @param {(text: string) => void} announce
 * @param {Timers} [timers]
 * @returns {(message: string|null|undefined, opts?: {quiet?: boolean}) => void}
 */
export function createStatusLine(line, announce, {
  setTimeoutImpl = (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeoutImpl = (handle) => globalThis.clearTimeout(handle),
} = {}) {
  let timer = null;
  return function showStatus(message, { quiet = false } = {}) {
    if (!message) return;
    line.textContent = message;
    line.hidden = false;
    if (!quiet) announce(message);
    clearTimeoutImpl(timer);
    timer = setTimeoutImpl(() => { line.hidden = true; }, STATUS_MS);
  };
}
