// The step grid: steps down, node tasks across, each cell the node's status at that step,
// drawn from compact strings (see squall/ui/grids.py), PAGE node tasks at a time (◀ ▶ move
// along), so the browser never lays out more than a few thousand cells at once. A cell's
// tooltip is made on hover. Empty until asked for when the deployment is big: then a
// button says what it would show.

import { decode, escape } from "grid_codec";

const PAGE = 2000;

export default {
  template: `
    <div>
      <button v-if="!steps.length && cells" type="button" class="sq-show-steps" @click="$emit('open')">
        Show each node at each step ({{ tasks.toLocaleString() }} node tasks, {{ cells.toLocaleString() }} cells)
      </button>
      <template v-else>
        <div v-if="tasks > page_size" class="sq-stage sq-step-pages">
          <button type="button" class="sq-show-steps" :disabled="first === 0" @click="first -= page_size">◀</button>
          node tasks {{ (first + 1).toLocaleString() }} to {{ Math.min(first + page_size, tasks).toLocaleString() }} of {{ tasks.toLocaleString() }}
          <button type="button" class="sq-show-steps" :disabled="first + page_size >= tasks" @click="first += page_size">▶</button>
        </div>
        <div @mouseover="hover" v-html="html"></div>
      </template>
    </div>`,
  props: {
    names: String,
    steps: Array,
    states: Array,
    tasks: Number,
    cells: Number,
  },
  data() {
    return { first: 0, page_size: PAGE };
  },
  computed: {
    nodes() {
      return decode(this.names);
    },
    html() {
      return this.steps
        .map(([step, letters]) => {
          let cells = "";
          const last = Math.min(this.first + PAGE, letters.length);
          for (let k = this.first; k < last; k++) {
            cells += `<i class="sq-${this.states[letters.charCodeAt(k) - 97]}"></i>`;
          }
          return `<div class="sq-step" data-step="${escape(step)}"><span>${escape(step)}</span><div class="sq-cells">${cells}</div></div>`;
        })
        .join("");
    },
  },
  methods: {
    hover(event) {
      const cell = event.target;
      if (cell.tagName !== "I" || cell.title) return;
      const index = this.first + Array.prototype.indexOf.call(cell.parentNode.children, cell);
      const status = cell.className.slice(3);
      const step = cell.closest(".sq-step").dataset.step;
      cell.title = `${this.nodes[index]} · ${step}: ${status === "none" ? "not reached" : status}`;
    },
  },
};
