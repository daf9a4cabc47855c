// What the room page learns from its HTML: config from data- attributes on #room (the
// template sets them; nothing else is read from the server before the socket opens), and the
// elements the page fills, by their data-ref.

/**
 * @typedef {{wsPath: string, meetingId: string, dashboardUrl: string, loginUrl: string, roomPath: string}} RoomConfig
 */

/**
 * @param {{dataset: Record<string, string|undefined>}} root  the #room element
 * @param {{pathname: string}} loc                            the page's location
 * @returns {RoomConfig}
 */
export function readConfig(root, loc) {
  const d = root.dataset;
  return {
    wsPath: d.wsPath ?? "",
    meetingId: d.meetingId ?? "",
    dashboardUrl: d.dashboardUrl ?? "",
    loginUrl: d.loginUrl ?? "",
    roomPath: d.roomPath || loc.pathname,
  };
}

/**
 * The websocket URL: same host as the page, wss: on an https: page.
 * @param {RoomConfig} config @param {{protocol: string, host: string}} loc @returns {string}
 */
export function socketUrl(config, loc) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}${config.wsPath}`;
}

/** The local flag that remembers the first-round explainer was dismissed, per meeting. @param {RoomConfig} config */
export function explainerKey(config) {
  return `hearth:round-explainer-dismissed:${config.meetingId}`;
}

/**
 * Elements by their data-ref (the last one wins if a ref repeats).
 * @param {ParentNode} root @returns {Record<string, any>}
 */
export function collectRefs(root) {
  /** @type {Record<string, any>} */
  const refs = {};
  for (const el of root.querySelectorAll("[data-ref]")) refs[/** @type {HTMLElement} */ (el).dataset.ref ?? ""] = el;
  return refs;
}
