// DOM rendering for the meeting room: view models (view.js) → elements. Nothing here decides
// what to show, and nothing here builds HTML from strings: every text goes in through
// textContent / createTextNode, every element through createElement (server data is never markup).
//
// Updating without stealing focus: a panel is rebuilt only when its view model changed
// (compared as JSON), and the element that had focus is found again by its data-focus-key
// (caret position kept). Lists (messages, people) are keyed, so a new message doesn't rebuild
// the others. Buttons carry data-action; room.js handles clicks by delegation.

const signatures = new WeakMap();

/**
 * createElement with safe props: class, text (textContent), dataset, boolean attributes and
 * plain attributes (set with setAttribute). Children: nodes or strings (as text nodes).
 * @param {string} tag @param {Record<string, any>} [props] @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) if (v != null) el.dataset[k] = String(v);
    } else if (key === "hidden" || key === "disabled" || key === "selected" || key === "checked") el[key] = true;
    else if (key === "value") el.value = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false || child === "") continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * A button for room.js's click delegation. Its focus key (how focus finds it again after a
 * rebuild) is the action plus its data, unless given; focusAlt names where focus goes if this
 * button is gone or disabled after the rebuild (e.g. "Pause" → "Unpause").
 * @param {string} action @param {string} label @param {Record<string, any>} [props]
 */
function button(action, label, props = {}) {
  const { dataset = {}, class: cls = "button button--small button--secondary", focusKey, focusAlt, ...rest } = props;
  return h("button", {
    type: "button",
    class: cls,
    dataset: { action, focusKey: focusKey ?? `${action}:${Object.values(dataset).join(":")}`, focusAlt, ...dataset },
    ...rest,
  }, label);
}

function errorLine(message, testid) {
  return message ? h("p", { class: "inline-error", role: "alert", "data-testid": testid }, message) : null;
}

// ---------------------------------------------------------------------------------------
// Focus-preserving updates

function captureFocus(container) {
  const active = document.activeElement;
  if (!active || active === container || !container.contains(active)) return null;
  return {
    key: active.dataset?.focusKey ?? null,
    alt: active.dataset?.focusAlt ?? null,
    start: typeof active.selectionStart === "number" ? active.selectionStart : null,
    end: typeof active.selectionEnd === "number" ? active.selectionEnd : null,
  };
}

function restoreFocus(container, saved) {
  if (!saved) return;
  const active = document.activeElement;
  if (active && active !== document.body && document.contains(active)) return; // still has it
  const find = (key) => (key ? container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) : null);
  let target = find(saved.key);
  if (!target || target.disabled) target = find(saved.alt);
  if (target && !target.disabled) {
    target.focus({ preventScroll: true });
    if (saved.start != null && typeof target.setSelectionRange === "function") {
      try { target.setSelectionRange(saved.start, saved.end ?? saved.start); } catch { /* not a text field */ }
    }
    return;
  }
  // The focused control is gone (e.g. "Finish my turn" after the turn ended): land on the
  // panel it was in rather than on <body>, so the next Tab continues from here.
  container.closest("[data-focus-home]")?.focus({ preventScroll: true });
}

/**
 * Rebuilds `container` from `vm` with `build` only when `vm` changed.
 * @param {Element} container @param {any} vm @param {(vm: any) => any} build
 * @returns {boolean} whether it was rebuilt
 */
export function patch(container, vm, build) {
  if (!container) return false;
  const sig = JSON.stringify(vm ?? null);
  if (signatures.get(container) === sig) return false;
  signatures.set(container, sig);
  const saved = captureFocus(container);
  const content = vm == null ? [] : [build(vm)].flat(Infinity).filter((n) => n != null && n !== false);
  container.replaceChildren(...content);
  restoreFocus(container, saved);
  return true;
}

/**
 * Keyed list update: items are {key, …}; a row is rebuilt only when its item changed, rows
 * that stay are not moved unless the order changed.
 * @param {Element} list @param {{key: string}[]} items @param {(item: any) => HTMLElement} build
 */
export function syncList(list, items, build) {
  if (!list) return;
  const saved = captureFocus(list);
  const existing = new Map();
  for (const child of list.children) existing.set(child.dataset.key, child);
  const wanted = items.map((item) => {
    const sig = JSON.stringify(item);
    const node = existing.get(item.key);
    if (node && signatures.get(node) === sig) return node;
    const fresh = build(item);
    fresh.dataset.key = item.key;
    signatures.set(fresh, sig);
    return fresh;
  });
  const keep = new Set(wanted);
  for (const child of [...list.children]) if (!keep.has(child)) child.remove();
  let ref = list.firstElementChild;
  for (const node of wanted) {
    if (node === ref) ref = ref.nextElementSibling;
    else list.insertBefore(node, ref);
  }
  restoreFocus(list, saved);
}

// ---------------------------------------------------------------------------------------
// Formatting (the browser's locale and zone)

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** @param {string|null} iso */
function timeOf(iso) {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? "" : timeFormat.format(t);
}

// ---------------------------------------------------------------------------------------
// Header: connection

export function renderConnection(refs, vm) {
  refs.connection.dataset.state = vm.tone;
  refs.connection.dataset.status = vm.status;
  if (refs["connection-text"].textContent !== vm.text) refs["connection-text"].textContent = vm.text;
  patch(refs["connection-detail"], vm.explanation ? { e: vm.explanation, l: vm.link, a: vm.action } : null, (d) => [
    h("p", { "data-testid": "connection-explanation" }, d.e),
    d.l ? h("p", {}, h("a", { href: d.l.href, "data-testid": "connection-link" }, d.l.label)) : null,
    d.a ? h("p", {}, button(d.a.name, d.a.label, { class: "button", "data-testid": `connection-${d.a.name}` })) : null,
  ]);
  refs["connection-detail"].hidden = !vm.explanation;
  refs["connection-detail"].classList.toggle("notice--error", vm.tone === "bad");
}

// ---------------------------------------------------------------------------------------
// "Now": status, support, step, prompt, round, talking order, agenda

export function renderStatus(el, vm) {
  patch(el, vm.title ? vm : null, (v) => h("div", {
    class: `notice ${v.status === "scheduled" ? "waiting-room" : ""}`,
    "data-testid": v.status === "scheduled" ? "waiting-room" : "meeting-ended",
  }, h("p", { class: "notice__title" }, h("strong", {}, v.title)), h("p", {}, v.text)));
}

export function renderSupport(el, vm) {
  patch(el, vm, (v) => h("div", {
    class: `support ${v.prominent ? "notice notice--attention" : ""}`,
    "data-testid": "support-resources",
  },
  v.prominent ? h("p", {}, h("strong", {}, v.title)) : null,
  v.prominent
    ? [h("p", {}, v.text), supportList(v.lines)]
    : h("details", {}, h("summary", {}, v.title), h("p", { class: "hint" }, v.text), supportList(v.lines))));
}

function supportList(lines) {
  return h("ul", { class: "plain-list support__lines" }, lines.map((l) => h("li", {},
    h("strong", {}, l.name), " — ", h("span", { class: "support__contact" }, l.contact),
    l.region ? h("span", { class: "hint" }, ` (${l.region})`) : null)));
}

export function renderStep(el, vm) {
  patch(el, vm, (v) => h("div", { class: "step-card", "data-testid": "agenda-step" },
    h("p", { class: "eyebrow" }, v.position ? `Where we are · ${v.position}` : "Where we are"),
    h("h3", { class: "step-card__title" }, v.title),
    v.purpose ? h("p", { class: "step-card__purpose" }, v.purpose) : null,
    v.timeText ? h("p", { class: `step-card__time ${v.over ? "is-over" : ""}`, "data-testid": "step-time" }, v.timeText) : null));
}

export function renderPushedPrompt(el, vm) {
  patch(el, vm, (v) => h("div", { class: "prompt-card", "data-testid": "pushed-prompt" },
    h("p", { class: "eyebrow" }, "Prompt"),
    h("p", { class: "prompt-card__text" }, v.text)));
}

export function renderAgenda(el, vm) {
  patch(el, vm, (v) => h("details", { class: "agenda", "data-testid": "member-agenda" },
    h("summary", {}, `${v.name} · about ${v.totalMinutes} minutes`),
    h("ol", { class: "agenda__steps" }, v.steps.map((s) => h("li", { class: s.current ? "is-current" : "", "aria-current": s.current ? "step" : null },
      h("strong", {}, s.title), s.minutes ? h("span", { class: "hint" }, ` · ${s.minutes} min`) : null,
      s.current ? h("span", { class: "badge badge--live" }, "now") : null,
      s.purpose ? h("p", { class: "hint" }, s.purpose) : null)))));
}

/**
 * The round panel (members and facilitators).
 * @param {Element} el
 * @param {{round: any, picker: any, errors: Record<string, string>}} vm
 */
export function renderRound(el, vm) {
  patch(el, vm.round ? vm : null, ({ round: r, picker, errors }) => {
    const parts = [];
    parts.push(h("div", { class: "round-head" },
      h("h3", { class: "round-title" }, r.kindLabel),
      h("p", { class: "hint" }, r.progress)));
    if (r.prompt) parts.push(h("p", { class: "round-prompt", "data-testid": "round-prompt-text" }, r.prompt));
    if (r.explainer) {
      parts.push(h("div", { class: "explainer notice", "data-testid": "first-round-explainer" },
        h("p", {}, h("strong", {}, "New to rounds?")),
        h("p", {}, "In a round everyone gets a turn, one at a time, in the order below. When it's yours, say as much or as little as you like, then press “Finish my turn”."),
        h("p", {}, "You can always pass — no reason needed. While others speak, you can react to their messages to show you're listening."),
        button("dismiss-explainer", "Got it", { "data-testid": "dismiss-explainer" })));
    }
    if (r.quiet) parts.push(h("p", { class: "quiet-minute", "data-testid": "quiet-minute" }, r.quiet.text));
    parts.push(h("div", { class: `turn-now ${r.myTurn ? "is-mine" : ""}` },
      h("p", { class: "turn-now__speaker", "data-testid": "current-speaker" }, r.speakerText),
      r.timer.text ? h("p", { class: `turn-now__timer timer--${r.timer.kind}`, "data-testid": "turn-timer" }, r.timer.text) : null,
      r.nextText ? h("p", { class: `turn-now__next ${r.nextIsMe ? "is-me" : ""}`, "data-testid": "up-next" }, r.nextText) : null));
    if (r.myTurn) {
      parts.push(h("div", { class: "turn-actions cluster" },
        button("turn-done", "Finish my turn", { class: "button", "data-testid": "done-turn", dataset: { turnId: r.turnId } }),
        button("turn-pass", "Pass", { class: "button button--secondary", "data-testid": "pass-turn", dataset: { turnId: r.turnId } }),
        h("p", { class: "hint" }, "Passing is always fine.")));
      if (r.showFeelings) parts.push(feelingsPicker(picker, r.feelingsSent, errors.feelings));
    }
    parts.push(errorLine(errors.turn, "error-turn"));
    if (r.passAck) parts.push(h("p", { class: "notice notice--success pass-ack", "data-testid": "pass-ack" }, r.passAck));
    parts.push(h("h4", { class: "round-order__title" }, "Order"));
    parts.push(h("ol", { class: "round-order", "data-testid": "round-order-list" }, r.order.map((o) => h("li", {
      class: `round-order__item is-${o.outcome}${o.next ? " is-next" : ""}${o.you ? " is-you" : ""}`,
      "data-testid": "round-order-item",
      "data-membership-id": String(o.id),
      "data-outcome": o.outcome,
      "aria-current": o.speaking ? "true" : null,
    },
    h("span", { class: "round-order__name" }, o.alias, o.you ? h("span", { class: "hint" }, " (you)") : null),
    h("span", { class: `outcome outcome--${o.outcome}` }, o.statusText),
    o.next ? h("span", { class: "badge" }, "next") : null,
    o.feelings ? h("span", { class: "feelings-line", "data-testid": "feelings-line" }, `${o.alias}: ${o.feelings}`) : null))));
    return h("div", { class: "round-card" }, parts);
  });
}

function feelingsPicker(p, sent, error) {
  const open = p.families.find((f) => f.open);
  return h("fieldset", { class: "feelings", "data-testid": "feelings-picker" },
    h("legend", {}, "Check-in words (optional)"),
    h("p", { class: "hint", id: "feelings-help" }, `Pick a family, then any words that fit — up to 6. “I don't know” is a fine place to start, too.`),
    h("div", { class: "feelings__families cluster", role: "group", "aria-label": "Feeling families" },
      p.families.map((f) => button("feelings-family", f.count ? `${f.label} (${f.count})` : f.label, {
        class: `chip chip--family${f.open ? " is-open" : ""}`,
        "aria-expanded": f.open ? "true" : "false",
        "aria-controls": "feelings-words",
        "data-testid": "feelings-family",
        dataset: { family: f.family },
      }))),
    open
      ? h("div", { class: "feelings__words cluster", id: "feelings-words", role: "group", "aria-label": `${open.label} words` },
        open.words.map((w) => button("feelings-word", w.label, {
          class: "chip",
          "aria-pressed": w.pressed ? "true" : "false",
          disabled: w.disabled,
          "data-testid": "feelings-word",
          dataset: { word: w.word },
        })))
      : h("div", { id: "feelings-words", hidden: true }),
    h("p", { class: "feelings__chosen", "data-testid": "feelings-chosen" }, "Chosen: ", p.chosenText),
    p.full ? h("p", { class: "hint" }, "That's six — the most one share takes.") : null,
    h("div", { class: "field" },
      h("label", { for: "weather-input" }, "Your weather today"),
      h("select", { id: "weather-input", "data-testid": "weather-input", "aria-describedby": "weather-help", dataset: { action: "weather", focusKey: "weather" } },
        h("option", { value: "", selected: p.weather == null }, "— skip —"),
        Array.from({ length: 10 }, (_, i) => i + 1).map((n) => h("option", { value: String(n), selected: p.weather === n },
          n === 1 ? "1 · storm" : n === 10 ? "10 · clear skies" : String(n)))),
      h("p", { class: "hint", id: "weather-help" }, "1 is a storm, 10 is clear skies.")),
    errorLine(error, "error-feelings"),
    h("div", { class: "cluster" },
      button("feelings-share", sent ? "Share again" : "Share with the circle", {
        class: "button button--small", "data-testid": "feelings-share", disabled: !p.canShare,
      }),
      sent ? h("span", { class: "hint", "data-testid": "feelings-sent" }, "Shared. Thank you.") : null));
}

/**
 * Talking order outside rounds (members' view): hand, queue, floor, mode.
 * @param {Element} el @param {{queue: any, error: string|null, live: boolean}} vm
 */
export function renderTalking(el, vm) {
  patch(el, vm.live ? vm : null, ({ queue: q, error }) => h("div", { class: "talking", "data-testid": "talking-order" },
    h("h3", {}, "Talking order"),
    h("p", { class: "hint", "data-testid": "queue-mode" }, q.modeText),
    h("p", { "data-testid": "floor-holder" }, q.floorText),
    q.active ? null : h("p", { class: "hint" }, "During a round, turns follow the round's order; raised hands wait until it ends."),
    h("div", { class: "cluster" },
      q.canRaise || q.handRaised
        ? button("hand-toggle", q.handRaised ? "Lower my hand" : "Raise my hand", {
          class: q.handRaised ? "button button--secondary" : "button",
          "data-testid": "raise-hand",
          "aria-describedby": "hand-shortcut",
        })
        : null,
      q.canRaise || q.handRaised ? h("span", { class: "hint", id: "hand-shortcut" }, h("kbd", {}, "Alt"), "+", h("kbd", {}, "H")) : null),
    q.positionText ? h("p", { class: "queue-position", "data-testid": "queue-position" }, q.positionText) : null,
    errorLine(error, "error-hand"),
    q.entries.length
      ? h("ol", { class: "queue-list", "data-testid": "queue-list", "aria-label": "Raised hands, in order" },
        q.entries.map((e) => h("li", { "data-membership-id": String(e.id), class: e.you ? "is-you" : "" }, e.alias, e.you ? " (you)" : "")))
      : h("p", { class: "hint", "data-testid": "queue-list" }, "No hands raised.")));
}

// ---------------------------------------------------------------------------------------
// Conversation

/**
 * @param {Element} list
 * @param {any[]} items messagesView(…) rows
 * @param {{reporting: number|null, reportReason: string, errors: Record<string, string>, isFacilitator: boolean}} ctx
 */
export function renderMessages(list, items, ctx) {
  const rows = items.map((m) => ({
    ...m,
    reporting: ctx.reporting === m.seq,
    error: ctx.errors[`message:${m.seq}`] ?? null,
  }));
  syncList(list, rows, (m) => {
    const li = h("li", {
      class: `message${m.mine ? " is-mine" : ""}${m.deleted ? " is-deleted" : ""}${m.isFacilitator ? " is-facilitator" : ""}`,
      "data-testid": "message",
      "data-seq": String(m.seq),
    },
    h("p", { class: "message__meta" },
      h("span", { class: "message__author" }, m.alias),
      m.isFacilitator ? h("span", { class: "badge badge--accent" }, "facilitator") : null,
      m.at ? h("time", { datetime: m.at, class: "message__time" }, timeOf(m.at)) : null),
    h("p", { class: "message__body", "data-testid": "message-body" }, m.body));
    if (!m.deleted) {
      const actions = h("div", { class: "message__actions", role: "group", "aria-label": `Respond to ${m.alias}` },
        m.reactions.map((r) => button("react", r.count ? `${r.label} · ${r.count}` : r.label, {
          class: "reaction",
          "aria-pressed": r.pressed ? "true" : "false",
          "aria-label": `${r.label}${r.count ? `, ${r.count}` : ""}`,
          "data-testid": `react-${r.kind}`,
          disabled: r.disabled,
          dataset: { seq: m.seq, kind: r.kind },
        })),
        m.canReport
          ? (m.reported
            ? h("span", { class: "hint", "data-testid": "report-done" }, "Flagged — thank you.")
            : button("report-open", "Flag for facilitators", { class: "link-button message__flag", "data-testid": "report-message", dataset: { seq: m.seq } }))
          : null,
        m.canDelete ? button("delete-message", "Remove", { class: "link-button message__remove", "data-testid": "delete-message", dataset: { seq: m.seq } }) : null);
      li.append(actions);
    }
    if (m.reporting) {
      const id = `report-reason-${m.seq}`;
      li.append(h("div", { class: "report-form", "data-testid": "report-form" },
        h("label", { for: id }, "What's the concern? (optional — only facilitators see this)"),
        h("textarea", { id, rows: "2", maxlength: "500", "data-testid": "report-reason", value: ctx.reportReason || null, dataset: { focusKey: `report-reason:${m.seq}`, input: "report-reason" } }),
        h("div", { class: "cluster" },
          button("report-send", "Send to facilitators", { class: "button button--small", "data-testid": "report-send", dataset: { seq: m.seq } }),
          button("report-cancel", "Cancel", { dataset: { seq: m.seq } }))));
    }
    if (m.error) li.append(errorLine(m.error, "error-message"));
    return li;
  });
}

export function renderOutbox(list, items) {
  syncList(list, items, (o) => h("li", {
    class: `message is-mine is-pending${o.failed ? " is-failed" : ""}`,
    "data-testid": "outbox-item",
    "data-status": o.failed ? "failed" : "sending",
  },
  h("p", { class: "message__meta" }, h("span", { class: "message__author" }, "You"),
    h("span", { class: "message__status", "data-testid": "outbox-status" }, o.failed ? "not sent" : "sending…")),
  h("p", { class: "message__body" }, o.body),
  o.failed ? h("p", { class: "inline-error" }, o.error) : null,
  o.failed ? h("div", { class: "cluster" },
    button("retry", "Retry", { class: "button button--small", "data-testid": "retry-message", dataset: { clientId: o.client_id } }),
    button("discard", "Discard", { "data-testid": "discard-message", dataset: { clientId: o.client_id } })) : null));
}

/**
 * The static composer: enable/disable without taking focus away (aria-disabled + readOnly
 * keep the caret and the draft where they are).
 */
export function renderComposer(refs, vm, error) {
  const input = refs["message-input"];
  const send = refs["send-button"];
  const blocked = !vm.enabled;
  if (input.readOnly !== blocked) input.readOnly = blocked;
  input.setAttribute("aria-disabled", blocked ? "true" : "false");
  send.setAttribute("aria-disabled", blocked ? "true" : "false");
  refs.composer.classList.toggle("is-blocked", blocked);
  const text = vm.reason ?? vm.hint ?? "";
  if (refs["composer-reason"].textContent !== text) refs["composer-reason"].textContent = text;
  patch(refs["composer-action"], vm.action ?? null, (a) => button(a.name, a.label, {
    class: "button button--small", "data-testid": `composer-${a.name}`, dataset: { from: "composer" },
  }));
  const err = refs["error-chat"];
  if (err.textContent !== (error ?? "")) err.textContent = error ?? "";
  err.hidden = !error;
}

// ---------------------------------------------------------------------------------------
// People

export function renderPeople(refs, vm) {
  const text = vm.countText;
  if (refs["people-count"].textContent !== text) refs["people-count"].textContent = text;
  syncList(refs.people, vm.rows.map((r) => ({ key: `p${r.id}`, ...r, until: r.mutedUntil ? timeOf(r.mutedUntil) : null })), (r) => h("li", {
    class: `person-row${r.here ? " is-here" : ""}`,
    "data-testid": "member-row",
    "data-membership-id": String(r.id),
    "data-here": r.here ? "true" : "false",
  },
  h("span", { class: `presence-dot${r.here ? " is-here" : ""}`, "aria-hidden": "true" }),
  h("span", { class: "person-row__name" }, r.alias, r.you ? h("span", { class: "hint" }, " (you)") : null),
  r.isFacilitator ? h("span", { class: "badge badge--accent", "data-testid": "role-badge" }, "facilitator") : null,
  h("span", { class: r.here ? "here-label" : "hint", "data-testid": "presence-state" }, r.here ? "here" : "away"),
  r.muted ? h("span", { class: "badge badge--full", "data-testid": "muted-badge" }, r.until ? `paused until ${r.until}` : "paused") : null));
}

// ---------------------------------------------------------------------------------------
// Facilitator console

/** @param {Element} el @param {{items: any[], countText: string|null, moreText: string|null}} vm view.alertsPanelView */
export function renderAlerts(el, vm) {
  patch(el, vm.items.length ? vm : null, ({ items: list, countText, moreText }) => h("div", { class: "alerts" },
    h("h2", { class: "alerts__title" }, "Needs your attention"),
    countText ? h("p", { class: "hint alerts__count", "data-testid": "alerts-count" }, countText) : null,
    moreText ? h("p", { class: "hint alerts__count" }, moreText) : null,
    h("ul", { class: "plain-list" }, list.map((a) => h("li", {
    class: "crisis-alert", "data-testid": "crisis-alert", "data-membership-id": String(a.membershipId),
  },
  h("p", { class: "crisis-alert__title" }, h("strong", {}, a.title)),
  h("p", {}, a.text),
  a.category ? h("p", { class: "hint" }, `The words sounded like ${a.category}.`) : null,
  h("p", { class: "hint" }, "They've been shown help lines privately. Nothing was hidden from the group."),
  h("div", { class: "cluster" },
    button("open-card", "Open the coaching card", { class: "button button--small", "data-testid": "crisis-card-link", dataset: { card: "crisis_alert" } }),
    button("alert-handled", "Mark as handled", { dataset: { key: a.key } })))))));
}

export function renderMeetingControls(el, vm) {
  patch(el, vm, (v) => {
    const parts = [h("p", { class: "hint" }, v.statusText)];
    if (v.status === "scheduled") {
      parts.push(button("meeting-open", "Open the circle", { class: "button", "data-testid": "open-meeting" }));
    } else if (v.status === "live") {
      if (v.confirmEnd) {
        parts.push(h("div", { class: "confirm notice notice--attention", role: "group", "aria-label": "Confirm ending the meeting" },
          h("p", {}, "End the meeting for everyone? Chat and rounds stop, and people are thanked and let go."),
          h("div", { class: "cluster" },
            button("meeting-end-confirm", "Yes, end the meeting", { class: "button button--danger", "data-testid": "confirm-end-meeting" }),
            button("confirm-cancel", "Keep going", { "data-testid": "cancel-end-meeting" }))));
      } else {
        parts.push(button("meeting-end", "End the meeting…", { class: "button button--secondary", "data-testid": "end-meeting" }));
      }
    }
    parts.push(errorLine(v.error, "error-meeting"));
    return parts;
  });
}

export function renderCoaching(el, vm) {
  patch(el, vm, (v) => v.card
    ? h("article", { class: "coaching-card", "data-testid": "coaching-card", "data-card-key": v.card.key },
      h("p", { class: "coaching-card__why" }, v.why),
      h("h4", { class: "coaching-card__title" }, v.card.title),
      h("p", { class: "coaching-card__body" }, v.card.body))
    : h("p", { class: "hint", "data-testid": "coaching-card" }, "Nothing special is happening. Cards appear here when someone passes, on a first round, after a crisis alert, or for the prompt in use."));
}

export function renderMoreCards(el, cards) {
  patch(el, cards, (list) => h("ul", { class: "plain-list card-stack" }, list.map((c) => h("li", {},
    h("details", { class: "coaching-more", id: `card-${c.key}`, "data-situation": c.situation, "data-testid": "situation-card" },
      h("summary", { dataset: { focusKey: `card:${c.key}` } }, c.title),
      h("p", {}, c.body))))));
}

export function renderConsoleAgenda(el, vm) {
  patch(el, vm, (v) => v.agenda
    ? [
      h("p", { class: "hint" }, `${v.agenda.name} · about ${v.agenda.totalMinutes} minutes. Members see titles and purposes; notes are only for you.`),
      h("ol", { class: "console-agenda" }, v.agenda.steps.map((s) => h("li", { class: s.current ? "is-current" : "", "aria-current": s.current ? "step" : null },
        h("p", { class: "console-agenda__title" }, h("strong", {}, s.title), s.minutes ? ` · ${s.minutes} min` : "",
          s.current ? h("span", { class: "badge badge--live" }, "now") : null),
        s.purpose ? h("p", { class: "hint" }, s.purpose) : null,
        s.notes && s.current ? h("p", { class: "console-agenda__notes", "data-testid": "step-notes" }, h("strong", {}, "Notes for you: "), s.notes) : null,
        s.notes && !s.current ? h("details", { class: "console-agenda__more" },
          h("summary", { dataset: { focusKey: `notes:${s.id}` } }, "Notes for you"),
          h("p", { class: "console-agenda__notes", "data-testid": "step-notes" }, s.notes)) : null,
        s.current ? null : button("phase-set", "Go to this step", { "data-testid": "agenda-step-button", "data-step-id": String(s.id), dataset: { stepId: s.id } })))),
      errorLine(v.error, "error-agenda"),
    ]
    : h("p", { class: "hint" }, "This meeting has no agenda."));
}

export function renderRoundControls(el, form, hint, vm) {
  form.hidden = vm.active;
  if (!vm.active) {
    const startBtn = form.querySelector("[data-testid='start-round']");
    startBtn.setAttribute("aria-disabled", vm.canStart ? "false" : "true");
    const text = vm.pushedPrompt
      ? `Leave it empty to use the prompt you pushed: “${vm.pushedPrompt.text}”`
      : "Leave it empty for a round without a prompt, or start one straight from the prompt list.";
    if (hint.textContent !== text) hint.textContent = text;
  }
  patch(el, vm.active || vm.startHint ? vm : null, (v) => v.active
    ? h("div", { class: "round-controls" },
      h("p", {}, h("strong", {}, v.kindLabel), " · ", v.nowText),
      h("div", { class: "cluster" },
        button("round-next", "Next person", { class: "button button--small", "data-testid": "round-next", disabled: v.turnId == null, focusKey: "round-next", dataset: { turnId: v.turnId } }),
        button("round-skip", v.skipLabel, { "data-testid": "round-skip", disabled: v.turnId == null, focusKey: "round-skip", dataset: { turnId: v.turnId } }),
        button("round-end", "End round", { "data-testid": "round-end" })),
      h("p", { class: "hint" }, "“Next” is for when someone has finished but not pressed the button; “Skip” for someone who has stepped away."),
      errorLine(v.error, "error-round"))
    : h("p", { class: "hint" }, v.startHint));
}

export function fillSelect(select, options) {
  if (!select || select.dataset.filled === "true" || !options.length) return;
  select.append(...options.map((o) => h("option", { value: o.value }, o.label)));
  select.dataset.filled = "true";
}

export function renderPromptList(refs, vm) {
  if (refs["prompt-count"].textContent !== vm.countText) refs["prompt-count"].textContent = vm.countText;
  syncList(refs["prompt-list"], vm.items.map((p) => ({ key: `q${p.id}`, ...p })), (p) => h("li", {
    class: "prompt-item", "data-testid": "prompt-item", "data-prompt-id": String(p.id),
  },
  h("p", { class: "prompt-item__text" }, p.text),
  h("p", { class: "hint" }, p.meta, " · ", h("span", { class: p.fresh ? "fresh" : "", "data-testid": "prompt-last-used" }, p.lastUsed)),
  h("div", { class: "cluster" },
    button("prompt-push", "Push to circle", { "data-testid": "prompt-push", dataset: { promptId: p.id } }),
    button("prompt-round", "Start round with this", { "data-testid": "prompt-start-round", dataset: { promptId: p.id, kind: p.roundKind } }))));
}

export function renderQueueControls(el, vm) {
  patch(el, vm, ({ queue: q, error, live }) => [
    h("p", { "data-testid": "console-floor" }, q.floorText),
    h("div", { class: "cluster" },
      q.floorId != null ? button("floor-release", "Release the floor", { "data-testid": "floor-release" }) : null,
      button("mode-progressive", "Progressive order", {
        class: "button button--small button--secondary toggle", "aria-pressed": q.progressive ? "true" : "false", "data-testid": "progressive-toggle",
      }),
      button("mode-talking-piece", "Talking piece", {
        class: "button button--small button--secondary toggle", "aria-pressed": q.talkingPiece ? "true" : "false", "data-testid": "talking-piece-toggle",
      })),
    h("p", { class: "hint" }, "Progressive: people who haven't spoken yet go ahead. Talking piece: outside rounds only the floor holder and facilitators write."),
    q.entries.length
      ? h("ol", { class: "queue-controls" }, q.entries.map((e, i) => h("li", { "data-membership-id": String(e.id), "data-testid": "queue-control-row" },
        h("span", { class: "queue-controls__name" }, e.alias),
        h("span", { class: "cluster" },
          button("floor-grant", "Give the floor", { "data-testid": "floor-grant", disabled: !live, dataset: { id: e.id } }),
          button("queue-move", "Up", {
            "aria-label": `Move ${e.alias} up`, "data-testid": "queue-up", disabled: i === 0,
            focusKey: `queue-up:${e.id}`, focusAlt: `queue-down:${e.id}`, dataset: { id: e.id, position: i - 1 },
          }),
          button("queue-move", "Down", {
            "aria-label": `Move ${e.alias} down`, "data-testid": "queue-down", disabled: i === q.entries.length - 1,
            focusKey: `queue-down:${e.id}`, focusAlt: `queue-up:${e.id}`, dataset: { id: e.id, position: i + 1 },
          }),
          button("queue-remove", "Lower hand", {
            "aria-label": `Lower ${e.alias}'s hand`, "data-testid": "queue-remove", dataset: { id: e.id },
          })))))
      : h("p", { class: "hint" }, "No hands raised."),
    errorLine(error, "error-queue"),
  ]);
}

export function renderConsoleMembers(list, rows, ctx) {
  syncList(list, rows.map((r) => ({
    key: `c${r.id}`,
    ...r,
    until: r.mutedUntil ? timeOf(r.mutedUntil) : null,
    confirming: ctx.confirmRemove === r.id,
    error: ctx.errors[`member:${r.id}`] ?? null,
  })), (r) => h("li", {
    class: `console-member${r.here ? " is-here" : ""}`, "data-testid": "console-member-row", "data-membership-id": String(r.id),
  },
  h("p", { class: "console-member__name" },
    h("span", { class: `presence-dot${r.here ? " is-here" : ""}`, "aria-hidden": "true" }),
    h("strong", {}, r.alias), r.you ? " (you)" : "",
    r.isFacilitator ? h("span", { class: "badge badge--accent" }, "facilitator") : null,
    h("span", { class: "hint" }, r.here ? " here" : " away")),
  h("p", { class: "hint", "data-testid": "speaking-stats" }, r.speakingText),
  r.intention ? h("p", { class: "console-member__intention" }, h("span", { class: "hint" }, "Hoping for: "), r.intention) : null,
  r.muted ? h("p", { class: "badge badge--full" }, r.until ? `Paused until ${r.until}` : "Paused") : null,
  r.canModerate ? h("div", { class: "cluster" },
    r.muted
      ? button("unmute", "Unpause", { "data-testid": "unmute", focusAlt: `mute:${r.id}:5`, dataset: { id: r.id } })
      : [
        button("mute", "Pause 5 min", { "data-testid": "mute-5", focusAlt: `unmute:${r.id}`, dataset: { id: r.id, minutes: 5 } }),
        button("mute", "Pause 10 min", { "data-testid": "mute-10", focusAlt: `unmute:${r.id}`, dataset: { id: r.id, minutes: 10 } }),
      ],
    r.confirming ? null : button("remove-ask", "Remove…", { class: "link-button danger-link", "data-testid": "remove-member", dataset: { id: r.id } })) : null,
  r.confirming ? h("div", { class: "confirm notice notice--attention", role: "group", "aria-label": `Confirm removing ${r.alias}` },
    h("p", {}, `Remove ${r.alias} from the circle? They leave this meeting now and can't come back unless invited again.`),
    h("div", { class: "cluster" },
      button("remove-confirm", `Yes, remove ${r.alias}`, { class: "button button--small button--danger", "data-testid": "confirm-remove-member", dataset: { id: r.id } }),
      button("confirm-cancel", "Cancel", { dataset: { id: r.id } }))) : null,
  errorLine(r.error, "error-member")));
}

/**
 * @param {Element} el @param {{items: any[], countText: string|null, moreText: string|null}} vm view.flagsView
 * @param {Record<string, string>} errors
 */
export function renderFlags(el, vm, errors) {
  const itemErrors = Object.fromEntries(vm.items.flatMap((f) => [
    [`message:${f.targetSeq}`, errors[`message:${f.targetSeq}`]],
    [`report:${f.reportId}`, errors[`report:${f.reportId}`]],
  ]).filter(([, e]) => e));
  patch(el, { ...vm, itemErrors }, (v) => [
    v.countText ? h("p", { class: "flags__count", "data-testid": "flags-count" }, h("strong", {}, v.countText)) : null,
    v.moreText ? h("p", { class: "hint", "data-testid": "flags-more" }, v.moreText) : null,
    v.items.length
      ? h("ul", { class: "plain-list flags" }, v.items.map((f) => flagItem(f, v.itemErrors)))
      : h("p", { class: "hint" }, v.countText
        ? "The newest flags have all been looked at."
        : "No flags. Members can flag any message for you to look at."),
  ]);
}

function flagItem(f, errors) {
  return h("li", { class: "flag-item card", "data-testid": "flag-item", "data-seq": String(f.targetSeq), "data-report-id": f.reportId == null ? null : String(f.reportId) },
    h("p", {}, h("strong", {}, f.title)),
    h("p", { class: "quote" }, f.excerpt),
    h("p", { class: "hint" }, f.reason),
    h("div", { class: "cluster" },
      f.canResolve
        ? button("report-resolve", "Mark as looked at", { class: "button button--small", "data-testid": "flag-resolve", dataset: { reportId: f.reportId } })
        : button("flag-dismiss", "Dismiss", { dataset: { key: f.key } }),
      f.canDelete ? button("delete-message", "Remove the message", { class: "link-button danger-link", "data-testid": "flag-delete", dataset: { seq: f.targetSeq } }) : null),
    errorLine(errors[`message:${f.targetSeq}`], "error-flag"),
    errorLine(errors[`report:${f.reportId}`], "error-flag"));
}
