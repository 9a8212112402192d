// The open task: claim (or a read-only look at a task someone else holds), the
// past steps and the conversation, the workspace, function calls, the draft, the
// reply, and the answer. Unsent work is kept per task in sessionStorage, so
// switching tasks (or reloading) loses nothing, and each browser tab has its own.
import { api } from './api.js';
import { CallList } from './calls.js';
import { AnswerShape } from './choices.js';
import { latestScreenshot, renderConversation } from './conversation.js';
import { confirmByWaiting, draftDiff, renderDraft } from './draft.js';
import { $, clear, toast } from './dom.js';
import { takesXY, ToolForm } from './forms.js';
import { gradeView } from './grade.js';
import { mcpView } from './mcp.js';
import { ReplyBox } from './reply.js';
import { parsedArguments, renderTimeline } from './timeline.js';
import { Workspace } from './workspace.js';

const TAB_KEY = 'hitl.tab'; // the task this tab has open
const WORK_KEY = 'hitl.work.'; // + task id: its unsent actions, calls and reply
const RENEW_MS = 60_000; // well inside the default five-minute lease
const FINISHED = new Set(['answered', 'rejected', 'expired', 'cancelled']);
const MANY_TOOLS = 6; // more forms than this start folded (see load)

function computerFunction(tools) {
  const functions = tools.filter((t) => t.type === 'function');
  return functions.find((t) => t.name === 'computer') ?? functions.find((t) => (t.name ?? '').toLowerCase().includes('computer'));
}

/** The display size a computer tool declares, or null when it declares none. */
function declaredDisplay(tools) {
  const computer = tools.find((t) => t.type === 'computer');
  const valid = (n) => Number.isInteger(n) && n > 0;
  return valid(computer?.display_width) && valid(computer?.display_height) ? { width: computer.display_width, height: computer.display_height } : null;
}

function readJSON(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

export class TaskPanel {
  /** @param {{me: () => string, onChange: () => void, onAnswered: (task: object) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.task = null;
    this.forms = [];
    this.readOnly = false;
    this.renewTimer = null;
    this.leaving = false; // the page is going away (pagehide)
    this.workspace = new Workspace({ onChange: () => this.save(), onPick: (x, y) => this.pick(x, y) });
    this.calls = new CallList(() => this.save());
    this.reply = new ReplyBox(() => this.save());
    const click = (id, fn) => $(id).addEventListener('click', fn);
    click('btn-release', () => this.close(true));
    click('btn-submit', () => this.submit());
    click('btn-reject', () => this.reject());
    click('btn-refuse', () => this.refuse());
    click('btn-accept-draft', () => this.acceptDraft());
    click('btn-edit-draft', () => this.editDraft());
    click('btn-add-reply', () => {
      $('reply').hidden = false;
      this.reply.focus();
    });
    click('btn-side', () => this.toggleSide());
    click('tab-steps', () => this.showSide('steps'));
    click('tab-messages', () => this.showSide('messages'));
    $('reject-reason').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.reject();
      }
    });
    if (localStorage.getItem('hitl.side') === 'hidden') $('task').classList.add('side-hidden');
    // Leaving the page releases the claim; a reload claims it again from sessionStorage.
    // ``leaving`` keeps this page from re-claiming on the event its own release causes.
    window.addEventListener('pagehide', () => {
      if (!this.task || this.done || this.readOnly) return;
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

  // -- unsent work, per task --------------------------------------------------------

  save() {
    if (!this.task) return;
    sessionStorage.setItem(TAB_KEY, this.task.id);
    if (this.readOnly || this.done) return;
    const work = { actions: this.workspace.actions, calls: this.calls.calls, content: this.reply.value };
    const empty = !work.actions.length && !work.calls.length && !work.content;
    if (empty) sessionStorage.removeItem(WORK_KEY + this.task.id);
    else sessionStorage.setItem(WORK_KEY + this.task.id, JSON.stringify(work));
    if (this.editedDraft) $('draft-diff').textContent = draftDiff(this.task.draft, this.ownBody());
  }

  forget(id) {
    sessionStorage.removeItem(WORK_KEY + id);
  }

  /** Reopen the task this tab had open before a reload, with its unsent work. */
  async restore() {
    const id = sessionStorage.getItem(TAB_KEY);
    if (id && /^[\w-]+$/.test(id)) await this.open(id);
  }

  // -- opening and closing ------------------------------------------------------------

  /**
   * Show a task: claim it when free, or show it read-only when someone else holds it
   * (looking never claims). ``keepView`` keeps zoom and pan (the session's next step).
   */
  async open(id, { keepView = false } = {}) {
    if (this.id === id) return true;
    if (this.task) await this.close(true, { keepWork: true, quiet: true });
    let task;
    try {
      task = await api.task(id);
    } catch (error) {
      toast(`Could not load the task: ${error.message}`);
      if (sessionStorage.getItem(TAB_KEY) === id) sessionStorage.removeItem(TAB_KEY);
      return false;
    }
    let readOnly = FINISHED.has(task.status) || Boolean(task.claimed_by && task.claimed_by !== this.hooks.me());
    if (!readOnly) {
      try {
        Object.assign(task, await api.claim(id));
      } catch (error) {
        if (error.status !== 409) {
          toast(`Could not claim: ${error.message}`);
          return false;
        }
        readOnly = true;
        Object.assign(task, await api.task(id).catch(() => ({})));
      }
    }
    this.task = task;
    this.done = FINISHED.has(task.status);
    this.readOnly = readOnly;
    this.editedDraft = false;
    this.render(task, readOnly ? null : readJSON(WORK_KEY + id), keepView);
    if (!readOnly) this.renewTimer = setInterval(() => this.renew(), RENEW_MS);
    this.save();
    this.hooks.onChange();
    return true;
  }

  async renew() {
    if (!this.task || this.done || this.readOnly) return;
    try {
      await api.claim(this.task.id);
    } catch (error) {
      this.banner(error.message);
    }
  }

  /** Close the task view; ``release`` gives the claim back; ``keepWork`` keeps unsent work. */
  async close(release, { keepWork = true, quiet = false } = {}) {
    const task = this.task;
    if (task && keepWork) this.save();
    clearInterval(this.renewTimer);
    this.task = null;
    this.forms = [];
    this.shape?.remove(this.done);
    this.shape = null;
    this.special?.remove();
    this.special = null;
    sessionStorage.removeItem(TAB_KEY);
    $('task').hidden = true;
    $('task-empty').hidden = quiet;
    this.hooks.onChange();
    if (release && task && !this.done && !this.readOnly) {
      try {
        await api.release(task.id);
      } catch {
        // Already finished or taken over: nothing to give back.
      }
    }
  }

  banner(text) {
    $('task-banner').textContent = text;
    $('task-banner').hidden = !text;
  }

  // -- rendering --------------------------------------------------------------------

  render(task, work, keepView) {
    const root = $('task');
    $('task-empty').hidden = true;
    root.hidden = false;
    root.className = `kind-${task.kind ?? 'text'}${root.classList.contains('side-hidden') ? ' side-hidden' : ''}`;
    root.classList.toggle('read-only', this.readOnly);
    this.banner(this.readOnly ? `Read-only: ${FINISHED.has(task.status) ? `this task was ${task.status}` : `held by ${task.claimed_by}`}.` : '');
    $('reply-error').textContent = '';
    for (const id of ['btn-submit', 'btn-reject', 'btn-refuse', 'btn-release', 'btn-accept-draft', 'btn-edit-draft']) $(id).disabled = this.readOnly;
    $('task-title').textContent = task.model;
    $('task-kind').textContent = task.kind ?? 'text';
    $('task-meta').textContent = `${task.reason} · ${task.session} · ${task.id}`;
    $('task-meta').title = `${task.api} · ${task.reason} · session ${task.session} · ${task.id}`;
    const shot = latestScreenshot(task);
    renderConversation($('conversation'), task, shot);
    const past = renderTimeline(task);
    // The run's step: as the server counted it, or as the conversation shows it when
    // the agent's earlier turns did not pass through this gateway.
    $('task-step').textContent = `step ${Math.max(task.step ?? 1, past + 1)}`;
    this.showSide(past ? 'steps' : 'messages');

    const tools = task.tools ?? [];
    const functions = tools.filter((t) => t.type === 'function');
    const computer = tools.some((t) => t.type === 'computer') || (task.api === 'chat.completions' && Boolean(computerFunction(tools)));
    const pick = functions.some(takesXY);
    $('workspace').hidden = !(shot || computer || pick);
    this.workspace.load({ src: shot, computer, pick, actions: work?.actions ?? [], display: declaredDisplay(tools), keepView });

    // Function forms, one per declared tool (not the computer function: the workspace is its form).
    // The computer function keeps a form only where it can name its target in words (Cua's).
    const describes = (t) => Boolean(t.parameters?.properties?.element_description);
    const formTools = computer && task.api === 'chat.completions' ? functions.filter((t) => t !== computerFunction(tools) || describes(t)) : functions;
    this.forms = formTools.map((tool) => new ToolForm(tool, (call) => this.calls.add(call)));
    // ...folded, so the screenshot keeps the room: opened to name a target in words.
    for (const form of this.forms) if (form.tool === computerFunction(tools)) form.element.open = false;
    // Many tools (Claude Code declares two dozen, each described at length): every card
    // starts folded to its name, so the list reads at a glance; the person opens the one used.
    if (this.forms.length > MANY_TOOLS) for (const form of this.forms) form.element.open = false;
    clear($('tool-forms')).append(...this.forms.map((f) => f.element));
    $('functions').hidden = formTools.length === 0;
    this.calls.load(formTools, work?.calls ?? []);
    this.reply.value = work?.content ?? '';
    // On a screen task the reply box waits for "+ Text", so the screenshot gets the room.
    const screen = !$('workspace').hidden;
    $('reply').hidden = screen && !this.reply.value;
    $('btn-add-reply').hidden = !$('reply').hidden;
    $('reject-reason').value = '';
    renderDraft(task.draft, task.threshold);
    this.shape?.remove();
    this.shape = new AnswerShape(task, () => this.save()); // output format, n slots (choices.js)
    this.special?.remove(); // MCP permission prompts and option buttons (mcp.js)
    const answer = (body, message) => this.finish(() => api.answer(task.id, body), message);
    const grade = (body, message) => this.finish(() => api.grade(task.id, body), message);
    this.special = mcpView(task, { readOnly: this.readOnly, answer }) ?? gradeView(task, { grade });
    if (this.readOnly) return;
    if (this.special?.focus()) return;
    // A text task opens ready to type; one with a draft leaves the keys to a (accept) and e (edit).
    if (screen) this.workspace.viewport.focus({ preventScroll: true });
    else if (!formTools.length && !task.draft) {
      // A structured answer's form (choices.js) stands in for the reply box.
      const slot = $('answer-shape')?.querySelector('input:not([type=checkbox]), select, textarea');
      if (slot && !slot.closest('[hidden]')) slot.focus({ preventScroll: true });
      else this.reply.focus();
    }
  }

  showSide(which) {
    $('timeline').hidden = which !== 'steps';
    $('conversation').hidden = which !== 'messages';
    $('tab-steps').classList.toggle('active', which === 'steps');
    $('tab-messages').classList.toggle('active', which === 'messages');
    // The newest message in view.
    if (which === 'messages') $('conversation').scrollTop = $('conversation').scrollHeight;
  }

  toggleSide() {
    const hidden = $('task').classList.toggle('side-hidden');
    $('btn-side').setAttribute('aria-expanded', String(!hidden));
    localStorage.setItem('hitl.side', hidden ? 'hidden' : 'shown');
  }

  pick(x, y) {
    const targets = this.forms.filter((f) => takesXY(f.tool));
    for (const form of targets) form.setXY(x, y);
    if (targets.length) toast(`x ${x}, y ${y} filled in ${targets.map((f) => f.tool.name).join(', ')}`);
  }

  // -- answers ------------------------------------------------------------------------

  /** The answer body the reviewer API expects, or null when a reply slot is not ready. */
  body() {
    const body = this.ownBody();
    return this.shape ? this.shape.body(body) : body;
  }

  /** Reply text, calls and actions, before the answer's shape (choices.js) has its say. */
  ownBody() {
    const body = {};
    const text = this.reply.value;
    if (text.trim()) body.content = text;
    if (this.calls.calls.length) body.tool_calls = this.calls.calls;
    const actions = this.workspace.actions;
    if (actions.length) body.computer_actions = actions;
    return body;
  }

  async submit() {
    if (!this.task || this.done || this.readOnly) return;
    if (this.special?.submit) return this.special.submit(); // a permission prompt: allow
    $('reply-error').textContent = '';
    const body = this.body();
    if (body === null) return; // a reply slot is not ready: choices.js said why
    if (!Object.keys(body).length) {
      $('reply-error').textContent = 'Nothing to send: act on the screenshot, add a tool call or write a reply.';
      return;
    }
    await this.finish(() => api.answer(this.task.id, body), 'Answer sent');
  }

  reason(what) {
    const reason = $('reject-reason').value.trim();
    if (!reason) {
      $('reply-error').textContent = `${what} needs a reason: type it in the box next to the button.`;
      $('reject-reason').focus();
    }
    return reason;
  }

  async reject() {
    if (!this.task || this.done || this.readOnly) return;
    const reason = this.reason('A rejection');
    if (reason) await this.finish(() => api.reject(this.task.id, reason), 'Rejected');
  }

  /** Say no as data: the agent gets a refusal message, not an error. */
  async refuse() {
    if (!this.task || this.done || this.readOnly) return;
    const reason = this.reason('A refusal');
    if (reason) await this.finish(() => api.answer(this.task.id, { refusal: reason }), 'Refused');
  }

  async acceptDraft() {
    if (!this.task?.draft || this.done || this.readOnly || this.accepting) return;
    this.accepting = true;
    const id = this.task.id;
    const send = await confirmByWaiting(this.task.draft);
    this.accepting = false;
    if (!send || this.id !== id) return toast('Not sent');
    await this.finish(() => api.answer(id, { accept_draft: true }), 'Draft accepted');
  }

  /** Load the draft into the action list, the calls list and the reply box for editing. */
  editDraft() {
    const draft = this.task?.draft;
    if (!draft || this.readOnly) return;
    this.editedDraft = true;
    this.workspace.setActions(draft.computer_actions ?? []);
    this.calls.set((draft.tool_calls ?? []).map((c) => ({ name: c.name, arguments: parsedArguments(c.arguments) })));
    if (draft.content) $('reply').hidden = false;
    this.reply.value = draft.content ?? '';
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
    const task = this.task;
    this.done = true;
    this.forget(task.id);
    toast(message);
    await this.close(false, { keepWork: false, quiet: true });
    this.hooks.onAnswered(task);
  }

  /** An event about the open task from someone or something else. */
  event(name, summary) {
    if (!this.task || summary.id !== this.task.id || this.sending || this.leaving) return;
    if (FINISHED.has(summary.status)) {
      this.done = true;
      for (const id of ['btn-submit', 'btn-reject', 'btn-refuse']) $(id).disabled = true;
      const by = summary.answered_by ? ` by ${summary.answered_by}` : '';
      this.banner(`This task was ${summary.status}${by}; it can no longer be answered.`);
      this.forget(summary.id);
    } else if (summary.status === 'claimed' && summary.claimed_by !== this.hooks.me()) {
      this.banner(this.readOnly ? `Read-only: held by ${summary.claimed_by}.` : `Now held by ${summary.claimed_by}.`);
    } else if (summary.status === 'pending') {
      // Our lease ran out, someone released it, or its holder let go of a task we are
      // looking at: take it (back) and work on it.
      api.claim(summary.id).then(
        () => {
          if (this.readOnly && this.id === summary.id) {
            const id = summary.id;
            this.task = null;
            this.open(id, { keepView: true });
          } else this.banner('');
        },
        (error) => this.banner(error.message),
      );
    }
  }
}
