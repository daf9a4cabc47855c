// The facilitator console is open beside the room on wide screens and folded into a
// disclosure on phones, following the width as it changes, until the facilitator opens or
// closes it himself: from then on it stays as he left it.

/**
 * @param {HTMLDetailsElement|undefined} details  the console's <details>
 * @param {(query: string) => MediaQueryList} [matchMediaImpl]
 */
export function installConsoleLayout(details, matchMediaImpl = (q) => globalThis.matchMedia(q)) {
  if (!details) return;
  const wide = matchMediaImpl("(min-width: 700px)");
  let chosen = false;
  let applyingWidth = false;
  details.open = wide.matches;
  details.addEventListener("toggle", () => { if (!applyingWidth) chosen = true; });
  wide.addEventListener("change", () => {
    if (chosen) return;
    applyingWidth = true;
    details.open = wide.matches;
    setTimeout(() => { applyingWidth = false; }, 0);
  });
}
