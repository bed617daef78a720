// Builds the optional native kernel (trainer/native/transformer-kernel.c, which includes the
// dense engine's products, trainer/native/dense-kernel.c) into
// trainer/native/build/transformer_kernel.node with gcc directly (no node-gyp: it would download
// Node's headers; Node ships them in <prefix>/include/node).
//
//   npm run build:native            fails (exit 1) when it cannot build
//   node scripts/build-native.mjs --optional
//                                   postinstall: never fails, says in one line why the wasm
//                                   kernel will be used instead
//
// Plain JavaScript with no dependency, so that it runs in `npm ci`'s postinstall before anything
// else is known to work. CC overrides the compiler (default gcc); DML_LM_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const optional = process.argv.includes('--optional');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'trainer', 'native', 'transformer-kernel.c');
const outDir = join(root, 'trainer', 'native', 'build');
const output = join(outDir, 'transformer_kernel.node');

const give = (why) => {
  if (optional) {
    process.stdout.write(`native LM kernel not built (${why}): the wasm kernel will be used\n`);
    process.exit(0);
  }
  process.stderr.write(`build:native: ${why}\n`);
  process.exit(1);
};

if (process.env.DML_LM_NATIVE === '0') give('DML_LM_NATIVE=0');
if (process.arch !== 'x64') give(`${process.arch} CPU: the kernel is AVX2 + FMA (x86-64 only)`);
if (process.platform !== 'linux' && process.platform !== 'darwin')
  give(`${process.platform} is not supported`);
const includes = [
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
];
const include = includes.find((dir) => existsSync(join(dir, 'node_api.h')));
if (!include) give(`no node_api.h in ${includes.join(', ')}`);
const cc = process.env.CC || 'gcc';
mkdirSync(outDir, { recursive: true });
// a kernel of an older source must not outlive a failed build
rmSync(output, { force: true });
const args = [
  '-O3',
  '-shared',
  '-fPIC',
  '-std=gnu11',
  '-Wall',
  '-Wextra',
  '-fvisibility=hidden',
  `-I${include}`,
  '-DNAPI_VERSION=8',
  '-DNODE_GYP_MODULE_NAME=transformer_kernel',
  ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []),
  '-o',
  output,
  source,
  '-lm',
];
const run = spawnSync(cc, args, { encoding: 'utf8', timeout: 120_000 });
if (run.error) give(`${cc} did not run: ${run.error.message}`);
if (run.status !== 0) {
  const first = `${run.stderr}`.split('\n').find((line) => line.includes('error')) ?? `exit ${run.status}`;
  if (!optional) process.stderr.write(run.stderr);
  give(`${cc} failed: ${first.trim()}`);
}
if (run.stderr.trim()) process.stderr.write(run.stderr);
process.stdout.write(`native LM kernel built: ${output}\n`);
