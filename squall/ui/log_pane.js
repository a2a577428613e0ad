// The log pane: a fixed-height window over a deployment's whole log. A spacer as tall as
// all rows together gives the scrollbar its true meaning; only the rows in sight, and a
// margin, are in the page, fetched from the JSON route CHUNK rows at a time as the view
// moves. Following polls the size of the log and keeps the view at its end.

const ROW = 18; // px: every row is this tall, so row n sits at n × ROW
const CHUNK = 500; // rows per request
const KEEP = 8; // chunks held, those nearest the view
const MARGIN = 60; // rows rendered above and below the visible ones
const MAX_SPACER = 8000000; // px: browsers stop growing an element somewhere above 17 million
const POLL_MS = 1000;

export default {
  template: `
    <div class="squall-log-pane">
      <div ref="viewport" @scroll.passive="onScroll" :style="viewportStyle">
        <div :style="{ height: spacer + 'px', position: 'relative' }">
          <div :style="{ position: 'absolute', top: offset + 'px', left: 0, minWidth: '100%', width: 'max-content' }">
            <div v-for="row in rows" :key="row.number" :style="rowStyle(row)" :title="row.title">
              <template v-if="row.kind === 'header'">{{ row.text }}</template>
              <template v-else-if="row.kind === 'line'"><span v-if="row.time" style="color: #9e9e9e; margin-right: 1ch">{{ row.time }}</span><span v-if="row.node && mode !== 'node'" :style="{ display: 'inline-block', minWidth: nodeWidth + 'ch', marginRight: '1ch', color: '#5c6bc0' }">{{ row.node }}</span>{{ row.text }}</template>
              <template v-else><span style="color: #bdbdbd">…</span></template>
            </div>
          </div>
        </div>
      </div>
      <div style="display: flex; justify-content: space-between; font-size: 12px; color: #757575; padding: 2px 4px">
        <span :style="{ color: message ? '#c62828' : '#757575' }">{{ caption }}</span>
        <span>{{ total.toLocaleString() }} {{ mode === 'grouped' ? 'rows' : 'lines' }}</span>
      </div>
    </div>`,
  props: {
    url: String,
    mode: String,
    node: String,
    search: String,
    follow: Boolean,
    colors: Object,
    height: { type: String, default: "60vh" },
  },
  data() {
    return { total: 0, top: 0, viewport: 0, version: 0, loaded: false, message: "", nodeWidth: 8 };
  },
  created() {
    // Not reactive: hundreds of rows need no watching; `version` says when they changed.
    this.chunks = new Map();
    this.pending = new Set();
    this.generation = 0;
    this.lastLineId = 0;
    this.timer = null;
    this.polling = false;
    this.reloadQueued = false;
    this.unfollowSent = false;
  },
  mounted() {
    const viewport = this.$refs.viewport;
    this.viewport = viewport.clientHeight;
    this.observer = new ResizeObserver(() => (this.viewport = viewport.clientHeight));
    this.observer.observe(viewport);
    this.reload();
    if (this.follow) this.startFollowing();
  },
  unmounted() {
    this.observer?.disconnect();
    this.stopFollowing();
    this.generation++;
  },
  watch: {
    url() {
      this.queueReload();
    },
    mode() {
      this.queueReload();
    },
    node() {
      this.queueReload();
    },
    search() {
      this.queueReload();
    },
    follow(on) {
      if (on) this.startFollowing();
      else this.stopFollowing();
    },
    wanted() {
      this.ensure();
    },
  },
  computed: {
    viewportStyle() {
      return {
        height: this.height,
        overflow: "auto",
        fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
        fontSize: "12px",
        background: "#fafafa",
        border: "1px solid #e0e0e0",
        borderRadius: "4px",
      };
    },
    spacer() {
      return Math.min(this.total * ROW, MAX_SPACER);
    },
    // Pixels of log per pixel of scrollbar: 1, unless the log is taller than MAX_SPACER.
    scale() {
      const height = this.total * ROW;
      if (height <= MAX_SPACER || MAX_SPACER <= this.viewport) return 1;
      return (height - this.viewport) / (MAX_SPACER - this.viewport);
    },
    first() {
      return Math.max(0, Math.floor((this.top * this.scale) / ROW) - MARGIN);
    },
    last() {
      return Math.min(this.total, Math.ceil((this.top * this.scale + this.viewport) / ROW) + MARGIN);
    },
    offset() {
      if (this.scale === 1) return this.first * ROW;
      return this.top + this.first * ROW - this.top * this.scale;
    },
    rows() {
      this.version; // chunks are not reactive: a new version means they changed
      const rows = [];
      for (let number = this.first; number < this.last; number++) {
        const chunk = this.chunks.get(Math.floor(number / CHUNK));
        rows.push(chunk?.rows[number % CHUNK] ?? { number, kind: "loading" });
      }
      return rows;
    },
    wanted() {
      return `${this.first}:${this.last}:${this.version}`;
    },
    caption() {
      if (this.message) return this.message;
      if (!this.loaded) return "Loading…";
      if (this.total === 0) return this.search ? "No line matches." : "No output yet.";
      return "";
    },
  },
  methods: {
    ready() {
      return this.mode !== "node" || !!this.node;
    },
    queueReload() {
      // Mode and node often change together: load once.
      if (this.reloadQueued) return;
      this.reloadQueued = true;
      this.$nextTick(() => {
        this.reloadQueued = false;
        this.reload();
      });
    },
    reload() {
      this.generation++;
      this.chunks = new Map();
      this.pending = new Set();
      this.lastLineId = 0;
      this.total = 0;
      this.loaded = false;
      this.message = this.ready() ? "" : "Choose a node.";
      this.version++;
      if (this.$refs.viewport) this.$refs.viewport.scrollTop = 0;
      this.top = 0;
      if (!this.ready()) return;
      this.fetchChunk(0).then(() => {
        if (this.follow) this.$nextTick(() => this.toBottom());
      });
    },
    async request(start, count) {
      const query = new URLSearchParams({ mode: this.mode, start: String(start), count: String(count) });
      if (this.mode === "node") query.set("node", this.node);
      if (this.search) query.set("q", this.search);
      const response = await fetch(`${this.url}?${query}`, { headers: { Accept: "application/json" } });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error(body?.detail ?? `${response.status} ${response.statusText}`);
      return body;
    },
    ensure() {
      if (!this.ready()) return;
      const from = Math.floor(this.first / CHUNK);
      const to = Math.floor(Math.max(this.last - 1, this.first) / CHUNK);
      for (let index = from; index <= to; index++) this.fetchChunk(index);
    },
    async fetchChunk(index) {
      const held = this.chunks.get(index);
      if ((held && !held.stale) || this.pending.has(index) || !this.ready()) return;
      const generation = this.generation;
      const pending = this.pending;
      pending.add(index);
      try {
        const page = await this.request(index * CHUNK, CHUNK);
        if (generation !== this.generation || !this.accept(page)) return;
        const rows = Object.freeze(page.rows.map((row) => this.prepare(row)));
        this.chunks.set(index, { rows, stale: false, complete: rows.length === CHUNK });
        this.evict();
        this.loaded = true;
        this.message = "";
        this.version++;
      } catch (error) {
        if (generation === this.generation) this.message = error.message;
      } finally {
        pending.delete(index);
      }
    },
    // Takes in the size of the log a page reports; false when the page is older than what
    // is held. When the log grew, held rows that may have changed are marked stale: they
    // stay in sight until their replacement arrives.
    accept(page) {
      if (page.last_line_id < this.lastLineId) {
        this.$nextTick(() => this.ensure());
        return false;
      }
      if (page.last_line_id !== this.lastLineId || page.total !== this.total) {
        for (const chunk of this.chunks.values()) {
          // Lines are only appended: in the line views, complete chunks stay true.
          if (this.mode === "grouped" || !chunk.complete) chunk.stale = true;
        }
        this.lastLineId = page.last_line_id;
        this.total = page.total;
        this.version++;
      }
      return true;
    },
    evict() {
      const center = Math.floor(this.first / CHUNK);
      const held = [...this.chunks.keys()].sort((a, b) => Math.abs(a - center) - Math.abs(b - center));
      for (const index of held.slice(KEEP)) this.chunks.delete(index);
    },
    prepare(row) {
      if (row.node && row.node.length > this.nodeWidth) this.nodeWidth = Math.min(row.node.length, 40);
      return {
        number: row.number,
        kind: row.kind,
        node: row.node,
        stream: row.stream,
        status: row.status,
        text: row.text,
        time: row.at ? row.at.substring(11, 19) : "",
        title: row.kind === "header" ? row.nodes.join(", ") : null,
      };
    },
    rowStyle(row) {
      const style = { height: ROW + "px", lineHeight: ROW + "px", whiteSpace: "pre", padding: "0 8px" };
      if (row.kind === "header") {
        const color = this.colors?.[row.status] ?? "#757575";
        return { ...style, background: color + "22", borderLeft: `4px solid ${color}`, fontWeight: 600 };
      }
      if (row.stream === "stderr") return { ...style, color: "#c62828" };
      // Squall's own line saying a step failed stands out from its other notes.
      if (row.stream === "squall" && / failed: /.test(row.text)) return { ...style, color: "#c62828", fontStyle: "italic", fontWeight: 600 };
      if (row.stream === "squall") return { ...style, color: "#5c6bc0", fontStyle: "italic" };
      return style;
    },
    startFollowing() {
      this.stopFollowing();
      this.unfollowSent = false;
      this.timer = setInterval(() => this.poll(), POLL_MS);
      this.toBottom();
    },
    stopFollowing() {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
    },
    async poll() {
      if (this.polling || !this.ready()) return;
      this.polling = true;
      const generation = this.generation;
      try {
        const page = await this.request(Math.max(this.total - 1, 0), 1);
        if (generation === this.generation && this.accept(page)) this.loaded = true;
        if (generation === this.generation && this.message && this.loaded) this.message = "";
      } catch (error) {
        if (generation === this.generation) this.message = error.message;
      } finally {
        this.polling = false;
      }
      if (this.follow) this.$nextTick(() => this.toBottom());
    },
    toBottom() {
      const viewport = this.$refs.viewport;
      if (!viewport) return;
      viewport.scrollTop = viewport.scrollHeight;
      this.top = viewport.scrollTop;
    },
    onScroll() {
      const viewport = this.$refs.viewport;
      this.top = viewport.scrollTop;
      const atBottom = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW;
      if (this.follow && !atBottom && !this.unfollowSent) {
        // The operator scrolled up to read: stop pulling the view down.
        this.unfollowSent = true;
        this.$emit("unfollow");
      }
    },
  },
};
