// One stage of a deployment's node grid: its node tasks by cluster, a square each, drawn
// from compact strings (see squall/ui/grids.py): per cluster the node names front-coded
// and one letter per task for its status. A click on a square emits "node" with its name.
// When only statuses change (a running deployment), only the squares that changed are
// touched: redrawing 10,000 squares every second would keep the browser busy.

import { decode, escape } from "grid_codec";

export default {
  template: `<div :class="{ 'sq-small': small }" style="margin-bottom:8px" @click="clicked"></div>`,
  props: {
    stage: String,
    clusters: Array,
    states: Array,
    notes: Object,
    small: Boolean,
  },
  mounted() {
    this.draw();
  },
  watch: {
    $props: {
      handler() {
        this.draw();
      },
      deep: true,
    },
  },
  methods: {
    // Each square as [node, cluster, status, title], in the order they are drawn.
    squares() {
      const squares = [];
      for (const [cluster, coded, letters] of this.clusters) {
        decode(coded).forEach((node, k) => {
          const status = this.states[letters.charCodeAt(k) - 97];
          const note = this.notes[squares.length];
          const title = `${node} [${cluster}] ${status}` + (note ? ` · ${note}` : "");
          squares.push([node, cluster, status, title]);
        });
      }
      return squares;
    },
    draw() {
      const squares = this.squares();
      const layout = this.stage + "\n" + this.clusters.map(([cluster, coded]) => `${cluster} ${coded}`).join("\n");
      if (layout === this.layout) {
        const drawn = this.$el.getElementsByClassName("squall-node");
        squares.forEach(([, , status, title], k) => {
          const square = drawn[k];
          if (square.title !== title) {
            square.className = `squall-node sq-${status}`;
            square.title = title;
          }
        });
        return;
      }
      this.layout = layout;
      const parts = [];
      let index = 0;
      for (const [cluster] of this.clusters) {
        const label = escape(cluster);
        const mine = [];
        while (index < squares.length && squares[index][1] === cluster) {
          const [node, , status, title] = squares[index++];
          mine.push(`<i class="squall-node sq-${status}" data-node="${escape(node)}" title="${escape(title)}"></i>`);
        }
        parts.push(
          `<div class="sq-cluster" data-cluster="${label}"><div class="sq-stage">${label} · ${mine.length}</div>` +
            `<div class="sq-grid">${mine.join("")}</div></div>`,
        );
      }
      this.$el.innerHTML =
        `<div class="sq-stage"><b>${escape(this.stage)}</b> · ${squares.length} node(s) in ${this.clusters.length} cluster(s)</div>` +
        `<div class="sq-clusters">${parts.join("")}</div>`;
    },
    clicked(event) {
      const square = event.target.closest(".squall-node");
      if (square) this.$emit("node", square.dataset.node);
    },
  },
};
