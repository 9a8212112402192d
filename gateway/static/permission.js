// A permission task (MCP's request_permission, Claude Code's permission prompt): the
// tool, its input with the command or file path up front, and Allow (a) / Deny (d).
// "Edit input" (e) opens the input as JSON: Allow then runs the edited input
// (updatedInput), once it parses as a JSON object. Deny takes an optional message for the agent.
import { el } from './dom.js';

const PROMINENT = ['command', 'file_path', 'url', 'path', 'pattern'];

export class PermissionCard {
  constructor(task, call, hooks) {
    this.hooks = hooks;
    this.input = call.input && typeof call.input === 'object' ? call.input : {};
    this.hides = 'mcp-permission'; // the reply box and the generic form: Allow and Deny answer
    const readOnly = hooks.readOnly;
    const shown = JSON.stringify(this.input, null, 2);
    this.allowButton = el('button', { type: 'button', class: 'primary', title: 'Allow the tool call (a)', disabled: readOnly }, 'Allow ', el('kbd', {}, 'a'));
    this.denyButton = el('button', { type: 'button', class: 'danger', title: 'Deny the tool call (d)', disabled: readOnly }, 'Deny ', el('kbd', {}, 'd'));
    this.editButton = el('button', { type: 'button', title: 'Edit the input before allowing (e)', disabled: readOnly }, 'Edit input ', el('kbd', {}, 'e'));
    this.message = el('input', { type: 'text', class: 'deny-message', placeholder: 'why not (optional, the agent reads it)', 'aria-label': 'Deny message', disabled: readOnly });
    this.json = el('pre', { class: 'input-json' }, shown);
    this.editor = el('textarea', { class: 'input-editor', rows: Math.min(16, shown.split('\n').length + 1), spellcheck: 'false', 'aria-label': 'Input to run (JSON)', hidden: true });
    this.editor.value = shown;
    this.error = el('p', { class: 'error', role: 'alert' });
    this.allowButton.addEventListener('click', () => this.allow());
    this.denyButton.addEventListener('click', () => this.deny());
    this.editButton.addEventListener('click', () => this.edit());
    this.editor.addEventListener('input', () => this.check());
    this.message.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.deny();
      }
    });
    const id = call.tool_use_id ? el('span', { class: 'muted tool-use', title: 'tool use id' }, call.tool_use_id) : null;
    this.element = el(
      'section',
      { id: 'mcp-permission', class: 'card', 'aria-label': 'Permission' },
      el('h3', {}, 'The agent asks to run ', el('code', { class: 'tool-name' }, String(call.tool_name ?? '?')), ' ', id),
      this.run(call.run),
      this.prominent(),
      el('details', { class: 'input', open: true }, el('summary', {}, 'Input'), this.json, this.editor),
      this.error,
      el('div', { class: 'row decide' }, this.allowButton, this.editButton, el('span', { class: 'spacer' }), this.message, this.denyButton),
    );
  }

  /** What the run was asked to do, when the tool use came from a step answered here. */
  run(run) {
    if (!run || typeof run.goal !== 'string' || !run.goal) return null;
    return el('p', { class: 'run' }, el('span', { class: 'muted' }, `Step ${Number(run.step) || 1} of a run asked to: `), run.goal);
  }

  /** The command or file path (and the tool's own description of it) in large type. */
  prominent() {
    const field = PROMINENT.find((key) => typeof this.input[key] === 'string' && this.input[key]);
    if (!field) return null;
    const about = typeof this.input.description === 'string' ? el('p', { class: 'muted about' }, this.input.description) : null;
    return el('div', { class: 'prominent' }, el('span', { class: 'field' }, field), el('pre', { class: `value ${field}` }, this.input[field]), about);
  }

  edit() {
    if (this.hooks.readOnly) return;
    this.json.hidden = true;
    this.editor.hidden = false;
    this.element.querySelector('details').open = true;
    this.editor.focus();
  }

  /** The edited input, or undefined (with the problem shown) when it is not a JSON object. */
  edited() {
    this.error.textContent = '';
    let value;
    try {
      value = JSON.parse(this.editor.value);
    } catch (error) {
      this.error.textContent = `The input is not valid JSON: ${error.message}`;
      return undefined;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      this.error.textContent = 'The input must be a JSON object.';
      return undefined;
    }
    return value;
  }

  check() {
    this.allowButton.disabled = this.edited() === undefined;
  }

  async allow() {
    if (this.hooks.readOnly || this.sending) return;
    const body = { behavior: 'allow' };
    if (!this.editor.hidden) {
      const input = this.edited();
      if (input === undefined) return;
      if (JSON.stringify(input) !== JSON.stringify(this.input)) body.updatedInput = input;
    }
    await this.send({ content: body }, body.updatedInput ? 'Allowed with the edited input' : 'Allowed');
  }

  async deny() {
    if (this.hooks.readOnly || this.sending) return;
    const message = this.message.value.trim();
    await this.send({ content: message ? { behavior: 'deny', message } : { behavior: 'deny' } }, 'Denied');
  }

  async send(body, done) {
    this.sending = true;
    try {
      await this.hooks.answer(body, done);
    } finally {
      this.sending = false;
    }
  }

  submit() {
    return this.allow();
  }

  key(key) {
    if (key === 'a') this.allow();
    else if (key === 'd') this.deny();
    else if (key === 'e') this.edit();
    else return false;
    return true;
  }

  focus() {
    this.allowButton.focus({ preventScroll: true });
    return true;
  }
}
