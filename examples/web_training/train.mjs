// The Node.js half of the web-training example: trains the step that prepare.py exported, with
// onnxruntime-web (its WASM backend, as in a browser), on the batches prepare.py wrote.
//
//   node train.mjs [data-dir] [--steps N] [--save FILE] [--resume FILE]
//
// Prints one line per step ("step <i> loss <value> <metric> <value>"), then writes the training
// state (weights, optimizer state, step count) to --save (default <data-dir>/checkpoint): that is
// how an app keeps its weights between sessions. --resume FILE continues from such a checkpoint.
// The feeding protocol is in README.md next to this file.
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';

const ARRAYS = { float32: Float32Array, int64: BigInt64Array };

function fail(message) {
  console.error(`train.mjs: ${message}`);
  process.exit(2);
}

function elementCount(shape) {
  return shape.reduce((count, dim) => count * dim, 1);
}

// The .bin files are raw little-endian; typed arrays use the host's byte order.
if (endianness() !== 'LE') fail('this example reads little-endian .bin files on a little-endian host only');

function typedArray(dtype, bytes, what) {
  const Type = ARRAYS[dtype];
  if (!Type) fail(`${what}: dtype '${dtype}' is not one of ${Object.keys(ARRAYS).join(', ')}`);
  if (bytes.byteLength % Type.BYTES_PER_ELEMENT) fail(`${what}: ${bytes.byteLength} bytes is no whole number of ${dtype}`);
  // copy into a fresh, aligned buffer: a Buffer's byteOffset need not be a multiple of 8
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  return new Type(aligned.buffer);
}

function readTensor(dir, entry, what) {
  const data = typedArray(entry.dtype, readFileSync(join(dir, entry.file)), what);
  if (data.length !== elementCount(entry.shape)) {
    fail(`${what}: ${entry.file} holds ${data.length} values, shape [${entry.shape}] needs ${elementCount(entry.shape)}`);
  }
  return new ort.Tensor(entry.dtype, data, entry.shape);
}

function scalar(value) {
  return new ort.Tensor('float32', Float32Array.of(value), []);
}

// np.transpose(values, perm) for a row-major array of the given shape.
function transpose(values, shape, perm) {
  const outShape = perm.map((axis) => shape[axis]);
  const strides = shape.map((_, axis) => elementCount(shape.slice(axis + 1)));
  const out = new values.constructor(values.length);
  const index = new Array(shape.length).fill(0);   // position in the output, odometer style
  for (let flat = 0; flat < out.length; flat += 1) {
    let source = 0;
    for (let axis = 0; axis < perm.length; axis += 1) source += index[axis] * strides[perm[axis]];
    out[flat] = values[source];
    for (let axis = index.length - 1; axis >= 0; axis -= 1) {
      index[axis] += 1;
      if (index[axis] < outShape[axis]) break;
      index[axis] = 0;
    }
  }
  return { values: out, shape: outShape };
}

// The step's state inputs at step 0: the weights (flattened into `params` where the layout says
// so, each in the layout its op reads) and the optimizer state, filled with its initial value.
function initialState(dir, manifest) {
  const { flat_params: flat, weight_layouts: perms, state_init: fills } = manifest.layout;
  const state = {};
  const flatSize = Object.values(flat).reduce((size, [, length]) => size + length, 0);
  const params = flatSize > 0 ? new Float32Array(flatSize) : null;
  for (const entry of manifest.weights) {
    let { data: values, dims: shape } = readTensor(dir, entry, `weight '${entry.name}'`);
    if (perms[entry.name]) ({ values, shape } = transpose(values, shape, perms[entry.name]));
    if (flat[entry.name]) {
      const [offset, length, stored] = flat[entry.name];
      if (length !== values.length || String(stored) !== String(shape)) {
        fail(`weight '${entry.name}' has shape [${shape}] but the step stores it as [${stored}]`);
      }
      params.set(values, offset);
    } else if (manifest.inputs[entry.name]) {
      state[entry.name] = new ort.Tensor(entry.dtype, values, shape);
    }   // else: a weight the step does not read (none in this example)
  }
  if (params) state.params = new ort.Tensor('float32', params, [flatSize]);
  for (const [name, fill] of Object.entries(fills)) {
    const shape = manifest.inputs[name].shape;   // optimizer state has static dims
    state[name] = new ort.Tensor('float32', new Float32Array(elementCount(shape)).fill(fill), shape);
  }
  return { state, step: 0 };
}

// A checkpoint is two files: FILE.json (step, and the name, dtype, shape and byte range of each
// state tensor) and FILE.bin (the tensors back to back, little-endian). Written to temporary names
// and renamed, so an interrupted save leaves the previous checkpoint whole.
function saveCheckpoint(path, state, step) {
  const tensors = [];
  const chunks = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(state)) {
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    tensors.push({ name, dtype: tensor.type, shape: tensor.dims, offset, bytes: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  writeFileSync(`${path}.bin.tmp`, Buffer.concat(chunks));
  writeFileSync(`${path}.json.tmp`, JSON.stringify({ format: 'fgc-web-checkpoint-1', step, tensors }, null, 1));
  renameSync(`${path}.bin.tmp`, `${path}.bin`);
  renameSync(`${path}.json.tmp`, `${path}.json`);
}

function loadCheckpoint(path, manifest) {
  const index = JSON.parse(readFileSync(`${path}.json`, 'utf8'));
  const blob = readFileSync(`${path}.bin`);
  const state = {};
  for (const t of index.tensors) {
    const expected = manifest.inputs[t.name];
    if (!expected) fail(`checkpoint ${path}: tensor '${t.name}' is no input of this step; is it this model's checkpoint?`);
    if (String(expected.shape) !== String(t.shape) || expected.dtype !== t.dtype) {
      fail(`checkpoint ${path}: tensor '${t.name}' is [${t.shape}] ${t.dtype}, but the step's input of that ` +
           `name is [${expected.shape}] ${expected.dtype}; is it this model's checkpoint?`);
    }
    const data = typedArray(t.dtype, blob.subarray(t.offset, t.offset + t.bytes), `checkpoint '${t.name}'`);
    state[t.name] = new ort.Tensor(t.dtype, data, t.shape);
  }
  return { state, step: index.step };
}

async function main() {
  const { values: options, positionals } = parseArgs({
    allowPositionals: true,
    options: { steps: { type: 'string' }, save: { type: 'string' }, resume: { type: 'string' } },
  });
  const dir = resolve(positionals[0] ?? join(dirname(fileURLToPath(import.meta.url)), 'data'));
  if (!existsSync(join(dir, 'manifest.json'))) fail(`no manifest.json in ${dir}: run prepare.py first, or pass its --out folder`);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const lrs = manifest.learning_rates;

  let { state, step } = options.resume ? loadCheckpoint(options.resume, manifest) : initialState(dir, manifest);
  const steps = options.steps === undefined ? lrs.length - step : Number(options.steps);
  if (!Number.isInteger(steps) || steps < 0) fail(`--steps must be a whole number >= 0, got '${options.steps}'`);
  if (step + steps > lrs.length) {
    fail(`the manifest has learning rates for ${lrs.length} steps; steps ${step}..${step + steps - 1} ` +
         `need more: run prepare.py with more --epochs, or fewer --steps`);
  }
  const batches = manifest.batches.map((feeds, b) => Object.fromEntries(
    Object.entries(feeds).map(([name, entry]) => [name, readTensor(dir, entry, `batch ${b} '${name}'`)])));

  ort.env.wasm.numThreads = 1;   // one thread: no worker files to locate, same numbers on any host
  const session = await ort.InferenceSession.create(readFileSync(join(dir, manifest.model)), {
    executionProviders: ['wasm'],
  });
  const { updates, reports } = manifest.layout;

  for (const end = step + steps; step < end; step += 1) {
    const feeds = { ...state, ...batches[step % batches.length], lr: scalar(lrs[step]), step: scalar(step) };
    const results = await session.run(feeds);
    // the step's new weights and optimizer state are the next step's inputs
    for (const [input, output] of Object.entries(updates)) state[input] = results[output];
    const values = reports.map((name) => `${name} ${results[name].data[0]}`);
    console.log(`step ${step} ${values.join(' ')}`);
  }
  const save = options.save ?? join(dir, 'checkpoint');
  saveCheckpoint(save, state, step);
  console.log(`saved the state after ${step} steps to ${save}.json and ${save}.bin`);
  await session.release();
}

// a mistyped option is the user's error: its message suffices; anything else gets its stack
main().catch((error) => fail(error.code?.startsWith('ERR_PARSE_ARGS') ? error.message : error.stack ?? String(error)));
