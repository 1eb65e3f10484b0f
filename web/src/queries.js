// queries.js — EVERY PromQL expression of the app. Each selector is built by
// sel(), which adds the cluster and namespace filter matchers, so no panel can
// forget them. Node-level series have no namespace label: with a namespace
// chosen, sel() limits them to the nodes that run pods of that namespace
// (f.nodes, resolved beforehand by the scope query nodeScope()).

const NODE_LEVEL = /^(node_|kube_node_|kmon_node_)/;

export function str(v) {
  return `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}
export function reStr(v) { return String(v).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }
export const eq = (k, v) => `${k}=${str(v)}`;
/** Matchers selecting the groups `rows` name (keys "a, b": a=~"x|y", b=~"u|v"; a superset
 * of the rows' combinations, which callers join back by their keys). */
const rowMatchers = (keys, rows) => keys.split(', ').map((k) => `${k}=~${str([...new Set(rows.map((r) => r[k] || ''))].map(reStr).join('|'))}`);

/** A selector metric{cluster, namespace (or node scope), ...extra}. extra: matcher strings. */
export function sel(f, metric, ...extra) {
  const m = [];
  if (f.cluster) m.push(eq('cluster', f.cluster));
  if (f.namespace) {
    if (NODE_LEVEL.test(metric)) {
      if (!f.nodes) throw new Error(`node scope not resolved for ${metric}`);
      m.push(`node=~${str(f.nodes.map(reStr).join('|'))}`);
    } else {
      m.push(eq('namespace', f.namespace));
    }
  }
  m.push(...extra.filter(Boolean));
  return `${metric}{${m.join(',')}}`;
}

export const needsScope = (f) => !!f.namespace;

/**
 * The filter as it applies to alerts (/api/v1/alerts, the alert history), which are not
 * PromQL series of one kind: an alert of another cluster or namespace is out, an alert
 * without the label (a node's, the cluster's) stays. test(labels) applies it in the
 * browser; match is the same as a selector for /api/alerts/history (`=~"ns|"` also
 * matches the label's absence); text says it in data-queries.
 */
export function alertFilter(f) {
  const keys = ['cluster', 'namespace'].filter((k) => f[k]);
  return {
    test: (labels) => keys.every((k) => !labels[k] || labels[k] === f[k]),
    match: keys.length ? `{${keys.map((k) => `${k}=~${str(`${reStr(f[k])}|`)}`).join(',')}}` : '',
    text: keys.length ? keys.map((k) => `${eq(k, f[k])} or no ${k} label`).join(', ') : 'all',
  };
}

/** The nodes that run pods of the chosen namespace. */
export const nodeScope = (f) =>
  `group by (node) (${sel(f, 'container_memory_working_set_bytes')}) or group by (node) (${sel(f, 'kube_pod_info')})`;

const NET_DEV = 'device!~"lo|veth.*|cali.*|cni.*|flannel.*|docker.*|br-.*|virbr.*|tunl.*|vxlan.*|kube-.*|lxc.*|cilium.*|genev.*"';
const REAL_FS = 'fstype!~"tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|proc|sysfs|cgroup2?|autofs|fuse.*|tracefs|debugfs|rpc_pipefs|iso9660"';
const BUSY = 'mode!~"idle|iowait|steal"';

// ---------- nodes ----------
export const node = {
  reporting: (f) => `count(group by (node) (${sel(f, 'node_boot_time_seconds')}))`,
  known: (f) => `count(group by (node) (last_over_time(${sel(f, 'node_boot_time_seconds')}[1d])) or group by (node) (${sel(f, 'kube_node_info')}))`,
  cpuUsed: (f, w = '5m') => `sum(rate(${sel(f, 'node_cpu_seconds_total', BUSY)}[${w}]))`,
  cpuCap: (f) => `count(${sel(f, 'node_cpu_seconds_total', 'mode="idle"')})`,
  memUsed: (f) => `sum(${sel(f, 'node_memory_MemTotal_bytes')} - ${sel(f, 'node_memory_MemAvailable_bytes')})`,
  memCap: (f) => `sum(${sel(f, 'node_memory_MemTotal_bytes')})`,
  cpuByNode: (f, w) => `sum by (node) (rate(${sel(f, 'node_cpu_seconds_total', BUSY)}[${w}]))`,
  memByNode: (f) => `sum by (node) (${sel(f, 'node_memory_MemTotal_bytes')} - ${sel(f, 'node_memory_MemAvailable_bytes')})`,
  notReporting: (f) =>
    `time() - max by (node) (last_over_time(${sel(f, 'node_time_seconds')}[1d])) unless on (node) ${sel(f, 'node_time_seconds')}`,
  unknownSilent: (f) => `group by (node) (${sel(f, 'kube_node_info')}) unless on (node) group by (node) (last_over_time(${sel(f, 'node_time_seconds')}[1d]))`,
  // table, one value per node
  byNode: {
    cpu: (f) => `sum by (node) (rate(${sel(f, 'node_cpu_seconds_total', BUSY)}[5m])) / count by (node) (${sel(f, 'node_cpu_seconds_total', 'mode="idle"')})`,
    cores: (f) => `count by (node) (${sel(f, 'node_cpu_seconds_total', 'mode="idle"')})`,
    memUsed: (f) => `sum by (node) (${sel(f, 'node_memory_MemTotal_bytes')} - ${sel(f, 'node_memory_MemAvailable_bytes')})`,
    memTotal: (f) => `sum by (node) (${sel(f, 'node_memory_MemTotal_bytes')})`,
    diskIO: (f) => `sum by (node) (rate(${sel(f, 'node_disk_read_bytes_total')}[5m])) + sum by (node) (rate(${sel(f, 'node_disk_written_bytes_total')}[5m]))`,
    netIO: (f) => `sum by (node) (rate(${sel(f, 'node_network_receive_bytes_total', NET_DEV)}[5m])) + sum by (node) (rate(${sel(f, 'node_network_transmit_bytes_total', NET_DEV)}[5m]))`,
    fsFill: (f) => `max by (node) (1 - ${sel(f, 'node_filesystem_avail_bytes', REAL_FS)} / ${sel(f, 'node_filesystem_size_bytes', REAL_FS)})`,
    load1: (f) => `max by (node) (${sel(f, 'node_load1')})`,
    pods: (f) => `count by (node) (${sel(f, 'kube_pod_info')}) or count by (node) (group by (node, namespace, pod) (${sel(f, 'container_memory_working_set_bytes')}))`,
    lastSeen: (f) => `time() - max by (node) (last_over_time(${sel(f, 'node_time_seconds')}[1d]))`,
  },
  // one node (n), charts
  one: {
    cpuByMode: (f, n, w) => `sum by (mode) (rate(${sel(f, 'node_cpu_seconds_total', eq('node', n), 'mode!="idle"')}[${w}]))`,
    memUsed: (f, n) => `sum(${sel(f, 'node_memory_MemTotal_bytes', eq('node', n))} - ${sel(f, 'node_memory_MemAvailable_bytes', eq('node', n))})`,
    memCache: (f, n) => `sum(${sel(f, 'node_memory_Cached_bytes', eq('node', n))} + ${sel(f, 'node_memory_Buffers_bytes', eq('node', n))})`,
    memTotal: (f, n) => `sum(${sel(f, 'node_memory_MemTotal_bytes', eq('node', n))})`,
    diskRead: (f, n, w) => `sum by (device) (rate(${sel(f, 'node_disk_read_bytes_total', eq('node', n))}[${w}]))`,
    diskWrite: (f, n, w) => `sum by (device) (rate(${sel(f, 'node_disk_written_bytes_total', eq('node', n))}[${w}]))`,
    netRx: (f, n, w) => `sum by (device) (rate(${sel(f, 'node_network_receive_bytes_total', eq('node', n), NET_DEV)}[${w}]))`,
    netTx: (f, n, w) => `sum by (device) (rate(${sel(f, 'node_network_transmit_bytes_total', eq('node', n), NET_DEV)}[${w}]))`,
    fsFill: (f, n) => `max by (mountpoint) (1 - ${sel(f, 'node_filesystem_avail_bytes', eq('node', n), REAL_FS)} / ${sel(f, 'node_filesystem_size_bytes', eq('node', n), REAL_FS)})`,
    fsSize: (f, n) => `max by (mountpoint, fstype, device) (${sel(f, 'node_filesystem_size_bytes', eq('node', n), REAL_FS)})`,
    fsAvail: (f, n) => `max by (mountpoint, fstype, device) (${sel(f, 'node_filesystem_avail_bytes', eq('node', n), REAL_FS)})`,
    load: (f, n, which) => `max(${sel(f, `node_load${which}`, eq('node', n))})`,
    pressure: (f, n, res, w) => `sum(rate(${sel(f, `node_pressure_${res}_waiting_seconds_total`, eq('node', n))}[${w}]))`,
    uname: (f, n) => sel(f, 'node_uname_info', eq('node', n)),
    boot: (f, n) => `max(${sel(f, 'node_boot_time_seconds', eq('node', n))})`,
    lastSeen: (f, n) => `time() - max(last_over_time(${sel(f, 'node_time_seconds', eq('node', n))}[1d]))`,
    cores: (f, n) => `count(${sel(f, 'node_cpu_seconds_total', eq('node', n), 'mode="idle"')})`,
  },
};

// ---------- containers / pods ----------
/**
 * Cluster-state series carry no workload labels: to scope them to a workload,
 * keep the pods whose container series match `via` (e.g. workload="x").
 */
function through(f, kubeSel, via) {
  if (!via || !via.length) return kubeSel;
  return `(${kubeSel} * on (namespace, pod) group_left () group by (namespace, pod) (${sel(f, 'container_memory_working_set_bytes', 'container=""', ...via)}))`;
}

// Per-container series carry container!=""; the pod's own cgroup is container="".
const C = 'container!=""';
const P = 'container=""';

export const pod = {
  count: (f) => `count(group by (namespace, pod) (${sel(f, 'kube_pod_info')})) or count(group by (namespace, pod) (${sel(f, 'container_memory_working_set_bytes')}))`,
  running: (f) => `sum(${sel(f, 'kube_pod_status_phase', 'phase="Running"')}) or count(group by (namespace, pod) (${sel(f, 'container_memory_working_set_bytes')}))`,
  cpuUsed: (f, w = '5m') => `sum(rate(${sel(f, 'container_cpu_usage_seconds_total', C)}[${w}]))`,
  memUsed: (f) => `sum(${sel(f, 'container_memory_working_set_bytes', C)})`,
  requests: (f, res) => `sum(${sel(f, 'kube_pod_container_resource_requests', eq('resource', res))})`,
  restarting: (f, w) => `sum by (namespace, pod) (increase(${sel(f, 'kube_pod_container_status_restarts_total')}[${w}])) > 0`,
  pending: (f) => `sum by (namespace, pod, phase) (${sel(f, 'kube_pod_status_phase', 'phase=~"Pending|Failed|Unknown"')}) > 0`,
  kubeCount: (f) => `count(${sel(f, 'kube_pod_info')})`,
  // tables
  by: (f, keys, extra = []) => ({
    cpu: `sum by (${keys}) (rate(${sel(f, 'container_cpu_usage_seconds_total', C, ...extra)}[5m]))`,
    mem: `sum by (${keys}) (${sel(f, 'container_memory_working_set_bytes', C, ...extra)})`,
    pods: `count by (${keys}) (group by (${keys}, pod) (${sel(f, 'container_memory_working_set_bytes', ...extra)}))`,
  }),
  /** CPU over time of named groups (the rows of a top list): one query, keys as regex matchers. */
  cpuOf: (f, keys, rows, w) => `sum by (${keys}) (rate(${sel(f, 'container_cpu_usage_seconds_total', C, ...rowMatchers(keys, rows))}[${w}]))`,
  /** Memory now of named groups (the rows of a top list), selected as cpuOf selects them. */
  memOf: (f, keys, rows) => `sum by (${keys}) (${sel(f, 'container_memory_working_set_bytes', C, ...rowMatchers(keys, rows))})`,
  /** Pods per group: from cluster state when collected, else from container series. */
  countBy: (f, keys, extra = []) => `count by (${keys}) (${sel(f, 'kube_pod_info', ...extra)}) or count by (${keys}) (group by (${keys}, pod) (${sel(f, 'container_memory_working_set_bytes', ...extra)}))`,
  workloadsBy: (f, keys, extra = []) => `count by (${keys}) (group by (${keys}, workload_kind, workload) (${sel(f, 'container_memory_working_set_bytes', 'workload!=""', ...extra)}))`,
  topCpu: (f, keys, k = 5, extra = []) => `topk(${k}, sum by (${keys}) (rate(${sel(f, 'container_cpu_usage_seconds_total', C, ...extra)}[5m])))`,
  info: (f, extra = []) => `group by (namespace, pod, node, workload_kind, workload, qos_class) (${sel(f, 'container_memory_working_set_bytes', P, ...extra)})`,
  kubeInfo: (f, extra = []) => `group by (namespace, pod, node, created_by_kind, created_by_name) (${sel(f, 'kube_pod_info', ...extra)})`,
  phase: (f, extra = []) => `${sel(f, 'kube_pod_status_phase', ...extra)} == 1`,
  restarts: (f, extra = [], via) => `sum by (namespace, pod) (${through(f, sel(f, 'kube_pod_container_status_restarts_total', ...extra), via)})`,
  reqBy: (f, keys, res, extra = [], via) => `sum by (${keys}) (${through(f, sel(f, 'kube_pod_container_resource_requests', eq('resource', res), ...extra), via)})`,
  limBy: (f, keys, res, extra = [], via) => `sum by (${keys}) (${through(f, sel(f, 'kube_pod_container_resource_limits', eq('resource', res), ...extra), via)})`,
  // charts (stacked per pod or per container)
  cpuBy: (f, key, w, extra = []) => `sum by (${key}) (rate(${sel(f, 'container_cpu_usage_seconds_total', C, ...extra)}[${w}]))`,
  memBy: (f, key, extra = []) => `sum by (${key}) (${sel(f, 'container_memory_working_set_bytes', C, ...extra)})`,
  netRxBy: (f, key, w, extra = []) => `sum by (${key}) (rate(${sel(f, 'container_network_receive_bytes_total', P, ...extra)}[${w}]))`,
  netTxBy: (f, key, w, extra = []) => `sum by (${key}) (rate(${sel(f, 'container_network_transmit_bytes_total', P, ...extra)}[${w}]))`,
  throttled: (f, w, extra = []) => `sum by (container) (increase(${sel(f, 'container_cpu_cfs_throttled_periods_total', C, ...extra)}[${w}])) / sum by (container) (increase(${sel(f, 'container_cpu_cfs_periods_total', C, ...extra)}[${w}]))`,
  cpuLimitSpec: (f, extra = []) => `sum(${sel(f, 'container_spec_cpu_quota', C, ...extra)} / ${sel(f, 'container_spec_cpu_period', C, ...extra)})`,
  memLimitSpec: (f, extra = []) => `sum(${sel(f, 'container_spec_memory_limit_bytes', C, ...extra)} > 0 < 1e15)`,
  restartsBy: (f, extra = []) => `sum by (container) (${sel(f, 'kube_pod_container_status_restarts_total', ...extra)})`,
  startTime: (f, extra = []) => `min(${sel(f, 'container_start_time_seconds', ...extra)})`,
  oom: (f, w, extra = []) => `sum by (container) (increase(${sel(f, 'container_oom_events_total', C, ...extra)}[${w}]))`,
};

// ---------- workloads (kube-state-metrics desired/ready) ----------
export const kube = {
  replicas: (f) => ({
    Deployment: [`sum by (namespace, deployment) (${sel(f, 'kube_deployment_spec_replicas')})`, `sum by (namespace, deployment) (${sel(f, 'kube_deployment_status_replicas_available')})`, 'deployment'],
    StatefulSet: [`sum by (namespace, statefulset) (${sel(f, 'kube_statefulset_replicas')})`, `sum by (namespace, statefulset) (${sel(f, 'kube_statefulset_status_replicas_ready')})`, 'statefulset'],
    DaemonSet: [`sum by (namespace, daemonset) (${sel(f, 'kube_daemonset_status_desired_number_scheduled')})`, `sum by (namespace, daemonset) (${sel(f, 'kube_daemonset_status_number_ready')})`, 'daemonset'],
  }),
  /** [desired, ready] of one workload, or null for kinds without them. */
  replicasOf: (f, kind, name) => {
    const r = kube.replicas(f)[kind];
    if (!r) return null;
    const label = r[2];
    return [`sum(${sel(f, { Deployment: 'kube_deployment_spec_replicas', StatefulSet: 'kube_statefulset_replicas', DaemonSet: 'kube_daemonset_status_desired_number_scheduled' }[kind], eq(label, name))})`,
      `sum(${sel(f, { Deployment: 'kube_deployment_status_replicas_available', StatefulSet: 'kube_statefulset_status_replicas_ready', DaemonSet: 'kube_daemonset_status_number_ready' }[kind], eq(label, name))})`];
  },
  jobOf: (f, name) => ['active', 'succeeded', 'failed'].map((k) => `sum(${sel(f, `kube_job_status_${k}`, eq('job_name', name))})`),
  jobs: (f) => [`sum by (namespace, job_name) (${sel(f, 'kube_job_status_active')})`, `sum by (namespace, job_name) (${sel(f, 'kube_job_status_succeeded')})`, `sum by (namespace, job_name) (${sel(f, 'kube_job_status_failed')})`],
  /** Requests of each workload: cluster-state requests joined to the workload labels of container series. */
  reqByWorkload: (f, res) => `sum by (namespace, workload_kind, workload) (${sel(f, 'kube_pod_container_resource_requests', eq('resource', res))} * on (namespace, pod) group_left (workload_kind, workload) group by (namespace, pod, workload_kind, workload) (${sel(f, 'container_memory_working_set_bytes', 'container=""', 'workload!=""')}))`,
  nsPhase: (f) => `${sel(f, 'kube_namespace_status_phase')} == 1`,
};

// ---------- filter controls ----------
export const filterMatch = {
  clusters: () => [],
  namespaces: (f) => (f.cluster ? [`{${eq('cluster', f.cluster)},namespace!=""}`] : ['{namespace!=""}']),
};

/** Rate window for charts: max(4 × step, 1m). */
export function rateWindow(step) {
  const s = Math.max(4 * step, 60);
  return s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

// ---------- explore: the filter applied to a user's expression ----------
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless',
  'atan2', 'inf', 'nan', 'start', 'end', '@']);
const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** The filter's matchers for one metric (none for a bare selector's node scope). */
function filterMatchers(f, metric) {
  const m = sel(f, metric || '__any__');
  return m.slice(m.indexOf('{') + 1, -1);
}

/**
 * Add the filter's matchers to every selector of a PromQL expression.
 * Returns {expr, map(offset in expr → offset in the original)}.
 */
export function applyFilter(src, f) {
  if (!f.cluster && !f.namespace) return { expr: src, map: (i) => i };
  const inserts = []; // [original offset, text]
  let i = 0, depthBrace = 0, lastWord = '', skipParen = false;
  const n = src.length;
  const isStart = (c) => /[A-Za-z_:]/.test(c);
  const isWord = (c) => /[A-Za-z0-9_:]/.test(c);
  const skipWs = (j) => { while (j < n && /\s/.test(src[j])) j++; return j; };
  while (i < n) {
    const c = src[i];
    if (c === '#') { while (i < n && src[i] !== '\n') i++; continue; }
    if (c === '"' || c === "'" || c === '`') {
      const q = c; i++;
      while (i < n && src[i] !== q) { if (src[i] === '\\' && q !== '`') i++; i++; }
      i++; continue;
    }
    if (c === '[') { while (i < n && src[i] !== ']') i++; i++; continue; }
    if (c === '{') {
      if (depthBrace === 0) {
        // a bare selector {...}: matchers go in first
        const m = filterMatchers(f, null);
        const j = skipWs(i + 1);
        if (m) inserts.push([i + 1, src[j] === '}' ? m : `${m},`]);
      }
      depthBrace++; i++; continue;
    }
    if (c === '}') { depthBrace = Math.max(0, depthBrace - 1); i++; continue; }
    if (c === '(' && skipParen) {
      let d = 0;
      for (; i < n; i++) { if (src[i] === '(') d++; else if (src[i] === ')' && --d === 0) { i++; break; } }
      skipParen = false; continue;
    }
    if (depthBrace === 0 && /[0-9.]/.test(c) && !isWord(src[i - 1] || ' ')) {
      while (i < n && /[0-9a-zA-Z.+_]/.test(src[i])) i++; continue;
    }
    if (depthBrace === 0 && isStart(c)) {
      let j = i;
      while (j < n && isWord(src[j])) j++;
      const word = src.slice(i, j);
      const k = skipWs(j);
      const lower = word.toLowerCase();
      if (GROUPING.has(lower)) { skipParen = true; lastWord = lower; i = j; continue; }
      const aggregation = AGGREGATORS.has(lower) && /^(by|without)\b/i.test(src.slice(k));
      if (lastWord === 'offset' || KEYWORDS.has(lower) || src[k] === '(' || aggregation) { lastWord = lower; i = j; continue; }
      const m = filterMatchers(f, word);
      if (m) {
        if (src[k] === '{') {
          const after = skipWs(k + 1);
          inserts.push([k + 1, src[after] === '}' ? m : `${m},`]);
          depthBrace++; i = k + 1;
        } else {
          inserts.push([j, `{${m}}`]); i = j;
        }
      } else i = j;
      lastWord = lower;
      continue;
    }
    if (!/\s/.test(c)) lastWord = c;
    i++;
  }
  let out = '', at = 0;
  const shifts = [];
  for (const [pos, text] of inserts) {
    out += src.slice(at, pos);
    shifts.push([out.length, text.length]);
    out += text; at = pos;
  }
  out += src.slice(at);
  return {
    expr: out,
    map(off) {
      let o = off;
      for (const [p, len] of shifts) { if (off >= p + len) o -= len; else if (off > p) o -= off - p; }
      return o;
    },
  };
}
