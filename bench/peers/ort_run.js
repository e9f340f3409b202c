#!/usr/bin/env node
// ONNX Runtime peer: runs an .onnx model on the CPU through onnxruntime-node.
//
//   node ort_run.js run MODEL.onnx --inputs IN.safetensors --outputs OUT.safetensors [--threads N]
//   node ort_run.js bench MODEL.onnx --inputs IN.safetensors [--warmup W] [--iters N] [--threads T] [--json]
//
// Inputs are matched to the model's inputs by name. `run` writes every model
// output to OUT.safetensors. `bench` times session.run() (inputs already in
// memory) and prints p50/p90/p99/mean latency in milliseconds.
// onnxruntime-node is looked up in bench/peers/node/node_modules (scripts/setup.sh).
'use strict';
const path = require('path');
const { createRequire } = require('module');
const { readSafetensors, writeSafetensors } = require('./safetensors');

function usage(msg) {
  if (msg) process.stderr.write(`ort_run: ${msg}\n`);
  process.stderr.write(
    'usage: ort_run.js run MODEL.onnx --inputs IN.safetensors --outputs OUT.safetensors [--threads N]\n' +
    '       ort_run.js bench MODEL.onnx --inputs IN.safetensors [--warmup W] [--iters N] [--threads T] [--json]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const [mode, model, ...rest] = argv;
  if (mode !== 'run' && mode !== 'bench') usage(mode ? `unknown mode '${mode}'` : 'no mode');
  if (!model) usage('no model file');
  const opts = { mode, model, threads: 1, warmup: 5, iters: 50, json: false };
  const numeric = { '--threads': 'threads', '--warmup': 'warmup', '--iters': 'iters' };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--json') { opts.json = true; continue; }
    if (a === '--inputs' || a === '--outputs') { opts[a.slice(2)] = rest[++i]; continue; }
    if (a in numeric) {
      const v = Number(rest[++i]);
      if (!Number.isInteger(v) || v < (a === '--warmup' ? 0 : 1)) usage(`${a} needs a positive integer`);
      opts[numeric[a]] = v;
      continue;
    }
    usage(`unknown option '${a}'`);
  }
  if (!opts.inputs) usage('--inputs is required');
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

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const tensors = readSafetensors(opts.inputs);
  const feeds = {};
  for (const name of session.inputNames) {
    const t = tensors[name];
    if (!t) throw new Error(`model input '${name}' is not in ${opts.inputs} (has: ${Object.keys(tensors).join(', ')})`);
    feeds[name] = new ort.Tensor(t.ortType, t.data, t.shape);
  }

  if (opts.mode === 'run') {
    const results = await session.run(feeds);
    const out = {};
    for (const name of session.outputNames) {
      const r = results[name];
      out[name] = { ortType: r.type, shape: r.dims, data: r.data };
    }
    writeSafetensors(opts.outputs, out);
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
    version: ort.env.versions ? ort.env.versions.node : undefined,
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
