// Following a session: after the person answers a step, the seat waits for the
// agent's next step (a task whose ``follows`` is the answered task) and opens it the
// moment it arrives, keeping zoom and pan. A switch turns this off; Esc or "Stop
// waiting" leaves, and so does opening any other task.
import { $ } from './dom.js';

const KEY = 'hitl.follow';

export class Follow {
  /**
   * @param {{find: (after: string) => object|null, open: (id: string) => Promise<boolean>}} hooks
   *   ``find`` looks in the queue for a free task that follows ``after``
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.after = null;
    this.since = 0;
    this.box = $('opt-follow');
    this.box.checked = localStorage.getItem(KEY) !== '0';
    this.box.addEventListener('change', () => {
      localStorage.setItem(KEY, this.box.checked ? '1' : '0');
      if (!this.box.checked) this.stop();
    });
    $('btn-stop-follow').addEventListener('click', () => this.stop());
    setInterval(() => this.tick(), 1000);
  }

  get waiting() {
    return this.after !== null;
  }

  /** A task was answered: wait for its next step (when following), else show the empty pane. */
  answered(task) {
    if (!this.box.checked) {
      $('task-empty').hidden = false;
      return;
    }
    this.after = task.id;
    this.since = Date.now();
    $('task-empty').hidden = true;
    $('follow-wait').hidden = false;
    $('follow-text').textContent = `Waiting for the agent's next step after step ${task.step ?? 1}…`;
    this.tick();
    // The agent may have been quicker than the answer's round trip.
    const ready = this.hooks.find(task.id);
    if (ready) this.take(ready.id);
  }

  /** The queue was reloaded (after a reconnect): the step may have come meanwhile. */
  recheck() {
    const ready = this.after && this.hooks.find(this.after);
    if (ready) this.take(ready.id);
  }

  /** An event: the step we wait for has arrived. */
  event(summary) {
    if (this.after && summary.follows === this.after && summary.status === 'pending') this.take(summary.id);
  }

  async take(id) {
    this.after = null;
    $('follow-wait').hidden = true;
    const opened = await this.hooks.open(id);
    if (!opened) $('task-empty').hidden = false;
  }

  /** Leave waiting (Esc, the button, the switch, or another task opened). */
  stop(showEmpty = true) {
    if (!this.after) return;
    this.after = null;
    $('follow-wait').hidden = true;
    if (showEmpty) $('task-empty').hidden = false;
  }

  tick() {
    if (!this.after) return;
    const seconds = Math.round((Date.now() - this.since) / 1000);
    $('follow-wait').dataset.seconds = String(seconds);
    $('follow-wait').title = `${seconds} s`;
  }
}
