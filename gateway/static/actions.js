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
