// When the room page draws. Any number of changes before the next animation frame make one
// render; the clocks (turn timers, step minutes, mute ends) need a render once a second, and
// only once the room has loaded. Focus that follows a person's own action (a shortcut,
// opening a form) waits until the render that made its target has happened.

/**
 * @param {object} options
 * @param {() => void} options.render                   draws everything from the current state
 * @param {(fn: () => void) => any} [options.requestFrame]
 * @returns {{schedule: () => void, renderNow: () => void}}
 */
export function createScheduler({ render, requestFrame = (fn) => globalThis.requestAnimationFrame(fn) }) {
  let frame = null;
  return {
    schedule() {
      if (frame == null) frame = requestFrame(() => { frame = null; render(); });
    },
    renderNow() {
      render();
    },
  };
}

/**
 * Renders once a second while `ready()` says the room has something to show.
 * @param {() => void} render @param {() => boolean} ready
 * @param {(fn: () => void, ms: number) => any} [setIntervalImpl]
 */
export function startClock(render, ready, setIntervalImpl = (fn, ms) => globalThis.setInterval(fn, ms)) {
  return setIntervalImpl(() => { if (ready()) render(); }, 1000);
}

/**
 * Focuses `selector` inside `root` after the next render (two frames: the one that renders,
 * then the one after it), to follow the person's own action, never by itself.
 * @param {ParentNode} root @param {string} selector
 * @param {(fn: () => void) => any} [requestFrame]
 */
export function focusAfterRender(root, selector, requestFrame = (fn) => globalThis.requestAnimationFrame(fn)) {
  requestFrame(() => requestFrame(() => /** @type {HTMLElement|null} */ (root.querySelector(selector))?.focus()));
}
