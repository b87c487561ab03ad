#!/usr/bin/env python3
"""Ballé et al. 2018's scale hyperprior (CompressAI's bmshj2018-hyperprior) trained in TensorFlow 2
on the CPU: the architecture and recipe of `aec train-hyper`, as a reference for its speed.

    python3 -m venv tfenv && tfenv/bin/pip install tensorflow-cpu==2.21.0 numpy pillow
    tfenv/bin/python scripts/tf-hyper.py --data ../shared/data/photos-train --steps 40

g_a: conv5x5/2 3→N, GDN, conv5x5/2 N→N, GDN, conv5x5/2 N→N, GDN, conv5x5/2 N→M.
g_s: deconv5x5/2 M→N, IGDN, deconv N→N, IGDN, deconv N→N, IGDN, deconv N→3.
h_a on |y|: conv3x3/1 M→N, ReLU, conv5x5/2 N→N, ReLU, conv5x5/2 N→N → z.
h_s: deconv5x5/2 N→N, ReLU, deconv5x5/2 N→N, ReLU, conv3x3/1 N→M, ReLU → scales (≥ 0.11).
Loss λ·255²·MSE + (bits of noisy y under N(0, σ) + bits of noisy z under a per-channel
logistic) / pixels; the synthesis reads round(y) with a straight-through gradient. Adam (PyTorch's
defaults) at 1e-4, gradients clipped to global norm 1. Batches of random crops with random
horizontal flips, drawn in numpy from photos decoded once (crop positions equally likely, as aec).

Layout NHWC (TensorFlow's fast one on CPU). Sizes halve and double exactly either way;
--padding chooses the alignment: "same" (default) is TensorFlow's SAME, which pads a 5x5 stride-2
convolution 1 before and 2 after (and its transposed convolution is that one's gradient), while
"torch" pads 2 on every side as CompressAI (PyTorch's padding=2, and output_padding=1 for the
transposed ones) through explicit paddings, which TensorFlow runs more slowly on CPU.

--bf16 runs the convolutions (and transposed ones) on bfloat16 operands, their results cast back
to float32 (oneDNN then uses AMX tiles or AVX-512 BF16 where the CPU has them), as `aec train-hyper --bf16`; GDN,
the rates and the optimizer stay in float32.

Prints the loss every --log steps and, after --warmup untimed steps, the warm steps/s and images/s
(the `s/step` line is what scripts/hyper-speed.sh reads).
"""
import argparse
import glob
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up banner
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

PEDESTAL = 2.0**-36  # GDN: β = β'² + 2^-36, γ = γ'² + 2^-36
SCALE_BOUND = 0.11
LIKELIHOOD_BOUND = 1e-9


def networks(n, m):
    """The four transforms as layer lists: ("conv"|"deconv", in, out, k, stride), ("gdn", c,
    inverse), ("relu",)."""
    g_a = [("conv", 3, n, 5, 2), ("gdn", n, False), ("conv", n, n, 5, 2), ("gdn", n, False),
           ("conv", n, n, 5, 2), ("gdn", n, False), ("conv", n, m, 5, 2)]
    g_s = [("deconv", m, n, 5, 2), ("gdn", n, True), ("deconv", n, n, 5, 2), ("gdn", n, True),
           ("deconv", n, n, 5, 2), ("gdn", n, True), ("deconv", n, 3, 5, 2)]
    h_a = [("conv", m, n, 3, 1), ("relu",), ("conv", n, n, 5, 2), ("relu",), ("conv", n, n, 5, 2)]
    h_s = [("deconv", n, n, 5, 2), ("relu",), ("deconv", n, n, 5, 2), ("relu",),
           ("conv", n, m, 3, 1), ("relu",)]
    return g_a, g_s, h_a, h_s


class Net(tf.Module):
    """Weights initialised as CompressAI's PyTorch modules are (and as aec's are)."""

    def __init__(self, n, m, seed, torch_padding=False, bf16=False):
        super().__init__()
        self.torch_padding = torch_padding
        self.bf16 = bf16
        rng = np.random.default_rng(seed)
        self.nets = networks(n, m)
        self.params = []  # per layer: its variables (none for ReLU)
        for layers in self.nets:
            per_layer = []
            for layer in layers:
                per_layer.append([tf.Variable(v) for v in self._init(layer, rng)])
            self.params.append(per_layer)
        self.z_loc = tf.Variable(tf.zeros([n]))
        self.z_log_scale = tf.Variable(tf.zeros([n]))

    @staticmethod
    def _init(layer, rng):
        u = lambda shape, fan_in: (rng.uniform(-1, 1, shape) / np.sqrt(fan_in)).astype(np.float32)
        kind = layer[0]
        if kind == "conv":  # TF kernel [k, k, in, out]; PyTorch's fan-in in·k·k
            _, i, o, k, _ = layer
            return u([k, k, i, o], i * k * k), u([o], i * k * k)
        if kind == "deconv":  # TF kernel [k, k, out, in]; PyTorch's fan-in (dim 1) out·k·k
            _, i, o, k, _ = layer
            return u([k, k, o, i], o * k * k), u([o], o * k * k)
        if kind == "gdn":  # β' = 1, γ' = √0.1 on the diagonal, √pedestal elsewhere
            c = layer[1]
            gamma = np.where(np.eye(c) > 0, np.sqrt(0.1), np.sqrt(PEDESTAL)).astype(np.float32)
            return np.ones([c], np.float32), gamma
        return ()

    def operands(self, x, w):
        if self.bf16:
            return tf.cast(x, tf.bfloat16), tf.cast(w, tf.bfloat16)
        return x, w

    def cast_back(self, x):
        return tf.cast(x, tf.float32) if self.bf16 else x

    def run(self, k, x):
        """Transform k (0 g_a, 1 g_s, 2 h_a, 3 h_s) on an NHWC batch."""
        for layer, p in zip(self.nets[k], self.params[k]):
            kind = layer[0]
            if kind == "conv":
                pad = layer[3] // 2
                pad = [[0, 0], [pad, pad], [pad, pad], [0, 0]] if self.torch_padding else "SAME"
                x = self.cast_back(tf.nn.conv2d(*self.operands(x, p[0]), layer[4], pad))
                x = tf.nn.bias_add(x, p[1])
            elif kind == "deconv":  # the gradient of the stride-2 conv: output exactly 2× input
                b, h, w, _ = tf.unstack(tf.shape(x))
                shape = tf.stack([b, 2 * h, 2 * w, layer[2]])
                pad = [[0, 0], [2, 2], [2, 2], [0, 0]] if self.torch_padding else "SAME"
                x = self.cast_back(tf.nn.conv2d_transpose(*self.operands(x, p[0]), shape, 2, pad))
                x = tf.nn.bias_add(x, p[1])
            elif kind == "gdn":  # x / sqrt(β + γ·x²): a 1x1 conv of x² (kernel[j, i] = γ_ij)
                beta = tf.square(p[0]) + PEDESTAL
                gamma = tf.transpose(tf.square(p[1]) + PEDESTAL)[None, None]
                norm = tf.sqrt(tf.nn.bias_add(tf.nn.conv2d(x * x, gamma, 1, "VALID"), beta))
                x = x * norm if layer[2] else x / norm
            else:
                x = tf.nn.relu(x)
        return x


def bits(p):
    return -tf.reduce_sum(tf.math.log(tf.maximum(p, LIKELIHOOD_BOUND))) / np.log(2.0)


def loss_parts(net, x, lam):
    """(loss, MSE, bpp of y, bpp of z) of an NHWC batch in [0, 1]."""
    pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
    y = net.run(0, x)
    z = net.run(2, tf.abs(y))
    z_noisy = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
    a = tf.abs(z_noisy - net.z_loc)
    inv_s = tf.exp(-net.z_log_scale)
    bits_z = bits(tf.sigmoid((0.5 - a) * inv_s) - tf.sigmoid((-0.5 - a) * inv_s))
    sigma = tf.maximum(net.run(3, z_noisy), SCALE_BOUND)
    a = tf.abs(y + tf.random.uniform(tf.shape(y), -0.5, 0.5))
    phi = lambda v: 0.5 * tf.math.erfc(-v / np.sqrt(2.0))
    bits_y = bits(phi((0.5 - a) / sigma) - phi((-0.5 - a) / sigma))
    y_hat = y + tf.stop_gradient(tf.round(y) - y)  # straight-through rounding
    mse = tf.reduce_mean(tf.square(net.run(1, y_hat) - x))
    bpp_y, bpp_z = bits_y / pixels, bits_z / pixels
    return lam * 255.0**2 * mse + bpp_y + bpp_z, mse, bpp_y, bpp_z


class Adam:
    """PyTorch's Adam (β 0.9, 0.999, ε 1e-8 outside the root), in TensorFlow ops."""

    def __init__(self, variables, lr):
        self.vars, self.lr = variables, lr
        self.t = tf.Variable(0.0)
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]

    def apply(self, grads):
        t = self.t.assign_add(1.0)
        step = self.lr * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for var, g, m, v in zip(self.vars, grads, self.m, self.v):
            m.assign(0.9 * m + 0.1 * g)
            v.assign(0.999 * v + 0.001 * g * g)
            var.assign_sub(step * m / (tf.sqrt(v) + 1e-8 * tf.sqrt(1 - 0.999**t)))


class Photos:
    """Photos decoded once; batches of random crops with random horizontal flips (NHWC, [0, 1])."""

    def __init__(self, folder, crop, seed):
        files = sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))
        self.images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        self.images = [i for i in self.images if min(i.shape[:2]) >= crop]
        if not self.images:
            sys.exit(f"{folder}: no PNG of at least {crop}x{crop}")
        pos = np.array([(i.shape[0] - crop + 1) * (i.shape[1] - crop + 1) for i in self.images])
        self.weights = pos / pos.sum()
        self.crop, self.rng = crop, np.random.default_rng(seed)

    def batch(self, count):
        c, out = self.crop, []
        for i in self.rng.choice(len(self.images), count, p=self.weights):
            img = self.images[i]
            y0 = self.rng.integers(img.shape[0] - c + 1)
            x0 = self.rng.integers(img.shape[1] - c + 1)
            crop = img[y0:y0 + c, x0:x0 + c]
            out.append(crop[:, ::-1] if self.rng.random() < 0.5 else crop)
        return np.stack(out).astype(np.float32) / 255.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/photos-train")
    ap.add_argument("--steps", type=int, default=40, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--m", type=int, default=96)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.0067)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--padding", choices=["same", "torch"], default="same",
                    help="TensorFlow's SAME alignment, or CompressAI's (2 on every side)")
    ap.add_argument("--threads", type=int, default=0, help="intra/inter-op threads (0: TF's)")
    ap.add_argument("--log", type=int, default=5, help="print the loss every this many steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="convolutions on bfloat16 operands")
    a = ap.parse_args()
    if a.crop % 64:
        sys.exit("--crop must be a multiple of 64")
    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    tf.random.set_seed(a.seed)

    photos = Photos(a.data, a.crop, a.seed)
    net = Net(a.n, a.m, a.seed, a.padding == "torch", a.bf16)
    variables = list(net.trainable_variables)
    adam = Adam(variables, a.lr)
    weights = sum(int(np.prod(v.shape)) for v in variables)
    print(f"TensorFlow {tf.__version__}: N={a.n} M={a.m}, {len(photos.images)} photos, "
          f"batch {a.batch}x{a.crop}², padding {a.padding}, {weights} weights", flush=True)

    @tf.function(jit_compile=False)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss, mse, bpp_y, bpp_z = loss_parts(net, x, a.lam)
        grads, norm = tf.clip_by_global_norm(tape.gradient(loss, variables), 1.0)
        adam.apply(grads)
        return loss, mse, bpp_y, bpp_z, norm

    spec = tf.TensorSpec([a.batch, a.crop, a.crop, 3], tf.float32)
    train_step = train_step.get_concrete_function(spec)  # one trace, outside the timing
    for step in range(1, a.warmup + a.steps + 1):
        if step == a.warmup + 1:
            start = time.perf_counter()
        loss, mse, bpp_y, bpp_z, norm = train_step(tf.constant(photos.batch(a.batch)))
        if step % a.log == 0 or step == a.warmup + a.steps:
            print(f"step {step:5d}  loss {float(loss):.4f}  {-10 * np.log10(float(mse)):.2f} dB  "
                  f"{float(bpp_y + bpp_z):.4f} bpp (y {float(bpp_y):.4f}, z {float(bpp_z):.4f})  "
                  f"|g| {float(norm):.3f}", flush=True)
    per_step = (time.perf_counter() - start) / a.steps
    print(f"warm: {a.steps} steps  {per_step:.4f} s/step  {1 / per_step:.3f} steps/s  "
          f"{a.batch / per_step:.2f} images/s")


if __name__ == "__main__":
    main()
