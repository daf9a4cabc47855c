// The room's forms and fields: the message composer (Enter sends, Shift+Enter is a new line),
// the facilitator's round form and own-prompt form, the prompt filters, the flag form's
// reason and the weather select. What is typed stays in the fields (or ui) until it is sent;
// the checks before sending are pure functions below, so they are tested without a page.

import * as view from "./view.js";

export const CHAT_MAX = 2000;

/**
 * Whether a keydown in the message box sends: plain Enter (not while an IME composes).
 * @param {{key: string, shiftKey?: boolean, altKey?: boolean, ctrlKey?: boolean, metaKey?: boolean, isComposing?: boolean}} e
 */
export function isSendKey(e) {
  return e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing;
}

/**
 * What to do with the composer's text: send it (trimmed), nothing (empty), or an error to show.
 * @param {string} text @param {{enabled: boolean, reason: string|null}} composer  view.composerView
 * @returns {{send: string}|{error: string, announce: boolean}|null}
 */
export function chatVerdict(text, composer) {
  const body = text.trim();
  if (!composer.enabled) return { error: composer.reason ?? "", announce: true };
  if (!body) return null;
  if (body.length > CHAT_MAX) return { error: "That's longer than 2,000 characters. Could you split it in two?", announce: false };
  return { send: body };
}

/**
 * The round form's settings, shared by "Start round" and a prompt's "Start round with this".
 * @param {any} f  the form's elements (order, seconds, quiet)
 */
export function roundSettings(f) {
  return {
    order: f.order.value,
    seconds_per_turn: f.seconds.value ? Number(f.seconds.value) : null,
    quiet_seconds: f.quiet.checked ? 60 : null,
  };
}

/**
 * The round.start frame from the form: the facilitator's own words, else the prompt he
 * pushed (by id, or its text), else no prompt.
 * @param {any} f the form's elements @param {import("./state.js").RoomState} state
 */
export function roundStartFrame(f, state) {
  const own = f.prompt.value.trim();
  /** @type {Record<string, any>} */
  const frame = { type: "round.start", kind: f.kind.value, ...roundSettings(f) };
  if (own) frame.prompt = own;
  else if (state.prompt?.id != null) frame.prompt_id = state.prompt.id;
  else if (state.prompt?.text) frame.prompt = state.prompt.text;
  return frame;
}

/** @param {import("./ui.js").Room} room */
export function installForms(room) {
  installComposer(room);
  installFieldListeners(room);
  installRoundForm(room);
  installOwnPromptForm(room);
}

/** @param {import("./ui.js").Room} room */
function sendChat(room) {
  const { refs, ui } = room;
  const input = refs["message-input"];
  const verdict = chatVerdict(input.value, view.composerView(room.state, Date.now()));
  if (verdict == null) return;
  if ("error" in verdict) {
    ui.errors.chat = verdict.error;
    if (verdict.announce) room.announce(verdict.error);
    room.scheduleRender();
    return;
  }
  delete ui.errors.chat;
  room.conn.sendChat(verdict.send);
  input.value = "";
  ui.scrollToEnd = true;
  room.scheduleRender();
}

/** @param {import("./ui.js").Room} room */
function installComposer(room) {
  room.refs.composer.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    sendChat(room);
  });
  room.refs["message-input"].addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
    if (isSendKey(e)) {
      e.preventDefault();
      sendChat(room);
    }
  });
}

/** Typing and choosing, anywhere in #room (delegated). @param {import("./ui.js").Room} room */
function installFieldListeners(room) {
  const { root, refs, ui } = room;
  root.addEventListener("input", (e) => {
    const t = /** @type {HTMLInputElement} */ (e.target);
    if (t.dataset.input === "report-reason") ui.reportReason = t.value;
    if (t === refs["prompt-search"]) { ui.promptFilters.q = t.value; room.scheduleRender(); }
    if (t.id === "message-input" && ui.errors.chat) { delete ui.errors.chat; room.scheduleRender(); }
  });
  root.addEventListener("change", (e) => {
    const t = /** @type {HTMLSelectElement} */ (e.target);
    if (t.dataset.action === "weather") ui.picker = { ...ui.picker, weather: t.value };
    else if (t === refs["prompt-phase"]) ui.promptFilters.phase = t.value;
    else if (t === refs["prompt-depth"]) ui.promptFilters.depth = t.value;
    else if (t === refs["prompt-strategy"]) ui.promptFilters.strategy = t.value;
    else if (t.form === refs["round-form"]) refs["round-form"].dataset.touched = "true";
    room.scheduleRender();
  });
}

/** @param {import("./ui.js").Room} room */
function installRoundForm(room) {
  const form = room.refs["round-form"];
  form?.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    const rc = view.roundControlsView(room.state);
    if (!rc.canStart) {
      room.ui.errors["round-form"] = rc.startHint;
      room.scheduleRender();
      return;
    }
    room.send("round-form", roundStartFrame(form.elements, room.state), () => {
      form.elements.prompt.value = "";
      delete form.dataset.touched;
    });
  });
}

/** @param {import("./ui.js").Room} room */
function installOwnPromptForm(room) {
  room.refs["own-prompt-form"]?.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    const input = /** @type {HTMLFormElement} */ (e.currentTarget).querySelector("input");
    const text = input.value.trim();
    if (!text) {
      room.ui.errors.prompts = "Write a prompt first.";
      room.scheduleRender();
      return;
    }
    room.send("prompts", { type: "prompt.push", prompt: text }, () => { input.value = ""; room.announce("Prompt pushed to the circle."); });
  });
}
