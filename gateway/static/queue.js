// The live queue: open tasks grouped by session, kept current by events.
import { $, clear, duration, el, now } from './dom.js';

const OPEN = new Set(['pending', 'claimed']);
const THUMB_WIDTH = 96; // a queue row's screenshot thumbnail, made by the server

export class Queue {
  /**
   * @param {HTMLElement} root where rows go
   * @param {(id: string) => void} onOpen called when a row is chosen
   */
  constructor(root, onOpen) {
    this.root = root;
    this.onOpen = onOpen;
    this.tasks = new Map();
    this.me = '';
    this.openId = null;
    this.selectedId = null;
    this.seq = 0;
    this.recent = []; // [seq, summary] of recent events, replayed over a fresh list
    setInterval(() => this.tick(), 1000);
  }

  /** A marker to take before fetching a list; pass it to ``load``. */
  mark() {
    return this.seq;
  }

  /**
   * Replace everything with a fresh list (on load and after a reconnect).
   * Events that arrived while the list was in flight are replayed over it in
   * order, so a list older than an event cannot undo that event.
   */
  load(summaries, since = this.seq) {
    this.tasks = new Map(summaries.filter((t) => OPEN.has(t.status)).map((t) => [t.id, t]));
    for (const [seq, summary] of this.recent) if (seq > since) this.put(summary);
    this.render();
  }

  /** Apply one event's summary: open tasks are kept, finished ones leave. */
  apply(summary) {
    this.recent.push([++this.seq, summary]);
    if (this.recent.length > 1000) this.recent.splice(0, 500);
    this.put(summary);
    this.render();
  }

  put(summary) {
    if (OPEN.has(summary.status)) this.tasks.set(summary.id, summary);
    else this.tasks.delete(summary.id);
  }

  get(id) {
    return this.tasks.get(id);
  }

  /** Tasks in display order: sessions by their oldest task, oldest first inside. */
  ordered() {
    const groups = new Map();
    const shown = this.filter ? [...this.tasks.values()].filter(this.filter) : [...this.tasks.values()];
    const sorted = shown.sort((a, b) => a.created_at - b.created_at); // filter: grade.js
    for (const task of sorted) {
      if (!groups.has(task.session)) groups.set(task.session, []);
      groups.get(task.session).push(task);
    }
    return groups;
  }

  /** The oldest task nobody holds (or this reviewer holds). */
  nextFree() {
    for (const tasks of this.ordered().values()) {
      for (const task of tasks) {
        if (task.id !== this.openId && (!task.claimed_by || task.claimed_by === this.me)) {
          return task;
        }
      }
    }
    return null;
  }

  /** Move the keyboard selection by ``step`` rows. */
  move(step) {
    const ids = [...this.ordered().values()].flat().map((t) => t.id);
    if (!ids.length) return;
    const at = ids.indexOf(this.selectedId ?? this.openId);
    const next = at < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, at + step));
    this.selectedId = ids[next];
    this.render();
    this.root.querySelector('.task-row.selected')?.scrollIntoView({ block: 'nearest' });
  }

  render() {
    clear(this.root);
    const groups = this.ordered();
    for (const [session, tasks] of groups) {
      const group = el('div', { class: 'group', role: 'group', 'data-session': session });
      // The session's name opens its current step: the newest one, free or held by me.
      const head = el('button', { type: 'button', class: 'group-head', title: `session ${session}: open its current step` }, session);
      head.addEventListener('click', () => {
        const mine = tasks.filter((t) => !t.claimed_by || t.claimed_by === this.me);
        const current = (mine.length ? mine : tasks).reduce((a, b) => ((b.step ?? 1) >= (a.step ?? 1) ? b : a));
        this.selectedId = current.id;
        this.onOpen(current.id);
      });
      group.append(head);
      for (const task of tasks) group.append(this.row(task));
      this.root.append(group);
    }
    const shown = [...groups.values()].reduce((n, tasks) => n + tasks.length, 0); // after a filter
    $('queue-count').textContent = shown ? `(${shown})` : '';
    $('queue-rail-count').textContent = shown ? `(${shown})` : '';
    $('queue-empty').hidden = shown > 0;
    this.tick();
  }

  row(task) {
    const heldByOther = task.claimed_by && task.claimed_by !== this.me;
    const classes = ['task-row'];
    if (task.id === this.openId) classes.push('open');
    if (task.id === this.selectedId) classes.push('selected');
    if (heldByOther) classes.push('held');
    const button = el(
      'button',
      { type: 'button', class: classes.join(' '), role: 'listitem', 'data-id': task.id },
      task.kind === 'screen'
        ? rowThumb(task)
        : null,
      el(
        'span',
        { class: 'line' },
        el('span', { class: `kind kind-${task.kind ?? 'text'}` }, task.kind ?? 'text'),
        el('span', { class: 'step-no' }, `step ${task.step ?? 1}`),
        el('span', { class: 'model' }, task.model),
        task.reason !== 'human_route' ? el('span', { class: 'reason' }, task.reason) : null,
        task.has_draft && task.kind !== 'grade' ? el('span', { class: 'badge' }, 'draft') : null, // a grade's answer is no draft
      ),
      el('span', { class: 'preview' }, task.preview || '(no text)'),
      el(
        'span',
        { class: 'times' },
        'waited ',
        el('span', { class: 'waited', 'data-since': task.created_at }),
        ' · expires in ',
        el('span', { class: 'expires', 'data-until': task.expires_at }),
      ),
      task.claimed_by
        ? el(
            'span',
            { class: 'holder' },
            ` · ${heldByOther ? 'held by' : 'held by you'} `,
            heldByOther ? task.claimed_by : '',
          )
        : null,
    );
    // A screen task with no screenshot yet: no picture, rather than a broken one.
    button.querySelector('.row-thumb')?.addEventListener('error', (e) => e.target.remove(), { once: true });
    button.addEventListener('click', () => {
      this.selectedId = task.id;
      this.onOpen(task.id);
    });
    return button;
  }

  /** Refresh the waited / expires-in figures (local clock only; no server calls). */
  tick() {
    const t = now();
    for (const node of this.root.querySelectorAll('.waited')) {
      node.textContent = duration(t - Number(node.dataset.since));
    }
    for (const node of this.root.querySelectorAll('.expires')) {
      const left = Number(node.dataset.until) - t;
      node.textContent = duration(left);
      node.classList.toggle('soon', left < 120);
    }
  }
}

/** Opt-in desktop notification and beep for new tasks; preferences live in localStorage. */
export class Alerts {
  constructor(notifyBox, soundBox) {
    this.notifyBox = notifyBox;
    this.soundBox = soundBox;
    notifyBox.checked = localStorage.getItem('hitl.notify') === '1';
    soundBox.checked = localStorage.getItem('hitl.sound') === '1';
    notifyBox.addEventListener('change', async () => {
      if (notifyBox.checked && 'Notification' in window && Notification.permission !== 'granted') {
        const answer = await Notification.requestPermission();
        if (answer !== 'granted') notifyBox.checked = false;
      }
      localStorage.setItem('hitl.notify', notifyBox.checked ? '1' : '0');
    });
    soundBox.addEventListener('change', () => {
      localStorage.setItem('hitl.sound', soundBox.checked ? '1' : '0');
      if (soundBox.checked) this.beep();
    });
  }

  newTask(task) {
    if (this.notifyBox.checked && 'Notification' in window && Notification.permission === 'granted') {
      // Notification bodies are plain text.
      new Notification(`New task: ${task.model}`, { body: task.preview || task.session, tag: task.id });
    }
    if (this.soundBox.checked) this.beep();
  }

  beep() {
    try {
      this.audio ??= new AudioContext();
      const osc = this.audio.createOscillator();
      const gain = this.audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, this.audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, this.audio.currentTime + 0.25);
      osc.connect(gain).connect(this.audio.destination);
      osc.start();
      osc.stop(this.audio.currentTime + 0.25);
    } catch {
      // No audio device: the notification (if any) still shows.
    }
  }
}

/** A queue row's screenshot thumbnail; one the gateway will not serve is left out. */
function rowThumb(task) {
  const img = el('img', { class: 'row-thumb', src: `/api/tasks/${encodeURIComponent(task.id)}/images/latest?w=${THUMB_WIDTH}`, alt: '', loading: 'lazy' });
  img.addEventListener('error', () => img.remove(), { once: true });
  return img;
}
