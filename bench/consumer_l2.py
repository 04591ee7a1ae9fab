"""What the forward's cache hints cost or give the kernel that reads its output next (GPU only).

    python -m bench.consumer_l2 [--shapes dit_xl,lumina2,z_image,flux]
    python bench/ab.py scratch/<rev> bench.consumer_l2     # another checkout's kernels, for an A/B

The forward stores y with `evict_first` (kernels/forward.py). In a model the next kernel usually reads y:
in a DiT block, the attention's QKV projection (a matmul, compute-bound at these sizes); the worst case is
a memory-bound one (an elementwise op, y * 2). Per shape and consumer, kernels alone under CUDA-graph
replay, inputs rotated (bench.run.rotation_count), median per call: the forward alone; the consumer of
outputs written long before (cold); the forward followed at once by the consumer of its y. The last minus
the first is what the consumer costs right after our forward, to be read against the cold one. Each y is
checked against float64 first.
"""
import argparse

import torch

from bench.copy_at_size import graph_us
from bench.run import GPU_SHAPES, make_inputs, rotation_count
from bench.tune import reference64, rel_err
from modnorm_op.kernels import launch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="dit_xl,lumina2,z_image,flux")
    args = p.parse_args(argv)
    print(torch.__version__, torch.cuda.get_device_name())
    for name in args.shapes.split(","):
        b, t, d = GPU_SHAPES[name]
        x, w, s, sh = (v.detach() for v in make_inputs((b, t, d), "per_batch", torch.bfloat16, "cuda"))
        weight = torch.randn(d, d, device="cuda", dtype=torch.bfloat16) / d ** 0.5
        copies = rotation_count((x, w, s, sh), x, "cuda")
        xs = [x] + [x.clone() for _ in range(copies - 1)]
        norm = lambda xi: launch.forward(xi, w, s, sh, 1e-6, 0.0, "llama", (b, 1))
        want, _ = reference64(x, w, s, sh, torch.randn_like(x))
        err = rel_err(norm(x), want)
        assert err < 1e-2, f"{name}: forward wrong (rel err {err:.1e})"
        ys = [norm(xi) for xi in xs]
        forward = graph_us(lambda: [norm(xi) for xi in xs]) / copies
        consumers = {"matmul": lambda y: torch.nn.functional.linear(y, weight), "elementwise": lambda y: y * 2}
        for label, consume in consumers.items():
            cold = graph_us(lambda: [consume(yi) for yi in ys]) / copies
            chained = graph_us(lambda: [consume(norm(xi)) for xi in xs]) / copies
            print(f"{name:8s} forward {forward:6.1f} us  {label:11s} cold {cold:6.1f} us, right after the forward "
                  f"{chained - forward:6.1f} us (forward then it: {chained:6.1f})", flush=True)


if __name__ == "__main__":
    main()
