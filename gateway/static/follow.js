// Following a session: after the person answers a step, the seat waits for the
// agent's next step (a task whose ``follows`` is the answered task) and opens it the
// moment it arrives, keeping zoom and pan. A switch turns this off; Esc or "Stop
// waiting" leaves, and so does opening any other task.
//
// A final answer (text, a refusal or a rejection: nothing for the agent to carry out)
// ends the run: the seat says the session ended instead of waiting. After an answer
// that does carry actions or calls, a wait longer than the agent's usual step time
// (SLOW_FACTOR times the median gap seen in this tab, at least SLOW_MIN_S) says so.
import { $, duration } from './dom.js';

const KEY = 'hitl.follow';
const SLOW_FACTOR = 3;
const SLOW_MIN_S = 5; // an agent that answers in 200 ms is "late" after 5 s, not 0.6 s
const UNKNOWN_SLOW_S = 30; // before any step was seen arriving
const GAPS_KEPT = 20;

/** True when an answer leaves the agent something to do, so a next step will come. */
export function expectsNextStep(body) {
  if (!body) return false;
  const acts = (b) => Boolean(b?.computer_actions?.length || b?.tool_calls?.length);
  return acts(body) || (Array.isArray(body.choices) && body.choices.some(acts));
}

export class Follow {
  /**
   * @param {{find: (after: string) => object|null, open: (id: string) => Promise<boolean>}} hooks
   *   ``find`` looks in the queue for a free task that follows ``after``
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.after = null;
    this.since = 0;
    this.gaps = []; // seconds from an answer to the agent's next step, as seen here
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

  /**
   * A task was answered with ``body``: wait for its next step (when following and the
   * answer asks the agent to act, or what was sent is not known), else show the empty
   * pane or that the session ended.
   */
  answered(task, body) {
    $('follow-ended').hidden = true;
    if (!this.box.checked) {
      $('task-empty').hidden = false;
      return;
    }
    if (body && !expectsNextStep(body)) {
      $('task-empty').hidden = false;
      $('follow-ended').hidden = false;
      $('follow-ended-text').textContent = `Session ended after step ${task.step ?? 1}: what was sent leaves the agent nothing to carry out, so no next step is coming.`;
      return;
    }
    this.after = task.id;
    this.kind = task.kind; // the kind of task answered: a screen step keeps the rails meanwhile
    this.step = task.step ?? 1;
    this.since = Date.now();
    $('task-empty').hidden = true;
    $('follow-wait').hidden = false;
    $('follow-wait').classList.remove('slow');
    $('follow-text').textContent = `Waiting for the agent's next step after step ${this.step}…`;
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
    this.gaps.push((Date.now() - this.since) / 1000);
    if (this.gaps.length > GAPS_KEPT) this.gaps.shift();
    this.after = null;
    $('follow-wait').hidden = true;
    const opened = await this.hooks.open(id);
    if (!opened) $('task-empty').hidden = false;
  }

  /** Leave waiting (Esc, the button, the switch, or another task opened). */
  stop(showEmpty = true) {
    $('follow-ended').hidden = true;
    if (!this.after) return;
    this.after = null;
    $('follow-wait').hidden = true;
    if (showEmpty) $('task-empty').hidden = false;
  }

  /** The median seconds from an answer to the next step, or null before any was seen. */
  usualGap() {
    if (!this.gaps.length) return null;
    const sorted = [...this.gaps].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** Seconds after which a wait is longer than this agent's usual step. */
  slowAfter() {
    const usual = this.usualGap();
    return usual === null ? UNKNOWN_SLOW_S : Math.max(SLOW_MIN_S, SLOW_FACTOR * usual);
  }

  tick() {
    if (!this.after) return;
    const seconds = (Date.now() - this.since) / 1000;
    $('follow-wait').dataset.seconds = String(Math.round(seconds));
    $('follow-wait').title = `${Math.round(seconds)} s`;
    if (seconds < this.slowAfter()) return;
    const gap = this.usualGap();
    const usual = gap === null ? 'has not sent its next step' : `usually sends its next step within ${duration(gap, true)}`;
    $('follow-wait').classList.add('slow');
    $('follow-text').textContent = `Still waiting after step ${this.step}: the agent ${usual}, and it has been ${duration(seconds)}. It may have finished or stopped; Esc stops waiting.`;
  }
}
