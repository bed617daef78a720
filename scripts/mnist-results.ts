/**
 * Reproduces the original experiment with QLoRA: MNIST, parties alone vs in a cohort, IID and
 * Dirichlet(0.5) non-IID splits, and (with --poison) the robustness run. Prints markdown tables.
 *
 *   npx tsx scripts/mnist-results.ts [--cohorts 2,4,10|none] [--parties 10] [--rounds 10] [--local-steps 50]
 *     [--batch 64] [--shard-size 5500] [--test-size 10000] [--splits iid,dirichlet]
 *     [--hidden 256] [--rank 16] [--alpha 32] [--lr 3e-3] [--pretrain-steps 600]
 *     [--rule ffa-lora] [--outer-lr 1] [--outer-momentum 0] [--poison 0] [--seed 1] [--json out.json]
 *     [--model mlp|cnn] [--base .dml/bases/mnist-cnn-<hash>.dmlbase] [--workers 2] [--alone true]
 *     [--robust-rules fedavg,median,trimmed-mean,krum] [--eval-every 1] [--merge a.json,b.json] [--help]
 *     [--delta-encoding f32|q8] [--alone-parties n] [--honest true|false]
 *
 * --model cnn uses the convolutional base (MNIST_CNN then --hidden then 10); --base loads a base
 * built by scripts/mnist-base.ts (pretrained on the same public split) instead of pretraining
 * one here; --workers trains the parties of a round in that many worker threads (bit-identical
 * deltas); --alone false skips the alone runs (cohort accuracy only); --cohorts none runs only the
 * alone runs of --parties parties (so that alone and cohort can run in two processes);
 * --robust-rules (with --poison n) chooses the rules run with the n poisoned parties.
 *
 * Tables printed per split: each party alone and in each cohort with the lift, the lift per
 * cohort size (members above alone, min/mean/max), the global adapters' accuracy after each
 * round, and for the Dirichlet split the label mix of each party's shard (scripts/mnist-tables.ts).
 *
 * --delta-encoding q8 sends every party's delta (poisoned ones too) through q8 and decodes it
 * before scoring and aggregation, as a q8 cohort does.
 *
 * The split: a seeded permutation of the 60,000 training images; its last 5,000 are the public
 * data the base is pretrained on (FP32, then quantised to NF4); the first parties x shard-size
 * are the parties' private shards. Every party is scored on the 10,000 test images.
 * "Alone" trains the party's adapter on its shard for rounds x local-steps steps (the same
 * compute as in the cohort); "cohort" runs the rounds with the cohort's aggregation rule from
 * offchain/ (the bit-exact protocol code).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  type AggregationRule,
  type Delta,
  aggregateDeltas,
  flagDissimilarDeltas,
  flagOutlierScores,
  makeDelta,
  nesterovOuterStep,
  withDeltaEncoding,
  parseDeltaValueEncoding,
  DmlError,
  isDmlError,
} from '../offchain/index.js';
import { parseMnistOptions } from './mnist-options.js';
import {
  type LabelledImages,
  type LoraSettings,
  type MnistBaseModel,
  type PartyJob,
  type PartyPool,
  type QuantizedMlp,
  applyDelta,
  createPartyPool,
  initMnistNetwork,
  loadQuantizedBase,
  mnistPublicSplit,
  trainPartiesInOrder,
  dirichletShards,
  evaluateMlp,
  evaluateQlora,
  iidShards,
  initAdapters,
  loadMnist,
  quantizeMlp,
  scoreDeltas,
  seededRandom,
  selectImages,
  selectTrainerBackend,
  trainMlp,
} from '../trainer/index.js';
import {
  type MnistPartyResult,
  cohortLifts,
  type MnistRunJson,
  labelMixTable,
  liftTable,
  type RoundFlags,
  ROBUST_TABLE_HEADER,
  randomDirectionVerdicts,
  robustRow,
  similarityMargin,
  mergeMnistRuns,
  perPartyTable,
  perRoundTable,
} from './mnist-tables.js';

// option mistakes are one line on stderr and exit code 2, before anything is loaded
const optionError = (error: unknown): never => {
  if (!isDmlError(error)) throw error;
  process.stderr.write(`mnist-results: ${error.message}${error.hint ? ` (${error.hint})` : ''}\n`);
  process.exit(2);
};
const opt = (() => {
  try {
    return parseMnistOptions(process.argv.slice(2));
  } catch (error) {
    return optionError(error);
  }
})();
if (opt.help) {
  process.stdout.write(`Usage: npx tsx scripts/mnist-results.ts [options]

MNIST, parties alone vs in a cohort (IID and Dirichlet(0.5) splits), or with --poison the
robustness run; prints markdown tables (see the header of this file for the design).

  --cohorts 2,4,10|none   cohort sizes (none: the alone runs of --parties parties only)
  --parties n             number of shards (default: the largest cohort)
  --rounds 10             rounds; alone runs train rounds x local-steps steps (equal compute)
  --eval-every 1          score the cohort's global adapters after every n-th round and the last
  --local-steps 50        local AdamW steps per party per round
  --batch 64 --lr 3e-3    batch size and AdamW learning rate
  --shard-size 5500       images per party
  --test-size 10000       test images scored
  --splits iid,dirichlet  which splits to run
  --model mlp|cnn         base network; --base FILE loads a base from scripts/mnist-base.ts
  --hidden 256 --pretrain-steps 600   the base pretrained here when --base is not given
  --rank 16 --alpha 32    LoRA rank and alpha
  --rule ffa-lora         aggregation rule of the cohorts
  --outer-lr 1 --outer-momentum 0     DiLoCo outer step (Nesterov) on the aggregate
  --poison n              robustness run: the last n parties poisoned (sign-flip x5 / same-norm noise)
  --robust-rules LIST     rules run with the poisoned parties (default fedavg,median,trimmed-mean,krum)
  --honest true|false     with --poison: false skips the all-honest run (the same run as --cohorts n)
  --workers 1             party worker threads
  --alone true|false      false: skip the alone runs
  --alone-parties n       the alone runs of the first n parties only (default: every party)
  --seed 1 --json FILE    seed; write the results as JSON
  --delta-encoding f32|q8 send every party's delta through q8 (decoded before scoring and aggregation)
  --rescore a.json,...    train nothing: the robustness tables of recorded --poison runs, each
                          party judged over all the rounds (flagRandomDirectionParties);
                          --dimensions N gives the delta's float count for runs that did not record it
  --merge a.json,b.json   train nothing: print the tables of runs made in several processes
                          (e.g. --cohorts none and --alone false), joined party by party
`);
  process.exit(0);
}
const splitTitle = (split: string, rule: unknown, rounds: number, H: number, encoding = 'f32'): string =>
  `MNIST ${split === 'iid' ? 'IID' : 'Dirichlet(0.5) non-IID'} (rule ${String(rule)}, ${rounds} rounds x ${H} local steps; alone: ${rounds * H} steps; ${encoding} deltas)`;
const ROUND_TABLE_TITLE =
  "Test accuracy of the cohort's global adapters after each round (every party of a cohort holds them)";
const pct = (x: number): string => (100 * x).toFixed(2);
if (opt.rescore) {
  // --rescore: the robustness tables of recorded runs, judged again over their rounds; nothing is trained
  const dimensions = opt.dimensions === undefined ? undefined : Number(opt.dimensions);
  for (const file of String(opt.rescore).split(',')) {
    let run: MnistRunJson;
    try {
      run = JSON.parse(readFileSync(file, 'utf8')) as MnistRunJson;
    } catch (error) {
      run = optionError(
        new DmlError(
          'MNIST_OPTION',
          `--rescore ${file}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }
    const poisoned = Number(run.settings.poison);
    for (const [key, value] of Object.entries(run)) {
      if (!key.startsWith('robust-')) continue;
      const { runs } = value as unknown as {
        runs: Record<string, { perRound: number[]; flagged?: string[]; rounds?: RoundFlags[] }>;
      };
      const rows: string[] = [];
      for (const [rule, r] of Object.entries(runs)) {
        if (!r.rounds) continue; // the all-honest run: nothing flagged
        let verdicts: ReturnType<typeof randomDirectionVerdicts>;
        try {
          verdicts = randomDirectionVerdicts(r.rounds, dimensions === undefined ? {} : { dimensions });
        } catch (error) {
          verdicts = optionError(error);
        }
        rows.push(
          robustRow(rule, poisoned, pct(r.perRound[r.perRound.length - 1]!), r.flagged ?? [], verdicts),
        );
      }
      console.log(
        `\n### Robustness (${key.slice('robust-'.length)}, ${file})\n\n${ROBUST_TABLE_HEADER}\n${rows.join('\n')}`,
      );
    }
  }
  process.exit(0);
}
if (opt.merge) {
  // --merge: the tables of runs made in several processes, joined; nothing is trained
  const readRun = (file: string): MnistRunJson => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as MnistRunJson;
    } catch (error) {
      return optionError(
        new DmlError(
          'MNIST_OPTION',
          `--merge ${file}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }
  };
  const runs = String(opt.merge).split(',').map(readRun);
  const s = runs[0]!.settings;
  for (const split of String(opt.splits).split(',')) {
    if (!runs.some((r) => r[split] !== undefined)) continue;
    let m: ReturnType<typeof mergeMnistRuns>;
    try {
      m = mergeMnistRuns(runs, split);
    } catch (error) {
      m = optionError(error);
    }
    console.log(
      `\n### ${splitTitle(split, s.rule, Number(s.rounds), Number(s['local-steps']), String(s['delta-encoding'] ?? 'f32'))}\n\n${perPartyTable(m.perParty, m.cohorts)}`,
    );
    console.log(
      `\nLift over alone at equal compute, per cohort size\n\n${liftTable(cohortLifts(m.perParty, m.cohorts))}`,
    );
    console.log(`\n${ROUND_TABLE_TITLE}\n\n${perRoundTable(runs[0]!.base.nf4, m.cohortRounds)}`);
  }
  console.log(`\nbase hash ${runs[0]!.base.hash}; merged: ${String(opt.merge)}`);
  process.exit(0);
}
const deltaEncoding = parseDeltaValueEncoding(String(opt['delta-encoding']));
const num = (k: keyof typeof opt): number => Number(opt[k]);
// --cohorts none: the alone runs only (of --parties parties), e.g. in a second process
const cohorts = opt.cohorts === 'none' ? [] : String(opt.cohorts).split(',').map(Number);
const maxParties = opt.parties ? Number(opt.parties) : Math.max(...cohorts);
const rounds = num('rounds');
const H = num('local-steps');
const shardSize = num('shard-size');
const seed = num('seed');
const lora: LoraSettings = {
  rank: num('rank'),
  alpha: num('alpha'),
  freezeA: String(opt.rule) === 'ffa-lora',
};
const ruleOf = (name: string, parties: number): AggregationRule =>
  name === 'trimmed-mean'
    ? { kind: 'trimmed-mean', trim: Math.max(1, Math.floor(parties * 0.3)) }
    : name === 'krum'
      ? {
          kind: 'krum',
          byzantine: Math.floor((parties - 3) / 2),
          select: Math.max(1, parties - Math.floor((parties - 3) / 2)),
        }
      : ({ kind: name } as AggregationRule);
const train = (settingsSeed: number) => ({
  steps: H,
  batchSize: num('batch'),
  learningRate: num('lr'),
  weightDecay: 0,
  seed: settingsSeed,
});
const log = (line: string): void =>
  void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

const backend = await selectTrainerBackend({ log });
const started = performance.now();
const { train: mnistTrain, test: mnistTest } = await loadMnist();
const test = selectImages(
  mnistTest,
  Int32Array.from({ length: num('test-size') }, (_, i) => i),
);
const { publicIdx, privateIdx } = mnistPublicSplit(seed);
const publicData = selectImages(mnistTrain, publicIdx);
const model = String(opt.model) as MnistBaseModel;

let base: QuantizedMlp;
let baseFp: number | null = null;
if (opt.base) {
  base = await loadQuantizedBase(String(opt.base));
  log(`base ${opt.base} (hash ${base.hash.slice(0, 16)})`);
} else {
  log(
    `pretraining the ${model} base (hidden ${opt.hidden}) on 5,000 public images (${opt['pretrain-steps']} steps)`,
  );
  const fp = trainMlp(initMnistNetwork(model, num('hidden'), seed), publicData, {
    steps: num('pretrain-steps'),
    batchSize: 64,
    learningRate: 2e-3,
    weightDecay: 1e-4,
    seed,
  }).mlp;
  base = quantizeMlp(fp);
  baseFp = evaluateMlp(fp, test).accuracy;
}
const startAdapters = initAdapters(base, lora, seed + 1);
const baseNf4 = evaluateQlora(base, startAdapters, lora, test).accuracy;
log(
  `base: FP32 ${baseFp === null ? '-' : pct(baseFp)}%, NF4 ${pct(baseNf4)}%, hash ${base.hash.slice(0, 16)}`,
);
const workers = num('workers');
const pool: PartyPool | null = workers > 1 ? await createPartyPool(base, { workers, log }) : null;
const trainParties = async (global: Delta, jobs: PartyJob[]) =>
  pool ? pool.train(global, lora, jobs) : trainPartiesInOrder(base, global, lora, jobs);

const results: Record<string, unknown> = {
  backend,
  settings: opt,
  base: { fp32: baseFp, nf4: baseNf4, hash: base.hash },
};

const runCohort = async (
  shards: LabelledImages[],
  ruleName: string,
  poisoned: ReadonlySet<number> = new Set(),
  validation?: LabelledImages[],
): Promise<{
  accuracy: number;
  flagged: string[];
  hashes: string[];
  perRound: number[];
  roundLog: RoundFlags[];
}> => {
  let global: Delta = startAdapters;
  const roundLog: RoundFlags[] = [];
  const perRound: number[] = [];
  let velocity: Delta | null = null;
  const hashes: string[] = [];
  const flaggedCount = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    const trained = await trainParties(
      global,
      shards.map((shard, p) => ({
        partyId: `party-${String(p).padStart(2, '0')}`,
        shard,
        settings: train(seed * 1000 + r * 100 + p),
      })),
    );
    const contributions = trained.map(({ partyId, delta }, p) => ({
      partyId,
      sampleCount: shards[p]!.count,
      delta: withDeltaEncoding(
        poisoned.has(p) ? poison(delta, p % 2 === 0 ? 'sign-flip' : 'noise', seed + r * 31 + p) : delta,
        deltaEncoding,
      ),
    }));
    if (validation) {
      // every honest party scores every delta on its own validation split; a party is flagged
      // in a round when a majority of honest scorers flag it
      // (by validation loss, or by pointing away from the median delta)
      const votes = new Map<string, number>();
      const similarities = flagDissimilarDeltas(contributions);
      const dissimilar = similarities.filter((d) => d.flagged).map((d) => d.partyId);
      log(
        `round ${r + 1} similarity to the median delta: ${similarities.map((d) => d.similarity.toFixed(2)).join(' ')}`,
      );
      validation.forEach((v, scorer) => {
        if (poisoned.has(scorer)) return;
        const byLoss = flagOutlierScores(scoreDeltas(base, global, lora, contributions, v));
        for (const id of new Set([...byLoss, ...dissimilar])) votes.set(id, (votes.get(id) ?? 0) + 1);
      });
      const honest = validation.length - poisoned.size;
      const roundFlags = [...votes].filter(([, n]) => n > honest / 2).map(([id]) => id);
      for (const id of roundFlags) flaggedCount.set(id, (flaggedCount.get(id) ?? 0) + 1);
      const margin = similarityMargin(
        similarities,
        new Set(contributions.filter((_, p) => poisoned.has(p)).map((c) => c.partyId)),
      );
      roundLog.push({
        round: r + 1,
        similarities: similarities.map((d) => d.similarity),
        parties: similarities.map((d) => d.partyId),
        dimensions: similarities[0]!.dimensions,
        ...margin,
        flagged: roundFlags,
      });
      log(
        `round ${r + 1} flagged by the honest majority: ${roundFlags.join(' ') || 'none'}; lowest honest similarity ${margin.lowestHonest.toFixed(3)}, highest poisoned ${margin.highestPoisoned.toFixed(3)}, threshold ${margin.threshold.toFixed(3)}`,
      );
    }
    const agg = aggregateDeltas(ruleOf(ruleName, shards.length), contributions);
    let update = agg.delta;
    if (num('outer-momentum') > 0 || num('outer-lr') !== 1) {
      const step = nesterovOuterStep(agg.delta, velocity, {
        learningRate: num('outer-lr'),
        momentum: num('outer-momentum'),
      });
      velocity = step.velocity;
      update = step.update;
    }
    global = applyDelta(global, update);
    hashes.push(agg.hash);
    // --eval-every n: the global adapters scored after every n-th round and the last only
    const scored = (r + 1) % num('eval-every') === 0 || r === rounds - 1;
    perRound.push(scored ? evaluateQlora(base, global, lora, test).accuracy : Number.NaN);
    log(
      `round ${r + 1}/${rounds} of ${shards.length} parties: ${pct(perRound[r]!)}% (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
  const flagged = [...flaggedCount].filter(([, n]) => n > rounds / 2).map(([id]) => id);
  return { accuracy: perRound[rounds - 1] ?? baseNf4, flagged, hashes, perRound, roundLog };
};

const poison = (delta: Delta, kind: 'sign-flip' | 'noise', s: number): Delta => {
  const random = seededRandom(s);
  let norm = 0;
  for (const t of delta.tensors) for (const v of t.values) norm += v * v;
  const noise = delta.tensors.map((t) => t.values.map(() => random() * 2 - 1));
  let nn = 0;
  for (const t of noise) for (const v of t) nn += v * v;
  const k = Math.sqrt(norm / Math.max(nn, 1e-30));
  return makeDelta(
    delta.tensors.map((t, i) => ({
      ...t,
      values: kind === 'sign-flip' ? t.values.map((v) => -5 * v) : noise[i]!.map((v) => v * k),
    })),
  );
};

const poisonCount = num('poison');
for (const split of String(opt.splits).split(',')) {
  const shardIdx =
    split === 'iid'
      ? iidShards(55000, maxParties, shardSize, seed + 7).map((s) => s.map((i) => privateIdx[i]!))
      : dirichletShards(mnistTrain.labels, privateIdx, maxParties, shardSize, 0.5, seed + 7);
  const shards = shardIdx.map((idx) => selectImages(mnistTrain, idx));
  if (split !== 'iid')
    console.log(
      `\n### Images of each class (0-9) in each party's ${split} shard\n\n${labelMixTable(shards.map((s) => s.labels))}`,
    );
  if (poisonCount > 0) {
    const n = maxParties;
    const val = shards.map((s) =>
      selectImages(
        s,
        Int32Array.from({ length: Math.min(500, s.count) }, (_, i) => s.count - 1 - i),
      ),
    );
    const bad = new Set(Array.from({ length: poisonCount }, (_, i) => n - 1 - i));
    const rows: string[] = [];
    const runs: Record<string, unknown> = {};
    // --honest false: the all-honest run is the cohort run of the same n parties (same seeds), e.g.
    // made before in another process with --cohorts n
    if (opt.honest !== 'false') {
      const honest = await runCohort(shards, String(opt.rule));
      rows.push(`| ${opt.rule}, all honest | ${pct(honest.accuracy)} | - | - | - | - |`);
      runs.honest = { rule: opt.rule, perRound: honest.perRound, hashes: honest.hashes };
    }
    for (const rule of String(opt['robust-rules']).split(',')) {
      const r = await runCohort(shards, rule, bad, val);
      rows.push(
        robustRow(rule, poisonCount, pct(r.accuracy), r.flagged, randomDirectionVerdicts(r.roundLog)),
      );
      runs[rule] = { perRound: r.perRound, hashes: r.hashes, flagged: r.flagged, rounds: r.roundLog };
      log(`robust ${split} ${rule}: ${pct(r.accuracy)}% flagged ${r.flagged.join(',')}`);
    }
    console.log(
      `\n### Robustness (${split}, ${n} parties, poisoned: ${[...bad].map((p) => `party-${String(p).padStart(2, '0')}`).join(' ')})\n\n${ROBUST_TABLE_HEADER}\n${rows.join('\n')}`,
    );
    results[`robust-${split}`] = { rows, runs };
    continue;
  }
  const aloneDeltas =
    opt.alone === 'false'
      ? null
      : await trainParties(
          startAdapters,
          // --alone-parties n: the first n parties only (each party's alone run does not depend on the others)
          shards
            .slice(0, opt['alone-parties'] ? Number(opt['alone-parties']) : shards.length)
            .map((shard, p) => ({
              partyId: `party-${p}`,
              shard,
              settings: { ...train(seed * 7 + p), steps: rounds * H },
            })),
        );
  const perParty: MnistPartyResult[] = shards.map((_, p) => {
    const alone = aloneDeltas?.[p]
      ? evaluateQlora(base, applyDelta(startAdapters, aloneDeltas[p]!.delta), lora, test).accuracy
      : Number.NaN;
    log(`${split} party ${p} alone: ${pct(alone)}%`);
    return { party: p, alone, together: {} };
  });
  const cohortHashes: Record<number, string[]> = {};
  const cohortRounds: Record<number, number[]> = {};
  for (const k of cohorts) {
    const r = await runCohort(shards.slice(0, k), String(opt.rule));
    cohortHashes[k] = r.hashes;
    cohortRounds[k] = r.perRound;
    for (let p = 0; p < k; p++) perParty[p]!.together[k] = r.accuracy;
    log(`${split} cohort of ${k}: ${pct(r.accuracy)}%`);
  }
  console.log(
    `\n### ${splitTitle(split, opt.rule, rounds, H, deltaEncoding)}\n\n${perPartyTable(perParty, cohorts)}`,
  );
  if (cohorts.length > 0 && opt.alone !== 'false')
    console.log(
      `\nLift over alone at equal compute, per cohort size\n\n${liftTable(cohortLifts(perParty, cohorts))}`,
    );
  if (cohorts.length > 0) console.log(`\n${ROUND_TABLE_TITLE}\n\n${perRoundTable(baseNf4, cohortRounds)}`);
  results[split] = { perParty, cohortHashes, cohortRounds };
}
console.log(
  `\nbase ${opt.base ?? `${model} (hidden ${opt.hidden})`} pretrained on 5,000 public images: FP32 ${baseFp === null ? '-' : pct(baseFp)}%, NF4 ${pct(baseNf4)}%, hash ${base.hash}; backend ${backend}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
await pool?.close();
if (opt.json) writeFileSync(opt.json, JSON.stringify(results, null, 2));
