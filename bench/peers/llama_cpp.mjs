#!/usr/bin/env node
// llama.cpp peer: greedy generation from explicit prompt token ids through
// node-llama-cpp (prebuilt CPU binaries in @node-llama-cpp/linux-x64; nothing
// is compiled or downloaded at run time).
//
//   node bench/peers/llama_cpp.mjs MODEL.gguf --prompt-ids 1,512,278 [--max-new-tokens 64] [--threads 2]
//
// Prints one JSON object: the generated ids, the prompt length, prefill tokens/s
// (the P prompt tokens, up to the first generated token) and decode tokens/s
// (the remaining N - 1 tokens). Model load and a warm-up run are excluded.
// Exit code 3 with {"error": "not installed"} when node-llama-cpp is missing
// (install: scripts/setup.sh, or see bench/peers/README.md).
//
// With --sequences N (serving throughput, bench/serve_load.sh): N sequences of
// one context generate together from the same prompt (node-llama-cpp batches
// their tokens into one llama.cpp batch per step, as llama-server's continuous
// batching does), each exactly --max-new-tokens tokens (EOS is not a stop).
// The JSON then has generated tokens/s over the wall time of all sequences
// (prefill included) and their times to first token.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

function usage(msg) {
  if (msg) process.stderr.write(`llama_cpp: ${msg}\n`);
  process.stderr.write('usage: llama_cpp.mjs MODEL.gguf --prompt-ids 1,2,3 [--max-new-tokens N] [--threads T] [--sequences N]\n');
  process.exit(2);
}

const args = process.argv.slice(2);
let modelPath = null, promptIds = null, maxNew = 64, threads = 2, sequences = null;
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const value = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
  if (a === '--prompt-ids') promptIds = value().split(',').filter((s) => s.length).map((s) => Number.parseInt(s, 10));
  else if (a === '--max-new-tokens') maxNew = Number.parseInt(value(), 10);
  else if (a === '--threads') threads = Number.parseInt(value(), 10);
  else if (a === '--sequences') sequences = Number.parseInt(value(), 10);
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else if (modelPath === null) modelPath = a;
  else usage(`unexpected argument ${a}`);
}
if (!modelPath) usage('no model');
if (!promptIds || promptIds.length === 0 || promptIds.some((x) => !Number.isInteger(x) || x < 0)) usage('--prompt-ids must be non-negative integers');
if (!(maxNew >= 1)) usage('--max-new-tokens must be >= 1');
if (!(threads >= 1)) usage('--threads must be >= 1');
if (sequences !== null && !(sequences >= 1)) usage('--sequences must be >= 1');
if (!fs.existsSync(modelPath)) usage(`${modelPath} does not exist`);

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, 'node', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
if (!fs.existsSync(entry) || !fs.existsSync(path.join(here, 'node', 'node_modules', '@node-llama-cpp', 'linux-x64'))) {
  process.stdout.write(JSON.stringify({ error: 'not installed', detail: 'node-llama-cpp and @node-llama-cpp/linux-x64 are not in bench/peers/node/node_modules (scripts/setup.sh installs them)' }) + '\n');
  process.exit(3);
}
const { getLlama } = await import(pathToFileURL(entry).href);

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath });
if (sequences !== null) {
  await serveBatch(sequences);
  process.exit(0);
}

// N sequences of one context, all generating together (see the header).
async function serveBatch(n) {
  const perSeq = promptIds.length + maxNew + 8;
  const context = await model.createContext({ threads, sequences: n, contextSize: perSeq * n, batchSize: Math.max(512, n) });
  const seqs = Array.from({ length: n }, () => context.getSequence());
  async function one(seq, count, t0) {
    await seq.clearHistory();
    let made = 0, first = null;
    for await (const token of seq.evaluate(promptIds, { temperature: 0 })) {
      void token;
      if (first === null) first = performance.now() - t0;
      if (++made >= count) break;
    }
    return { made, ttft_ms: first };
  }
  async function round(count) {
    const t0 = performance.now();
    const results = await Promise.all(seqs.map((s) => one(s, count, t0)));
    return { seconds: (performance.now() - t0) / 1000, results };
  }
  await round(Math.min(4, maxNew));  // warm-up
  const r = await round(maxNew);
  const tokens = r.results.reduce((a, x) => a + x.made, 0);
  const ttft = r.results.map((x) => x.ttft_ms).sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({
    runtime: 'llama.cpp (node-llama-cpp 3.22.1)',
    model: modelPath, threads, sequences: n, prompt_tokens: promptIds.length, max_new_tokens: maxNew,
    generated_tokens: tokens, seconds: r.seconds, generated_tokens_per_s: tokens / r.seconds,
    ttft_p50_ms: ttft[Math.floor(ttft.length / 2)], ttft_max_ms: ttft[ttft.length - 1],
  }) + '\n');
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

const context = await model.createContext({ threads, contextSize: Math.max(256, promptIds.length + maxNew + 8), sequences: 1 });
const sequence = context.getSequence();

// Greedy generation of n tokens from the prompt; returns ids and the time of each token.
async function generate(n) {
  await sequence.clearHistory();
  const ids = [], times = [];
  const t0 = performance.now();
  for await (const token of sequence.evaluate(promptIds, { temperature: 0 })) {
    ids.push(token);
    times.push(performance.now());
    if (ids.length >= n) break;
  }
  return { ids, t0, times };
}

await generate(Math.min(4, maxNew));  // warm-up
const run = await generate(maxNew);
const prefillS = (run.times[0] - run.t0) / 1000;
const decodeS = run.times.length > 1 ? (run.times[run.times.length - 1] - run.times[0]) / 1000 : 0;
process.stdout.write(JSON.stringify({
  runtime: 'llama.cpp (node-llama-cpp 3.22.1)',
  model: modelPath,
  threads,
  prompt_tokens: promptIds.length,
  generated_ids: run.ids,
  prefill_tokens_per_s: promptIds.length / prefillS,
  decode_tokens_per_s: decodeS > 0 ? (run.ids.length - 1) / decodeS : null,
}) + '\n');
await context.dispose();
await model.dispose();
await llama.dispose();
