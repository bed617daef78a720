/**
 * NF4 quantisation and dequantisation of a large weight tensor against the machine's memory
 * bandwidth, the physical limit of a pass that reads and writes every weight once: each figure is
 * the rate of the bytes the pass must move (FP32 weights read or written, NF4 codes on the other
 * side), and the same machine's rate of a plain copy of that many FP32 bytes (Float32Array#set,
 * one core) is measured alongside, so the ratio says how far the pass is from what memory allows.
 * CPU time of this process (`process.cpuUsage()`), median of 3 runs after one warm-up, on 16 Mi
 * weights (64 MiB of FP32: far beyond the caches).
 */
import { loadavg } from 'node:os';
import { dequantizeNf4Into, nf4ByteSize, quantizeNf4 } from '../trainer/index.js';
import { cpuMilliseconds } from './cpu-time.js';
import type { BenchFigure } from './result.js';

const WEIGHTS = 16 * 1024 * 1024;
const RUNS = 3;

/** Median CPU seconds of `RUNS` runs of `work` after one untimed run. */
const cpuSeconds = (work: () => void): number => {
  work();
  return cpuMilliseconds(RUNS, work) / 1000;
};

/** Gaussian-looking weights (sum of 4 uniforms), deterministic. */
const weights = (n: number): Float32Array => {
  const out = new Float32Array(n);
  let s = 0x9e3779b9;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let i = 0; i < n; i++) out[i] = (next() + next() + next() + next() - 2) * 0.05;
  return out;
};

export default async (): Promise<BenchFigure[]> => {
  const fp32 = weights(WEIGHTS);
  const fp32Bytes = fp32.byteLength;
  const copy = new Float32Array(WEIGHTS);
  const copySeconds = cpuSeconds(() => copy.set(fp32));
  let q = quantizeNf4(fp32);
  const quantizeSeconds = cpuSeconds(() => {
    q = quantizeNf4(fp32);
  });
  const nf4Bytes = nf4ByteSize(q);
  const out = new Float32Array(WEIGHTS);
  const dequantizeSeconds = cpuSeconds(() => dequantizeNf4Into(q, out));
  // the bytes each pass moves: FP32 read + NF4 written (quantise), NF4 read + FP32 written
  // (dequantise), FP32 read + FP32 written (the copy)
  const moved = fp32Bytes + nf4Bytes;
  const gbps = (bytes: number, seconds: number) => bytes / seconds / 1e9;
  const copyRate = gbps(2 * fp32Bytes, copySeconds);
  const quantizeRate = gbps(moved, quantizeSeconds);
  const dequantizeRate = gbps(moved, dequantizeSeconds);
  const load = `load average ${loadavg()[0]!.toFixed(1)}`;
  const size = `${WEIGHTS / 1024 / 1024} Mi weights (${fp32Bytes / 2 ** 20} MiB FP32, ${(nf4Bytes / 2 ** 20).toFixed(1)} MiB NF4)`;
  return [
    {
      name: 'memory copy rate of one core (Float32Array#set, bytes read + written)',
      value: copyRate,
      unit: 'GB/CPU-s',
      note: `${size}; the physical limit of a pass over every weight; ${load}`,
    },
    {
      name: 'NF4 quantise (trainer quantizeNf4: FP32 read + NF4 written)',
      value: quantizeRate,
      unit: 'GB/CPU-s',
      note: `${size}; ${(fp32Bytes / quantizeSeconds / 1e9).toFixed(2)} GB of FP32 weights per CPU-second; ${load}`,
    },
    {
      name: 'NF4 dequantise (trainer dequantizeNf4Into: NF4 read + FP32 written)',
      value: dequantizeRate,
      unit: 'GB/CPU-s',
      note: `${size}; the JavaScript decode of a whole layer (training decodes inside the wasm/native products instead); ${load}`,
    },
    {
      name: 'NF4 quantise, share of the memory copy rate',
      value: quantizeRate / copyRate,
      unit: 'x',
      note: 'below 1: bound by its compute (absmax, a binary search per weight, double quantisation), not by memory',
    },
    {
      name: 'NF4 dequantise, share of the memory copy rate',
      value: dequantizeRate / copyRate,
      unit: 'x',
      note: 'below 1: bound by its compute (a table look-up and a multiply per weight), not by memory',
    },
  ];
};
