// One action version's realm: a Deno Web Worker of its own, with read access to that
// version's dependency folders only. worker.cjs (the protocol realm) starts it from a
// Blob and posts `init` once; each run and its answer then cross as JSON text through
// the channel, a SharedArrayBuffer only this file's closure holds (docs/runtime.md).
// Module scope persists across executions; what one execution starts ends with it.
import { createRequire } from 'node:module';
import { AsyncLocalStorage } from 'node:async_hooks';
import { setImmediate as tick } from 'node:timers';

const LOG_LIMIT = 64 * 1024;
const refuse = (name) => function refused() { throw new Error(`${name} is not allowed in actions`); };
const lock = (target, name, value) => {
  try {
    Object.defineProperty(target, name, { value, writable: false, configurable: false });
  } catch (_) {
    try { target[name] = value; } catch (_e) { /* frozen by the runtime already */ }
  }
};

// Taken before any action code runs: the realm's answers go through these only. The
// global postMessage is taken from action code (contain), and every built-in the channel
// uses is captured here, so that an action can neither reach the channel's buffer (and
// answer for a run, then keep its thread busy past every deadline) nor change how an
// answer is written.
const post = globalThis.postMessage.bind(globalThis);
const uncurry = (fn) => Function.prototype.call.bind(fn);
const { load: atomicLoad, store: atomicStore, notify, wait } = Atomics;
const { parse: parseJson, stringify } = JSON;
const encodeInto = uncurry(TextEncoder.prototype.encodeInto);
const decode = uncurry(TextDecoder.prototype.decode);
const subarray = uncurry(Object.getPrototypeOf(Uint8Array.prototype).subarray);
const grow = uncurry(SharedArrayBuffer.prototype.grow);
const bufferBytes = uncurry(Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength').get);
const maxBufferBytes = uncurry(Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'maxByteLength').get);
const { max, min } = Math;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const close = globalThis.close;

let nodeRequire = null;
let triggers = null;
let handlerExports = null; // the action's module.exports, once loaded
let loadError = null;      // a SyntaxError or a throw at load: every run fails with it
let current = null;        // {id, logs, logBytes, failure}
const executions = new AsyncLocalStorage();
// Execution id -> {n, 0: clear, 1: clear, ...}: records without a prototype, so that no
// patched Map, Set or Array method can lose a timer that must end with its execution.
const owned = Object.create(null);
const getStore = uncurry(AsyncLocalStorage.prototype.getStore);
const runIn = uncurry(AsyncLocalStorage.prototype.run);
const { apply } = Reflect;

// ---- what an execution may not start, or must end with it ----------------------------
function contain(req) {
  // Signals, exits, listening sockets and sub-workers: impossible from action code.
  for (const name of ['kill', 'exit', 'serve', 'listen', 'listenTls', 'listenDatagram',
    'addSignalListener', 'removeSignalListener', 'upgradeWebSocket', 'dlopen']) {
    if (name in Deno) lock(Deno, name, refuse(`Deno.${name}()`));
  }
  for (const name of ['Worker', 'SharedWorker', 'BroadcastChannel']) lock(globalThis, name, refuse(`new ${name}()`));
  // Gone, as in Node.js (where Auth0 runs actions): it would speak for the realm.
  for (let scope = globalThis; scope; scope = Object.getPrototypeOf(scope)) {
    if (Object.hasOwn(scope, 'postMessage')) lock(scope, 'postMessage', undefined);
  }
  const proc = req('node:process');
  for (const name of ['exit', 'abort', 'kill', 'reallyExit', 'dlopen', 'chdir', 'setuid', 'setgid', 'binding', '_linkedBinding']) {
    lock(proc, name, refuse(`process.${name}()`));
  }
  const serverRefused = refuse('listening on a port');
  for (const mod of ['node:net', 'node:http', 'node:https', 'node:http2', 'node:tls']) {
    const m = req(mod);
    for (const key of ['createServer', 'createSecureServer', 'Server']) if (key in m) lock(m, key, serverRefused);
  }
  for (const mod of ['node:net', 'node:http', 'node:https', 'node:tls']) {
    const proto = (req(mod).Server || function () {}).prototype;
    if (proto) lock(proto, 'listen', serverRefused);
  }
  const dgram = req('node:dgram');
  lock(dgram, 'createSocket', refuse('a UDP socket'));
  const threads = req('node:worker_threads');
  lock(threads, 'Worker', refuse('new Worker()'));
  const cluster = req('node:cluster');
  lock(cluster, 'fork', refuse('cluster.fork()'));

  // Timers belong to the execution that made them and end with it.
  const track = (set, clear) => (...args) => {
    const id = getStore(executions);
    const handle = apply(set, undefined, args);
    if (id !== undefined) {
      const mine = owned[id] || (owned[id] = { __proto__: null, n: 0 });
      mine[mine.n++] = () => clear(handle);
    }
    return handle;
  };
  const g = globalThis;
  const timers = req('node:timers');
  const pairs = [['setTimeout', 'clearTimeout'], ['setInterval', 'clearInterval'], ['setImmediate', 'clearImmediate']];
  for (const [set, clear] of pairs) {
    if (g[set]) lock(g, set, track(g[set].bind(g), g[clear].bind(g)));
    if (timers[set]) lock(timers, set, track(timers[set], timers[clear]));
  }

  // console output reaches the execution that is running it, and no other.
  const format = (args) => args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' ');
  for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
    console[level] = (...args) => {
      if (!current || getStore(executions) !== current.id || current.logBytes > LOG_LIMIT) return;
      const line = format(args) + '\n';
      current.logBytes += line.length;
      current.logs.push(current.logBytes > LOG_LIMIT ? '[log output truncated]\n' : line);
    };
  }
  // Only the execution that made the failing promise or callback fails: the async context
  // travels with it, so a late rejection of an earlier execution never blames a later one.
  const failCurrent = (reason) => {
    if (current && !current.failure && getStore(executions) === current.id) current.failure = reason;
  };
  g.addEventListener('unhandledrejection', (e) => { e.preventDefault(); failCurrent(e.reason); });
  g.addEventListener('error', (e) => { e.preventDefault(); failCurrent(e.error); });
}

function safeJson(value) {
  try { return JSON.stringify(value); } catch (_) { return String(value); }
}

function errorJson(err) {
  if (err instanceof Error) return { name: err.name, message: String(err.message), stack: String(err.stack) };
  return { name: 'Error', message: String(err) };
}

// ---- loading action code (CommonJS, as on Auth0) ----------------------------------------
function compile(code, filename) {
  const vm = nodeRequire('node:vm');
  const source = `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
  return new vm.Script(source, { filename }).runInThisContext();
}

function makeRequire(depsDir, moduleRefs, modules, chain) {
  const base = depsDir ? createRequire(`${depsDir}/index.js`) : nodeRequire;
  return function actionRequire(name) {
    if (typeof name === 'string' && name.startsWith('actions:')) {
      const ref = (moduleRefs || {})[name.slice('actions:'.length)];
      if (!ref) throw new Error(`Cannot find module '${name}': the action does not use that module`);
      return loadModule(ref, modules, chain);
    }
    return base(name);
  };
}

const moduleInstances = new Map();
function loadModule(ref, modules, chain) {
  if (moduleInstances.has(ref.version_id)) return moduleInstances.get(ref.version_id);
  if (chain.includes(ref.version_id)) throw new Error('circular require of an actions module');
  const spec = modules.find((m) => m.version_id === ref.version_id);
  if (!spec) throw new Error(`actions module version ${ref.version_id} is not loaded`);
  const module = { exports: {} };
  // Module code reads its own secrets as actions.secrets.NAME; the action never sees them.
  const wrapper = compile(`const actions = { secrets: __secrets };\n${spec.code}`, `/actions/modules/${ref.name}.js`);
  const req = makeRequire(spec.deps_dir, {}, modules, [...chain, ref.version_id]);
  globalThis.__secrets = Object.freeze({ ...spec.secrets });
  try {
    wrapper.call(module.exports, module.exports, req, module, `/actions/modules/${ref.name}.js`, '/actions/modules');
  } finally {
    delete globalThis.__secrets;
  }
  moduleInstances.set(ref.version_id, module.exports);
  return module.exports;
}

function init(msg) {
  nodeRequire = createRequire(`${msg.deps_dir || '/actionsd-no-dependencies'}/index.js`);
  const triggersModule = { exports: {} };
  // triggers.cjs is loaded before any action code, from this realm's own built-ins.
  new Function('module', 'exports', 'require', msg.triggers)(triggersModule, triggersModule.exports, nodeRequire);
  triggers = triggersModule.exports;
  contain(nodeRequire);
  let wrapper;
  try {
    wrapper = compile(msg.code, `/actions/${msg.version_id}.js`);
  } catch (err) {
    loadError = err;
    return;
  }
  // The first execution loads the module, inside its own execution context.
  handlerExports = { wrapper, spec: msg };
}

function load() {
  if (loadError) throw loadError;
  if (!handlerExports.wrapper) return handlerExports.exports;
  const { wrapper, spec } = handlerExports;
  handlerExports.wrapper = null;
  const module = { exports: {} };
  const req = makeRequire(spec.deps_dir, spec.modules, spec.module_specs || [], []);
  try {
    wrapper.call(module.exports, module.exports, req, module, `/actions/${spec.version_id}.js`, '/actions');
  } catch (err) {
    loadError = err;
    throw err;
  }
  handlerExports.exports = module.exports;
  return module.exports;
}

// Answers through done(reply), called once: not through the promise run returns, whose
// then an action can reach (Promise.prototype), as it can this function's awaits; that
// would only end its own execution early, which returning early does as well.
async function run(msg, done) {
  const action = { logs: [], logBytes: 0, commands: [], failure: null, id: msg.id };
  current = action;
  let error = null;
  try {
    // The event and outcome arrive as JSON text: parsing it twice (the api's view, the
    // action's own copy) costs less than cloning a structured message.
    const state = { event: JSON.parse(msg.event), outcome: JSON.parse(msg.outcome), cache: msg.cache };
    await runIn(executions, msg.id, async () => {
      const exportsObj = load();
      const handler = exportsObj && exportsObj[msg.handler];
      if (typeof handler !== 'function') return;
      const event = JSON.parse(msg.event);
      event.secrets = Object.freeze({ ...(msg.secrets || {}) });
      const api = triggers.makeApi(msg.trigger, state, action, { ...msg.spec, handler: msg.handler }, event);
      await handler(event, api);
      // A rejection nobody awaited still fails the action that caused it.
      await new Promise((resolve) => tick(resolve));
    });
    if (action.failure) throw action.failure;
  } catch (err) {
    error = errorJson(err);
  }
  const mine = owned[msg.id];
  delete owned[msg.id];
  for (let i = 0; mine && i < mine.n; i++) mine[i]();
  current = null;
  done({ __proto__: null, id: msg.id, logs: action.logs.join(''), commands: action.commands, error });
}

// ---- the channel (its layout: worker.cjs, class Realm) -----------------------------------
// Between runs the realm's thread sleeps in Atomics.wait, which a run reaches sooner than
// a posted message (docs/benchmarks.md). Nothing of an execution runs meanwhile: its
// timers are gone, and what else it left waits for its action's next run.
// The states this side reads or writes; the protocol realm sets IDLE (0) once it has read an answer.
const REQUEST = 1, ANSWER = 2, STOP = 3;
const HEADER = 8;

function serveChannel(buffer) {
  const header = new Int32Array(buffer, 0, 2);
  const data = new Uint8Array(buffer, HEADER); // tracks the buffer's length as it grows
  const failed = (id, message) => stringify({
    __proto__: null, id, logs: '', commands: [], error: { __proto__: null, name: 'Error', message },
  });
  const answer = (reply) => {
    let text;
    try { text = stringify(reply); } catch (_) { text = failed(reply.id, "The action's api calls could not be written as JSON"); }
    let { read, written } = encodeInto(encoder, text, data);
    if (read < text.length) {
      const most = maxBufferBytes(buffer);
      grow(buffer, max(bufferBytes(buffer), min(most, HEADER + text.length * 3)));
      ({ read, written } = encodeInto(encoder, text, data));
      if (read < text.length) {
        text = failed(reply.id, `The action's api calls and logs exceed the ${(most - HEADER) / 1048576} MB an answer may hold`);
        ({ read, written } = encodeInto(encoder, text, data));
      }
    }
    atomicStore(header, 1, written);
    atomicStore(header, 0, ANSWER);
    notify(header, 0);
  };
  const next = () => {
    for (;;) {
      const state = atomicLoad(header, 0);
      if (state === REQUEST || state === STOP) return state;
      wait(header, 0, state);
    }
  };
  const serveNext = () => {
    if (next() === STOP) { close(); return; }
    const msg = parseJson(decode(decoder, subarray(data, 0, atomicLoad(header, 1))));
    run(msg, (reply) => { answer(reply); serveNext(); });
  };
  serveNext();
}

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.type !== 'init') return;
  self.onmessage = null;
  init(msg);
  post({ id: 'ready' });
  serveChannel(msg.channel);
};
