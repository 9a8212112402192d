// The open task: claim (or a read-only look at a task someone else holds: hold.js), the
// past steps and the conversation, the workspace, function calls, the draft, the
// reply, and the answer. Unsent work is kept per task in sessionStorage, so
// switching tasks (or reloading) loses nothing, and each browser tab has its own.
import { api } from './api.js';
import { barError, nothingToSend, showRefusal } from './bar.js';
import { CallList } from './calls.js';
import { AnswerShape } from './choices.js';
import { latestScreenshot, renderConversation } from './conversation.js';
import { confirmByWaiting, draftDiff, renderDraft } from './draft.js';
import { $, clear, toast, typeInto } from './dom.js';
import { takesXY, ToolForm } from './forms.js';
import { gradeView } from './grade.js';
import { banner, Hold, lockControls } from './hold.js';
import { mcpView } from './mcp.js';
import { ReplyBox, typingSpot } from './reply.js';
import { parsedArguments, renderTimeline } from './timeline.js';
import { toolsOf } from './tools.js';
import { Workspace } from './workspace.js';

const TAB_KEY = 'hitl.tab'; // the task this tab has open
const WORK_KEY = 'hitl.work.'; // + task id: its unsent actions, calls and reply
const FINISHED = new Set(['answered', 'rejected', 'expired', 'cancelled']);
const MANY_TOOLS = 6; // more forms than this start folded (see load)
const SIDE_KEY = 'hitl.side.'; // + task kind: the side column hidden or shown, per kind

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
    this.opening = null; // {id, done}: the open under way (see open)
    this.forms = [];
    this.hold = new Hold({
      me: hooks.me,
      taskId: () => this.id,
      done: () => this.done,
      save: () => this.save(),
      tookOver: () => this.tookOver(),
      lock: (locked) => this.lock(locked),
    });
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
  }

  get id() {
    return this.task?.id ?? null;
  }

  /** True while someone else holds the open task (or it is finished): look, don't act. */
  get readOnly() {
    return this.hold.readOnly;
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
   * A second open of the task being opened (a click on its row while the page's
   * restore still loads it) waits for the first: a second claim and render would
   * replace the view, and what the person began there, under their hands.
   */
  async open(id, { keepView = false } = {}) {
    if (this.opening?.id === id) return this.opening.done;
    const done = this.load(id, keepView);
    this.opening = { id, done };
    try {
      return await done;
    } finally {
      if (this.opening?.done === done) this.opening = null;
    }
  }

  /** True when ``task`` is finished or held by someone else: look, don't act. */
  notOurs(task) {
    return FINISHED.has(task.status) || Boolean(task.claimed_by && task.claimed_by !== this.hooks.me());
  }

  /** ``open``'s work: close the task shown, load ``id``, claim it or not, show it. */
  async load(id, keepView) {
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
    let readOnly = this.notOurs(task);
    if (!readOnly) {
      try {
        Object.assign(task, await api.claim(id));
      } catch (error) {
        if (error.status !== 409) {
          toast(`Could not claim: ${error.message}`);
          return false;
        }
        // Read-only only when the task as it is now says so (someone else took it,
        // or it ended): a 409 alone does not make the task someone else's.
        Object.assign(task, await api.task(id).catch(() => ({})));
        readOnly = this.notOurs(task);
      }
    }
    this.task = task;
    this.done = FINISHED.has(task.status);
    this.hold.begin(readOnly, task.claimed_by);
    this.editedDraft = false;
    this.render(task, readOnly ? null : readJSON(WORK_KEY + id), keepView);
    this.save();
    this.hooks.onChange();
    return true;
  }

  /** Close the task view; ``release`` gives the claim back; ``keepWork`` keeps unsent work. */
  async close(release, { keepWork = true, quiet = false } = {}) {
    const task = this.task;
    if (task && keepWork) this.save();
    this.hold.end();
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

  // -- rendering --------------------------------------------------------------------

  render(task, work, keepView) {
    const root = $('task');
    $('task-empty').hidden = true;
    root.hidden = false;
    const kind = task.kind ?? 'text';
    root.className = `kind-${kind}${localStorage.getItem(SIDE_KEY + kind) === 'hidden' ? ' side-hidden' : ''}`;
    $('btn-side').setAttribute('aria-expanded', String(!root.classList.contains('side-hidden')));
    root.classList.toggle('read-only', this.readOnly);
    banner(this.readOnly ? `Read-only: ${FINISHED.has(task.status) ? `this task was ${task.status}` : `held by ${task.claimed_by}`}.` : '');
    barError('');
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

    const { computer, pick, display, formTools, computerFn } = toolsOf(task);
    $('workspace').hidden = !(shot || computer || pick);
    this.workspace.load({ src: shot, computer, pick, actions: work?.actions ?? [], display, keepView });

    // Function forms, one per declared tool that needs one (tools.js).
    this.forms = formTools.map((tool) => new ToolForm(tool, (call) => this.calls.add(call)));
    // The computer function's, folded, so the screenshot keeps the room: opened to name a target in words.
    for (const form of this.forms) if (form.tool === computerFn) form.element.open = false;
    // Many tools (Claude Code declares two dozen, each described at length): every card
    // starts folded to its name, so the list reads at a glance; the person opens the one used.
    const many = this.forms.length > MANY_TOOLS;
    if (many) for (const form of this.forms) form.element.open = false;
    // ...and the reply box comes before them: a text answer (the usual next turn once a
    // tool has run) then needs no scrolling past two dozen tool names.
    if (many) $('functions').before($('reply'));
    else $('functions').after($('reply'));
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
    const answer = (body, message) => this.finish(() => api.answer(task.id, body), message, body);
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

  /** Make the work column read-only (someone else holds the task) or usable again. */
  lock(locked) {
    lockControls(locked);
    this.workspace.locked = locked;
  }

  /** Where the person types on this task (reply.js); null on a screen task, or one they can't answer. */
  typingTarget() {
    if (!this.task || this.readOnly || this.done || this.screen) return null;
    return typingSpot(this.reply);
  }

  /** A printable key pressed with the focus on no field: into the typing spot. True when taken. */
  typeKey(event) {
    if (event.key === ' ' && event.target instanceof Element && event.target.closest('button, summary, a, [role=tab]')) return false;
    const target = this.typingTarget();
    if (!target) return false;
    event.preventDefault();
    typeInto(target, event.key);
    return true;
  }

  /** True when the reply box is empty and unfocused: the bare letters that act may act. */
  replyIdle() {
    return !this.reply.value && document.activeElement !== this.reply.box;
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
    barError('');
    // A tool form filled in but not added goes as a call when complete; an incomplete
    // one stops the answer and says what is missing, in the form's own words.
    for (const form of this.forms) {
      if (!form.pending()) continue;
      const args = await form.checkedArguments();
      if (args === null) {
        barError(`${form.tool.name}: ${form.error.textContent}`);
        form.focus(true);
        return;
      }
      this.calls.add({ name: form.tool.name, arguments: args });
      form.fill({});
    }
    const body = this.body();
    if (body === null) return; // a reply slot is not ready: choices.js said why
    if (!Object.keys(body).length) {
      barError(nothingToSend({ computer: this.screen && this.workspace.computer, forms: this.forms.length > 0 }));
      return;
    }
    await this.finish(() => api.answer(this.task.id, body), 'Answer sent', body);
  }

  reason(what) {
    const reason = $('reject-reason').value.trim();
    if (!reason) {
      barError(`${what} needs a reason: type it in the box next to the button.`);
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
    barError('');
    this.sending = true;
    try {
      await send();
    } catch (error) {
      showRefusal(error, this.calls);
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

  /** An event about the open task from someone or something else. */
  event(name, summary) {
    if (!this.task || summary.id !== this.task.id || this.sending || this.hold.leaving) return;
    if (FINISHED.has(summary.status)) {
      this.done = true;
      for (const id of ['btn-submit', 'btn-reject', 'btn-refuse']) $(id).disabled = true;
      const by = summary.answered_by ? ` by ${summary.answered_by}` : '';
      banner(`This task was ${summary.status}${by}; it can no longer be answered.`);
      this.forget(summary.id);
    } else if (summary.status === 'claimed' && summary.claimed_by !== this.hooks.me()) {
      this.hold.changed(summary.id, summary.claimed_by);
    } else if (summary.status === 'pending') {
      this.hold.changed(summary.id, null);
    }
  }

  /** The task became ours (its holder let go): work kept from before comes back where nothing is typed now. */
  tookOver() {
    const work = readJSON(WORK_KEY + this.task.id);
    if (work && !this.workspace.actions.length && !this.calls.calls.length && !this.reply.value) {
      this.workspace.setActions(work.actions ?? [], false);
      this.calls.load(this.calls.tools, work.calls ?? []);
      this.reply.value = work.content ?? '';
      if (this.reply.value) $('reply').hidden = false;
    }
    this.save();
    this.hooks.onChange();
    if (this.screen) this.workspace.viewport.focus({ preventScroll: true });
    else this.typingTarget()?.focus({ preventScroll: true });
  }
}
