// Computer actions as people read them.

/** A one-line description of an action, for the list. */
export function describe(action) {
  const at = (a) => `(${a.x}, ${a.y})`;
  switch (action.type) {
    case 'click':
      return `click ${action.button === 'wheel' ? 'middle' : action.button} ${at(action)}`;
    case 'double_click':
      return `double-click ${at(action)}`;
    case 'move':
      return `move to ${at(action)}`;
    case 'drag': {
      const p = action.path;
      return `drag ${at(p[0])} → ${at(p[p.length - 1])} (${p.length} points)`;
    }
    case 'scroll':
      return `scroll x ${action.scroll_x}, y ${action.scroll_y} at ${at(action)}`;
    case 'type':
      return `type ${JSON.stringify(action.text)}`;
    case 'keypress':
      return `keys ${action.keys.join('+')}`;
    default:
      return action.type;
  }
}

/** A short line for the timeline: "click (640, 342)", "type 'ops@acme.test'", "keys ctrl+s". */
export function brief(action) {
  if (!action || typeof action !== 'object') return String(action);
  const at = (a) => `(${a.x}, ${a.y})`;
  switch (action.type) {
    case 'click': {
      const button = action.button === 'wheel' ? 'middle' : action.button;
      return button && button !== 'left' ? `${button} click ${at(action)}` : `click ${at(action)}`;
    }
    case 'double_click':
      return `double-click ${at(action)}`;
    case 'move':
      return `move ${at(action)}`;
    case 'drag': {
      const p = Array.isArray(action.path) ? action.path : [];
      return p.length ? `drag ${at(p[0])} → ${at(p[p.length - 1])}` : 'drag';
    }
    case 'scroll': {
      const sx = action.scroll_x ?? 0;
      const sy = action.scroll_y ?? 0;
      const way = Math.abs(sy) >= Math.abs(sx) ? (sy < 0 ? 'up' : 'down') : sx < 0 ? 'left' : 'right';
      return `scroll ${way} ${Math.max(Math.abs(sx), Math.abs(sy))} ${at(action)}`;
    }
    case 'type':
      return `type '${action.text ?? ''}'`;
    case 'keypress':
      return `keys ${(action.keys ?? []).join('+')}`;
    default:
      return String(action.type ?? '?');
  }
}

/** The computer action(s) in a chat function call's arguments, whichever shape they use. */
export function actionsFromArguments(args) {
  if (!args || typeof args !== 'object') return [];
  if (Array.isArray(args.actions)) return args.actions.filter((a) => a && typeof a === 'object');
  if (args.action && typeof args.action === 'object') return [args.action];
  if (typeof args.action === 'string') return [{ ...args, type: args.action }];
  return typeof args.type === 'string' ? [args] : [];
}
