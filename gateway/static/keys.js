// Capturing a key combination the way computer-use loops name keys:
// ctrl+shift+t gives ["ctrl", "shift", "t"].

const MODIFIERS = { Control: 'ctrl', Alt: 'alt', Shift: 'shift', Meta: 'cmd' };
const KEY_NAMES = {
  Enter: 'enter', Escape: 'esc', Tab: 'tab', Backspace: 'backspace', Delete: 'delete',
  ' ': 'space', ArrowUp: 'arrowup', ArrowDown: 'arrowdown', ArrowLeft: 'arrowleft',
  ArrowRight: 'arrowright', Home: 'home', End: 'end', PageUp: 'pageup', PageDown: 'pagedown',
  Insert: 'insert', CapsLock: 'capslock',
};

/** The name of the non-modifier key of a keydown, as computer-use loops expect it. */
export function keyName(event) {
  let m = /^Key([A-Z])$/.exec(event.code);
  if (m) return m[1].toLowerCase();
  m = /^Digit(\d)$/.exec(event.code);
  if (m) return m[1];
  if (KEY_NAMES[event.key]) return KEY_NAMES[event.key];
  if (/^F\d{1,2}$/.test(event.key)) return event.key.toLowerCase();
  return event.key.toLowerCase();
}

export function held(e) {
  const keys = [];
  if (e.ctrlKey) keys.push('ctrl');
  if (e.altKey) keys.push('alt');
  if (e.shiftKey) keys.push('shift');
  if (e.metaKey) keys.push('cmd');
  return keys;
}

/**
 * Turn ``box`` into a capture field: each combination pressed in it calls
 * ``onKeys(keys)``. A modifier pressed and released alone is itself a key.
 * Esc alone calls ``onLeave()`` instead (with a modifier, shift+esc say, it is a key).
 */
export function captureKeys(box, onKeys, onLeave = () => {}) {
  let mods = new Set();
  let onlyMods = false;
  const show = (keys) => {
    box.textContent = keys.length ? keys.join('+') : 'press a key combination here';
  };
  box.addEventListener('keydown', (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (e.repeat) return;
    if (e.key === 'Escape' && !held(e).length) {
      mods = new Set();
      onlyMods = false;
      onLeave();
      return;
    }
    if (MODIFIERS[e.key]) {
      if (!mods.size) onlyMods = true;
      mods.add(e.key);
      show(held(e));
      return;
    }
    onlyMods = false;
    const keys = [...held(e), keyName(e)];
    onKeys(keys);
    show(keys);
  });
  box.addEventListener('keyup', (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (!MODIFIERS[e.key]) return;
    const still = held(e);
    if (onlyMods && still.length === 0) {
      const keys = ['Control', 'Alt', 'Shift', 'Meta'].filter((k) => mods.has(k)).map((k) => MODIFIERS[k]);
      onKeys(keys);
      show(keys);
    }
    if (still.length === 0) {
      mods = new Set();
      onlyMods = false;
    }
  });
  box.addEventListener('blur', () => {
    mods = new Set();
    onlyMods = false;
  });
}
