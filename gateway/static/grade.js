// Shadow review on the dashboard: a grade task's view, the queue's kind filter and
// the header's agreement figure.
//
// A grade task (kind "grade") shows the model's answer (tool calls included) under
// the conversation, the model's rubric as a form and Good / Bad. Keys: 1-9 pick a
// rubric item (a yes/no item flips; a scale or a choice then takes its value as the
// next digit: 2 then 4 sets the second item to 4; a text item takes the focus),
// g sends Good, b sends Bad, c opens the correction, which starts
// as the model's answer (plain text, or JSON when the answer calls tools) and is
// sent only when changed. Grades are blind: the reviewer sees their own grade until
// the task is done, then everyone's.
import { textBlock } from './conversation.js';
import { $, el } from './dom.js';
import { readableCall } from './timeline.js';

const STYLE_ID = 'grade-css';
const FILTER_KEY = 'hitl.queue.kind'; // the queue filter, kept per browser
const percent = (x) => `${Math.round(x * 100)}%`;
// Tasks this reviewer graded that stay open for others: out of this queue.
const gradedHere = new Set();

function addStyle() {
  if ($(STYLE_ID)) return;
  document.head.append(el('link', { id: STYLE_ID, rel: 'stylesheet', href: '/static/grade.css' }));
}

/** The model's answer as an answer body: what a correction starts from. */
function answerOf(draft) {
  const body = {};
  if (draft?.content) body.content = draft.content;
  if (draft?.tool_calls?.length) body.tool_calls = draft.tool_calls.map((c) => ({ name: c.name, arguments: c.arguments }));
  if (draft?.computer_actions?.length) body.computer_actions = draft.computer_actions;
  if (draft?.refusal) body.refusal = draft.refusal;
  return body;
}

class GradeCard {
  constructor(task, hooks) {
    this.task = task;
    this.hooks = hooks;
    this.items = task.rubric_items ?? [];
    this.hides = 'grade-task';
    // Grading takes no claim: with several reviewers per answer each grades on their own.
    this.canGrade = ['pending', 'claimed'].includes(task.status) && !task.graded_by_me;
    this.original = answerOf(task.draft);
    this.asJSON = Boolean(this.original.tool_calls || this.original.computer_actions || this.original.refusal);
    this.controls = this.items.map((item, i) => this.control(item, i));
    this.comment = el('input', { type: 'text', id: 'grade-comment', placeholder: 'comment (optional)', maxlength: 4000, disabled: !this.canGrade });
    this.correction = el('textarea', { id: 'grade-correction', rows: 4, spellcheck: 'false', 'aria-label': 'Correction', disabled: !this.canGrade });
    this.correction.value = this.asJSON ? JSON.stringify(this.original, null, 2) : (this.original.content ?? '');
    this.correctionBox = el('details', { class: 'correction' }, el('summary', {}, 'Correction ', el('kbd', {}, 'c'), el('span', { class: 'muted' }, this.asJSON ? ' (JSON: content, tool_calls)' : ' (starts from the model’s answer; sent when changed)')), this.correction);
    this.good = el('button', { type: 'button', id: 'btn-grade-good', class: 'primary', disabled: !this.canGrade, title: 'Good (g)' }, 'Good ', el('kbd', {}, 'g'));
    this.bad = el('button', { type: 'button', id: 'btn-grade-bad', class: 'danger', disabled: !this.canGrade, title: 'Bad (b)' }, 'Bad ', el('kbd', {}, 'b'));
    this.good.addEventListener('click', () => this.send('good'));
    this.bad.addEventListener('click', () => this.send('bad'));
    this.error = el('p', { class: 'error', role: 'alert', id: 'grade-error' });
    this.hint = el('span', { class: 'muted hint', id: 'grade-hint', 'aria-live': 'polite' });
    const confidence = typeof task.confidence === 'number' ? el('span', { class: 'badge' }, `confidence ${percent(task.confidence)}`) : null;
    const progress = el('span', { class: 'badge' }, `${task.graded ?? 0} of ${task.reviews ?? 1} grades`);
    this.element = el(
      'section',
      { id: 'grade-card', class: 'card', 'aria-label': 'Grade the model’s answer' },
      el('h3', {}, 'Model’s answer ', confidence, ' ', progress, task.rubric ? el('span', { class: 'muted rubric-name' }, ` rubric ${task.rubric}`) : null),
      el('div', { class: 'model-answer' }, ...this.answerLines()),
      this.items.length ? el('div', { class: 'rubric', role: 'group', 'aria-label': 'Rubric' }, ...this.controls.map((c) => c.row)) : null,
      this.correctionBox,
      el('div', { class: 'row decide' }, this.good, this.bad, this.comment, this.hint),
      this.error,
      this.gradesList(),
    );
  }

  answerLines() {
    const draft = this.task.draft ?? {};
    const lines = [];
    if (draft.content) lines.push(textBlock(draft.content));
    if (draft.refusal) lines.push(el('p', { class: 'muted' }, `Refused: ${draft.refusal}`));
    for (const call of draft.tool_calls ?? []) lines.push(el('div', { class: 'mono' }, `→ ${readableCall(call.name, call.arguments)}`));
    (draft.computer_actions ?? []).forEach((a, i) => lines.push(el('div', { class: 'mono' }, `${i + 1}. ${a.type ?? 'action'}`)));
    if (!lines.length) lines.push(el('p', { class: 'muted' }, '(empty answer)'));
    return lines;
  }

  /** One rubric item's row: its key, name, what it takes, and its input. */
  control(item, index) {
    const key = index < 9 ? String(index + 1) : null;
    const name = `grade-${item.name}`;
    const disabled = !this.canGrade;
    let inputs;
    let value;
    let activate; // the item's key: true when the next key picks its value
    let pick = () => false; // a key after the item's key: true when it picked a value
    if (item.type === 'bool' || item.type === 'scale') {
      const options = item.type === 'bool' ? [['true', 'yes'], ['false', 'no']] : Array.from({ length: item.max - item.min + 1 }, (_, i) => [String(item.min + i), String(item.min + i)]);
      const radios = options.map(([v, label]) => {
        const radio = el('input', { type: 'radio', name, value: v, disabled });
        return [radio, el('label', { class: 'choice' }, radio, label)];
      });
      inputs = radios.map(([, label]) => label);
      const checked = () => radios.find(([radio]) => radio.checked)?.[0];
      value = () => {
        const v = checked()?.value;
        if (v === undefined) return undefined;
        return item.type === 'bool' ? v === 'true' : Number(v);
      };
      if (item.type === 'bool') {
        // The item's key flips a yes/no: yes first, then no, then yes.
        activate = () => {
          const [yes, no] = radios.map(([radio]) => radio);
          (yes.checked ? no : yes).checked = true;
          return false;
        };
      } else {
        activate = () => true; // then a digit: the value on the scale
        pick = (k) => {
          const radio = radios.find(([r]) => r.value === k)?.[0];
          if (radio) radio.checked = true;
          return Boolean(radio);
        };
      }
    } else if (item.type === 'choice') {
      const select = el('select', { id: name, disabled }, el('option', { value: '' }, '—'), ...item.options.map((o, i) => el('option', { value: o }, i < 9 ? `${i + 1}. ${o}` : o)));
      inputs = [select];
      value = () => select.value || undefined;
      activate = () => true; // then a digit: the option's number
      pick = (k) => {
        const option = item.options[Number(k) - 1];
        if (option !== undefined) select.value = option;
        return option !== undefined;
      };
    } else {
      const input = el('input', { type: 'text', id: name, maxlength: 4000, disabled });
      inputs = [input];
      value = () => input.value.trim() || undefined;
      activate = () => {
        input.focus({ preventScroll: true });
        return false;
      };
    }
    const row = el(
      'div',
      { class: 'rubric-item', 'data-item': item.name },
      key ? el('kbd', {}, key) : el('span', { class: 'nokey' }),
      el('span', { class: 'item-name', title: item.takes ?? '' }, item.name, item.required ? el('span', { class: 'req', title: 'required' }, ' *') : null),
      el('span', { class: 'item-inputs' }, ...inputs),
    );
    return { item, key, row, value, activate, pick };
  }

  gradesList() {
    const grades = this.task.grades ?? [];
    if (!grades.length) return null;
    const done = !['pending', 'claimed'].includes(this.task.status);
    return el(
      'div',
      { class: 'grades' },
      el('h4', {}, done ? 'Grades' : 'Your grade'),
      el('ul', {}, ...grades.map((g) => el('li', {}, el('b', {}, g.reviewer), `: ${g.verdict}`, Object.keys(g.scores ?? {}).length ? ` · ${Object.entries(g.scores).map(([k, v]) => `${k} ${v}`).join(', ')}` : '', g.comment ? ` · “${g.comment}”` : '', g.correction ? ' · corrected' : ''))),
    );
  }

  /** The grade body, or null (with the problem shown) when a required item is empty. */
  body(verdict) {
    const scores = {};
    for (const { item, value, row } of this.controls) {
      const v = value();
      if (v === undefined) {
        if (item.required) {
          this.error.textContent = `${item.name}: ${item.takes ?? 'needed'} (press ${row.querySelector('kbd')?.textContent ?? 'its row'})`;
          return null;
        }
      } else scores[item.name] = v;
    }
    const body = { verdict, scores };
    const comment = this.comment.value.trim();
    if (comment) body.comment = comment;
    const correction = this.readCorrection();
    if (correction === null) return null;
    if (correction) body.correction = correction;
    return body;
  }

  /** The correction when changed (undefined when not), or null when its JSON is broken. */
  readCorrection() {
    const text = this.correction.value;
    if (!this.asJSON) return text !== (this.original.content ?? '') && text.trim() ? { content: text } : undefined;
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.error.textContent = `The correction is not valid JSON: ${error.message}`;
      return null;
    }
    return JSON.stringify(value) === JSON.stringify(this.original) ? undefined : value;
  }

  async send(verdict) {
    if (!this.canGrade || this.sending) return;
    this.error.textContent = '';
    const body = this.body(verdict);
    if (!body) return;
    this.sending = true;
    try {
      await this.hooks.grade(body, verdict === 'good' ? 'Graded good' : 'Graded bad');
    } finally {
      this.sending = false;
    }
  }

  key(key) {
    if (!this.canGrade) return false;
    const waiting = this.waiting;
    this.waiting = null;
    for (const row of this.element.querySelectorAll('.rubric-item.picking')) row.classList.remove('picking');
    this.hint.textContent = '';
    if (waiting?.pick(key)) return true;
    if (key !== 'g' && key !== 'b') this.error.textContent = ''; // being mended
    if (key === 'g') this.send('good');
    else if (key === 'b') this.send('bad');
    else if (key === 'c') {
      this.correctionBox.open = true;
      this.correction.focus({ preventScroll: true });
    } else {
      const control = this.controls.find((c) => c.key === key);
      if (!control) return false;
      if (control.activate()) {
        this.waiting = control;
        control.row.classList.add('picking');
        this.hint.textContent = `${control.item.name}: press ${control.item.type === 'scale' ? `${control.item.min}–${control.item.max}` : `1–${Math.min(9, control.item.options.length)}`}`;
      }
    }
    return true;
  }

  focus() {
    if (!this.canGrade) return false;
    this.good.focus({ preventScroll: true });
    return true;
  }
}

/**
 * The view for a grade task, mounted at the top of the work area, or null for other tasks.
 * @param {{grade: (body: object, message: string) => Promise<void>}} hooks
 */
export function gradeView(task, hooks) {
  if (task.kind !== 'grade') return null;
  addStyle();
  const grade = async (body, message) => {
    await hooks.grade(body, message);
    gradedHere.add(task.id);
  };
  const view = new GradeCard(task, { ...hooks, grade });
  document.querySelector('#task .work-main').prepend(view.element);
  $('task').classList.add(view.hides);
  return {
    key: (key) => view.key(key),
    submit: null, // ctrl+Enter does not guess a verdict: g or b
    focus: () => view.focus(),
    remove: () => {
      view.element.remove();
      $('task').classList.remove(view.hides);
    },
  };
}

/** The queue's kind filter (all / answers / grades) in the queue's heading; sets ``queue.filter``. */
export function installQueueFilter(queue) {
  addStyle();
  const select = el(
    'select',
    { id: 'queue-filter', title: 'Show: every task, tasks to answer, or answers to grade', 'aria-label': 'Queue filter' },
    el('option', { value: '' }, 'all'),
    el('option', { value: 'answer' }, 'to answer'),
    el('option', { value: 'grade' }, 'to grade'),
  );
  select.value = localStorage.getItem(FILTER_KEY) ?? '';
  const apply = () => {
    const wanted = select.value;
    localStorage.setItem(FILTER_KEY, wanted);
    const kind = (task) => !wanted || (task.kind === 'grade') === (wanted === 'grade');
    queue.filter = (task) => {
      if (task.graded_by_me) gradedHere.add(task.id); // from a list: events do not say
      return kind(task) && !gradedHere.has(task.id);
    };
    queue.render();
  };
  select.addEventListener('change', apply);
  document.querySelector('#queue-pane h2').append(select);
  apply();
}

/** The header's agreement figure: per model, the verdict agreement (hover: every item). */
export function showAgreement(agreement) {
  const models = Object.entries(agreement ?? {}).filter(([, a]) => a.verdict?.items);
  let box = $('stat-agreement-box');
  if (!models.length) {
    if (box) box.hidden = true;
    return;
  }
  if (!box) {
    box = el('div', { id: 'stat-agreement-box' }, el('dt', {}, 'Agreement'), el('dd', { id: 'stat-agreement' }));
    $('stats').append(box);
  }
  box.hidden = false;
  const symbol = { cohen_kappa: 'κ', fleiss_kappa: 'κ', krippendorff_alpha: 'α' };
  const shown = (f) => (f.value === null ? '–' : f.value.toFixed(2));
  const [model, first] = models[0];
  $('stat-agreement').textContent = `${symbol[first.verdict.method] ?? ''} ${shown(first.verdict)}${models.length > 1 ? ` +${models.length - 1}` : ''}`;
  box.title = models
    .map(([name, a]) => [`${name}: ${a.grades} grades of ${a.tasks} answers`, `  verdict ${a.verdict.method} ${shown(a.verdict)} over ${a.verdict.items} answers`, ...Object.entries(a.items).map(([item, f]) => `  ${item} ${f.method} ${shown(f)} over ${f.items}`)].join('\n'))
    .join('\n');
  $('stat-agreement').dataset.model = model;
}
