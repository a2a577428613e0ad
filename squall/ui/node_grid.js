// One stage of a deployment's node grid: its node tasks by cluster, a square each, drawn
// from compact strings (see squall/ui/grids.py): per cluster the node names front-coded
// and one letter per task for its status. A click on a square emits "node" with its name.

const SHARED = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function decode(coded) {
  const names = [];
  let previous = "";
  for (const item of coded ? coded.split(" ") : []) {
    previous = previous.slice(0, SHARED.indexOf(item[0])) + item.slice(1);
    names.push(previous);
  }
  return names;
}

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export default {
  template: `<div :class="{ 'sq-small': small }" style="margin-bottom:8px" @click="clicked" v-html="html"></div>`,
  props: {
    stage: String,
    clusters: Array,
    states: Array,
    notes: Object,
    small: Boolean,
  },
  computed: {
    html() {
      const parts = [];
      let index = 0;
      for (const [cluster, coded, letters] of this.clusters) {
        const names = decode(coded);
        const label = escape(cluster);
        const squares = names.map((node, k) => {
          const status = this.states[letters.charCodeAt(k) - 97];
          const note = this.notes[index + k];
          const title = `${node} [${cluster}] ${status}` + (note ? ` · ${note}` : "");
          return `<i class="squall-node sq-${status}" data-node="${escape(node)}" title="${escape(title)}"></i>`;
        });
        index += names.length;
        parts.push(
          `<div class="sq-cluster" data-cluster="${label}"><div class="sq-stage">${label} · ${names.length}</div>` +
            `<div class="sq-grid">${squares.join("")}</div></div>`,
        );
      }
      return (
        `<div class="sq-stage"><b>${escape(this.stage)}</b> · ${index} node(s) in ${this.clusters.length} cluster(s)</div>` +
        `<div class="sq-clusters">${parts.join("")}</div>`
      );
    },
  },
  methods: {
    clicked(event) {
      const square = event.target.closest(".squall-node");
      if (square) this.$emit("node", square.dataset.node);
    },
  },
};
