#!/usr/bin/env node
// ONNX Runtime peer: runs an .onnx model on the CPU through onnxruntime-node.
//
//   node ort_run.js run MODEL.onnx --inputs IN.safetensors --outputs OUT.safetensors [--threads N]
//   node ort_run.js bench MODEL.onnx --inputs IN.safetensors [--warmup W] [--iters N] [--threads T] [--json]
//   node ort_run.js serve MODEL.onnx [--threads T]
//   (any mode: --optimized-model OUT.onnx saves the graph after ORT's optimizations)
//
// Inputs are matched to the model's inputs by name. `run` writes every model
// output to OUT.safetensors. `bench` times session.run() (inputs already in
// memory) and prints p50/p90/p99/mean latency in milliseconds. `serve` keeps the
// session and answers JSON lines on stdin, one reply line each on stdout (octet bench):
//   {"op":"inputs","path":IN}  {"op":"time","iters":N} -> {"ms":[...]}
//   {"op":"run","inputs":IN,"outputs":OUT}
// Every reply has "ok" (and "error" on failure); the first line, once the session
// is created, is {"ok":true,"ready":true,...}. EOF ends the process.
// onnxruntime-node is looked up in bench/peers/node/node_modules (scripts/setup.sh).
'use strict';
const path = require('path');
const { createRequire } = require('module');
const { readSafetensors, writeSafetensors } = require('./safetensors');

function usage(msg) {
  if (msg) process.stderr.write(`ort_run: ${msg}\n`);
  process.stderr.write(
    'usage: ort_run.js run MODEL.onnx --inputs IN.safetensors --outputs OUT.safetensors [--threads N]\n' +
    '       ort_run.js bench MODEL.onnx --inputs IN.safetensors [--warmup W] [--iters N] [--threads T] [--json]\n' +
    '       ort_run.js serve MODEL.onnx [--threads T]\n' +
    '       (any mode: --optimized-model OUT.onnx)\n');
  process.exit(2);
}

function parseArgs(argv) {
  const [mode, model, ...rest] = argv;
  if (mode !== 'run' && mode !== 'bench' && mode !== 'serve') usage(mode ? `unknown mode '${mode}'` : 'no mode');
  if (!model) usage('no model file');
  const opts = { mode, model, threads: 1, warmup: 5, iters: 50, json: false };
  const numeric = { '--threads': 'threads', '--warmup': 'warmup', '--iters': 'iters' };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--json') { opts.json = true; continue; }
    if (a === '--inputs' || a === '--outputs') { opts[a.slice(2)] = rest[++i]; continue; }
    if (a === '--optimized-model') { opts.optimized = rest[++i]; continue; }
    if (a in numeric) {
      const v = Number(rest[++i]);
      if (!Number.isInteger(v) || v < (a === '--warmup' ? 0 : 1)) usage(`${a} needs a positive integer`);
      opts[numeric[a]] = v;
      continue;
    }
    usage(`unknown option '${a}'`);
  }
  if (!opts.inputs && mode !== 'serve') usage('--inputs is required');
  if (mode === 'run' && !opts.outputs) usage('--outputs is required for run');
  return opts;
}

function loadOrt() {
  const peerDir = path.join(__dirname, 'node');
  try {
    return createRequire(path.join(peerDir, 'package.json'))('onnxruntime-node');
  } catch (e) {
    throw new Error(`onnxruntime-node not found under ${peerDir}/node_modules (run scripts/setup.sh): ${e.message}`);
  }
}

function percentile(sorted, p) {
  // Nearest-rank on the sorted sample, linear between neighbours.
  const x = (sorted.length - 1) * p;
  const lo = Math.floor(x), hi = Math.ceil(x);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

function loadFeeds(ort, session, file) {
  const tensors = readSafetensors(file);
  const feeds = {};
  for (const name of session.inputNames) {
    const t = tensors[name];
    if (!t) throw new Error(`model input '${name}' is not in ${file} (has: ${Object.keys(tensors).join(', ')})`);
    feeds[name] = new ort.Tensor(t.ortType, t.data, t.shape);
  }
  return feeds;
}

async function runOnce(session, feeds, file) {
  const results = await session.run(feeds);
  const out = {};
  for (const name of session.outputNames) {
    const r = results[name];
    out[name] = { ortType: r.type, shape: r.dims, data: r.data };
  }
  writeSafetensors(file, out);
}

async function serve(ort, session, opts, loadSeconds) {
  const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  reply({ ok: true, ready: true, runtime: 'onnxruntime-node', version: ortVersion(), threads: opts.threads,
          load_s: loadSeconds });
  const readline = require('readline');
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  let feeds = null;
  for await (const line of lines) {
    if (!line.trim()) continue;
    try {
      const req = JSON.parse(line);
      if (req.op === 'inputs') {
        feeds = loadFeeds(ort, session, req.path);
        reply({ ok: true });
      } else if (req.op === 'time') {
        if (!feeds) throw new Error('no inputs loaded');
        const ms = [];
        for (let i = 0; i < req.iters; i++) {
          const t0 = process.hrtime.bigint();
          await session.run(feeds);
          ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        reply({ ok: true, ms });
      } else if (req.op === 'run') {
        await runOnce(session, loadFeeds(ort, session, req.inputs), req.outputs);
        reply({ ok: true });
      } else {
        throw new Error(`unknown op '${req.op}'`);
      }
    } catch (e) {
      reply({ ok: false, error: e && e.message ? e.message : String(e) });
    }
  }
}

function ortVersion() {
  try {
    return require(path.join(__dirname, 'node', 'node_modules', 'onnxruntime-node', 'package.json')).version;
  } catch (e) {
    return undefined;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const t0 = process.hrtime.bigint();
  const sessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (opts.optimized) sessionOptions.optimizedModelFilePath = opts.optimized;
  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, sessionOptions);
  } catch (e) {
    if (opts.mode === 'serve') {
      process.stdout.write(JSON.stringify({ ok: false, error: e && e.message ? e.message : String(e) }) + '\n');
      return;
    }
    throw e;
  }
  if (opts.mode === 'serve') return serve(ort, session, opts, Number(process.hrtime.bigint() - t0) / 1e9);
  const feeds = loadFeeds(ort, session, opts.inputs);

  if (opts.mode === 'run') {
    await runOnce(session, feeds, opts.outputs);
    return;
  }

  for (let i = 0; i < opts.warmup; i++) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < opts.iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const stats = {
    runtime: 'onnxruntime-node',
    version: ortVersion(),
    model: opts.model,
    threads: opts.threads,
    warmup: opts.warmup,
    iters: opts.iters,
    p50_ms: percentile(sorted, 0.5),
    p90_ms: percentile(sorted, 0.9),
    p99_ms: percentile(sorted, 0.99),
    mean_ms: ms.reduce((a, b) => a + b, 0) / ms.length,
    min_ms: sorted[0],
    max_ms: sorted[sorted.length - 1],
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(stats) + '\n');
  } else {
    const f = (x) => x.toFixed(3);
    process.stdout.write(`${path.basename(opts.model)}: p50 ${f(stats.p50_ms)} ms  p90 ${f(stats.p90_ms)} ms  ` +
                         `p99 ${f(stats.p99_ms)} ms  mean ${f(stats.mean_ms)} ms  (${opts.iters} iters, ` +
                         `${opts.threads} threads)\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`ort_run: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
