// Compiles (never runs) action code as a CommonJS module body and reports syntax errors.
// Protocol: one JSON request per line on stdin {id, code}; one JSON reply per line.
'use strict';
const vm = require('node:vm');
const readline = require('node:readline');

const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];
const rl = readline.createInterface({ input: process.stdin, terminal: false });

rl.on('line', (line) => {
  let reply;
  try {
    const req = JSON.parse(line);
    try {
      vm.compileFunction(req.code, PARAMS, { filename: 'action.js' });
      reply = { id: req.id, ok: true };
    } catch (err) {
      const where = String(err && err.stack || '').split('\n')[0];
      reply = { id: req.id, ok: false, name: err && err.name, message: String(err && err.message), where };
    }
  } catch (err) {
    reply = { id: null, ok: false, name: 'ProtocolError', message: String(err) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
