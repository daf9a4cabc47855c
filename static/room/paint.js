// One render of the whole room page from the state, the page's own state and the time:
// view.js decides what each panel shows, render.js draws it (and leaves alone a panel whose
// view model did not change). Called by schedule.js, never more than once a frame plus once
// a second for the clocks.

import { isFacilitator } from "./state.js";
import * as view from "./view.js";
import * as draw from "./render.js";

/** @param {import("./ui.js").Room} room */
export function paint(room) {
  const { state, refs, ui, config } = room;
  const now = Date.now();
  draw.renderConnection(refs, view.connectionView(state, { loginUrl: config.loginUrl, dashboardUrl: config.dashboardUrl, nextPath: config.roomPath }));
  if (!state.synced) {
    draw.renderComposer(refs, view.composerView(state, now), ui.errors.chat);
    return;
  }
  const live = state.meeting?.status === "live";
  paintNow(room, now, live);
  paintConversation(room, now);
  draw.renderPeople(refs, view.peopleView(state, now));
  if (room.hasConsole && isFacilitator(state)) paintConsole(room, now, live);
}

/** The "Now" panel: status, support, the agenda step, prompt, round, talking order. */
function paintNow({ state, refs, ui }, now, live) {
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
}

/** Messages and the composer. Stays at the bottom if the reader was there (or just sent something). */
function paintConversation({ state, refs, ui }, now) {
  const scroller = refs.scroll;
  const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const messages = view.messagesView(state, { reported: ui.reported });
  draw.renderMessages(refs.messages, messages, { reporting: ui.reporting, reportReason: ui.reportReason, errors: ui.errors, isFacilitator: isFacilitator(state) });
  draw.renderOutbox(refs.outbox, view.outboxView(state));
  refs["messages-empty"].hidden = messages.length > 0 || state.outbox.length > 0;
  if (atEnd || ui.scrollToEnd) scroller.scrollTop = scroller.scrollHeight;
  ui.scrollToEnd = false;
  draw.renderComposer(refs, view.composerView(state, now), ui.errors.chat);
}

/** The facilitator console (and the crisis alerts above the room). */
function paintConsole({ state, refs, ui }, now, live) {
  const status = state.meeting?.status;
  draw.renderAlerts(refs.alerts, view.alertsPanelView(state, ui.handledAlerts));
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
  paintPrompts({ state, refs, ui }, now);
  draw.renderQueueControls(refs["queue-controls"], { queue: view.queueView(state), error: ui.errors.queue ?? null, live });
  draw.renderConsoleMembers(refs["console-members"], view.membersConsoleView(state, now), { confirmRemove: ui.confirmRemove, errors: ui.errors });
  draw.renderFlags(refs.flags, view.flagsView(state, ui.dismissedFlags), ui.errors);
}

/** The prompt library: its filters (filled once) and the filtered list. */
function paintPrompts({ state, refs, ui }, now) {
  const prompts = state.facilitator?.prompts ?? [];
  const facets = view.promptFacets(prompts);
  draw.fillSelect(refs["prompt-phase"], facets.phases);
  draw.fillSelect(refs["prompt-depth"], facets.depths);
  draw.fillSelect(refs["prompt-strategy"], facets.strategies);
  draw.renderPromptList(refs, view.promptListView(prompts, ui.promptFilters, now));
  showError(refs["error-prompts"], ui.errors.prompts);
}

/** @param {HTMLElement|undefined} el @param {string|undefined} message */
function showError(el, message) {
  if (!el) return;
  if (el.textContent !== (message ?? "")) el.textContent = message ?? "";
  el.hidden = !message;
}
