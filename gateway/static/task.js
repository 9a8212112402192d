// The open task: claim (or a read-only look at a task someone else holds), the
// past steps and the conversation, the workspace, function calls, the draft, the
// reply, and the answer. Unsent work is kept per task in sessionStorage, so
// switching tasks (or reloading) loses nothing, and each browser tab has its own.
import { api } from './api.js';
import { CallList } from './calls.js';
import { callProblem } from './check.js';
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
const SIDE_KEY = 'hitl.side.'; // + task kind: the side column hidden or shown, per kind
// Every control of the work column a reader of someone else's task must not use
// (the zoom bar stays: looking closer changes nothing).
const CONTROLS = '.work input, .work textarea, .work select, .work button:not(.zoombar button), #answer-shape *';

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
  /**
   * @param {{me: () => string, onChange: () => void, onAnswered: (task: object, body: object) => void,
   *   rails: () => import('./rails.js').Rails}} hooks
   */
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

  /** True when the open task has a screenshot workspace (where letters are tool keys). */
  get screen() {
    return Boolean(this.task) && !$('workspace').hidden;
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
    const kind = task.kind ?? 'text';
    root.className = `kind-${kind}${localStorage.getItem(SIDE_KEY + kind) === 'hidden' ? ' side-hidden' : ''}`;
    $('btn-side').setAttribute('aria-expanded', String(!root.classList.contains('side-hidden')));
    root.classList.toggle('read-only', this.readOnly);
    this.banner(this.readOnly ? `Read-only: ${FINISHED.has(task.status) ? `this task was ${task.status}` : `held by ${task.claimed_by}`}.` : '');
    this.barError('');
    this.holder = this.readOnly ? task.claimed_by : null;
    for (const id of ['btn-submit', 'btn-reject', 'btn-refuse', 'btn-release', 'btn-accept-draft', 'btn-edit-draft']) $(id).disabled = false;
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
    this.lock(this.readOnly);
    if (this.readOnly) return;
    if (this.special?.focus()) return;
    // Every task opens with the cursor where the person will act or type: the
    // screenshot, a tools task's first form (unless a draft is there to edit), or the
    // reply box (a structured answer's first field).
    if (screen) this.workspace.viewport.focus({ preventScroll: true });
    else if (task.draft || !this.forms.some((f) => f.focus())) this.typingTarget()?.focus({ preventScroll: true });
  }

  /**
   * Make the work column read-only (someone else holds the task) or usable again.
   * Only what this disabled is enabled again, so a button disabled for its own reason stays so.
   */
  lock(locked) {
    for (const node of $('task').querySelectorAll(CONTROLS)) {
      if (!('disabled' in node)) continue;
      if (locked && !node.disabled) {
        node.disabled = true;
        node.dataset.locked = '1';
      } else if (!locked && node.dataset.locked) {
        node.disabled = false;
        delete node.dataset.locked;
      }
    }
    this.workspace.locked = locked;
  }

  /** Where the person types on this task (the reply box, or a structured answer's first field); null on a screen task. */
  typingTarget() {
    if (!this.task || this.readOnly || this.done || this.screen) return null;
    if ($('task').classList.contains('slotted')) {
      const slot = $('answer-shape')?.querySelector('input:not([type=checkbox]), textarea');
      if (slot && !slot.closest('[hidden]')) return slot;
    }
    $('reply').hidden = false;
    $('btn-add-reply').hidden = true;
    return this.reply.box;
  }

  /** A printable key pressed with the focus on no field: into the typing spot. True when taken. */
  typeKey(event) {
    if (event.key === ' ' && event.target instanceof Element && event.target.closest('button, summary, a, [role=tab]')) return false;
    const target = this.typingTarget();
    if (!target) return false;
    event.preventDefault();
    target.focus({ preventScroll: true });
    const end = target.value.length;
    target.setRangeText(event.key, end, end, 'end');
    target.dispatchEvent(new Event('input', { bubbles: true }));
    return true;
  }

  /** True when the reply box is empty and unfocused: the bare letters that act may act. */
  replyIdle() {
    return !this.reply.value && document.activeElement !== this.reply.box;
  }

  /** The bar's one line: a short message (its whole text on hover); the bar never grows. */
  barError(text) {
    $('reply-error').textContent = text;
    $('reply-error').title = text;
  }

  showSide(which) {
    $('timeline').hidden = which !== 'steps';
    $('conversation').hidden = which !== 'messages';
    $('tab-steps').classList.toggle('active', which === 'steps');
    $('tab-messages').classList.toggle('active', which === 'messages');
    // The newest message in view.
    if (which === 'messages') $('conversation').scrollTop = $('conversation').scrollHeight;
  }

  /** Show or hide the side column, remembered per task kind; while following, open its rail. */
  toggleSide() {
    const rails = this.hooks.rails?.();
    if (rails?.active) return rails.toggle('side');
    const hidden = $('task').classList.toggle('side-hidden');
    $('btn-side').setAttribute('aria-expanded', String(!hidden));
    localStorage.setItem(SIDE_KEY + (this.task?.kind ?? 'text'), hidden ? 'hidden' : 'shown');
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
    this.barError('');
    // A tool form filled in but not added goes as a call when complete; an incomplete
    // one stops the answer and says what is missing, in the form's own words.
    for (const form of this.forms) {
      if (!form.pending()) continue;
      const args = await form.checkedArguments();
      if (args === null) {
        this.barError(`${form.tool.name}: ${form.error.textContent}`);
        form.focus(true);
        return;
      }
      this.calls.add({ name: form.tool.name, arguments: args });
      form.fill({});
    }
    const body = this.body();
    if (body === null) return; // a reply slot is not ready: choices.js said why
    if (!Object.keys(body).length) {
      this.barError(this.nothingToSend());
      return;
    }
    await this.finish(() => api.answer(this.task.id, body), 'Answer sent', body);
  }

  /** "Nothing to send", in the words of this kind of task. */
  nothingToSend() {
    if (this.screen && this.workspace.computer) return 'Nothing to send: act on the screenshot, or write a reply (+ Text).';
    if (this.forms.length) return 'Nothing to send: fill in a tool form (Submit sends it as a call) or write a reply.';
    return 'Nothing to send: write a reply.';
  }

  reason(what) {
    const reason = $('reject-reason').value.trim();
    if (!reason) {
      this.barError(`${what} needs a reason: type it in the box next to the button.`);
      $('reject-reason').focus();
    }
    return reason;
  }

  async reject() {
    if (!this.task || this.done || this.readOnly) return;
    const reason = this.reason('A rejection');
    if (reason) await this.finish(() => api.reject(this.task.id, reason), 'Rejected', { rejected: reason });
  }

  /** Say no as data: the agent gets a refusal message, not an error. */
  async refuse() {
    if (!this.task || this.done || this.readOnly) return;
    const reason = this.reason('A refusal');
    if (reason) await this.finish(() => api.answer(this.task.id, { refusal: reason }), 'Refused', { refusal: reason });
  }

  async acceptDraft() {
    if (!this.task?.draft || this.done || this.readOnly || this.accepting) return;
    this.accepting = true;
    const id = this.task.id;
    const send = await confirmByWaiting(this.task.draft);
    this.accepting = false;
    if (!send || this.id !== id) return toast('Not sent');
    await this.finish(() => api.answer(id, { accept_draft: true }), 'Draft accepted', this.task.draft);
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
    // The cursor goes where the editing happens: the screenshot, or the end of the reply.
    if (this.screen) this.workspace.viewport.focus({ preventScroll: true });
    else this.typingTarget()?.focus({ preventScroll: true });
  }

  /** Send, then close; ``body`` (what was sent, when known) tells Follow whether a next step will come. */
  async finish(send, message, body = null) {
    this.barError('');
    this.sending = true;
    try {
      await send();
    } catch (error) {
      this.refused(error);
      return;
    } finally {
      this.sending = false;
    }
    const task = this.task;
    this.done = true;
    this.forget(task.id);
    toast(message);
    await this.close(false, { keepWork: false, quiet: true });
    this.hooks.onAnswered(task, body);
  }

  /** The server refused the answer: a 422 about a call goes on that call's row and field. */
  refused(error) {
    const detail = error.body?.error;
    const problem = error.status === 422 ? callProblem(detail?.param, detail?.message ?? error.message) : null;
    const call = problem ? this.calls.calls[problem.index] : null;
    if (!call) {
      this.barError(error.message);
      return;
    }
    this.calls.showProblem(problem.index, problem.field, problem.words);
    this.barError(`Not sent: call ${problem.index + 1} (${call.name}): ${problem.field ? `${problem.field} ` : ''}${problem.words}.`);
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
      this.holder = summary.claimed_by;
      if (this.readOnly) {
        this.banner(`Read-only: held by ${summary.claimed_by}.`);
        return;
      }
      // Our claim lapsed and someone else took it: read-only, and what we typed is kept.
      this.save();
      this.readOnly = true;
      clearInterval(this.renewTimer);
      this.lock(true);
      this.banner(`Now held by ${summary.claimed_by}: read-only. What you typed is kept for when it comes back.`);
    } else if (summary.status === 'pending') {
      // Our lease ran out, someone released it, or its holder let go of a task we are
      // looking at: take it (back) and work on it, in place, keeping what is typed.
      const id = summary.id;
      api.claim(id).then(
        () => {
          if (this.id !== id) return;
          if (this.readOnly) this.takeOver();
          else this.banner('');
        },
        (error) => this.banner(error.message),
      );
    }
  }

  /** The holder let go of the task we were reading: it is ours now, said aloud, nothing lost. */
  takeOver() {
    const holder = this.holder;
    this.readOnly = false;
    this.holder = null;
    this.lock(false);
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => this.renew(), RENEW_MS);
    // Work kept from before (typed while it was ours) comes back where nothing is typed now.
    const work = readJSON(WORK_KEY + this.task.id);
    if (work && !this.workspace.actions.length && !this.calls.calls.length && !this.reply.value) {
      this.workspace.setActions(work.actions ?? [], false);
      this.calls.load(this.calls.tools, work.calls ?? []);
      this.reply.value = work.content ?? '';
      if (this.reply.value) $('reply').hidden = false;
    }
    const text = `${holder ? `${holder} let go` : 'The holder let go'}: this task is yours now. Anything typed here is kept.`;
    this.banner(text);
    toast(text);
    this.save();
    this.hooks.onChange();
    if (this.screen) this.workspace.viewport.focus({ preventScroll: true });
    else this.typingTarget()?.focus({ preventScroll: true });
  }
}
