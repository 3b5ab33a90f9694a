// actionsd action worker: a long-lived Deno process that runs trigger flows.
//
// This file is the protocol realm: JSON framing with the server (one request per line on
// stdin, one reply per line on stdout), the flow's state and its outcome. No action code
// runs here. Each action version runs in a realm of its own (realm.js, a Web Worker with
// read access to its dependency folders only); it sends back the commands it recorded,
// and they are replayed here against this realm's own api over the real flow state, so
// that every argument check and every fold happens where no action can reach.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const proc = require('node:process');
const triggersSource = fs.readFileSync(path.join(__dirname, 'triggers.cjs'), 'utf8');
const realmSource = fs.readFileSync(path.join(__dirname, 'realm.js'), 'utf8');
const { makeApi, namespaces, READS, handlerName, continueName, LIMITS } = require('./triggers.cjs');

const encoder = new TextEncoder();
// Straight to the pipe: a third of the cost of process.stdout's stream for each reply.
function write(text) {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
}
// The resident set only: Deno.memoryUsage() also walks the heap, at three times the cost.
const rss = () => proc.memoryUsage.rss();
// The process's peak resident set (getrusage, ArrayBuffers and every realm included): a
// crossing of the limit at any moment, not only at a sample, and a seventh of rss()'s
// cost after each flow (docs/benchmarks.md).
const peak = () => proc.resourceUsage().maxRSS * 1024;
const config = JSON.parse(proc.argv[2] || '{}');
const MAX_REALMS = config.max_realms || 32;
const RSS_LIMIT = (config.rss_mb || 1024) * 1024 * 1024;
const NETWORK = config.network !== false;
const LOG_LIMIT = 64 * 1024;
// Per execution of one action (docs/runtime.md, "Limits").
const MAX_COMMANDS = LIMITS.sideEffects + LIMITS.recordedReads;
const OUTCOME_LIMIT = 1024 * 1024;
const MEMORY_EXCEEDED = 'The action exceeded its memory limit';
const realmUrl = URL.createObjectURL(new Blob([realmSource], { type: 'application/javascript' }));

// Each realm's channel: a SharedArrayBuffer of [state, byte length] as two Int32 and then
// one message as UTF-8 JSON text, a run's or its answer's, in turn (realm.js). It grows
// to fit a message, up to CHANNEL_MAX (docs/runtime.md, "Limits"). realm.js writes its
// answers the same way with built-ins taken before action code loads, so the two stay apart.
const IDLE = 0, REQUEST = 1, ANSWER = 2, STOP = 3;
const HEADER = 8;
const CHANNEL_BYTES = 64 * 1024;
const CHANNEL_MAX = 32 * 1024 * 1024;
const decoder = new TextDecoder();

const codes = new Map();   // version id -> source (kept so that an evicted realm can come back)
const modules = new Map(); // module version id -> {version_id, code, secrets, deps_dir}
const realms = new Map();  // version id -> Realm, in LRU order
const MAX_CODES = 4000;
const BOOT_LIMIT_MS = 10000;

class Realm {
  constructor(spec) {
    const reads = [spec.deps_dir, ...spec.module_specs.map((m) => m.deps_dir)].filter(Boolean);
    this.worker = new Worker(realmUrl, {
      type: 'module',
      deno: {
        permissions: {
          read: reads.length ? reads : false, net: NETWORK, env: false, run: false, ffi: false,
          write: false, sys: false, import: false,
        },
      },
    });
    this.pending = null;
    this.seq = 0;
    this.channel = new SharedArrayBuffer(HEADER + CHANNEL_BYTES, { maxByteLength: HEADER + CHANNEL_MAX });
    this.header = new Int32Array(this.channel, 0, 2);
    this.data = new Uint8Array(this.channel, HEADER);
    // Starting a realm is boot time, not the action's (docs/runtime.md, "Limits").
    this.ready = new Promise((resolve) => { this.booted = resolve; });
    this.worker.onmessage = (e) => {
      const data = e.data;
      if (data && data.id === 'ready') { this.isReady = true; this.booted(); }
    };
    this.worker.onerror = (e) => { e.preventDefault(); this.fail(new Error(String(e.message || 'the action realm failed'))); };
    this.worker.postMessage({
      type: 'init', triggers: triggersSource, code: codes.get(spec.version_id),
      version_id: spec.version_id, deps_dir: spec.deps_dir, modules: spec.modules,
      module_specs: spec.module_specs, channel: this.channel,
    });
  }

  fail(err) { if (this.pending) this.pending.reject(err); this.booted(); }

  // Resolves to how long the realm took to start, if it had not yet.
  async boot() {
    const t0 = Date.now();
    let timer;
    await Promise.race([this.ready, new Promise((resolve) => { timer = setTimeout(resolve, BOOT_LIMIT_MS); })]);
    clearTimeout(timer);
    return Date.now() - t0;
  }

  // The watchdog (below) fails the run in flight at the flow's deadline.
  run(msg) {
    msg.id = `${++this.seq}`;
    return new Promise((resolve, reject) => {
      const done = (fn) => (value) => { this.pending = null; running = null; fn(value); };
      const pending = { id: msg.id, resolve: done(resolve), reject: done(reject) };
      const text = JSON.stringify(msg);
      let { read, written } = encoder.encodeInto(text, this.data);
      if (read < text.length) {
        this.channel.grow(Math.max(this.channel.byteLength, Math.min(HEADER + CHANNEL_MAX, HEADER + text.length * 3)));
        ({ read, written } = encoder.encodeInto(text, this.data));
        if (read < text.length) {
          reject(new Error(`The event, outcome and secrets exceed the ${CHANNEL_MAX / 1048576} MB a run may hold`));
          return;
        }
      }
      this.pending = pending;
      running = this;
      Atomics.store(this.header, 1, written);
      Atomics.store(this.header, 0, REQUEST);
      Atomics.notify(this.header, 0);
      const waiting = Atomics.waitAsync(this.header, 0, REQUEST);
      const answered = () => {
        if (this.pending !== pending) return; // failed meanwhile by the watchdog
        const state = Atomics.load(this.header, 0);
        const length = Atomics.load(this.header, 1);
        Atomics.store(this.header, 0, IDLE);
        let reply;
        try {
          if (state !== ANSWER) throw new Error('the realm woke its channel without an answer');
          if (length > this.data.length) throw new Error('the realm answered past its channel');
          reply = JSON.parse(decoder.decode(this.data.subarray(0, length)));
          if (reply === null || typeof reply !== 'object' || reply.id !== pending.id) throw new Error('the realm answered another run');
        } catch (err) {
          pending.reject(err);
          return;
        }
        pending.resolve(reply);
      };
      if (waiting.async) waiting.value.then(answered); else answered();
    });
  }

  // A realm asleep in Atomics.wait is woken first: terminating it there would leave its
  // thread behind.
  terminate() {
    Atomics.store(this.header, 0, STOP);
    Atomics.notify(this.header, 0);
    this.worker.terminate();
  }
}

// While an action runs, one watchdog checks the flow's deadline and the process's memory
// (ArrayBuffers included). A timer per flow or per action would cost more than a
// trivial action's own work (docs/benchmarks.md).
let running = null;
let deadline = Infinity; // of the flow that is running (one at a time)
const WATCH_MS = 20;
setInterval(() => {
  if (!running) return;
  if (Date.now() >= deadline) {
    running.fail(Object.assign(new Error('Script execution time exceeded'), { kill: true }));
  } else if (peak() > RSS_LIMIT) {
    running.fail(Object.assign(new Error(MEMORY_EXCEEDED), { kill: true }));
  }
}, WATCH_MS);

function realmFor(spec) {
  let realm = realms.get(spec.version_id);
  if (realm) {
    realms.delete(spec.version_id); // to the back of the LRU order
  } else {
    if (!codes.has(spec.version_id)) throw Object.assign(new Error('code not loaded'), { reload: true });
    if (realms.size >= MAX_REALMS) {
      const [oldest, old] = realms.entries().next().value;
      old.terminate();
      realms.delete(oldest);
    }
    realm = new Realm(spec);
  }
  realms.set(spec.version_id, realm);
  return realm;
}

// Warm realms hold memory of their own (docs/runtime.md, "Limits"): well before the
// process's limit, the least recently used half of those this flow did not use go, so that
// idle realms adding up never fail whichever action runs next.
const SHED_AT = RSS_LIMIT * 0.75;
function shed(keep) {
  const idle = [...realms.keys()].filter((id) => !keep.has(id));
  for (const id of idle.slice(0, Math.ceil(idle.length / 2))) drop(id);
}

function drop(versionId) {
  const realm = realms.get(versionId);
  if (realm) realm.terminate();
  realms.delete(versionId);
}

// An error as strings only: ours, or what a realm reported (plain data, whatever the
// action did to its own globals).
function errorJson(err) {
  if (err === null || typeof err !== 'object') return { name: 'Error', message: String(err) };
  const out = { name: String(err.name || 'Error'), message: String(err.message ?? '') };
  if (err.stack) out.stack = String(err.stack);
  return out;
}

const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const commandsIn = (reply) => Array.isArray(reply.commands) && reply.commands.length > 0;
const sizeOf = (value) => (value === undefined ? 0 : JSON.stringify(value).length);

// Deeper than this, an argument could not be read back by the server's JSON parser.
const MAX_DEPTH = 64;
function nestsTooDeep(value, depth) {
  if (value === null || typeof value !== 'object') return false;
  if (depth > MAX_DEPTH) return true;
  for (const item of Object.values(value)) if (nestsTooDeep(item, depth + 1)) return true;
  return false;
}

// Replays one action's recorded commands against this realm's api over the real state.
function replay(trigger, state, spec, commands) {
  if (!Array.isArray(commands)) throw new Error('The action returned no command list');
  if (commands.length > MAX_COMMANDS) throw new Error(`The action made more than ${MAX_COMMANDS} api calls`);
  if (nestsTooDeep(commands, -2)) throw new Error(`api arguments must not nest more than ${MAX_DEPTH} levels deep`);
  const action = { commands: [] };
  const api = makeApi(trigger, state, action, spec);
  const roots = namespaces(api);
  for (const command of commands) {
    const name = command && command.name;
    const args = command && command.args;
    if (typeof name !== 'string' || !Array.isArray(args)) throw new Error('The action returned a malformed command');
    if (READS.has(name)) {
      action.commands.push({ name, args: clone(args), replay: false });
      continue;
    }
    if (command.replay === false) throw new Error(`The action marked ${name} as a read: only read-only methods are`);
    const parts = name.split('.');
    let target = api;
    let owner = null;
    for (const part of parts) {
      const known = target === api ? roots.includes(part) : target !== null && typeof target === 'object' && Object.hasOwn(target, part);
      if (!known) {
        throw new Error(`The action called an api method that does not exist: ${name}`);
      }
      owner = target;
      target = target[part];
    }
    if (typeof target !== 'function') throw new Error(`The action called an api method that does not exist: ${name}`);
    try {
      target.apply(owner, args);
    } catch (err) {
      throw new Error(`api.${name} was refused: ${err && err.message}`);
    }
  }
  return action.commands;
}

async function runFlow(req) {
  // The request was parsed from its line just now: its objects are this flow's own.
  const state = { event: req.event || {}, cache: req.cache || {}, outcome: req.outcome || {} };
  if (req.resume) {
    // The request that came back from the redirect is the flow's request from now on.
    state.event.request = { ...(state.event.request || {}), ...req.resume };
  }
  const results = [];
  let suspended = null;
  let recycle = false;
  const started = Date.now();
  deadline = started + req.deadline_ms; // the watchdog's, while an action runs
  for (let index = req.start || 0; index < req.actions.length; index++) {
    const spec = req.actions[index];
    const result = {
      binding_id: spec.binding_id, action_name: spec.action_name, version_id: spec.version_id,
      started_at: new Date().toISOString(), logs: '', commands: [],
    };
    const t0 = performance.now();
    const resuming = req.resume && index === (req.start || 0);
    const handler = resuming ? continueName(req.trigger) : handlerName(req.trigger);
    const fullSpec = { ...spec, module_specs: (spec.module_ids || []).map((id) => modules.get(id)).filter(Boolean) };
    try {
      const realm = realmFor(fullSpec);
      if (!realm.isReady) deadline += await realm.boot();
      // One serialisation of the event and outcome serves as the realm's input and as the
      // snapshot that a refused command list rolls back to.
      const snapshot = { event: JSON.stringify(state.event), outcome: JSON.stringify(state.outcome) };
      let reply;
      try {
        reply = await realm.run({
          type: 'run', trigger: req.trigger,
          handler,
          event: snapshot.event, outcome: snapshot.outcome,
          cache: { [spec.action_id]: state.cache[spec.action_id] || {} },
          secrets: spec.secrets || {},
          spec: { action_id: spec.action_id, version_id: spec.version_id },
        });
      } catch (err) {
        if (err.kill) {
          drop(spec.version_id);
          // A realm stopped mid-flight (say, near its heap limit) can still take the process
          // down after this reply; the next flow must not land on it and take the blame.
          recycle = true;
        }
        throw err;
      }
      result.logs = String(reply.logs || '');
      if (result.logs.length > LOG_LIMIT + 64) result.logs = result.logs.slice(0, LOG_LIMIT) + '[log output truncated]\n';
      const before = commandsIn(reply) && { ...snapshot, writes: (state.cacheWrites || []).length };
      try {
        result.commands = replay(req.trigger, state, { ...spec, handler }, reply.commands);
        if (before && sizeOf(state.outcome) > OUTCOME_LIMIT) throw new Error(`The flow's outcome exceeds ${OUTCOME_LIMIT / 1024 / 1024} MB`);
      } catch (err) {
        // An action's commands apply in full or not at all.
        if (before) {
          state.outcome = JSON.parse(before.outcome);
          state.event = JSON.parse(before.event);
          if (state.cacheWrites) state.cacheWrites.length = before.writes;
        }
        result.commands = [];
        throw err;
      }
      if (reply.error) result.error = errorJson(reply.error);
    } catch (err) {
      result.error = errorJson(err);
    }
    result.ended_at = new Date().toISOString();
    result.duration_ms = performance.now() - t0;
    results.push(result);
    if (result.error) break;
    if (state.outcome.denied) break;
    if (state.outcome.redirect) { suspended = index; break; }
  }
  const highest = recycle ? 0 : peak();
  if (highest > RSS_LIMIT) {
    // Crossed the limit without being caught in the act: the flow's last action fails.
    recycle = true;
    const last = results[results.length - 1];
    if (last && !last.error) { last.error = errorJson(new Error(MEMORY_EXCEEDED)); drop(last.version_id); }
  } else if (highest > SHED_AT && rss() > SHED_AT) {
    shed(new Set(req.actions.map((a) => a.version_id)));
  }
  return {
    // The event travels back only for a suspended flow: the state it resumes from.
    results, outcome: state.outcome, event: suspended === null ? undefined : state.event, cache_writes: state.cacheWrites || [],
    suspended_at: suspended, duration_ms: Date.now() - started, recycle,
  };
}

async function handle(req) {
  if (req.type === 'ping') return { pong: true };
  if (req.type === 'forget') {
    for (const id of req.version_ids || []) { codes.delete(id); drop(id); }
    return { ok: true };
  }
  if (req.type === 'flow') {
    for (const m of req.modules || []) modules.set(m.version_id, m);
    for (const a of req.actions || []) {
      if (typeof a.code === 'string' && !codes.has(a.version_id)) {
        if (codes.size >= MAX_CODES) {
          const oldest = codes.keys().next().value;
          codes.delete(oldest);
          drop(oldest);
        }
        codes.set(a.version_id, a.code);
      }
      if (a.modules) a.module_ids = Object.values(a.modules).map((ref) => ref.version_id);
    }
    // Asked before any action runs, so that a resent flow never runs an action twice.
    for (const a of (req.actions || []).slice(req.start || 0)) {
      if (!realms.has(a.version_id) && !codes.has(a.version_id)) {
        throw Object.assign(new Error('code not loaded'), { reload: true });
      }
    }
    return runFlow(req);
  }
  throw new Error(`unknown request type ${req.type}`);
}

// Requests are read straight from the pipe, a line each: node:readline's stream costs
// more CPU per request than the rest of a trivial action's protocol work.
async function serve() {
  const buffer = new Uint8Array(1 << 16);
  const decoder = new TextDecoder();
  let parts = [];
  for (;;) {
    const n = await Deno.stdin.read(buffer);
    // The server is gone (killed, crashed): nobody can read a reply, and an orphan would idle on.
    if (n === null) proc.exit(0);
    let text = decoder.decode(buffer.subarray(0, n), { stream: true });
    // Only the new text is searched: a request of many MB is read in linear time.
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
      parts.push(text.slice(0, end));
      text = text.slice(end + 1);
      const line = parts.join('');
      parts = [];
      await answer(line);
    }
    if (text) parts.push(text);
  }
}

// Half of a UTF-16 pair (an action may log one, or put one in a claim or its name) is the
// one thing JSON.stringify writes that no UTF-8 text can hold, and the server's parser
// refuses it: it becomes U+FFFD, as an encoder would replace it. JSON.stringify escapes
// it as \ud800-\udfff, so the walk runs only for a reply that may hold one.
function wellFormed(value) {
  if (typeof value === 'string') return value.toWellFormed();
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(wellFormed);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toWellFormed(), wellFormed(v)]));
}

function send(reply) {
  let text = JSON.stringify(reply);
  if (/\\ud[89a-f]/.test(text)) text = JSON.stringify(wellFormed(reply));
  write(text + '\n');
}

async function answer(line) {
  let req;
  try {
    req = JSON.parse(line);
    const reply = await handle(req);
    send({ id: req.id, ok: true, ...reply });
  } catch (err) {
    send({ id: req && req.id, ok: false, error: errorJson(err), reload: !!(err && err.reload) });
  }
}

serve();
write(JSON.stringify({ ready: true, engine: 'deno' }) + '\n');
