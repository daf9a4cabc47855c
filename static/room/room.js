// The meeting room page's entry module. Reads its config from data- attributes on #room,
// opens the connection (socket.js), folds everything into one state (state.js), and renders
// it (view.js decides, render.js draws) on the next animation frame and once a second for the
// clocks. Buttons are handled by delegation (data-action). Screen-reader announcements go
// through ONE polite live region. Nothing here moves focus on its own, except to follow a
// person's own action (a shortcut, opening a form) — never while they are typing.

import { createConnection } from "./socket.js";
import { announcementFor, initialState, isFacilitator, reduce } from "./state.js";
import * as view from "./view.js";
import * as draw from "./render.js";

const root = document.getElementById("room");
if (root) start(root);

function start(root) {
  const config = {
    wsPath: root.dataset.wsPath,
    meetingId: root.dataset.meetingId,
    dashboardUrl: root.dataset.dashboardUrl,
    loginUrl: root.dataset.loginUrl,
    roomPath: root.dataset.roomPath || location.pathname,
  };
  /** @type {Record<string, HTMLElement>} */
  const refs = {};
  for (const el of root.querySelectorAll("[data-ref]")) refs[el.dataset.ref] = el;
  const hasConsole = Boolean(refs["console-details"]);

  const explainerKey = `hearth:round-explainer-dismissed:${config.meetingId}`;
  const ui = {
    explainerDismissed: readFlag(explainerKey),
    picker: { open: null, words: [], weather: "" },
    pickerTurn: null,
    feelingsSent: null, // turn_id whose feelings were shared
    passAck: null, // round id in which I passed
    passAckAt: 0,
    reporting: null, // seq of the message whose flag form is open
    reportReason: "",
    reported: new Set(),
    confirmEnd: false,
    confirmRemove: null,
    errors: /** @type {Record<string, string>} */ ({}),
    handledAlerts: new Set(),
    dismissedFlags: new Set(),
    promptFilters: { q: "", phase: "", depth: "", strategy: "" },
    scrollToEnd: true,
  };
  /** Frames awaiting an answer: ref → where to show an error, and what to do on ack. */
  const pending = new Map();

  let state = initialState();

  // -- announcements (the one live region) ----------------------------------------------
  let spoken = [];
  let speakTimer = null;
  function announce(text) {
    if (!text) return;
    spoken.push(text);
    clearTimeout(speakTimer);
    speakTimer = setTimeout(() => {
      const message = spoken.join(" ");
      spoken = [];
      refs.live.textContent = "";
      // A fresh text node after clearing makes screen readers read even a repeated message.
      setTimeout(() => { refs.live.textContent = message; }, 60);
    }, 150);
  }

  // -- state ------------------------------------------------------------------------------
  function dispatch(action) {
    const prev = state;
    state = reduce(state, action);
    afterAction(prev, action);
    scheduleRender();
  }

  function afterAction(prev, action) {
    switch (action.type) {
      case "event":
        announce(announcementFor(prev, state, action.event));
        if (action.event?.type === "chat.message" && action.event.author?.membership_id === state.you?.membership_id) ui.scrollToEnd = true;
        break;
      case "snapshot":
      case "resume":
        root.dataset.ready = "true";
        if (prev.connection.status === "open" && prev.synced && action.type === "resume") announce("Back in the room.");
        break;
      case "reconnecting":
        if (action.attempt === 1) announce("The connection dropped. Reconnecting…");
        break;
      case "closed":
        if (state.connection.final) announce(view.connectionView(state).explanation);
        break;
      case "ack":
        onAnswer(action, true);
        break;
      case "error":
        onAnswer(action, false);
        break;
      default:
        break;
    }
    if (state.meeting) root.dataset.status = state.meeting.status;
    // A new turn of mine starts a fresh feelings picker.
    const turnId = state.round?.current?.turn_id ?? null;
    if (turnId !== ui.pickerTurn) {
      ui.pickerTurn = turnId;
      ui.picker = { open: null, words: [], weather: "" };
    }
    if (!state.round && ui.passAck != null) {
      // My pass ended the round: the panel is gone, so say thanks in the status line.
      if (Date.now() - ui.passAckAt < 4000) showStatus("Thanks — passing is always fine.", { quiet: true });
      ui.passAck = null;
    }
  }

  function onAnswer(action, ok) {
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

  function send(area, frame, onAck, onError) {
    delete ui.errors[area];
    const ref = conn.send(frame);
    if (ref != null) pending.set(ref, { area, onAck, onError });
    scheduleRender();
    return ref;
  }

  let statusTimer = null;
  function showStatus(message, { quiet = false } = {}) {
    if (!message) return;
    refs["status-line"].textContent = message;
    refs["status-line"].hidden = false;
    if (!quiet) announce(message);
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { refs["status-line"].hidden = true; }, 8000);
  }

  // -- rendering --------------------------------------------------------------------------
  let frame = null;
  function scheduleRender() {
    if (frame == null) frame = requestAnimationFrame(() => { frame = null; render(); });
  }

  function render() {
    const now = Date.now();
    draw.renderConnection(refs, view.connectionView(state, { loginUrl: config.loginUrl, dashboardUrl: config.dashboardUrl, nextPath: config.roomPath }));
    if (!state.synced) {
      draw.renderComposer(refs, view.composerView(state, now), ui.errors.chat);
      return;
    }
    const live = state.meeting?.status === "live";
    draw.renderStatus(refs.status, view.statusView(state));
    const support = view.supportView(state);
    draw.renderSupport(refs.support, support?.prominent ? support : null);
    draw.renderSupport(refs["help-lines"], support && !support.prominent ? support : null);
    draw.renderStep(refs.step, view.stepView(state, now));
    draw.renderPushedPrompt(refs.prompt, view.pushedPromptView(state));
    draw.renderRound(refs.round, {
      round: view.roundView(state, ui, now),
      picker: view.feelingsPickerView(ui.picker),
      errors: { turn: ui.errors.turn ?? null, feelings: ui.errors.feelings ?? null },
    });
    draw.renderTalking(refs.talking, { queue: view.queueView(state), error: ui.errors.hand ?? null, live });
    draw.renderAgenda(refs.agenda, isFacilitator(state) ? null : view.agendaView(state));

    // Messages: stay at the bottom if the reader was there (or just sent something).
    const scroller = refs.scroll;
    const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const messages = view.messagesView(state, { reported: ui.reported });
    draw.renderMessages(refs.messages, messages, { reporting: ui.reporting, reportReason: ui.reportReason, errors: ui.errors, isFacilitator: isFacilitator(state) });
    draw.renderOutbox(refs.outbox, view.outboxView(state));
    refs["messages-empty"].hidden = messages.length > 0 || state.outbox.length > 0;
    if (atEnd || ui.scrollToEnd) scroller.scrollTop = scroller.scrollHeight;
    ui.scrollToEnd = false;

    draw.renderComposer(refs, view.composerView(state, now), ui.errors.chat);
    draw.renderPeople(refs, view.peopleView(state, now));

    if (hasConsole && isFacilitator(state)) renderConsole(now, live);
  }

  function renderConsole(now, live) {
    const status = state.meeting?.status;
    draw.renderAlerts(refs.alerts, view.alertsView(state, ui.handledAlerts));
    draw.renderMeetingControls(refs["meeting-controls"], {
      status,
      confirmEnd: ui.confirmEnd,
      error: ui.errors.meeting ?? null,
      statusText: status === "scheduled"
        ? "The circle isn't open yet: members see a waiting room."
        : status === "live" ? "The circle is open." : "The meeting has ended.",
    });
    draw.renderCoaching(refs.coaching, view.coachingPick(state) ?? { card: null });
    draw.renderMoreCards(refs["more-cards"], view.situationCards(state));
    draw.renderConsoleAgenda(refs["console-agenda"], { agenda: view.agendaView(state, { withNotes: true }), error: ui.errors.agenda ?? null });
    const rc = view.roundControlsView(state);
    draw.renderRoundControls(refs["round-controls"], refs["round-form"], refs["round-prompt-hint"], { ...rc, error: ui.errors.round ?? null });
    const form = refs["round-form"];
    if (!rc.active && form.dataset.touched !== "true" && rc.defaultKind) form.elements.kind.value = rc.defaultKind;
    showError(refs["error-round-form"], ui.errors["round-form"]);

    const prompts = state.facilitator?.prompts ?? [];
    const facets = view.promptFacets(prompts);
    draw.fillSelect(refs["prompt-phase"], facets.phases);
    draw.fillSelect(refs["prompt-depth"], facets.depths);
    draw.fillSelect(refs["prompt-strategy"], facets.strategies);
    draw.renderPromptList(refs, view.promptListView(prompts, ui.promptFilters, now));
    showError(refs["error-prompts"], ui.errors.prompts);

    draw.renderQueueControls(refs["queue-controls"], { queue: view.queueView(state), error: ui.errors.queue ?? null, live });
    draw.renderConsoleMembers(refs["console-members"], view.membersConsoleView(state, now), { confirmRemove: ui.confirmRemove, errors: ui.errors });
    draw.renderFlags(refs.flags, view.reportsView(state, ui.dismissedFlags), ui.errors);
  }

  function showError(el, message) {
    if (!el) return;
    if (el.textContent !== (message ?? "")) el.textContent = message ?? "";
    el.hidden = !message;
  }

  // -- actions ----------------------------------------------------------------------------
  const toId = (v) => (v != null && /^\d+$/.test(String(v)) ? Number(v) : v);

  function sendChat() {
    const input = refs["message-input"];
    const body = input.value.trim();
    const verdict = view.composerView(state, Date.now());
    if (!verdict.enabled) {
      ui.errors.chat = verdict.reason;
      announce(verdict.reason);
      scheduleRender();
      return;
    }
    if (!body) return;
    if (body.length > 2000) {
      ui.errors.chat = "That's longer than 2,000 characters. Could you split it in two?";
      scheduleRender();
      return;
    }
    delete ui.errors.chat;
    conn.sendChat(body);
    input.value = "";
    ui.scrollToEnd = true;
    scheduleRender();
  }

  const actions = {
    react: (d) => send(`message:${d.seq}`, { type: "reaction.send", target_seq: Number(d.seq), kind: d.kind }),
    "report-open": (d) => {
      ui.reporting = Number(d.seq);
      ui.reportReason = "";
      render();
      root.querySelector(`[data-focus-key="report-reason:${d.seq}"]`)?.focus();
    },
    "report-cancel": (d) => closeReport(d.seq),
    "report-send": (d) => {
      const seq = Number(d.seq);
      send(`message:${seq}`, { type: "message.report", target_seq: seq, reason: ui.reportReason.trim() }, () => {
        ui.reported.add(seq);
        announce("Thanks. The facilitators will take a look.");
      }, () => ui.reported.delete(seq));
      ui.reporting = null;
      ui.reportReason = "";
      ui.reported.add(seq); // optimistic; an error brings the message's error line
      focusAfterRender(`[data-seq="${seq}"] [data-action="react"]`);
    },
    "delete-message": (d) => send(`message:${d.seq}`, { type: "message.delete", target_seq: Number(d.seq) }),
    retry: (d) => { conn.retryChat(d.clientId); },
    discard: (d) => { conn.discardChat(d.clientId); focusAfterRender("#message-input"); },

    "turn-done": (d) => send("turn", { type: "turn.done", turn_id: toId(d.turnId) }),
    "turn-pass": (d) => {
      const roundId = state.round?.id ?? null;
      send("turn", { type: "turn.pass", turn_id: toId(d.turnId) }, () => {
        announce("Thanks — passing is always fine.");
        if (state.round && state.round.id === roundId) {
          ui.passAck = roundId;
          ui.passAckAt = Date.now();
        } else {
          showStatus("Thanks — passing is always fine.", { quiet: true }); // the round ended with my pass
        }
      });
    },
    "dismiss-explainer": () => {
      ui.explainerDismissed = true;
      writeFlag(explainerKey);
    },
    "feelings-family": (d) => { ui.picker = { ...ui.picker, open: ui.picker.open === d.family ? null : d.family }; },
    "feelings-word": (d) => {
      const words = ui.picker.words.includes(d.word)
        ? ui.picker.words.filter((w) => w !== d.word)
        : [...ui.picker.words, d.word].slice(0, view.MAX_FEELING_WORDS);
      ui.picker = { ...ui.picker, words };
    },
    "feelings-share": () => {
      const turnId = state.round?.current?.turn_id ?? null;
      const weather = ui.picker.weather === "" ? null : Number(ui.picker.weather);
      send("feelings", { type: "feelings.share", words: ui.picker.words, weather }, () => { ui.feelingsSent = turnId; });
    },
    "hand-toggle": () => toggleHand(),

    "meeting-open": () => send("meeting", { type: "meeting.open" }),
    "meeting-end": () => { ui.confirmEnd = true; focusAfterRender("[data-testid='confirm-end-meeting']"); },
    "meeting-end-confirm": () => { ui.confirmEnd = false; send("meeting", { type: "meeting.end" }); },
    "confirm-cancel": (d) => {
      if (d.id != null) {
        ui.confirmRemove = null;
        focusAfterRender(`[data-testid='console-member-row'][data-membership-id="${d.id}"] [data-action='remove-ask']`);
      } else {
        ui.confirmEnd = false;
        focusAfterRender("[data-testid='end-meeting']");
      }
    },
    "phase-set": (d) => send("agenda", { type: "phase.set", step_id: toId(d.stepId) }),
    "prompt-push": (d) => send("prompts", { type: "prompt.push", prompt_id: toId(d.promptId) }, () => announce("Prompt pushed to the circle.")),
    "prompt-round": (d) => {
      const form = refs["round-form"];
      form.elements.kind.value = d.kind;
      send("prompts", { ...roundSettings(), type: "round.start", kind: d.kind, prompt_id: toId(d.promptId) });
    },
    "round-next": (d) => send("round", { type: "round.next", turn_id: toId(d.turnId) }),
    "round-skip": (d) => send("round", { type: "round.skip", turn_id: toId(d.turnId) }),
    "round-end": () => send("round", { type: "round.end" }),
    "floor-grant": (d) => send("queue", { type: "floor.grant", membership_id: toId(d.id) }),
    "floor-release": () => send("queue", { type: "floor.release" }),
    "queue-move": (d) => send("queue", { type: "queue.move", membership_id: toId(d.id), position: Number(d.position) }),
    "queue-remove": (d) => send("queue", { type: "queue.remove", membership_id: toId(d.id) }),
    "mode-progressive": () => send("queue", { type: "queue.mode", progressive: !state.queue.mode.progressive }),
    "mode-talking-piece": () => send("queue", { type: "queue.mode", talking_piece: !state.queue.mode.talking_piece }),
    mute: (d) => send(`member:${d.id}`, { type: "member.mute", membership_id: toId(d.id), minutes: Number(d.minutes) }),
    unmute: (d) => send(`member:${d.id}`, { type: "member.unmute", membership_id: toId(d.id) }),
    "remove-ask": (d) => { ui.confirmRemove = toId(d.id); focusAfterRender("[data-testid='confirm-remove-member']"); },
    "remove-confirm": (d) => { ui.confirmRemove = null; send(`member:${d.id}`, { type: "member.remove", membership_id: toId(d.id) }); },
    "open-card": (d) => openCard(d.card),
    "alert-handled": (d) => { ui.handledAlerts.add(d.key); },
    "flag-dismiss": (d) => { ui.dismissedFlags.add(d.key); },
  };

  function closeReport(seq) {
    ui.reporting = null;
    ui.reportReason = "";
    focusAfterRender(`[data-seq="${seq}"] [data-action="report-open"]`);
  }

  function toggleHand() {
    const q = view.queueView(state);
    if (!q.canRaise && !q.handRaised) {
      announce(q.iHoldFloor ? "You have the floor right now." : "Hands open when the circle does.");
      return;
    }
    send("hand", { type: q.handRaised ? "hand.lower" : "hand.raise" }, () => {
      announce(q.handRaised ? "Hand lowered." : "Hand raised.");
    });
  }

  function roundSettings() {
    const f = refs["round-form"].elements;
    return {
      order: f.order.value,
      seconds_per_turn: f.seconds.value ? Number(f.seconds.value) : null,
      quiet_seconds: f.quiet.checked ? 60 : null,
    };
  }

  function openCard(situation) {
    const details = refs["more-cards-details"];
    if (!details) return;
    details.open = true;
    if (refs["console-details"]) refs["console-details"].open = true;
    const card = details.querySelector(`[data-situation="${CSS.escape(situation)}"]`);
    if (card) {
      card.open = true;
      card.scrollIntoView({ block: "nearest" });
      card.querySelector("summary")?.focus();
    }
  }

  /** After the next render, focus an element (following the person's own action). */
  function focusAfterRender(selector) {
    requestAnimationFrame(() => requestAnimationFrame(() => root.querySelector(selector)?.focus()));
  }

  // -- DOM events ---------------------------------------------------------------------------
  root.addEventListener("click", (e) => {
    const target = /** @type {HTMLElement} */ (e.target).closest("[data-action]");
    if (!target || !root.contains(target) || target.tagName === "SELECT") return;
    if (target.getAttribute("aria-disabled") === "true" || target.disabled) return;
    const handler = actions[target.dataset.action];
    if (!handler) return;
    e.preventDefault();
    handler({ ...target.dataset });
    scheduleRender();
  });

  root.addEventListener("input", (e) => {
    const t = /** @type {HTMLInputElement} */ (e.target);
    if (t.dataset.input === "report-reason") ui.reportReason = t.value;
    if (t === refs["prompt-search"]) { ui.promptFilters.q = t.value; scheduleRender(); }
    if (t.id === "message-input" && ui.errors.chat) { delete ui.errors.chat; scheduleRender(); }
  });

  root.addEventListener("change", (e) => {
    const t = /** @type {HTMLSelectElement} */ (e.target);
    if (t.dataset.action === "weather") ui.picker = { ...ui.picker, weather: t.value };
    else if (t === refs["prompt-phase"]) ui.promptFilters.phase = t.value;
    else if (t === refs["prompt-depth"]) ui.promptFilters.depth = t.value;
    else if (t === refs["prompt-strategy"]) ui.promptFilters.strategy = t.value;
    else if (t.form === refs["round-form"]) refs["round-form"].dataset.touched = "true";
    scheduleRender();
  });

  refs.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    sendChat();
  });
  refs["message-input"].addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
      e.preventDefault();
      sendChat();
    }
  });

  refs["round-form"]?.addEventListener("submit", (e) => {
    e.preventDefault();
    const rc = view.roundControlsView(state);
    if (!rc.canStart) {
      ui.errors["round-form"] = rc.startHint;
      scheduleRender();
      return;
    }
    const f = refs["round-form"].elements;
    const own = f.prompt.value.trim();
    const frame = { type: "round.start", kind: f.kind.value, ...roundSettings() };
    if (own) frame.prompt = own;
    else if (state.prompt?.id != null) frame.prompt_id = state.prompt.id;
    else if (state.prompt?.text) frame.prompt = state.prompt.text;
    send("round-form", frame, () => { f.prompt.value = ""; delete refs["round-form"].dataset.touched; });
  });

  refs["own-prompt-form"]?.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = e.currentTarget.querySelector("input");
    const text = input.value.trim();
    if (!text) {
      ui.errors.prompts = "Write a prompt first.";
      scheduleRender();
      return;
    }
    send("prompts", { type: "prompt.push", prompt: text }, () => { input.value = ""; announce("Prompt pushed to the circle."); });
  });

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      if (ui.reporting != null) { closeReport(ui.reporting); scheduleRender(); return; }
      if (ui.confirmEnd) { actions["confirm-cancel"]({}); scheduleRender(); return; }
      if (ui.confirmRemove != null) { actions["confirm-cancel"]({ id: ui.confirmRemove }); scheduleRender(); return; }
      return;
    }
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.code === "KeyH") {
      e.preventDefault();
      toggleHand();
    } else if (e.code === "KeyM") {
      e.preventDefault();
      refs["message-input"].focus();
    } else if (e.code === "KeyN") {
      e.preventDefault();
      document.getElementById("room-now")?.focus();
    }
  });

  // The console is open beside the room on wide screens and folded into a disclosure on
  // phones (until the facilitator opens it themselves).
  if (hasConsole) {
    const wide = matchMedia("(min-width: 700px)");
    let chosen = false;
    refs["console-details"].open = wide.matches;
    refs["console-details"].addEventListener("toggle", () => { if (!applyingWidth) chosen = true; });
    let applyingWidth = false;
    wide.addEventListener("change", () => {
      if (chosen) return;
      applyingWidth = true;
      refs["console-details"].open = wide.matches;
      setTimeout(() => { applyingWidth = false; }, 0);
    });
  }

  // -- connect -----------------------------------------------------------------------------
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const conn = createConnection({ url: `${scheme}//${location.host}${config.wsPath}`, onAction: dispatch });
  setInterval(() => { if (state.synced) render(); }, 1000);
  scheduleRender();
}

function readFlag(key) {
  try {
    return globalThis.localStorage?.getItem(key) === "1";
  } catch {
    return false;
  }
}

function writeFlag(key) {
  try {
    globalThis.localStorage?.setItem(key, "1");
  } catch {
    /* private mode: the dismissal lasts for this page only */
  }
}
