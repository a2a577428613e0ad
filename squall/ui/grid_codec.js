// What both grids (node_grid.js, step_grid.js) read their compact strings with: node names
// front-coded by squall/ui/grids.py, and text made safe to put into HTML.

const SHARED = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// "0web-01 4-02" → ["web-01", "web-02"]: each name's first letter says how many leading
// letters it shares with the name before it.
export function decode(coded) {
  const names = [];
  let previous = "";
  for (const item of coded ? coded.split(" ") : []) {
    previous = previous.slice(0, SHARED.indexOf(item[0])) + item.slice(1);
    names.push(previous);
  }
  return names;
}

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
