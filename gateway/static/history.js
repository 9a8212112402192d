// History: finished tasks with who, when and time to answer; filters; a read-only detail.
import { api } from './api.js';
import { CalibrationPanel } from './calibration.js';
import { renderConversation } from './conversation.js';
import { $, clear, clock, duration, el } from './dom.js';
import { renderSession } from './session.js';

const FINISHED = ['answered', 'rejected', 'expired', 'cancelled'];

/** Who ended a task: the reviewer, or what ended it for lack of one. */
function who(task) {
  if (task.answered_by) return task.answered_by;
  if (task.status === 'expired') return 'timeout';
  if (task.status === 'cancelled') return 'client left';
  return task.claimed_by ?? '–';
}

/** When a task left the queue (tasks stored before finished_at existed: a best guess). */
function endedAt(task) {
  return task.finished_at ?? task.answered_at ?? (task.status === 'expired' ? task.expires_at : null);
}

/** A <time> for an epoch-seconds instant, or a dash. */
function when(epochSeconds) {
  if (!epochSeconds) return '–';
  return el('time', { datetime: new Date(epochSeconds * 1000).toISOString() }, clock(epochSeconds));
}

export class History {
  constructor(onError) {
    this.onError = onError;
    this.form = $('history-filters');
    this.rows = $('history-rows');
    this.detail = $('history-detail');
    this.reloadTimer = null;
    this.calibration = new CalibrationPanel(onError);
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.load();
    });
    this.form.addEventListener('change', () => this.load());
  }

  filters() {
    const statuses = [...this.form.querySelectorAll('input[name=status]:checked')].map((i) => i.value);
    return {
      status: statuses.length ? statuses : FINISHED,
      model: $('hf-model').value.trim(),
      session: $('hf-session').value.trim(),
      order: 'newest',
      limit: 200,
    };
  }

  async load() {
    let tasks;
    try {
      tasks = (await api.tasks(this.filters())).data;
    } catch (error) {
      this.onError(error);
      return;
    }
    clear(this.rows);
    for (const task of tasks) this.rows.append(this.row(task));
    $('history-empty').hidden = tasks.length > 0;
  }

  /** A finished task arrived over the event stream: refresh soon (coalesced). */
  changed() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(), 300);
  }

  row(task) {
    const took = task.answered_at ? task.answered_at - task.created_at : null;
    const tr = el(
      'tr',
      { 'data-id': task.id, 'data-status': task.status, tabindex: 0 },
      el('td', {}, el('span', { class: `status ${task.status}` }, task.status)),
      el('td', {}, task.model),
      el('td', { class: 'mono' }, task.session),
      el('td', { class: 'prompt', title: task.preview }, task.preview),
      el('td', { class: 'who' }, who(task)),
      el('td', { class: 'ended', title: `created ${clock(task.created_at)}` }, when(endedAt(task))),
      el('td', { class: 'took' }, took === null ? '–' : duration(took, true)),
    );
    const open = () => {
      for (const other of this.rows.querySelectorAll('tr.selected')) other.classList.remove('selected');
      tr.classList.add('selected');
      this.show(task.id);
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') open();
    });
    return tr;
  }

  async show(id) {
    let task;
    try {
      task = await api.task(id);
    } catch (error) {
      this.onError(error);
      return;
    }
    const conversation = el('section', { class: 'conversation' });
    renderConversation(conversation, task);
    const steps = el('div', { class: 'session' });
    const outcome = task.answer
      ? el('pre', { class: 'mono answer' }, JSON.stringify(task.answer, null, 2))
      : task.reject_reason
        ? el('p', { class: 'reject-reason' }, `Rejected: ${task.reject_reason}`)
        : el('p', { class: 'muted' }, `No answer (${task.status}).`);
    clear(this.detail).append(
      el('h2', {}, `${task.model} · ${task.status}`),
      el('p', { class: 'muted' }, `${task.id} · session ${task.session}`),
      el('p', { class: 'muted times' }, 'created ', when(task.created_at), ' · ended ', when(endedAt(task))),
      el('h3', {}, 'Outcome'),
      outcome,
      el('h3', {}, 'Audit trail'),
      el('ol', { class: 'audit' }, ...(task.history ?? []).map((h) => el('li', {}, `${clock(h.at)} ${h.event}${h.actor ? ` by ${h.actor}` : ''}${h.detail ? `: ${h.detail}` : ''}`))),
      el('h3', {}, 'Session'),
      steps,
      el('h3', {}, 'Conversation'),
      conversation,
    );
    renderSession(steps, task.session, task.id, (other) => {
      for (const tr of this.rows.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.id === other);
      this.show(other);
    });
    this.detail.hidden = false;
  }
}
