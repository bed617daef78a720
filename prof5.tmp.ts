import { selectTrainerBackend, initMlp, quantizeMlp, initAdapters, trainQlora, selectImages, loadMnist } from './trainer/index.js';
await selectTrainerBackend({ prefer: [(process.argv[2] ?? 'wasm') as 'wasm'], log: () => {} });
const base = quantizeMlp(initMlp([784, 128, 10], 1));
const { train } = await loadMnist();
const shard = selectImages(train, Int32Array.from({ length: 5500 }, (_, i) => i));
const lora = { rank: 8, alpha: 16, freezeA: true };
const ad = initAdapters(base, lora, 2);
for (const engine of (process.argv[3] ?? 'dense,tensor,dense,tensor').split(',') as ('dense'|'tensor')[]) {
  const settings = { decodeBase: (process.argv[4] ?? "per-step") as "per-step", steps: 172, batchSize: 32, learningRate: 0.01, weightDecay: 0, seed: 1, order: 'given' as const, optimizer: { kind: 'sgd' as const, momentum: 0.9 }, engine };
  trainQlora(base, ad, lora, shard, { ...settings, steps: 5 });
  const cpu0 = process.cpuUsage(); const { report } = trainQlora(base, ad, lora, shard, settings); const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(engine, 'wall samples/s', (report.samples / report.milliseconds * 1000).toFixed(0), 'cpu samples/s', (report.samples / cpuS).toFixed(0), 'cpu ms/step', (cpuS*1000/172).toFixed(3), 'loss', report.loss.toFixed(5));
}
