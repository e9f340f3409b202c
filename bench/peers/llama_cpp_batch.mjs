#!/usr/bin/env node
// llama.cpp peer for serving throughput: N sequences of one context generate
// together (node-llama-cpp batches the sequences' tokens into one llama.cpp
// batch per step, as llama-server's continuous batching does).
//
//   node bench/peers/llama_cpp_batch.mjs MODEL.gguf --prompt-ids 1,2,3 --sequences 16 [--max-new-tokens 64] [--threads 2]
//
// Every sequence gets the same prompt and generates exactly --max-new-tokens
// tokens greedily (EOS is not a stop here, so all do the same work). Prints
// one JSON object: generated tokens/s over the wall time of all sequences
// (prefill included, as a server's generated tokens/s is), and the time to
// first token of each. Model load and a warm-up are excluded.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

function usage(msg) {
  if (msg) process.stderr.write(`llama_cpp_batch: ${msg}\n`);
  process.stderr.write('usage: llama_cpp_batch.mjs MODEL.gguf --prompt-ids 1,2,3 --sequences N [--max-new-tokens N] [--threads T]\n');
  process.exit(2);
}

const args = process.argv.slice(2);
let modelPath = null, promptIds = null, maxNew = 64, threads = 2, sequences = 1;
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
if (!modelPath || !fs.existsSync(modelPath)) usage('no model file');
if (!promptIds || promptIds.length === 0 || promptIds.some((x) => !Number.isInteger(x) || x < 0)) usage('--prompt-ids must be non-negative integers');
if (!(maxNew >= 1) || !(threads >= 1) || !(sequences >= 1)) usage('--max-new-tokens, --threads and --sequences must be >= 1');

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, 'node', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
if (!fs.existsSync(entry)) {
  process.stdout.write(JSON.stringify({ error: 'not installed' }) + '\n');
  process.exit(3);
}
const { getLlama } = await import(pathToFileURL(entry).href);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath });
const perSeq = promptIds.length + maxNew + 8;
const context = await model.createContext({ threads, sequences, contextSize: perSeq * sequences,
                                             batchSize: Math.max(512, sequences) });
const seqs = Array.from({ length: sequences }, () => context.getSequence());

async function one(seq, n, t0) {
  await seq.clearHistory();
  let count = 0, first = null;
  for await (const token of seq.evaluate(promptIds, { temperature: 0 })) {
    void token;
    if (first === null) first = performance.now() - t0;
    if (++count >= n) break;
  }
  return { count, ttft_ms: first };
}

async function round(n) {
  const t0 = performance.now();
  const results = await Promise.all(seqs.map((s) => one(s, n, t0)));
  return { seconds: (performance.now() - t0) / 1000, results };
}

await round(Math.min(4, maxNew));  // warm-up
const r = await round(maxNew);
const tokens = r.results.reduce((a, x) => a + x.count, 0);
const ttft = r.results.map((x) => x.ttft_ms).sort((a, b) => a - b);
process.stdout.write(JSON.stringify({
  runtime: 'llama.cpp (node-llama-cpp 3.22.1)',
  model: modelPath, threads, sequences, prompt_tokens: promptIds.length, max_new_tokens: maxNew,
  generated_tokens: tokens, seconds: r.seconds, generated_tokens_per_s: tokens / r.seconds,
  ttft_p50_ms: ttft[Math.floor(ttft.length / 2)], ttft_max_ms: ttft[ttft.length - 1],
}) + '\n');
await context.dispose();
await model.dispose();
await llama.dispose();
