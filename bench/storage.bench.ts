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
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  BackgroundSha256,
  DEFAULT_SCRYPT,
  deriveObjectKey,
  LocalFolderStore,
  type ObjectStore,
  openSealedObject,
  S3ObjectStore,
  sealObject,
  sealObjectPipelined,
  sealObjectWithKey,
  withDmlMallocTunables,
} from '../offchain/index.js';
import { cpuMilliseconds } from './cpu-time.js';

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
  const scryptMs = cpuMilliseconds(3, () =>
    scryptSync(passphrase, randomBytes(16), 32, {
      N: 2 ** DEFAULT_SCRYPT.log2N,
      r: DEFAULT_SCRYPT.r,
      p: DEFAULT_SCRYPT.p,
      maxmem: 256 * 2 ** DEFAULT_SCRYPT.log2N * DEFAULT_SCRYPT.r,
    }),
  );
  const hkdfMs = cpuMilliseconds(5, () =>
    hkdfSync('sha256', key, randomBytes(16), 'dml sealed object v2', 32),
  );
  const aesMs = cpuMilliseconds(3, aes(false));
  const aesCopyMs = cpuMilliseconds(3, aes(true));
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
  const sharedCopyMs = cpuMilliseconds(3, intoShared('copy'));
  const sharedFillMs = cpuMilliseconds(3, intoShared('fill'));
  const shaMs = cpuMilliseconds(3, () => createHash('sha256').update(plaintext).digest());
  const copyMs = cpuMilliseconds(3, () => plaintext.copy(out));
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
  for (let round = 0; round < 4; round++) {
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
  const sealWithKdf = await time(2, () => sealObject(plaintext, passphrase));
  const sealed = await sealObject(plaintext, passphrase);
  const open = await time(2, () => openSealedObject(sealed, passphrase));
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
  /** Garbage collections of this process's main isolate during the put, and their time. */
  gcs?: number;
  gcMs?: number;
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

// ---------------------------------------------------------------------------------------------
// The target's figure in a fresh process of its own (`--overhead BACKEND PAIRS`): a party's
// process puts one delta at a time and holds little else, and what the measuring process holds
// (other 64 MiB buffers: the rest of this benchmark) changes what an encrypted put costs (more
// collections, page faults). So each backend's pairs run in a child that holds nothing but the
// 64 MiB plaintext, the store and its reused sealed buffer.

type OverheadBackend = 'local' | 's3' | 's3-multipart';
const OVERHEAD_LINE = 'storage-bench-overhead ';

interface OverheadRun {
  readonly plain: PutSample[];
  readonly sealed: PutSample[];
  readonly loadBefore: string;
  readonly loadAfter: string;
  readonly hashing: string;
  readonly code: string;
}

/** The child: `pairs` interleaved pairs (after one warm-up pair), order alternating. */
/** How the encrypted puts hash: the store's default, or inline (what a one-core machine gets). */
type OverheadHashing = 'default' | 'inline';

const overheadChild = async (
  backend: OverheadBackend,
  pairs: number,
  hashingMode: OverheadHashing,
): Promise<OverheadRun> => {
  // DML_BENCH_STORAGE_CODE=/path/to/checkout measures another checkout's storage code (old vs new).
  const root = process.env.DML_BENCH_STORAGE_CODE;
  const code = root ?? 'this checkout';
  const lib = (
    root
      ? await import(pathToFileURL(join(root, 'offchain', 'index.ts')).href)
      : await import('../offchain/index.js')
  ) as typeof import('../offchain/index.js');
  const gcs: Array<{ at: number; ms: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ at: e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  // DML_BENCH_HEAP_MB=N: hold N MB of small JavaScript objects, as a party's process does (tfjs,
  // lucid: ~85 MB of heap): what a collection costs grows with the heap it marks.
  const heap = Array.from({ length: Number(process.env.DML_BENCH_HEAP_MB ?? 0) * 8192 }, (_, i) => ({
    i,
    s: `object ${i}`,
    a: [i, i + 1],
  }));
  const body = randomBytes(64 * MiB);
  let store: ObjectStore;
  let cleanup: () => Promise<void>;
  if (backend === 'local') {
    const folder = await mkdtemp(join(tmpdir(), 'dml-bench-overhead-'));
    store = await lib.LocalFolderStore.open(folder);
    cleanup = () => rm(folder, { recursive: true, force: true });
  } else {
    const endpoint = process.env.S3_ENDPOINT;
    if (!endpoint) throw new Error('S3_ENDPOINT is not set');
    const s3 = new lib.S3ObjectStore({
      endpoint,
      region: process.env.S3_REGION ?? 'us-east-1',
      accessKeyId: process.env.S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? '',
      bucket: `dml-bench-${randomUUID().slice(0, 12)}`,
      ...(backend === 's3-multipart' ? { multipartThresholdBytes: 16 * MiB, partBytes: 8 * MiB } : {}),
    });
    await s3.ensureBucket();
    store = s3;
    cleanup = async () => {
      await s3.abortIncompleteUploads('').catch(() => undefined);
      for (const o of await s3.list('').catch(() => [])) await s3.delete(o.key).catch(() => undefined);
      await s3.client
        .send(new DeleteBucketCommand({ Bucket: (s3 as unknown as { bucket: string }).bucket }))
        .catch(() => undefined);
      await s3.close();
    };
  }
  const secondThread =
    hashingMode === 'inline'
      ? false
      : typeof lib.hashesOnSecondThreadByDefault === 'function'
        ? lib.hashesOnSecondThreadByDefault()
        : loadavg()[0]! <= availableParallelism() - 1; // an older checkout's rule (DML_BENCH_STORAGE_CODE)
  const content = new lib.EncryptedContentStore(store, {
    prefix: 'bench',
    passphrase,
    hashOnSecondThread: secondThread,
  });
  await content.ready();
  const windows: Array<{ start: number; end: number; sample: PutSample }> = [];
  const timed = async (f: () => Promise<unknown>): Promise<PutSample> => {
    const start = performance.now();
    const s = await sample(f, backend !== 'local');
    windows.push({ start, end: performance.now(), sample: s });
    return s;
  };
  const plain: PutSample[] = [];
  const sealed: PutSample[] = [];
  const loadBefore = loadAverage();
  const hashing = `${secondThread ? 'SHA-256 on a second thread' : 'SHA-256 inline'}${hashingMode === 'default' ? " (the store's default here)" : ' (forced)'}`;
  try {
    for (let pair = -1; pair < pairs; pair++) {
      const putPlain = () => timed(() => store.put(`raw/${pair}`, body));
      const putSealed = () => timed(() => content.put(body));
      let p: PutSample;
      let e: PutSample;
      if (pair % 2 === 0) {
        p = await putPlain();
        e = await putSealed();
      } else {
        e = await putSealed();
        p = await putPlain();
      }
      if (pair < 0) continue; // warm-up: connections, the sealed buffer's first touch
      plain.push(p);
      sealed.push(e);
    }
  } finally {
    await cleanup();
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // the last collections' entries
  observer.disconnect();
  for (const w of windows) {
    const inside = gcs.filter((g) => g.at >= w.start && g.at < w.end);
    Object.assign(w.sample, { gcs: inside.length, gcMs: inside.reduce((a, g) => a + g.ms, 0) });
  }
  const held = heap.length > 0 ? `; holding ${process.env.DML_BENCH_HEAP_MB} MB of JavaScript objects` : '';
  return { plain, sealed, loadBefore, loadAfter: loadAverage(), hashing, code: code + held };
};

/** Linear-interpolated quantile `q` (0..1) of `xs`. */
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo]! + (s[Math.ceil(i)]! - s[lo]!) * (i - lo);
};

const OVERHEAD_CHILD_BOUND_MS = 4 * 60_000;

/** Runs `overheadChild` in a fresh process (same allocator settings as this one). */
const runOverheadChild = (
  backend: OverheadBackend,
  pairs: number,
  hashing: OverheadHashing,
): Promise<OverheadRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--overhead', backend, String(pairs), hashing],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `the ${backend} overhead child did not finish in ${OVERHEAD_CHILD_BOUND_MS / 1000} s: ${stdout}`,
        ),
      );
    }, OVERHEAD_CHILD_BOUND_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(OVERHEAD_LINE));
      if (code === 0 && line) resolve(JSON.parse(line.slice(OVERHEAD_LINE.length)) as OverheadRun);
      else reject(new Error(`the ${backend} overhead child ended with ${signal ?? code}: ${stdout}`));
    });
  });

const OVERHEAD_LABEL: Record<OverheadBackend, string> = {
  local: '',
  s3: '',
  's3-multipart': ' (multipart, 8 MiB parts)',
};

/**
 * The target's figures from one child's pairs: wall clock (median of the pairs' ratios, with
 * quartiles) and CPU time (median over the pairs of encrypted - plain CPU of our process, over the
 * median CPU of a plain upload: ours + the Swift servers', with quartiles).
 */
const summariseOverhead = (
  run: OverheadRun,
  backend: OverheadBackend,
  backendName: string,
  hashing: OverheadHashing = 'default',
): Result[] => {
  const { plain, sealed } = run;
  const pct = (x: number): number => round(x * 100);
  const ratios = sealed.map((e, i) => e.ms / plain[i]!.ms - 1);
  const total = (x: PutSample) => x.cpuMs + x.serverCpuMs;
  const plainCpu = median(plain.map(total));
  const added = sealed.map((e, i) => e.cpuMs - plain[i]!.cpuMs);
  const withServer = plain.some((x) => x.serverCpuMs > 0);
  const label = OVERHEAD_LABEL[backend] + (hashing === 'inline' ? ', SHA-256 inline as on one core' : '');
  const where = `fresh process holding only the plaintext and the store (${run.code}); ${plain.length} pairs after a warm-up pair, order alternating; load average ${run.loadBefore} -> ${run.loadAfter} on ${availableParallelism()} cores; ${run.hashing}; GLIBC_TUNABLES ${process.env.GLIBC_TUNABLES ?? 'unset'}`;
  const med = (xs: PutSample[], f: (x: PutSample) => number) => round(median(xs.map(f)));
  return [
    {
      name: `encrypted put overhead vs plain upload, 64 MiB${label}`,
      value: pct(median(ratios)),
      unit: '%',
      backend: backendName,
      note:
        `wall clock: median of the pairs' ratios; quartiles ${pct(quantile(ratios, 0.25))} .. ${pct(quantile(ratios, 0.75))}%, ` +
        `range ${pct(Math.min(...ratios))} .. ${pct(Math.max(...ratios))}% (pairs ${ratios.map(pct).join(', ')}); ` +
        `plain ${med(plain, (x) => x.ms)} ms, encrypted ${med(sealed, (x) => x.ms)} ms (medians; ratio of medians ${pct(median(sealed.map((x) => x.ms)) / median(plain.map((x) => x.ms)) - 1)}%); ${where}` +
        (label === '' ? '; target < 10%' : ''),
    },
    {
      name: `encrypted put overhead, CPU time, 64 MiB${label}`,
      value: pct(median(added) / plainCpu),
      unit: '%',
      backend: backendName,
      note:
        `CPU our process adds per encrypted put, median over the pairs ${round(median(added))} ms (quartiles ${round(quantile(added, 0.25))} .. ${round(quantile(added, 0.75))} ms = ` +
        `${pct(quantile(added, 0.25) / plainCpu)} .. ${pct(quantile(added, 0.75) / plainCpu)}%), over the CPU of a plain upload ${round(plainCpu)} ms ` +
        `(median; our process ${med(plain, (x) => x.cpuMs)} ms` +
        (withServer
          ? ` + the Swift servers ${med(plain, (x) => x.serverCpuMs)} ms, from /proc)`
          : '; no server process)') +
        `; our CPU per put plain ${med(plain, (x) => x.cpuMs)} / encrypted ${med(sealed, (x) => x.cpuMs)} ms` +
        `; collections per put plain ${median(plain.map((x) => x.gcs ?? 0))} / encrypted ${median(sealed.map((x) => x.gcs ?? 0))} (${med(sealed, (x) => x.gcMs ?? 0)} ms)` +
        `; page faults per put plain ${median(plain.map((x) => x.faults))} / encrypted ${median(sealed.map((x) => x.faults))}; ${where}` +
        (label === '' ? '; target < 10%' : ''),
    },
  ];
};

/** The target's figures for one backend, measured in a fresh child process. */
const overheadInFreshProcess = async (
  backend: OverheadBackend,
  pairs: number,
  backendName: string,
  hashing: OverheadHashing = 'default',
): Promise<Result[]> =>
  summariseOverhead(await runOverheadChild(backend, pairs, hashing), backend, backendName, hashing);

/** Upload and download throughput for one store, and the seal's time against the upload's. */
const transfers = async (store: ObjectStore, backend: string): Promise<Result[]> => {
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
      // Encryption alone (AES-GCM with the SHA-256 on a second thread, as a put does).
      const objectKey = await deriveObjectKey(passphrase);
      const scratch = Buffer.from(new SharedArrayBuffer(body.length + 64));
      const hasher = new BackgroundSha256();
      const seal = await time(runs, () => sealObjectPipelined(body, objectKey, hasher, scratch));
      const cpuBefore = process.cpuUsage();
      await sealObjectPipelined(body, objectKey, hasher, scratch);
      const cpu = process.cpuUsage(cpuBefore);
      await hasher.close();
      results.push({
        name: 'encryption time / upload time, 64 MiB (AES-GCM + SHA-256)',
        value: round((seal / up) * 100),
        unit: '%',
        backend,
        note: `seal ${round(seal)} ms (SHA-256 on a second thread), CPU ${round((cpu.user + cpu.system) / 1000)} ms; plain upload ${round(up)} ms (median of ${runs}). A plain single-request upload hashes its body too (SigV4); an encrypted put signs with the content hash instead`,
      });
    }
  }
  return results;
};

/** Interleaved pairs per fresh child: enough for quartiles, the whole benchmark under ~2 minutes. */
const OVERHEAD_PAIRS = { s3: 15, 's3-multipart': 7, local: 9 } as const;

const measure = async (): Promise<Result[]> => {
  const endpoint = process.env.S3_ENDPOINT;
  // The target's figures first, each in a fresh process, while this one holds nothing yet.
  const results: Result[] = [];
  // The local folder's pairs only without S3 (the target is S3's; the time goes to S3's pairs).
  // On S3 also the inline hashing's figure: what a machine without a second core gets.
  const runs: Array<[OverheadBackend, OverheadHashing]> = endpoint
    ? [
        ['s3', 'default'],
        ['s3', 'inline'],
        ['s3-multipart', 'default'],
      ]
    : [['local', 'default']];
  for (const [backend, hashing] of runs)
    results.push(
      ...(await overheadInFreshProcess(
        backend,
        OVERHEAD_PAIRS[backend],
        backend === 'local' ? 'local folder' : `s3 ${endpoint}`,
        hashing,
      )),
    );
  results.push(...(await encryption()));

  const root = await mkdtemp(join(tmpdir(), 'dml-bench-storage-'));
  try {
    results.push(...(await transfers(await LocalFolderStore.open(root), 'local folder')));
  } finally {
    await rm(root, { recursive: true, force: true });
  }

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
    results.push(...(await transfers(s3, `s3 ${endpoint}`)));
    // The streaming alternative (upload to a temporary key while sealing, then copy to the
    // content key) pays a server-side copy: on Swift that copies the bytes.
    const copy = await time(2, (run) =>
      s3.client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `copy/${run}`,
          CopySource: `${bucket}/raw/${64 * MiB}-${run}`,
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
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--overhead') {
  // --overhead BACKEND [PAIRS] [default|inline] [--summary]
  const backend = process.argv[3] as OverheadBackend;
  if (!(backend in OVERHEAD_PAIRS))
    throw new Error(`--overhead takes local, s3 or s3-multipart, not ${backend}`);
  const hashing = (process.argv[5] ?? 'default') as OverheadHashing;
  if (hashing !== 'default' && hashing !== 'inline')
    throw new Error(`the hashing mode is default or inline, not ${hashing}`);
  const run = await overheadChild(backend, Number(process.argv[4] ?? OVERHEAD_PAIRS[backend]), hashing);
  process.stdout.write(`${OVERHEAD_LINE}${JSON.stringify(run)}\n`);
  // A one-line summary for a person running the child by hand (old/new comparisons).
  if (process.argv.includes('--summary'))
    process.stderr.write(
      summariseOverhead(run, backend, backend, hashing)
        .map((r) => `${r.name}: ${r.value}${r.unit} | ${r.note}`)
        .join('\n') + '\n',
    );
}
