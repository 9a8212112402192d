// The shape an answer must take beyond free text: JSON of the request's output format
// (structured outputs) and, for a request with n > 1, n reply slots (one per choice
// the agent receives). Mounted above the reply box; the task panel asks it for the
// answer body. Plain-text tasks with n = 1 get nothing from here.
import { $, el } from './dom.js';
import { formatStatement, JsonForm } from './structured.js';

const WORK_KEY = 'hitl.shape.'; // + task id: the unsent slot contents

const STYLE_ID = 'answer-shape-css';

function addStyle() {
  if ($(STYLE_ID)) return;
  document.head.append(el('link', { id: STYLE_ID, rel: 'stylesheet', href: '/static/choices.css' }));
}

/** One reply slot: a schema form (json_schema) or a text box (text, json_object). */
class Slot {
  constructor(format, label, onChange) {
    this.format = format;
    if (format?.type === 'json_schema') {
      this.form = new JsonForm(format, label);
      this.element = this.form.element;
    } else {
      const placeholder = format ? 'JSON' : 'Reply text';
      this.box = el('textarea', { rows: 3, class: format ? 'raw' : '', placeholder, 'aria-label': label });
      this.element = el('label', { class: 'slot' }, el('span', { class: 'slot-label' }, label), this.box);
    }
    this.element.addEventListener('input', onChange);
    this.element.addEventListener('change', onChange);
  }

  isEmpty() {
    return this.form ? this.form.isEmpty() : !this.box.value.trim();
  }

  /** The slot's content, or undefined with the problem in ``problems``. */
  content(label, problems) {
    if (this.form) {
      const value = this.form.value();
      if (value === undefined) problems.push(`${label}: fix the fields marked in red`);
      return value;
    }
    const text = this.box.value;
    if (!text.trim()) {
      problems.push(`${label} is empty`);
      return undefined;
    }
    if (this.format) {
      try {
        JSON.parse(text);
      } catch {
        problems.push(`${label} is not valid JSON`);
        return undefined;
      }
    }
    return text;
  }

  fill(value) {
    if (this.form) this.form.fill(value ?? '');
    else this.box.value = typeof value === 'string' ? value : value == null ? '' : JSON.stringify(value, null, 2);
  }

  snapshot() {
    return this.form ? this.form.snapshot() : this.box.value;
  }
}

export class AnswerShape {
  /** @param {object} task the full task from the reviewer API; @param {() => void} onChange */
  constructor(task, onChange) {
    this.task = task;
    this.format = task.output_format ?? null;
    this.n = Number.isInteger(task.n) && task.n > 1 ? task.n : 1;
    this.slots = [];
    this.element = null;
    if (!this.format && this.n === 1) return;
    addStyle();
    const save = () => {
      $('reply-error').textContent = ''; // a problem from the last Submit no longer applies
      for (const slot of this.slots) slot.form?.form.error.replaceChildren();
      this.save();
      onChange();
    };
    const notes = [];
    const acting = (task.tools ?? []).length > 0;
    if (this.n > 1) notes.push(`The agent asked for ${this.n} answers (n = ${this.n}): each slot is one choice it receives, in order.${acting ? ' Tool calls and actions above go with answer 1.' : ''}`);
    if (this.format) notes.push(formatStatement(this.format));
    // json_object with one answer keeps the reply box: the statement is all it needs.
    const slotted = this.n > 1 || this.format?.type === 'json_schema';
    if (slotted) {
      for (let i = 0; i < this.n; i += 1) this.slots.push(new Slot(this.format, this.n > 1 ? `Answer ${i + 1}` : '', save));
    }
    this.element = el(
      'section',
      { id: 'answer-shape', class: 'card', 'data-n': String(this.n), 'data-format': this.format?.type ?? 'text' },
      el('h3', {}, this.n > 1 ? `${this.n} answers` : 'Structured answer'),
      ...notes.map((text) => el('p', { class: 'shape-note' }, text)),
      ...this.slots.map((slot) => slot.element),
    );
    $('reply').before(this.element);
    // The slots take the place of the reply text box.
    this.replyBox(slotted);
    this.renderDraftChoices(task.draft);
    this.restore();
  }

  /** Hide the reply box (and its "+ Text" button) while the slots stand in for it. */
  replyBox(hidden) {
    $('task')?.classList.toggle('slotted', hidden);
  }

  /** The model's n choices, in the draft card (which shows one answer by itself). */
  renderDraftChoices(draft) {
    const body = $('draft-body');
    if (!body || !Array.isArray(draft?.choices)) return;
    draft.choices.forEach((choice, i) => {
      const text = choice.refusal != null ? `refuses: ${choice.refusal}` : (choice.content ?? '');
      const calls = (choice.tool_calls ?? []).map((call) => `→ ${call.name}`).join(' ');
      body.append(el('div', { class: 'draft-choice' }, el('strong', {}, `Answer ${i + 1}: `), [text, calls].filter(Boolean).join(' ')));
    });
  }

  /**
   * The answer body from the panel's own (``base``: content, tool_calls,
   * computer_actions), or null when a slot is not ready (the problem is shown).
   */
  body(base) {
    if (!this.element) return base;
    const problems = [];
    let body = base;
    if (this.n === 1 && this.format?.type === 'json_object') {
      if (base.content !== undefined) {
        try {
          JSON.parse(base.content);
        } catch {
          problems.push('The reply is not valid JSON');
        }
      }
    } else if (this.n === 1) {
      const [slot] = this.slots;
      const acting = Boolean(base.tool_calls || base.computer_actions);
      body = { ...base };
      delete body.content;
      // With tool calls or actions, the JSON may be left out (a model may call tools instead).
      if (!(acting && slot.isEmpty())) body.content = slot.content('The answer', problems);
    } else {
      const choices = this.slots.map((slot, i) => {
        const label = `Answer ${i + 1}`;
        const extra = i === 0 ? { tool_calls: base.tool_calls, computer_actions: base.computer_actions } : {};
        const acting = Boolean(extra.tool_calls || extra.computer_actions);
        const choice = Object.fromEntries(Object.entries(extra).filter(([, value]) => value));
        if (!(acting && slot.isEmpty())) choice.content = slot.content(label, problems);
        return choice;
      });
      body = { choices };
    }
    if (problems.length) {
      $('reply-error').textContent = `${problems.join('; ')}.`;
      return null;
    }
    return body;
  }

  /** Load the model's draft into the slots (the panel loads calls and actions itself). */
  fill(draft) {
    if (!this.slots.length || !draft) return;
    if (this.n > 1) (draft.choices ?? []).forEach((choice, i) => this.slots[i]?.fill(choice.content));
    else this.slots[0].fill(draft.content);
    this.save();
  }

  save() {
    if (!this.slots.length) return;
    sessionStorage.setItem(WORK_KEY + this.task.id, JSON.stringify(this.slots.map((slot) => slot.snapshot())));
  }

  restore() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(WORK_KEY + this.task.id) || 'null');
    } catch {
      saved = null;
    }
    if (Array.isArray(saved)) saved.forEach((value, i) => this.slots[i]?.fill(value));
  }

  /** Take the slots away (the task closed); ``answered`` forgets their unsent contents. */
  remove(answered = false) {
    this.element?.remove();
    this.replyBox(false);
    if (answered) sessionStorage.removeItem(WORK_KEY + this.task.id);
  }
}
