#!/usr/bin/env python3
"""The seed notebook's graph and recipe in TensorFlow (tf.compat.v1), as the reference aec's
trainer is compared with.

conv 3x3, 32 filters, valid, tanh -> flatten (28,800) -> dense 128 tanh -> dense 2,700 tanh ->
reshape 30x30x3 -> transposed conv 3x3, 3 filters, valid, sigmoid. Glorot-uniform kernels, zero
biases, loss tf.nn.l2_loss (0.5 x sum of squares over the batch), TF1 RMSProp (decay 0.9,
momentum 0, epsilon 1e-10, learning rate 0.0005), batch 10, file order.

    python3 -m venv tfenv && tfenv/bin/pip install tensorflow-cpu==2.21.0 numpy
    python3 ../shared/data/cifar10-jpeg/make-batches.py BATCH_DIR    # needs Pillow and numpy
    tfenv/bin/python scripts/tf-reference.py --batches BATCH_DIR \
        --eval ../shared/data/cifar10-exact/test_batch_first1000.bin --seed 0 --csv OUT.csv

Prints, and writes as CSV, one line per epoch in the units of aec's training log: the sum of
the batch losses, the test PSNR (mean of per-image PSNR, and PSNR of the mean MSE), seconds.

`--init MODEL` starts from an aec model file's weights instead of TensorFlow's own draw (for
example `aec train --epochs 0 --seed 0 ...`, which writes aec's initial weights), converted to
TensorFlow's layouts: NHWC flattening and reshaping instead of aec's (burn's) NCHW, and
TensorFlow's kernel axes. With the same initial weights and data, the two trainers' losses can be
compared step for step; only floating-point rounding differs.
"""
import argparse
import csv
import glob
import json
import os
import sys
import time

import numpy as np


def read_records(path):
    """CIFAR-10 binary records (1 label byte + 3,072 pixel bytes, CHW) as NHWC floats in [0, 1]."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        sys.exit(f"{path}: {raw.size} bytes is not a whole number of 3,073-byte records")
    px = raw.reshape(-1, 3073)[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return px.astype(np.float32) / 255.0


def read_aec_model(path):
    """An aec model file (safetensors, f32 or f16) as TensorFlow-layout arrays by variable name."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header.pop("__metadata__")["aec"])
    if (meta["code_length"], meta["filters"]) != (128, 32):
        sys.exit(f"{path}: code length {meta['code_length']}, {meta['filters']} filters; the reference is 128, 32")
    t = {}
    for name, info in header.items():
        dtype = {"F32": np.float32, "F16": np.float16}[info["dtype"]]
        start, end = info["data_offsets"]
        t[name] = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype=dtype).astype(np.float32).reshape(info["shape"])
    return {
        # [out, in, h, w] -> [h, w, in, out]
        "conv_kernel": t["encoder.conv.weight"].transpose(2, 3, 1, 0),
        "conv_bias": t["encoder.conv.bias"],
        # rows in CHW order (filter, y, x) -> HWC order (y, x, filter)
        "enc_kernel": t["encoder.dense.weight"].reshape(32, 900, 128).transpose(1, 0, 2).reshape(28800, 128),
        "enc_bias": t["encoder.dense.bias"],
        # columns in CHW order (channel, y, x) -> HWC order
        "dec_kernel": t["decoder.dense.weight"].reshape(128, 3, 900).transpose(0, 2, 1).reshape(128, 2700),
        "dec_bias": t["decoder.dense.bias"].reshape(3, 900).T.reshape(2700),
        # [in, out, h, w] -> [h, w, out, in]
        "deconv_kernel": t["decoder.deconv.weight"].transpose(2, 3, 1, 0),
        "deconv_bias": t["decoder.deconv.bias"],
    }


def psnr(out, ref):
    """Mean of per-image PSNR, and PSNR of the mean MSE (dB), pixels in [0, 1]."""
    mse = ((out.astype(np.float64) - ref) ** 2).reshape(len(ref), -1).mean(axis=1)
    return float(np.mean(10 * np.log10(1 / mse))), float(10 * np.log10(1 / mse.mean()))


def time_steps(tf, build, train, sizes, repeats=5):
    """Median time of a training step at each batch size, then of a forward pass (encode +
    decode) of 256 images, on data held in the graph (no feeding), after warm-up."""
    for what, n_images in [("train step", b) for b in sizes] + [("inference", 256)]:
        with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
            out, _, step = build(tf.constant(train[:n_images]))
            sess.run(tf.compat.v1.global_variables_initializer())
            op = step if what == "train step" else out
            iters = max(20, 2000 // n_images)
            for _ in range(iters):
                sess.run(op)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(iters):
                    sess.run(op)
                times.append((time.perf_counter() - start) / iters)
            t = float(np.median(times))
            print(f"{what}, batch {n_images}: {t * 1e3:.2f} ms ({n_images / t:,.0f} images/s), "
                  f"median of {repeats} runs of {iters}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", required=True, help="folder of data_batch_N.bin (make-batches.py)")
    ap.add_argument("--eval", required=True, help="CIFAR-10 binary file to report PSNR on")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", help="write the per-epoch log here")
    ap.add_argument("--init", help="start from this aec model file's weights")
    ap.add_argument("--time", type=int, action="append", metavar="BATCH",
                    help="only time training steps and inference at this batch size (repeatable)")
    args = ap.parse_args()

    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.set_random_seed(args.seed)

    files = sorted(glob.glob(os.path.join(args.batches, "data_batch_*.bin")))
    if not files:
        sys.exit(f"{args.batches}: no data_batch_N.bin files")
    train = np.concatenate([read_records(f) for f in files])
    test = read_records(args.eval)

    start_weights = read_aec_model(args.init) if args.init else {}

    def build(x):
        """The notebook's graph on input `x` (NHWC): reconstruction, loss and training step."""
        glorot = tf.compat.v1.glorot_uniform_initializer
        zeros = tf.compat.v1.zeros_initializer

        def var(name, shape, init):
            if name in start_weights:
                return tf.compat.v1.get_variable(name, initializer=tf.constant(start_weights[name]))
            return tf.compat.v1.get_variable(name, shape, initializer=init())

        conv_k = var("conv_kernel", [3, 3, 3, 32], glorot)
        conv_b = var("conv_bias", [32], zeros)
        h = tf.tanh(tf.nn.conv2d(x, conv_k, strides=1, padding="VALID") + conv_b)
        h = tf.reshape(h, [-1, 30 * 30 * 32])
        enc_k = var("enc_kernel", [30 * 30 * 32, 128], glorot)
        enc_b = var("enc_bias", [128], zeros)
        code = tf.tanh(tf.matmul(h, enc_k) + enc_b)
        dec_k = var("dec_kernel", [128, 2700], glorot)
        dec_b = var("dec_bias", [2700], zeros)
        h = tf.reshape(tf.tanh(tf.matmul(code, dec_k) + dec_b), [-1, 30, 30, 3])
        # tf.layers.conv2d_transpose's kernel is [height, width, out channels, in channels].
        deconv_k = var("deconv_kernel", [3, 3, 3, 3], glorot)
        deconv_b = var("deconv_bias", [3], zeros)
        shape = tf.stack([tf.shape(h)[0], 32, 32, 3])
        out = tf.sigmoid(tf.nn.conv2d_transpose(h, deconv_k, shape, strides=1, padding="VALID") + deconv_b)
        loss = tf.nn.l2_loss(out - x)
        step = tf.compat.v1.train.RMSPropOptimizer(
            learning_rate=0.0005, decay=0.9, momentum=0.0, epsilon=1e-10
        ).minimize(loss)
        return out, loss, step

    if args.time:
        time_steps(tf, build, train, args.time)
        return

    x = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])
    out, loss, step = build(x)

    params = sum(int(np.prod(v.shape)) for v in tf.compat.v1.trainable_variables())
    print(f"{len(train)} training images, {len(test)} test images, {params} parameters, seed {args.seed}")
    log = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.writer(log) if log else None
    if writer:
        writer.writerow(["epoch", "loss", "eval_psnr_mean_db", "eval_psnr_of_mean_mse_db", "seconds"])
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())

        def evaluate():
            recon = np.concatenate([sess.run(out, {x: test[i : i + 250]}) for i in range(0, len(test), 250)])
            return psnr(recon, test)

        mean_db, of_mean_db = evaluate()
        print(f"epoch   0  eval {mean_db:.2f} dB (of mean MSE {of_mean_db:.2f} dB)", flush=True)
        for epoch in range(1, args.epochs + 1):
            start = time.time()
            total = 0.0
            for i in range(0, len(train), 10):
                _, l = sess.run([step, loss], {x: train[i : i + 10]})
                total += float(l)
            seconds = time.time() - start
            mean_db, of_mean_db = evaluate()
            print(f"epoch {epoch:3d}  loss {total:12.1f}  eval {mean_db:.2f} dB (of mean MSE {of_mean_db:.2f} dB)  {seconds:.1f} s", flush=True)
            if writer:
                writer.writerow([epoch, f"{total:.3f}", f"{mean_db:.4f}", f"{of_mean_db:.4f}", f"{seconds:.2f}"])
                log.flush()


if __name__ == "__main__":
    main()
