// clip_onnx.js - the ONNX Runtime reference of bench/bench_clip.sh: runs the ViT-B/32 image tower exported by
// bench/clip_torch.py (torch.onnx.export of the same weights) with onnxruntime-node on taclust's pixels, times
// it (median over repeats after one warm-up) and compares its features with taclust's.
//
//   (cd bench/onnx && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install)      # once; node_modules not committed
//   node bench/clip_onnx.js VIT.onnx PIXELS.npy [REF_FEATURES.npy] [--repeats 10] [--threads 2]
// Prints "RESULT key=value" lines for the driver.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'onnx', 'node_modules', 'onnxruntime-node'));

// A float32 .npy (C order) as {shape, data}.
function loadNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12);
  const header = b.toString('latin1', start, start + hlen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: need float32, header ${header}`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const off = start + hlen;
  const data = new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length));
  return { shape, data };
}

function opt(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}

async function main() {
  const args = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(i > 0 && all[i - 1].startsWith('--')));
  if (args.length < 2) {
    console.error('usage: node bench/clip_onnx.js VIT.onnx PIXELS.npy [REF.npy] [--repeats 10] [--threads 2]');
    process.exit(2);
  }
  const [model, pixFile, refFile] = args;
  const reps = Number(opt('--repeats', 10));
  const threads = Number(opt('--threads', 2));
  const pix = loadNpy(pixFile);
  const b = pix.shape[0];
  const s = Math.round(Math.sqrt(pix.shape[1] / 3));
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const input = new ort.Tensor('float32', pix.data, [b, 3, s, s]);
  console.log(`onnxruntime-node ${require(path.join(__dirname, 'onnx', 'node_modules', 'onnxruntime-node', 'package.json')).version}, ` +
              `${threads} intra-op threads`);
  let out = await sess.run({ pixels: input });   // warm-up
  const times = [];
  for (let k = 0; k < reps; k++) {
    const t0 = process.hrtime.bigint();
    out = await sess.run({ pixels: input });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((x, y) => x - y);
  const med = reps % 2 ? times[(reps - 1) / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
  console.log(`ONNX Runtime image tower: batch ${b}, ${reps} repeats: median ${med.toFixed(3)} s/batch = ` +
              `${(b / med).toFixed(2)} images/s (min ${times[0].toFixed(3)}, max ${times[reps - 1].toFixed(3)})`);
  console.log(`RESULT onnx_images_per_s=${(b / med).toFixed(2)}`);
  if (refFile) {
    const ref = loadNpy(refFile);
    const got = out.features.data;
    let d = 0; let sc = 0;
    for (let i = 0; i < ref.data.length; i++) { d = Math.max(d, Math.abs(got[i] - ref.data[i])); sc = Math.max(sc, Math.abs(ref.data[i])); }
    console.log(`max |onnx - taclust| = ${d.toPrecision(3)} (features up to ${sc.toPrecision(3)})`);
    console.log(`RESULT onnx_image_maxdiff=${d.toPrecision(3)}`);
  }
}

main().catch((e) => { console.error(`clip_onnx.js: ${e.message}`); process.exit(1); });
