// The open task: claim, conversation, workspace, function forms, draft, answer.
// Its state lives in sessionStorage, so each browser tab has its own.
import { api } from './api.js';
import { latestScreenshot, renderConversation, textBlock } from './conversation.js';
import { $, clear, el, toast } from './dom.js';
import { takesXY, ToolForm } from './forms.js';
import { describe } from './actions.js';
import { AnswerShape } from './choices.js';
import { Workspace } from './workspace.js';

const TAB_KEY = 'hitl.tab';
const RENEW_MS = 60_000; // well inside the default five-minute lease
const FINISHED = new Set(['answered', 'rejected', 'expired', 'cancelled']);

function computerFunction(tools) {
  const functions = tools.filter((t) => t.type === 'function');
  return functions.find((t) => t.name === 'computer') ?? functions.find((t) => (t.name ?? '').toLowerCase().includes('computer'));
}

/** The display size a computer tool declares, or null when it declares none. */
function declaredDisplay(tools) {
  const computer = tools.find((t) => t.type === 'computer');
  const width = computer?.display_width;
  const height = computer?.display_height;
  const valid = (n) => Number.isInteger(n) && n > 0;
  return valid(width) && valid(height) ? { width, height } : null;
}

function parsedArguments(value) {
  if (typeof value !== 'string') return value ?? {};
  try {
    return JSON.parse(value || '{}');
  } catch {
    return {};
  }
}

export class TaskPanel {
  /** @param {{me: () => string, onChange: () => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.task = null;
    this.calls = [];
    this.forms = [];
    this.renewTimer = null;
    this.leaving = false; // the page is going away (pagehide)
    this.workspace = new Workspace({
      onChange: () => this.save(),
      onPick: (x, y) => this.pick(x, y),
    });
    $('btn-release').addEventListener('click', () => this.close(true));
    $('btn-submit').addEventListener('click', () => this.submit());
    $('btn-reject').addEventListener('click', () => this.reject());
    $('reject-reason').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.reject();
      }
    });
    $('btn-accept-draft').addEventListener('click', () => this.acceptDraft());
    $('btn-edit-draft').addEventListener('click', () => this.editDraft());
    $('reply-text').addEventListener('input', () => this.save());
    // Leaving the page releases the claim; a reload claims it again from sessionStorage.
    // ``leaving`` keeps this page from re-claiming on the event its own release causes.
    window.addEventListener('pagehide', () => {
      if (!this.task || this.done) return;
      this.leaving = true;
      api.release(this.task.id, true).catch(() => {});
    });
    window.addEventListener('pageshow', (event) => {
      if (!event.persisted || !this.leaving) return; // back from the page cache
      this.leaving = false;
      this.renew();
    });
  }

  get id() {
    return this.task?.id ?? null;
  }

  saved() {
    try {
      return JSON.parse(sessionStorage.getItem(TAB_KEY) || 'null');
    } catch {
      return null;
    }
  }

  save() {
    if (!this.task) {
      sessionStorage.removeItem(TAB_KEY);
      return;
    }
    sessionStorage.setItem(
      TAB_KEY,
      JSON.stringify({ id: this.task.id, actions: this.workspace.actions, calls: this.calls, content: $('reply-text').value }),
    );
  }

  /** Reopen the task this tab had open before a reload, with its unsent work. */
  async restore() {
    const state = this.saved();
    if (state?.id) await this.open(state.id, state);
  }

  /** Claim a task and show it; the one open before is released first. */
  async open(id, state = null) {
    if (this.id === id) return true;
    if (this.task) await this.close(true);
    try {
      await api.claim(id);
    } catch (error) {
      toast(error.status === 409 ? error.message : `Could not claim: ${error.message}`);
      sessionStorage.removeItem(TAB_KEY);
      return false;
    }
    let task;
    try {
      task = await api.task(id);
    } catch (error) {
      toast(`Could not load the task: ${error.message}`);
      return false;
    }
    this.task = task;
    this.done = false;
    this.render(task, state);
    this.renewTimer = setInterval(() => this.renew(), RENEW_MS);
    this.save();
    this.hooks.onChange();
    return true;
  }

  async renew() {
    if (!this.task || this.done) return;
    try {
      await api.claim(this.task.id);
    } catch (error) {
      this.banner(error.message);
    }
  }

  /** Close the task view; ``release`` gives the claim back. */
  async close(release) {
    const task = this.task;
    clearInterval(this.renewTimer);
    this.task = null;
    this.calls = [];
    this.forms = [];
    this.shape?.remove(this.done);
    this.shape = null;
    sessionStorage.removeItem(TAB_KEY);
    $('task').hidden = true;
    $('task-empty').hidden = false;
    this.hooks.onChange();
    if (release && task && !this.done) {
      try {
        await api.release(task.id);
      } catch {
        // Already finished or taken over: nothing to give back.
      }
    }
  }

  banner(text) {
    const node = $('task-banner');
    node.textContent = text;
    node.hidden = !text;
  }

  render(task, state) {
    $('task-empty').hidden = true;
    $('task').hidden = false;
    this.banner('');
    $('reply-error').textContent = '';
    $('btn-submit').disabled = false;
    $('btn-reject').disabled = false;
    $('task-title').textContent = task.model;
    $('task-meta').textContent = `${task.api} · ${task.reason} · session ${task.session} · ${task.id}`;
    renderConversation($('conversation'), task);
    const tools = task.tools ?? [];
    const functions = tools.filter((t) => t.type === 'function');
    const computer = tools.some((t) => t.type === 'computer') || (task.api === 'chat.completions' && Boolean(computerFunction(tools)));
    const pick = functions.some(takesXY);
    const shot = latestScreenshot(task);
    $('workspace').hidden = !(shot || computer || pick);
    this.workspace.load({ src: shot, computer, pick, actions: state?.actions ?? [], display: declaredDisplay(tools) });

    // Function forms, one per declared tool.
    this.forms = functions.map((tool) => new ToolForm(tool, (call) => this.addCall(call)));
    clear($('tool-forms')).append(...this.forms.map((f) => f.element));
    $('functions').hidden = functions.length === 0;
    this.calls = state?.calls ?? [];
    this.renderCalls();
    $('reply-text').value = state?.content ?? '';
    $('reject-reason').value = '';
    this.renderDraft(task.draft);
    this.shape?.remove();
    this.shape = new AnswerShape(task, () => this.save()); // output format, n slots
  }

  renderDraft(draft) {
    $('draft').hidden = !draft;
    if (!draft) return;
    const confidence = typeof draft.confidence === 'number' ? `confidence ${Math.round(draft.confidence * 100)}%` : 'confidence unknown';
    $('draft-confidence').textContent = confidence;
    const body = clear($('draft-body'));
    if (draft.content) body.append(textBlock(draft.content));
    for (const call of draft.tool_calls ?? []) {
      body.append(el('div', { class: 'mono' }, `→ ${call.name}(${JSON.stringify(parsedArguments(call.arguments))})`));
    }
    (draft.computer_actions ?? []).forEach((action, i) => body.append(el('div', { class: 'mono' }, `${i + 1}. ${describe(action)}`)));
  }

  // -- function calls -----------------------------------------------------------

  addCall(call) {
    this.calls.push(call);
    this.renderCalls();
    this.save();
  }

  renderCalls() {
    const list = clear($('calls'));
    this.calls.forEach((call, i) => {
      const edit = el('button', { type: 'button', class: 'edit', title: 'Back into the form' }, 'edit');
      const remove = el('button', { type: 'button', class: 'remove', 'aria-label': `Remove call ${i + 1}` }, '✕');
      edit.addEventListener('click', () => {
        this.forms.find((f) => f.tool.name === call.name)?.fill(call.arguments);
        this.calls.splice(i, 1);
        this.renderCalls();
        this.save();
      });
      remove.addEventListener('click', () => {
        this.calls.splice(i, 1);
        this.renderCalls();
        this.save();
      });
      list.append(el('li', { 'data-name': call.name }, el('span', { class: 'desc' }, `${call.name}(${JSON.stringify(call.arguments)})`), edit, remove));
    });
    $('call-count').textContent = this.calls.length ? `(${this.calls.length})` : '';
  }

  pick(x, y) {
    const targets = this.forms.filter((f) => takesXY(f.tool));
    for (const form of targets) form.setXY(x, y);
    if (targets.length) toast(`x ${x}, y ${y} filled in ${targets.map((f) => f.tool.name).join(', ')}`);
  }

  // -- outcomes -----------------------------------------------------------------

  /** The answer body the reviewer API expects. */
  body() {
    const body = {};
    const text = $('reply-text').value;
    if (text.trim()) body.content = text;
    if (this.calls.length) body.tool_calls = this.calls;
    const actions = this.workspace.actions;
    if (actions.length) body.computer_actions = actions;
    return this.shape ? this.shape.body(body) : body;
  }

  async submit() {
    if (!this.task || this.done) return;
    $('reply-error').textContent = '';
    const body = this.body();
    if (body === null) return; // a reply slot is not ready: choices.js said why
    if (!Object.keys(body).length) {
      $('reply-error').textContent = 'Nothing to send: add actions, a tool call (press "Add call") or reply text.';
      return;
    }
    await this.finish(() => api.answer(this.task.id, body), 'Answer sent');
  }

  async reject() {
    if (!this.task || this.done) return;
    const reason = $('reject-reason').value.trim();
    if (!reason) {
      $('reply-error').textContent = 'A rejection needs a reason.';
      $('reject-reason').focus();
      return;
    }
    await this.finish(() => api.reject(this.task.id, reason), 'Rejected');
  }

  async acceptDraft() {
    if (!this.task?.draft || this.done) return;
    await this.finish(() => api.answer(this.task.id, { accept_draft: true }), 'Draft accepted');
  }

  /** Load the draft into the action list, the calls list and the reply box for editing. */
  editDraft() {
    const draft = this.task?.draft;
    if (!draft) return;
    this.workspace.setActions(draft.computer_actions ?? []);
    this.calls = (draft.tool_calls ?? []).map((c) => ({ name: c.name, arguments: parsedArguments(c.arguments) }));
    for (const call of this.calls) this.forms.find((f) => f.tool.name === call.name)?.fill(call.arguments);
    this.renderCalls();
    $('reply-text').value = draft.content ?? '';
    this.shape?.fill(draft);
    this.save();
    toast('Draft loaded: edit, then Submit');
  }

  async finish(send, message) {
    $('reply-error').textContent = '';
    this.sending = true;
    try {
      await send();
    } catch (error) {
      $('reply-error').textContent = error.message;
      return;
    } finally {
      this.sending = false;
    }
    this.done = true;
    toast(message);
    await this.close(false);
  }

  /** An event about the open task from someone or something else. */
  event(name, summary) {
    if (!this.task || summary.id !== this.task.id || this.sending || this.leaving) return;
    if (FINISHED.has(summary.status)) {
      this.done = true;
      $('btn-submit').disabled = true;
      $('btn-reject').disabled = true;
      const by = summary.answered_by ? ` by ${summary.answered_by}` : '';
      this.banner(`This task was ${summary.status}${by}; it can no longer be answered.`);
      sessionStorage.removeItem(TAB_KEY);
    } else if (summary.status === 'claimed' && summary.claimed_by !== this.hooks.me()) {
      this.banner(`Now held by ${summary.claimed_by}.`);
    } else if (summary.status === 'pending') {
      // Our lease ran out (or someone released it): take it back while we work.
      api.claim(summary.id).then(
        () => this.banner(''),
        (error) => this.banner(error.message),
      );
    }
  }
}
