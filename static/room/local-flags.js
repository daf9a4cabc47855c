// Small yes/no flags this browser remembers (e.g. "the first-round explainer was dismissed").
// Storage may be missing or refuse writes (private mode, a full quota): then a flag reads as
// unset and a dismissal lasts for this page only. Nothing here matters to the server.

/** @typedef {{getItem(key: string): string|null, setItem(key: string, value: string): void}} FlagStorage */

/** @returns {FlagStorage|undefined} */
function defaultStorage() {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined; // some browsers throw on merely reading localStorage when it is blocked
  }
}

/** @param {string} key @param {FlagStorage} [storage] @returns {boolean} */
export function readFlag(key, storage = defaultStorage()) {
  try {
    return storage?.getItem(key) === "1";
  } catch {
    return false;
  }
}

/** @param {string} key @param {FlagStorage} [storage] */
export function writeFlag(key, storage = defaultStorage()) {
  try {
    storage?.setItem(key, "1");
  } catch {
    /* private mode: the dismissal lasts for this page only */
  }
}
