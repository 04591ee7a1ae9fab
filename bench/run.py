"""Benchmark: modnorm_op against the ways people write the modulated RMSNorm today.

    python -m bench.run [--out DIR] [--shapes dit_xl,flux] [--modulation per_batch] [--dtype bfloat16]
                        [--variants "modnorm_op[graph],compile_ref"]

Per shape and variant: forward, backward and forward+backward time (median of CUDA-event timings), peak
memory, and the share of the bandwidth floor: the fewest bytes the op must move over the device-to-device
copy bandwidth measured in the same process. Every variant's result is checked against a float64
evaluation before it is timed. On CPU it runs small shapes through the CPU implementation and says that
the GPU figures need a GPU. Writes DIR/bench.json, DIR/bench.md and DIR/bench.png (if matplotlib).
"""
import argparse
import contextlib
import json
import os
import sys
import time

import torch
import triton
import triton.testing

import modnorm_op
from bench.l2 import reset_l2_priority

GPU_SHAPES = {  # name: (B, T, D)
    "dit_xl": (32, 256, 1152),
    "flux": (2, 4608, 3072),
    "lumina2": (2, 4096, 2304),
    "z_image": (1, 4096, 3840),
    "mochi": (1, 44520, 3072),
    "wan_14b": (1, 32760, 5120),
}
CPU_SHAPES = {"small": (2, 256, 512), "dit_tiny": (4, 64, 1152)}


# ---- the peers -------------------------------------------------------------------------------------------

def eager_formula(x, weight, scale, shift, eps):
    """What DiT code writes: RMSNorm in float32, then two elementwise ops."""
    xf = x.float()
    y = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * weight
    return y * (1 + scale) + shift


def hf_style(x, weight, scale, shift, eps):
    """diffusers / HF RMSNorm (weight applied in x's dtype), then the modulation."""
    variance = x.float().pow(2).mean(-1, keepdim=True)
    y = (x.float() * torch.rsqrt(variance + eps)).to(weight.dtype) * weight
    return y.to(x.dtype) * (1 + scale) + shift


def make_variants(device):
    variants = {
        "eager": eager_formula,
        "hf_style": hf_style,
        "modnorm_op": lambda x, w, s, sh, eps: modnorm_modulated(x, w, s, sh, eps),
        "modnorm_op[fast path]": modnorm_fast_path,  # set_eager_fast_path(True): the dispatcher skipped
    }
    if device == "cuda":
        # the same op with launch overhead taken out: captured once in a CUDA graph, timed over replays
        variants["modnorm_op[graph]"] = modnorm_modulated
        variants["compile_ref"] = "compile"  # compiled per shape (static), created in run_shape
        try:
            from liger_kernel.ops.rms_norm import LigerRMSNormFunction

            variants["liger_rmsnorm+mod"] = lambda x, w, s, sh, eps: (
                LigerRMSNormFunction.apply(x, w, eps, 0.0, "llama") * (1 + s) + sh)
        except ImportError:
            pass
        try:
            from liger_kernel.ops.modulated_rms_norm import LigerModulatedRMSNormFunction  # noqa: F401

            # in_place=False: the benchmark reuses dy across calls, which in_place=True would overwrite
            variants["liger_fused"] = lambda x, w, s, sh, eps: LigerModulatedRMSNormFunction.apply(
                x, w, s, sh, eps, 0.0, "llama", False)
        except ImportError:
            pass
    return variants


def modnorm_modulated(x, weight, scale, shift, eps):
    return modnorm_op.modulated_rms_norm(x, weight, scale, shift, eps=eps)


@contextlib.contextmanager
def eager_fast_path(enabled=True):
    """modnorm_op.set_eager_fast_path(enabled) for the duration, the previous setting restored after."""
    previous = modnorm_op.set_eager_fast_path(enabled)
    try:
        yield
    finally:
        modnorm_op.set_eager_fast_path(previous)


def modnorm_fast_path(x, weight, scale, shift, eps):
    with eager_fast_path():
        return modnorm_op.modulated_rms_norm(x, weight, scale, shift, eps=eps)


# ---- inputs, bytes, checks -------------------------------------------------------------------------------

def make_inputs(shape, modulation, dtype, device, seed=0):
    b, t, d = shape
    g = torch.Generator(device="cpu").manual_seed(seed)
    r = lambda *s, dt=dtype: torch.randn(s, generator=g).to(device=device, dtype=dt)
    mod_shape = {"per_batch": (b, 1, d), "per_token": (b, t, d), "global": (d,)}[modulation]
    x = r(b, t, d).requires_grad_(True)
    weight = (1 + 0.1 * r(d)).requires_grad_(True)
    scale = (0.5 * r(*mod_shape)).requires_grad_(True)
    shift = r(*mod_shape).requires_grad_(True)
    return x, weight, scale, shift


def floor_bytes(x, weight, scale):
    """Fewest bytes each pass must move: every input read once, every output written once."""
    e = x.element_size()
    xd = x.numel() * e
    mod = scale.numel() * scale.element_size()
    w = weight.numel() * weight.element_size()
    fwd = 2 * xd + 2 * mod + w  # read x, write y; read scale, shift, weight
    bwd = 3 * xd + 3 * mod + 2 * w  # read x, dy, write dx; read scale, write dscale, dshift; weight, dweight
    return {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}


def check(fn, inputs, dy, eps):
    """Forward and gradients against a float64 evaluation of the eager formula: relative L2 error."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    y = fn(*leaves, eps)
    y.backward(dy)
    ref_leaves = [t.detach().double().requires_grad_(True) for t in inputs]
    xd = ref_leaves[0]
    ref = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps) * ref_leaves[1]
    ref = ref * (1 + ref_leaves[2]) + ref_leaves[3]
    ref.backward(dy.double())
    worst = (y.double() - ref).norm() / ref.norm()
    for got, want in zip(leaves, ref_leaves):
        worst = max(worst, (got.grad.double() - want.grad).norm() / want.grad.norm())
    return float(worst)


# ---- timing ----------------------------------------------------------------------------------------------

def copy_bandwidth(device):
    """Bytes read + written per second by a large device-to-device copy (the roofline we compare to)."""
    n = 1 << 28 if device == "cuda" else 1 << 24
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_fn(lambda: dst.copy_(src), device)
    return 2 * src.numel() * src.element_size() / t


def time_fn(fn, device, reps=None, graph=False, reads=(), rep_ms=200):
    """Median seconds per call (with graph=True, per replay of fn captured in a CUDA graph), over rep_ms of
    calls on a GPU. The L2 lines of `reads` (what fn reads) are set back to normal priority first: an earlier
    kernel's evict_last reads would otherwise leave part of them in L2 (bench/l2.py)."""
    reset_l2_priority(reads)
    if graph:
        return triton.testing.do_bench_cudagraph(fn, rep=rep_ms, return_mode="median") * 1e-3
    if device == "cuda":
        return triton.testing.do_bench(fn, warmup=25, rep=rep_ms, return_mode="median") * 1e-3
    fn()
    samples = []
    for _ in range(reps or 20):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return sorted(samples)[len(samples) // 2]


def rotation_count(inputs, dy, device):
    """How many copies of the inputs one timing rotates through: enough that together they exceed twice the
    L2 cache. A working set that fits in L2 (DiT-XL's 38 MB forward in the H100's and H200's 50 MB) would be
    timed from the cache, not from memory: a same-size copy then reaches 128% of the copy bandwidth."""
    if device != "cuda":
        return 1
    working = sum(t.numel() * t.element_size() for t in (*inputs, dy))
    return max(1, -(-2 * torch.cuda.get_device_properties(inputs[0].device).L2_cache_size // working))


def measure(fn, inputs, dy, eps, device, graph=False, copies=None):
    """Median seconds per call of forward, backward and forward+backward, each call on the next of `copies`
    input sets in turn (rotation_count by default), and peak memory of one call."""
    copies = copies or rotation_count(inputs, dy, device)
    sets = [([t.detach().clone().requires_grad_(True) for t in inputs], dy.clone()) for _ in range(copies)]
    leaves, _ = sets[0]

    # Each call's outputs are kept until the rotation ends: freed at once, the next call's would reuse their
    # memory, and a short shape's writes would land in lines still in L2 (DiT-XL's forward: 15.2 us timed
    # that way on an H100, 16.5 with outputs kept, NOTES v11).
    def fwd():
        with torch.no_grad():
            return [fn(*args, eps) for args, _ in sets]

    def fwd_bwd():
        kept = []
        for args, grad in sets:
            y = fn(*args, eps)
            if graph:  # new gradient tensors from the graph's pool, no .grad accumulation inside the capture
                kept.append(torch.autograd.grad(y, args, grad))
            else:
                torch.autograd.backward(y, grad)
                kept.append(y)
        return kept

    def fwd_recording():  # forward with autograd recording, no backward
        return [fn(*args, eps) for args, _ in sets]

    def per_call(f):  # every input set's L2 lines reset first; no list kept past the call (sets shrink below)
        return time_fn(f, device, graph=graph, reads=[t for args, grad in sets for t in (*args, grad)]) / copies

    res = {"fwd": per_call(fwd), "fwd+bwd": per_call(fwd_bwd)}
    # backward alone = (forward + backward) - forward-with-recording; timing backward by itself would need
    # retain_graph=True, which compiled graphs with donated buffers refuse
    res["bwd"] = max(res["fwd+bwd"] - per_call(fwd_recording), 0.0)
    sets[1:] = []  # peak memory: one call on one input set
    if device == "cuda":
        for t in leaves:
            t.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fwd_bwd()
        torch.cuda.synchronize()
        res["peak_mem_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return res


def run_shape(name, shape, modulation, dtype, device, variants, bandwidth, eps=1e-6):
    inputs = make_inputs(shape, modulation, dtype, device)
    dy = torch.randn(inputs[0].shape, generator=torch.Generator().manual_seed(1)).to(device=device, dtype=dtype)
    floors = floor_bytes(*inputs[:3])
    rows = []
    for vname, fn in variants.items():
        if fn == "compile":
            torch._dynamo.reset()
            fn = torch.compile(eager_formula, dynamic=False)
        print(f"  {name:8s} {modulation:9s} {vname:18s}", end=" ", flush=True)
        try:
            err = check(fn, inputs, dy, eps)
            t = measure(fn, inputs, dy, eps, device, graph=vname.endswith("[graph]"))
        except Exception as exc:  # a peer that can't run this case is reported, not fatal
            print(f"skipped: {type(exc).__name__}: {exc}"[:160])
            continue
        row = dict(shape=name, B=shape[0], T=shape[1], D=shape[2], modulation=modulation, dtype=str(dtype),
                   variant=vname, rel_err=err, **{f"{k}_us": v * 1e6 for k, v in t.items() if k != "peak_mem_mb"})
        row["peak_mem_mb"] = t.get("peak_mem_mb")
        for k in ("fwd", "bwd", "fwd+bwd"):
            # a backward at or under timing noise (fwd+bwd - fwd <= 0) has no meaningful share
            row[f"{k}_floor_share"] = floors[k] / bandwidth / t[k] if t[k] > 0 else float("nan")
        print(f"fwd {row['fwd_us']:9.1f} us ({row['fwd_floor_share']:5.0%})  fwd+bwd {row['fwd+bwd_us']:9.1f} us "
              f"({row['fwd+bwd_floor_share']:5.0%})  err {err:.1e}")
        rows.append(row)
    return rows


def write_table(lines, path):
    """A Markdown table (its lines) to `path`, and to the terminal."""
    text = "\n".join(lines)
    with open(path, "w") as f:
        f.write(text + "\n")
    print("\n" + text)


def write_reports(rows, meta, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [f"{meta['device_name']}, torch {meta['torch']}, triton {meta['triton']}, {meta['date']}; copy bandwidth "
             f"{meta['copy_bandwidth_gbs']:.0f} GB/s. Share of the bandwidth floor (fwd / fwd+bwd), time in us.", "",
             "| shape | modulation | variant | fwd us | bwd us | fwd+bwd us | fwd floor | fwd+bwd floor | peak MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = f"{r['peak_mem_mb']:.0f}" if r["peak_mem_mb"] is not None else "-"
        lines.append(f"| {r['shape']} ({r['B']}, {r['T']}, {r['D']}) | {r['modulation']} | {r['variant']} | "
                     f"{r['fwd_us']:.1f} | {r['bwd_us']:.1f} | {r['fwd+bwd_us']:.1f} | {r['fwd_floor_share']:.0%} | "
                     f"{r['fwd+bwd_floor_share']:.0%} | {peak} |")
    write_table(lines, os.path.join(out, "bench.md"))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    cases = sorted({(r["shape"], r["modulation"]) for r in rows}, key=lambda c: [r["shape"] for r in rows].index(c[0]))
    names = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(15, 5), sharey=True)
    width = 0.8 / len(names)
    for ax, key in zip(axes, ("fwd", "fwd+bwd")):
        for i, v in enumerate(names):
            vals = [next((r[f"{key}_floor_share"] * 100 for r in rows if (r["shape"], r["modulation"]) == c
                          and r["variant"] == v), 0) for c in cases]
            ax.bar([j + i * width for j in range(len(cases))], vals, width, label=v)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cases))])
        ax.set_xticklabels([f"{s}\n{m}" for s, m in cases], fontsize=8)
        ax.axhline(100, color="k", lw=0.8)
        ax.set_title(f"{key}: % of bandwidth floor (higher is better)")
    axes[0].set_ylabel("% of floor (bytes / copy bandwidth)")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"modulated RMSNorm, {meta['dtype']}, {meta['device_name']}, torch {meta['torch']}, "
                 f"triton {meta['triton']}, {meta['date']}")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench.png"), dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/results")
    p.add_argument("--shapes", default=None, help="comma-separated names (default: all for the device)")
    p.add_argument("--modulation", default="per_batch", help="comma-separated: per_batch, per_token, global")
    p.add_argument("--dtype", default="bfloat16", help="comma-separated: bfloat16, float16, float32")
    p.add_argument("--variants", default=None, help="comma-separated names (default: every one available)")
    args = p.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    shapes = GPU_SHAPES if device == "cuda" else CPU_SHAPES
    if args.shapes:
        shapes = {k: shapes[k] for k in args.shapes.split(",")}
    if device == "cpu":
        print("No GPU: timing the CPU implementation on small shapes. The GPU figures (Triton kernels, "
              "bandwidth share) need a CUDA GPU: run this same command there.")
    bandwidth = copy_bandwidth(device)
    meta = dict(device_name=torch.cuda.get_device_name() if device == "cuda" else "CPU", torch=torch.__version__,
                triton=triton.__version__, date=time.strftime("%Y-%m-%d"), copy_bandwidth_gbs=bandwidth / 1e9,
                dtype=args.dtype, python=sys.version.split()[0])
    print(f"copy bandwidth (read + write): {bandwidth / 1e9:.0f} GB/s")
    variants = make_variants(device)
    if args.variants:
        wanted = args.variants.split(",")
        unknown = set(wanted) - set(variants)
        if unknown:
            p.error(f"--variants: {sorted(unknown)} not among {sorted(variants)}")
        variants = {k: v for k, v in variants.items() if k in wanted}
    rows = []
    for dtype_name in args.dtype.split(","):
        dtype = getattr(torch, dtype_name)
        for modulation in args.modulation.split(","):
            for name, shape in shapes.items():
                rows += run_shape(name, shape, modulation, dtype, device, variants, bandwidth)
    write_reports(rows, meta, args.out)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
