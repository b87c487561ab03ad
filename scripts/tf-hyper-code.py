#!/usr/bin/env python3
"""Coding-side speed of the hyperprior architecture in TensorFlow 2 on the CPU: the transforms
an encoder runs (g_a, h_a, h_s) and a decoder runs (h_s, g_s) on one image, as a reference for
`cargo bench --bench codec -- hyper` (which also range-codes, and runs h_s in integers).

    tfenv/bin/python scripts/tf-hyper-code.py --width 768 --height 512 --repeat 20

Fresh weights (speed does not depend on them), the network of scripts/tf-hyper.py, compiled
with tf.function; prints the median wall time of --repeat calls after two untimed ones.
"""
import argparse
import importlib.util
import os
import statistics
import time

import numpy as np

spec = importlib.util.spec_from_file_location(
    "tf_hyper", os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf-hyper.py"))
tf_hyper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tf_hyper)
tf = tf_hyper.tf


def median_ms(fn, repeat):
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--m", type=int, default=96)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="intra/inter-op threads (0: TF's)")
    a = ap.parse_args()
    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    pad = lambda v: -(-v // 16) * 16  # as aec pads (kind 2)
    h, w = pad(a.height), pad(a.width)
    net = tf_hyper.Net(a.n, a.m, 0)
    x = tf.constant(np.random.default_rng(0).random((1, h, w, 3), np.float32))

    @tf.function
    def encode(x):
        y = net.run(0, x)
        z = tf.round(net.run(2, tf.abs(y)))
        return tf.round(y), net.run(3, z)

    y_hat, _ = encode(x)
    z_hat = tf.round(net.run(2, tf.abs(y_hat)))

    @tf.function
    def decode(y_hat, z_hat):
        return net.run(3, z_hat), net.run(1, y_hat)

    enc = median_ms(lambda: [t.numpy() for t in encode(x)], a.repeat)
    dec = median_ms(lambda: [t.numpy() for t in decode(y_hat, z_hat)], a.repeat)
    print(f"TensorFlow {tf.__version__}, {a.width}x{a.height} (padded {w}x{h}), N={a.n} M={a.m}")
    print(f"encode transforms: {enc:.1f} ms")
    print(f"decode transforms: {dec:.1f} ms")


if __name__ == "__main__":
    main()
