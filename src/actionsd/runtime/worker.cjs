// actionsd action worker: a long-lived process that runs trigger flows.
//
// It runs under Deno (default: no permissions but read access to the dependency cache
// and, unless turned off, the network) or Node.js (--permission). One JSON request per
// line on stdin, one JSON reply per line on stdout. The server sends one flow at a time
// and kills the process if a flow outlives its deadline (a CPU loop cannot be stopped
// from inside).
'use strict';
const vm = require('node:vm');
const path = require('node:path');
const readline = require('node:readline');
const { createRequire } = require('node:module');
const proc = require('node:process');

const write = proc.stdout.write.bind(proc.stdout);
const LOG_LIMIT = 64 * 1024;

// ---- containment: action code may not end or signal this process --------------------
const refuse = (name) => () => { throw new Error(`${name}() is not allowed in actions`); };
for (const name of ['exit', 'abort', 'kill', 'reallyExit', 'dlopen', 'chdir', 'setuid', 'setgid']) {
  try { proc[name] = refuse(`process.${name}`); } catch (_) { /* read-only in some runtimes */ }
}
if (globalThis.Deno) {
  try { Object.defineProperty(globalThis.Deno, 'exit', { value: refuse('Deno.exit') }); } catch (_) { /* ignore */ }
}

let current = null; // the flow being run: {logs, failure}
const failCurrent = (err) => { if (current && !current.failure) current.failure = err; };
proc.on('unhandledRejection', failCurrent);
proc.on('uncaughtException', failCurrent);
if (typeof globalThis.addEventListener === 'function') {
  globalThis.addEventListener('unhandledrejection', (e) => { e.preventDefault(); failCurrent(e.reason); });
  globalThis.addEventListener('error', (e) => { e.preventDefault(); failCurrent(e.error); });
}

// console.* of action code is captured into the running action's log.
const format = (args) => args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' ');
function safeJson(value) {
  try { return JSON.stringify(value); } catch (_) { return String(value); }
}
for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
  console[level] = (...args) => {
    if (!current || !current.action) return;
    const action = current.action;
    if (action.logBytes > LOG_LIMIT) return;
    const line = format(args) + '\n';
    action.logBytes += line.length;
    action.logs.push(action.logBytes > LOG_LIMIT ? '[log output truncated]\n' : line);
  };
}

// ---- loading action code ---------------------------------------------------------------
const MAX_SCRIPTS = 2000;    // versions are immutable; drafts under test come and go
const scripts = new Map();   // version id -> compiled wrapper
const instances = new Map(); // version id -> module.exports (kept warm, as Auth0 does)
const modules = new Map();   // module version id -> {code, secrets}

function forgetOldest() {
  const oldest = scripts.keys().next().value;
  scripts.delete(oldest);
  instances.delete(oldest);
}

function compile(id, code, kind) {
  const source = `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
  return new vm.Script(source, { filename: `${kind}-${id}.js` }).runInThisContext();
}

function makeRequire(depsDir, moduleRefs, chain) {
  const base = createRequire(path.join(depsDir || proc.cwd(), 'index.js'));
  return function actionRequire(name) {
    if (typeof name === 'string' && name.startsWith('actions:')) {
      const ref = (moduleRefs || {})[name.slice('actions:'.length)];
      if (!ref) throw new Error(`Cannot find module '${name}': the action does not use that module`);
      return loadModule(ref, chain);
    }
    return base(name);
  };
}

function loadModule(ref, chain) {
  const key = `module:${ref.version_id}`;
  if (instances.has(key)) return instances.get(key);
  if ((chain || []).includes(key)) throw new Error('circular require of an actions module');
  const spec = modules.get(ref.version_id);
  if (!spec) throw new Error(`actions module version ${ref.version_id} is not loaded`);
  const module = { exports: {} };
  // Module code reads its own secrets as actions.secrets.NAME.
  const wrapper = compile(ref.version_id, `const actions = { secrets: __secrets };\n${spec.code}`, 'module');
  const req = makeRequire(spec.deps_dir, {}, [...(chain || []), key]);
  globalThis.__secrets = Object.freeze({ ...spec.secrets });
  try {
    wrapper.call(module.exports, module.exports, req, module, `/actions/modules/${ref.name}.js`, '/actions/modules');
  } finally {
    delete globalThis.__secrets;
  }
  instances.set(key, module.exports);
  return module.exports;
}

function instance(spec) {
  if (instances.has(spec.version_id)) return instances.get(spec.version_id);
  let wrapper = scripts.get(spec.version_id);
  if (!wrapper) {
    if (typeof spec.code !== 'string') throw Object.assign(new Error('code not loaded'), { reload: true });
    wrapper = compile(spec.version_id, spec.code, 'action');
    scripts.set(spec.version_id, wrapper);
  }
  const module = { exports: {} };
  const req = makeRequire(spec.deps_dir, spec.modules, []);
  wrapper.call(module.exports, module.exports, req, module, `/actions/${spec.version_id}.js`, '/actions');
  instances.set(spec.version_id, module.exports);
  return module.exports;
}

// ---- the api object of each trigger ------------------------------------------------------
const { makeApi, handlerName, continueName } = require('./triggers.cjs');

function errorJson(err) {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

async function runFlow(req) {
  const flow = { logs: [], failure: null, action: null };
  current = flow;
  const state = {
    event: clone(req.event) || {},
    cache: req.cache || {},
    outcome: req.outcome || {},
  };
  if (req.resume) {
    // The request that came back from the redirect is the flow's request from now on.
    state.event.request = { ...(state.event.request || {}), ...req.resume };
  }
  const results = [];
  let suspended = null;
  const started = Date.now();
  // One deadline for the whole flow; each action races it.
  let deadlineTimer;
  const deadline = new Promise((_, reject) => {
    deadlineTimer = setTimeout(() => reject(new Error('Action did not complete before the execution deadline')), req.deadline_ms);
  });
  deadline.catch(() => {});
  for (let index = req.start || 0; index < req.actions.length; index++) {
    const spec = req.actions[index];
    const action = { logs: [], logBytes: 0, commands: [] };
    flow.action = action;
    flow.failure = null;
    const result = {
      binding_id: spec.binding_id, action_name: spec.action_name, version_id: spec.version_id,
      started_at: new Date().toISOString(),
    };
    const t0 = performance.now();
    try {
      const exportsObj = instance(spec);
      const resuming = req.resume && index === (req.start || 0);
      const fnName = resuming ? continueName(req.trigger) : handlerName(req.trigger);
      const handler = exportsObj && exportsObj[fnName];
      if (typeof handler === 'function') {
        const event = clone(state.event);
        event.secrets = Object.freeze({ ...(spec.secrets || {}) });
        const api = makeApi(req.trigger, state, action, { ...spec, handler: fnName }, event);
        await Promise.race([Promise.resolve(handler(event, api)), deadline]);
        // A rejection nobody awaited still fails the action that caused it.
        await new Promise((r) => setImmediate(r));
        if (flow.failure) throw flow.failure;
      }
    } catch (err) {
      result.error = errorJson(err);
    }
    result.ended_at = new Date().toISOString();
    result.duration_ms = performance.now() - t0;
    result.logs = action.logs.join('');
    result.commands = action.commands;
    results.push(result);
    if (result.error) break;
    if (state.outcome.denied) break;
    if (state.outcome.redirect) { suspended = index; break; }
  }
  clearTimeout(deadlineTimer);
  flow.action = null;
  current = null;
  return {
    results, outcome: state.outcome, event: state.event, cache_writes: state.cacheWrites || [],
    suspended_at: suspended, duration_ms: Date.now() - started,
  };
}

async function handle(req) {
  if (req.type === 'ping') return { pong: true };
  if (req.type === 'forget') {
    for (const id of req.version_ids || []) { scripts.delete(id); instances.delete(id); }
    return { ok: true };
  }
  if (req.type === 'flow') {
    for (const m of req.modules || []) modules.set(m.version_id, m);
    // The server counts every version it sent as compiled here, run or not.
    for (const a of req.actions || []) {
      if (typeof a.code === 'string' && !scripts.has(a.version_id)) {
        if (scripts.size >= MAX_SCRIPTS) forgetOldest();
        try {
          scripts.set(a.version_id, compile(a.version_id, a.code, 'action'));
        } catch (err) {
          scripts.set(a.version_id, () => { throw err; });
        }
      }
    }
    return runFlow(req);
  }
  throw new Error(`unknown request type ${req.type}`);
}

const rl = readline.createInterface({ input: proc.stdin, terminal: false });
let queue = Promise.resolve();
rl.on('line', (line) => {
  queue = queue.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
      const reply = await handle(req);
      write(JSON.stringify({ id: req.id, ok: true, ...reply }) + '\n');
    } catch (err) {
      write(JSON.stringify({ id: req && req.id, ok: false, error: errorJson(err), reload: !!(err && err.reload) }) + '\n');
    }
  });
});
write(JSON.stringify({ ready: true, engine: globalThis.Deno ? 'deno' : 'node' }) + '\n');
