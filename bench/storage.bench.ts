/**
 * Storage benchmark (run under dml's allocator settings, see the default export): encryption throughput, and upload/download throughput of 1 MiB and 64 MiB
 * objects to the local folder store and, when S3_ENDPOINT is set (the local Swift of
 * `.ci/services/swift.sh`), to S3. Target: encryption adds under 10% to the upload time of a
 * 64 MiB object to S3. Each figure is the median of a few runs.
 */
import { CopyObjectCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import {
  createCipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  randomUUID,
  scryptSync,
  webcrypto,
} from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BackgroundSha256,
  DEFAULT_SCRYPT,
  deriveObjectKey,
  EncryptedContentStore,
  LocalFolderStore,
  type ObjectStore,
  openSealedObject,
  S3ObjectStore,
  sealObject,
  sealObjectPipelined,
  sealObjectWithKey,
  withDmlMallocTunables,
} from '../offchain/index.js';

interface Result {
  name: string;
  value: number;
  unit: string;
  backend?: string;
  note?: string;
}

const MiB = 1024 * 1024;
const passphrase = 'benchmark passphrase';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Median wall time in milliseconds of `runs` runs of `f`. */
const time = async (
  runs: number,
  f: (run: number) => Promise<unknown>,
  untimedSetup?: () => Promise<unknown>,
): Promise<number> => {
  const ms: number[] = [];
  for (let run = 0; run < runs; run++) {
    await untimedSetup?.();
    const start = process.hrtime.bigint();
    await f(run);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(ms);
};

const mbPerSecond = (bytes: number, ms: number): number => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Median CPU milliseconds of `runs` runs of a synchronous `f`. */
const cpuTime = (runs: number, f: () => unknown): number => {
  const ms: number[] = [];
  for (let run = 0; run < runs; run++) {
    const before = process.cpuUsage();
    f();
    const used = process.cpuUsage(before);
    ms.push((used.user + used.system) / 1000);
  }
  return median(ms);
};

/** What a seal is made of, in CPU time of one thread (not disturbed by waiting for a core). */
const sealComponents = (plaintext: Buffer): Result[] => {
  const key = randomBytes(32);
  const out = Buffer.allocUnsafe(plaintext.length + 64);
  const aes = (copy: boolean) => () => {
    const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
    let offset = 0;
    for (let at = 0; at < plaintext.length; at += MiB) {
      const chunk = cipher.update(plaintext.subarray(at, at + MiB));
      if (copy) offset += chunk.copy(out, offset);
    }
    cipher.final();
  };
  const scryptMs = cpuTime(3, () =>
    scryptSync(passphrase, randomBytes(16), 32, {
      N: 2 ** DEFAULT_SCRYPT.log2N,
      r: DEFAULT_SCRYPT.r,
      p: DEFAULT_SCRYPT.p,
      maxmem: 256 * 2 ** DEFAULT_SCRYPT.log2N * DEFAULT_SCRYPT.r,
    }),
  );
  const hkdfMs = cpuTime(5, () => hkdfSync('sha256', key, randomBytes(16), 'dml sealed object v2', 32));
  const aesMs = cpuTime(3, aes(false));
  const aesCopyMs = cpuTime(3, aes(true));
  // Into shared memory (what the second hashing thread reads), after a 53-byte header as in a
  // sealed object: Buffer#copy is a TypedArray#set, which V8 runs with relaxed atomics there,
  // byte by byte when source and target are not equally aligned; Buffer#fill with an
  // equal-length buffer is one memcpy (what sealed-object.ts does).
  const shared = Buffer.from(new SharedArrayBuffer(plaintext.length + 64));
  const intoShared = (how: 'copy' | 'fill') => () => {
    for (let at = 0; at < plaintext.length; at += MiB) {
      const chunk = plaintext.subarray(at, at + MiB);
      if (how === 'copy') chunk.copy(shared, 53 + at);
      else shared.fill(chunk, 53 + at, 53 + at + chunk.length);
    }
  };
  const sharedCopyMs = cpuTime(3, intoShared('copy'));
  const sharedFillMs = cpuTime(3, intoShared('fill'));
  const shaMs = cpuTime(3, () => createHash('sha256').update(plaintext).digest());
  const copyMs = cpuTime(3, () => plaintext.copy(out));
  return [
    {
      name: 'CPU: scrypt (once per store since format 2; per object in format 1)',
      value: round(scryptMs),
      unit: 'ms',
      note: `N=2^${DEFAULT_SCRYPT.log2N}, r=${DEFAULT_SCRYPT.r}, p=${DEFAULT_SCRYPT.p}`,
    },
    { name: 'CPU: HKDF object key (per object, format 2)', value: round(hkdfMs, 3), unit: 'ms' },
    { name: 'CPU: AES-256-GCM of 64 MiB (1 MiB updates)', value: round(aesMs), unit: 'ms' },
    {
      name: 'CPU: copying the cipher output into the sealed buffer, 64 MiB',
      value: round(aesCopyMs - aesMs),
      unit: 'ms',
      note: `memcpy of 64 MiB alone: ${round(copyMs)} ms`,
    },
    {
      name: 'CPU: copying 64 MiB into shared memory after a 53-byte header, Buffer#copy / Buffer#fill',
      value: round(sharedCopyMs),
      unit: 'ms',
      note: `Buffer#fill (one memcpy, what the seal uses): ${round(sharedFillMs)} ms; Buffer#copy there is V8's relaxed-atomic copy`,
    },
    {
      name: 'CPU: SHA-256 of 64 MiB',
      value: round(shaMs),
      unit: 'ms',
      note: 'the content address; a plain upload spends the same on its SigV4 payload hash, an encrypted put signs with this one instead',
    },
  ];
};

/**
 * Ways to encrypt 64 MiB with Node's APIs, interleaved (rounds in alternating order, after one
 * warm-up round), each writing the ciphertext into one reused buffer after a 53-byte header as
 * the seal does: CPU of the process (every thread, so WebCrypto's thread pool too), wall time and
 * page faults, medians. No hashing: the SHA-256 is the same for all.
 */
const sealVariants = async (plaintext: Buffer): Promise<Result[]> => {
  const H = 53;
  const out = Buffer.from(new SharedArrayBuffer(plaintext.length + 64 * 1024));
  const keyBytes = randomBytes(32);
  const header = randomBytes(H);
  const key = await webcrypto.subtle.importKey('raw', keyBytes, 'AES-GCM', false, ['encrypt']);
  const updates = (chunk: number, keep: boolean) => async () => {
    const cipher = createCipheriv('aes-256-gcm', keyBytes, randomBytes(12));
    cipher.setAAD(header);
    let at = H;
    for (let i = 0; i < plaintext.length; i += chunk) {
      const c = cipher.update(plaintext.subarray(i, i + chunk));
      if (keep) out.fill(c, at, at + c.length);
      at += c.length;
    }
    cipher.final();
  };
  const subtleOnce = async () => {
    const iv = randomBytes(12);
    const c = Buffer.from(
      await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: header }, key, plaintext),
    );
    out.fill(c, H, H + c.length);
  };
  const subtleChunks = async () => {
    const count = Math.ceil(plaintext.length / MiB);
    const jobs: Array<Promise<ArrayBuffer>> = [];
    const start = (i: number) => {
      const iv = Buffer.alloc(12);
      iv.writeUInt32BE(i, 8);
      jobs[i] = webcrypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: header },
        key,
        plaintext.subarray(i * MiB, (i + 1) * MiB),
      );
    };
    for (let i = 0; i < Math.min(4, count); i++) start(i);
    let at = H;
    for (let i = 0; i < count; i++) {
      const c = Buffer.from(await jobs[i]!);
      if (i + 4 < count) start(i + 4);
      out.fill(c, at, at + c.length);
      at += c.length;
    }
  };
  const variants: Array<[string, () => Promise<void>]> = [
    ['AES-GCM alone (1 MiB updates, outputs dropped)', updates(MiB, false)],
    ['cipher.update per 1 MiB + copy into the sealed buffer (the seal)', updates(MiB, true)],
    ['cipher.update per 4 MiB + copy', updates(4 * MiB, true)],
    ['cipher.update per 16 MiB + copy', updates(16 * MiB, true)],
    ['WebCrypto subtle.encrypt once (thread pool) + copy', subtleOnce],
    ['WebCrypto subtle.encrypt per 1 MiB chunk, 4 in flight (a chunked format) + copy', subtleChunks],
  ];
  const samples = new Map<string, PutSample[]>(variants.map(([name]) => [name, []]));
  for (let round = 0; round < 5; round++) {
    for (const [name, f] of round % 2 ? [...variants].reverse() : variants) {
      const s = await sample(f, false);
      if (round > 0) samples.get(name)!.push(s);
    }
  }
  return variants.map(([name]) => {
    const s = samples.get(name)!;
    return {
      name: `CPU: encrypt 64 MiB, ${name}`,
      value: round(median(s.map((x) => x.cpuMs))),
      unit: 'ms',
      note: `interleaved, median of ${s.length}; wall ${round(median(s.map((x) => x.ms)))} ms, page faults ${median(s.map((x) => x.faults))}`,
    };
  });
};

const encryption = async (): Promise<Result[]> => {
  const plaintext = randomBytes(64 * MiB);
  const components = sealComponents(plaintext);
  const variants = await sealVariants(plaintext);
  const kdf = await time(3, () => deriveObjectKey(passphrase));
  const objectKey = await deriveObjectKey(passphrase);
  const scratch = Buffer.allocUnsafe(plaintext.length + 64);
  const seal = await time(3, async () => sealObjectWithKey(plaintext, objectKey, scratch));
  const sealWithKdf = await time(3, () => sealObject(plaintext, passphrase));
  const sealed = await sealObject(plaintext, passphrase);
  const open = await time(3, () => openSealedObject(sealed, passphrase));
  return [
    {
      name: 'scrypt key derivation (format 1: per object; format 2: per store)',
      value: round(kdf),
      unit: 'ms',
      note: `N=2^${DEFAULT_SCRYPT.log2N}, r=${DEFAULT_SCRYPT.r}, p=${DEFAULT_SCRYPT.p}`,
    },
    {
      name: 'encrypt 64 MiB (AES-256-GCM + SHA-256, one thread, key derived ahead)',
      value: mbPerSecond(64 * MiB, seal),
      unit: 'MB/s',
      note: 'what EncryptedContentStore.put spends: it derives the next key in the background',
    },
    { name: 'encrypt 64 MiB including scrypt', value: mbPerSecond(64 * MiB, sealWithKdf), unit: 'MB/s' },
    { name: 'decrypt 64 MiB (AES-256-GCM + scrypt)', value: mbPerSecond(64 * MiB, open), unit: 'MB/s' },
    ...components,
    ...variants,
  ];
};

interface PutSample {
  readonly ms: number;
  /** CPU time of this process (every thread) during the put. */
  readonly cpuMs: number;
  /** CPU time of the local Swift's server processes during the put (0 when none is found). */
  readonly serverCpuMs: number;
  /** Minor page faults of this process during the put (fresh memory touched). */
  readonly faults: number;
}

const CLOCK_TICK_MS = 10; // USER_HZ = 100 on Linux

/**
 * CPU time (ms) used so far by the local Swift's processes (proxy, object, container, account
 * servers), read from /proc: the server side of an upload, which on this machine shares the
 * cores. Shared with other engineers' tests, so a figure is the median of several puts.
 */
const swiftServerCpuMs = (): number => {
  let ticks = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/swift-(proxy|object|container|account)-server/.test(cmdline)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * CLOCK_TICK_MS;
};

const sample = async (f: () => Promise<unknown>, server = true): Promise<PutSample> => {
  const serverBefore = server ? swiftServerCpuMs() : 0;
  const faultsBefore = process.resourceUsage().minorPageFault;
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  await f();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    serverCpuMs: server ? swiftServerCpuMs() - serverBefore : 0,
    faults: process.resourceUsage().minorPageFault - faultsBefore,
  };
};

const loadAverage = (): string =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

/**
 * The target's figure, measured so that a shared machine cannot fake it: pairs of puts of the same
 * 64 MiB, a plain upload and an encrypted content-addressed put (`EncryptedContentStore.put`:
 * seal, SHA-256, upload), back to back, their order alternating (ABBA) so that a drift of the
 * machine's load hits both alike; the overhead is the median of the pairs' ratios.
 */
const interleavedOverhead = async (
  store: ObjectStore,
  backend: string,
  body: Buffer,
  pairs: number,
  label: string,
): Promise<{ results: Result[]; plainMs: number }> => {
  const tag = label === 'default' ? 'default' : 'multipart';
  const content = new EncryptedContentStore(store, { prefix: `bench-${tag}`, passphrase });
  const plain: PutSample[] = [];
  const sealed: PutSample[] = [];
  const ratios: number[] = [];
  const loadBefore = loadAverage();
  // EncryptedContentStore hashes on a second thread only when the load average leaves a core idle.
  const hashing =
    loadavg()[0]! <= availableParallelism() - 1 ? 'SHA-256 on a second thread' : 'SHA-256 inline';
  for (let pair = 0; pair < pairs; pair++) {
    // Round by round, a party's store derives the next key between puts. Wait for it before
    // each put, so that its scrypt runs during neither put (not even the plain one after).
    const putPlain = async () => {
      await content.ready();
      return sample(() => store.put(`raw-${tag}/${pair}`, body));
    };
    const putSealed = async () => {
      await content.ready();
      return sample(() => content.put(body));
    };
    let p: PutSample;
    let e: PutSample;
    if (pair % 2 === 0) {
      p = await putPlain();
      e = await putSealed();
    } else {
      e = await putSealed();
      p = await putPlain();
    }
    plain.push(p);
    sealed.push(e);
    ratios.push(e.ms / p.ms - 1);
  }
  content.releaseBuffers();
  const plainMs = median(plain.map((x) => x.ms));
  const sealedMs = median(sealed.map((x) => x.ms));
  const percent = (x: number): string => `${round(x * 100)}%`;
  const total = (x: PutSample) => x.cpuMs + x.serverCpuMs;
  const plainCpu = median(plain.map(total));
  const addedCpu = median(sealed.map((e, i) => e.cpuMs - plain[i]!.cpuMs));
  const withServer = plain.some((x) => x.serverCpuMs > 0);
  return {
    plainMs,
    results: [
      {
        name: `encrypted put overhead, CPU time, 64 MiB${label === 'default' ? '' : ` (${label})`}`,
        value: round((addedCpu / plainCpu) * 100),
        unit: '%',
        backend,
        note:
          `CPU our process adds per encrypted put (median over ${pairs} pairs of encrypted - plain; ${hashing}) ${round(addedCpu)} ms, ` +
          `over the CPU of a plain upload ${round(plainCpu)} ms (median; our process ${round(median(plain.map((x) => x.cpuMs)))} ms` +
          (withServer
            ? ` + the Swift servers ${round(median(plain.map((x) => x.serverCpuMs)))} ms, from /proc)`
            : '; server CPU not measured)') +
          `; page faults per put (median) plain ${median(plain.map((x) => x.faults))}, encrypted ${median(sealed.map((x) => x.faults))} (16,384 = 64 MiB of fresh pages)` +
          `; the figure a free core gives, whatever the load (load average ${loadBefore} -> ${loadAverage()})` +
          `; GLIBC_TUNABLES ${process.env.GLIBC_TUNABLES ?? 'unset'}` +
          (label === 'default' ? '; target < 10%' : ''),
      },
      {
        name: `encrypted put overhead vs plain upload, 64 MiB${label === 'default' ? '' : ` (${label})`}`,
        value: round(median(ratios) * 100),
        unit: '%',
        backend,
        note:
          `median of ${pairs} interleaved pairs (${ratios.map(percent).join(', ')}); ` +
          `plain ${round(plainMs)} ms, encrypted ${round(sealedMs)} ms (medians); ` +
          `CPU of this process per put: plain ${round(median(plain.map((x) => x.cpuMs)))} ms, ` +
          `encrypted ${round(median(sealed.map((x) => x.cpuMs)))} ms; load average ${loadBefore} -> ${loadAverage()} on ${availableParallelism()} cores (shared)` +
          (label === 'default' ? '; wall clock: inflated by waiting for a core on a shared machine' : ''),
      },
    ],
  };
};

/** Raw and encrypted transfer figures for one store. */
const transfers = async (
  store: ObjectStore,
  backend: string,
  pairs: number,
  multipartVariant?: ObjectStore,
): Promise<Result[]> => {
  const results: Result[] = [];
  for (const [label, bytes, runs] of [
    ['1 MiB', 1 * MiB, 5],
    ['64 MiB', 64 * MiB, 2],
  ] as const) {
    const body = randomBytes(bytes);
    const up = await time(runs, (run) => store.put(`raw/${bytes}-${run}`, body));
    const down = await time(runs, (run) => store.get(`raw/${bytes}-${run}`));
    results.push(
      { name: `upload ${label}`, value: mbPerSecond(bytes, up), unit: 'MB/s', backend },
      { name: `download ${label}`, value: mbPerSecond(bytes, down), unit: 'MB/s', backend },
    );
    if (bytes === 64 * MiB) {
      const overhead = await interleavedOverhead(store, backend, body, pairs, 'default');
      // Encryption alone (AES-GCM with the SHA-256 on a second thread, as a put does).
      const objectKey = await deriveObjectKey(passphrase);
      const scratch = Buffer.from(new SharedArrayBuffer(body.length + 64));
      const hasher = new BackgroundSha256();
      const seal = await time(runs, () => sealObjectPipelined(body, objectKey, hasher, scratch));
      const cpuBefore = process.cpuUsage();
      await sealObjectPipelined(body, objectKey, hasher, scratch);
      const cpu = process.cpuUsage(cpuBefore);
      await hasher.close();
      results.push(...overhead.results, {
        name: 'encryption time / upload time, 64 MiB (AES-GCM + SHA-256)',
        value: round((seal / overhead.plainMs) * 100),
        unit: '%',
        backend,
        note: `seal ${round(seal)} ms (SHA-256 on a second thread), CPU ${round((cpu.user + cpu.system) / 1000)} ms; plain upload ${round(overhead.plainMs)} ms. A plain single-request upload hashes its body too (SigV4); an encrypted put signs with the content hash instead`,
      });
      if (multipartVariant) {
        const multipart = await interleavedOverhead(
          multipartVariant,
          backend,
          body,
          3,
          'multipart, 8 MiB parts',
        );
        results.push(...multipart.results);
      }
    }
  }
  return results;
};

const measure = async (): Promise<Result[]> => {
  const results = await encryption();

  const root = await mkdtemp(join(tmpdir(), 'dml-bench-storage-'));
  try {
    results.push(...(await transfers(await LocalFolderStore.open(root), 'local folder', 3)));
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) {
    results.push({
      name: 'S3 transfers',
      value: 0,
      unit: 'skipped',
      backend: 's3',
      note: 'S3_ENDPOINT is not set: eval "$(bash .ci/services/swift.sh env)" to measure the local Swift',
    });
    return results;
  }
  const bucket = `dml-bench-${randomUUID().slice(0, 12)}`;
  const s3Config = {
    endpoint,
    region: process.env.S3_REGION ?? 'us-east-1',
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? '',
    bucket,
  };
  const s3 = new S3ObjectStore(s3Config);
  try {
    await s3.ensureBucket();
    // Above the multipart threshold (100 MiB by default) parts are signed with their own SHA-256:
    // measured on a 64 MiB object with the threshold lowered.
    const multipart = new S3ObjectStore({
      ...s3Config,
      multipartThresholdBytes: 16 * MiB,
      partBytes: 8 * MiB,
    });
    try {
      results.push(...(await transfers(s3, `s3 ${endpoint}`, 6, multipart)));
      // The streaming alternative (upload to a temporary key while sealing, then copy to the
      // content key) pays a server-side copy: on Swift that copies the bytes.
      const copy = await time(2, (run) =>
        s3.client.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: `copy/${run}`,
            CopySource: `${bucket}/raw-default/${run}`,
          }),
        ),
      );
      const upload = results.find((r) => r.name === 'upload 64 MiB' && r.backend === `s3 ${endpoint}`);
      results.push({
        name: 'server-side copy of a 64 MiB object (CopyObject)',
        value: round(copy),
        unit: 'ms',
        backend: `s3 ${endpoint}`,
        note: `what a temporary-key-then-copy put would add; the upload of the same object ran at ${upload?.value ?? '?'} MB/s`,
      });
    } finally {
      await multipart.close();
    }
  } catch (error) {
    // Keep the figures measured so far; say why the S3 ones are missing.
    results.push({
      name: 'S3 transfers',
      value: 0,
      unit: 'error',
      backend: 's3',
      note: (error as Error).message,
    });
  } finally {
    await s3.abortIncompleteUploads('').catch(() => undefined);
    for (const o of await s3.list('').catch(() => [])) await s3.delete(o.key).catch(() => undefined);
    await s3.client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    await s3.close();
  }
  return results;
};

const RESULTS_LINE = 'storage-bench-results ';
const CHILD_BOUND_MS = 10 * 60_000;

/**
 * Runs the measurements in a child process started with glibc's allocator settings, as `dml`
 * runs (bin/dml.js starts itself again with them): glibc reads them only when a process starts.
 */
const inChildWithMallocSettings = (tunables: string): Promise<Result[]> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child'], {
      env: { ...process.env, GLIBC_TUNABLES: tunables },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the storage benchmark's child did not finish in ${CHILD_BOUND_MS / 1000} s: ${stdout}`),
      );
    }, CHILD_BOUND_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULTS_LINE));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULTS_LINE.length)) as Result[]);
      else reject(new Error(`the storage benchmark's child ended with ${signal ?? code}: ${stdout}`));
    });
  });

/**
 * Measured under the allocator settings `dml` runs with (a child process when this one lacks
 * them); DML_BENCH_MALLOC=default measures this process as it was started (glibc's defaults).
 */
export default async (): Promise<Result[]> => {
  const wanted = withDmlMallocTunables(process.env.GLIBC_TUNABLES);
  if (process.env.DML_BENCH_MALLOC === 'default' || wanted === (process.env.GLIBC_TUNABLES ?? ''))
    return measure();
  return inChildWithMallocSettings(wanted);
};

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child')
  process.stdout.write(`${RESULTS_LINE}${JSON.stringify(await measure())}\n`);
