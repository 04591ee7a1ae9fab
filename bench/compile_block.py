"""The payoff benchmark (issue 4 point 6): a compiled DiT block using modnorm_op against the same block
compiled with the plain PyTorch formula, which Inductor fuses by itself.

    python -m bench.compile_block [--out DIR] [--shapes dit_xl,flux | all] [--parts block,norm]
                                  [--rounds R] [--profile [SHAPE]]

The block is adaLN-Zero DiT: modulated RMSNorm -> attention (F.scaled_dot_product_attention, heads of 128
dims) -> gated residual -> modulated RMSNorm -> MLP (4x, tanh GELU) -> gated residual; the six modulation
vectors come from one Linear on the conditioning vector, .chunk(6)-ed into (B, D) views. Everything bf16.
Both variants share their parameters and are torch.compile'd (fullgraph, static shapes) per shape.

Per shape and variant: forward (no_grad) and forward+backward (autograd.grad of x, c and every parameter,
so no .grad accumulation kernels), median of triton.testing.do_bench. In R rounds (default 3 on a GPU),
each variant is compiled afresh (from Inductor's cache after the first round) and timed once per round,
the variants' order rotated: the table gives the median over rounds and the range of the rounds'
speedups. Part "norm" times one modulated norm alone, compiled the same two ways (the kernel against
Inductor's generated one). Before timing, each variant's output and gradients are checked against a
float32 eager evaluation (relative L2 error).

Default shapes: the four short-sequence ones of bench/run.py's GPU_SHAPES. Mochi (T = 44520) and Wan-14B
(T = 32760, D = 5120) are run with --shapes all or by name: there matmuls and attention (~50-70% of the
block's FLOPs) dominate, the two norms are under 1% of the block's floor, and compiles and the float32
reference take longest. --profile prints a per-kernel GPU-time breakdown (torch.profiler) of both
variants for one shape (default flux). Writes DIR/compile_block.{json,md} (and DIR/profile_SHAPE.md).
On CPU: one tiny shape through the CPU implementation, as a smoke test; the figures need a GPU.
"""
import argparse
import copy
import json
import os
import sys
import time
from statistics import median

import torch
import torch.nn.functional as F

import modnorm_op
from bench.run import GPU_SHAPES, time_fn, write_table

HEAD_DIM = 128
DEFAULT_SHAPES = ("dit_xl", "flux", "lumina2", "z_image")
CPU_SHAPE = {"cpu_tiny": (2, 64, 256)}
EPS = 1e-6
# modnorm_op: Inductor traces the op's body and launches our kernels itself (the default on CUDA);
# modnorm_op[call]: the op stays one call per norm in Inductor's code (decompose_custom_triton_ops off)
VARIANTS = ("modnorm_op", "modnorm_op[call]", "plain")
# bf16 output and gradients against float32: a few bf16 roundings (u = 2^-8 = 0.0039) per path, measured
# ~0.6-2u in tests/test_compile_dit.py. Above 5% something is wrong, not just rounded: stop.
MAX_REL_ERR = 0.05


# ---- the block -------------------------------------------------------------------------------------------

class PlainModulatedRMSNorm(torch.nn.RMSNorm):
    """The formula as DiT code writes it (bench/run.py's eager_formula): RMSNorm in float32, rounded to x's
    dtype, times the weight, then the modulation. Same parameter as ModulatedRMSNorm."""

    def forward(self, x, scale, shift):
        if scale.dim() == 2 and x.dim() >= 3:  # (B, D) modulation is per batch
            scale, shift = scale[:, None], shift[:, None]
        xf = x.float()
        n = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)
        return (n * self.weight) * (1 + scale) + shift


NORMS = {"modnorm_op": modnorm_op.ModulatedRMSNorm, "plain": PlainModulatedRMSNorm}


class DiTBlock(torch.nn.Module):
    def __init__(self, norm_cls, dim, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.heads = max(1, dim // HEAD_DIM)
        self.norm1 = norm_cls(dim, eps=EPS, **kw)
        self.norm2 = norm_cls(dim, eps=EPS, **kw)
        self.qkv = torch.nn.Linear(dim, 3 * dim, **kw)
        self.proj = torch.nn.Linear(dim, dim, **kw)
        self.fc1 = torch.nn.Linear(dim, 4 * dim, **kw)
        self.fc2 = torch.nn.Linear(4 * dim, dim, **kw)
        self.ada = torch.nn.Linear(dim, 6 * dim, **kw)

    def forward(self, x, c):
        b, t, d = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(F.silu(c)).chunk(6, dim=-1)  # (B, D) views
        h = self.norm1(x, scale1, shift1)
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + gate1[:, None] * self.proj(a)
        h = self.norm2(x, scale2, shift2)
        return x + gate2[:, None] * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class NormPart(torch.nn.Module):
    """One modulated norm as the block calls it: scale/shift are (B, D) chunks of a (B, 2D) embedding."""

    def __init__(self, norm_cls, dim, device=None, dtype=None):
        super().__init__()
        self.norm = norm_cls(dim, eps=EPS, device=device, dtype=dtype)

    def forward(self, x, emb):
        scale, shift = emb.chunk(2, dim=-1)
        return self.norm(x, scale, shift)


def make_models(part, dim, device, dtype):
    """The modnorm_op model and the plain one with the same parameters."""
    cls = DiTBlock if part == "block" else NormPart
    torch.manual_seed(0)
    ours = cls(NORMS["modnorm_op"], dim, device=device, dtype=dtype)
    with torch.no_grad():
        for m in ours.modules():
            if isinstance(m, torch.nn.RMSNorm):
                m.weight.copy_(1 + 0.1 * torch.randn_like(m.weight))
    plain = cls(NORMS["plain"], dim, device=device, dtype=dtype)
    plain.load_state_dict(ours.state_dict())
    return {"modnorm_op": ours, "plain": plain}


def compile_context(variant):
    """The config a variant is compiled (traced) under."""
    return torch._functorch.config.patch(decompose_custom_triton_ops=variant != "modnorm_op[call]")


def make_inputs(part, shape, device, dtype):
    b, t, d = shape
    g = torch.Generator(device=device).manual_seed(1)
    r = lambda *s, scale=1.0: (scale * torch.randn(s, generator=g, device=device)).to(dtype)
    x = r(b, t, d)
    cond = r(b, d) if part == "block" else r(b, 2 * d, scale=0.5)  # block: c; norm: the (B, 2D) embedding
    return x, cond, r(b, t, d)


# ---- correctness, timing ---------------------------------------------------------------------------------

def grads_of(model, x, cond, dy):
    """Output and gradients of x, cond and every parameter (autograd.grad: nothing accumulates in .grad)."""
    x, cond = x.detach().requires_grad_(True), cond.detach().requires_grad_(True)
    inputs = [x, cond, *model.parameters()]
    y = model(x, cond)
    return [y.detach(), *torch.autograd.grad(y, inputs, dy)]


def rel_errs(got, ref):
    """Relative L2 error of the output and the worst over the gradients."""
    errs = [((g.float() - r).norm() / r.norm().clamp_min(1e-30)).item() for g, r in zip(got, ref)]
    return errs[0], max(errs[1:])


def timed_steps(compiled, model, x, cond, dy, cuda_graphs=False):
    xg, cg = x.detach().requires_grad_(True), cond.detach().requires_grad_(True)
    inputs = [xg, cg, *model.parameters()]
    # under mode="reduce-overhead" each call is a new step of the CUDA graph tree (the last step's outputs
    # are not kept)
    step = torch.compiler.cudagraph_mark_step_begin if cuda_graphs else (lambda: None)

    def fwd():
        step()
        with torch.no_grad():
            return compiled(x, cond)

    def fwd_bwd():
        step()
        return torch.autograd.grad(compiled(xg, cg), inputs, dy)

    return fwd, fwd_bwd


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def compile_and_time(part, name, variant, model, x, cond, dy, ref, device, mode):
    """Compile one variant afresh (static shapes, no recompile limit; Inductor's cache makes repeats quick),
    check it against the float32 reference, time it: (compile s, errors, outputs, fwd s, fwd+bwd s)."""
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, dynamic=False, mode=mode)
    fwd, fwd_bwd = timed_steps(compiled, model, x, cond, dy, cuda_graphs=mode == "reduce-overhead")
    print(f"  {part:5s} {name:8s} {variant:16s} compiling ...", end=" ", flush=True)
    start = time.perf_counter()
    with compile_context(variant):
        fwd()
        fwd_bwd()
    sync(device)
    compile_s = time.perf_counter() - start
    if mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()
    got = [g.float() for g in grads_of(compiled, x, cond, dy)]
    errs = rel_errs(got, ref)
    print(f"{compile_s:5.1f} s; err vs fp32: y {errs[0]:.1e}, grads {errs[1]:.1e};", end=" ", flush=True)
    if not (errs[0] <= MAX_REL_ERR and errs[1] <= MAX_REL_ERR):
        raise SystemExit(f"\n{part} {name} {variant}: error against float32 above {MAX_REL_ERR}: stopping")
    t_fwd, t_fwd_bwd = time_fn(fwd, device), time_fn(fwd_bwd, device)
    print(f"fwd {t_fwd * 1e6:9.1f} us  fwd+bwd {t_fwd_bwd * 1e6:9.1f} us", flush=True)
    return compile_s, errs, got, t_fwd, t_fwd_bwd


def run_case(part, name, shape, device, dtype, mode=None, rounds=1):
    """Every variant, in `rounds` rounds, each round in a rotated order (a GPU's clock drifts over seconds,
    and one block step moves by a few percent between runs): per variant the median over rounds, each
    round's time kept."""
    b, t, d = shape
    models = make_models(part, d, device, dtype)
    x, cond, dy = make_inputs(part, shape, device, dtype)
    ref_model = copy.deepcopy(models["plain"]).float()  # eager float32: the reference for both variants
    ref = grads_of(ref_model, x.float(), cond.float(), dy.float())
    del ref_model
    runs, outputs = {v: [] for v in VARIANTS}, {}
    for r in range(rounds):
        for variant in VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]:
            compile_s, (err_y, err_grads), outputs[variant], t_fwd, t_fwd_bwd = compile_and_time(
                part, name, variant, models[variant.split("[")[0]], x, cond, dy, ref, device, mode)
            runs[variant].append(dict(compile_s=compile_s, err_y=err_y, err_grads=err_grads,
                                      fwd_us=t_fwd * 1e6, fwd_bwd_us=t_fwd_bwd * 1e6))
    between = rel_errs(outputs["modnorm_op"], outputs["plain"])
    print(f"  {part:5s} {name:8s} modnorm_op vs plain: y {between[0]:.1e}, grads {between[1]:.1e} (relative L2)")
    rows = []
    for variant, rs in runs.items():
        fwd_us, fwd_bwd_us = [r["fwd_us"] for r in rs], [r["fwd_bwd_us"] for r in rs]
        rows.append(dict(part=part, shape=name, B=b, T=t, D=d, heads=d // HEAD_DIM if part == "block" else None,
                         variant=variant, fwd_us=median(fwd_us), fwd_bwd_us=median(fwd_bwd_us),
                         fwd_us_rounds=fwd_us, fwd_bwd_us_rounds=fwd_bwd_us, compile_s=rs[0]["compile_s"],
                         rel_err_y=max(r["err_y"] for r in rs), rel_err_grads=max(r["err_grads"] for r in rs),
                         rel_diff_between_variants=dict(zip(("y", "grads"), between))))
    return rows


# ---- profile ---------------------------------------------------------------------------------------------

OUR_KERNELS = ("modnorm", "sum_partials")


def kernel_table(prof, steps):
    """(name, calls per step, us per step), biggest first, from a profile of `steps` steps."""
    from torch.autograd import DeviceType

    rows = []
    for e in prof.key_averages():
        if getattr(e, "device_type", DeviceType.CUDA) != DeviceType.CUDA:
            continue
        us = getattr(e, "device_time_total", None)
        us = e.cuda_time_total if us is None else us
        if us > 0:
            rows.append((e.key, e.count / steps, us / steps))
    return sorted(rows, key=lambda r: -r[2])


def profile_shape(name, shape, device, dtype, out, steps=5):
    from torch.profiler import ProfilerActivity, profile

    lines = [f"Per-kernel GPU time, DiT block {name} {shape}, {dtype}, per step (mean of {steps} steps). "
             f"[op] marks modnorm_op's kernels.", ""]
    models = make_models("block", shape[2], device, dtype)
    x, cond, dy = make_inputs("block", shape, device, dtype)
    for variant in VARIANTS:
        torch._dynamo.reset()
        model = models[variant.split("[")[0]]
        compiled = torch.compile(model, fullgraph=True, dynamic=False)
        for mode, fn in zip(("fwd", "fwd+bwd"), timed_steps(compiled, model, x, cond, dy)):
            with compile_context(variant):
                fn()
            for _ in range(2):
                fn()
            sync(device)
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(steps):
                    fn()
                sync(device)
            table = kernel_table(prof, steps)
            total = sum(r[2] for r in table)
            lines += [f"### {variant}, {mode}: {total:.1f} us of kernels per step", "",
                      "| kernel | calls | us | share |", "|---|---|---|---|"]
            for key, calls, us in table:
                tag = "[op] " if any(k in key for k in OUR_KERNELS) else ""
                short = key if len(key) <= 90 else key[:87] + "..."
                lines.append(f"| {tag}`{short}` | {calls:g} | {us:.1f} | {us / total:.1%} |")
            lines.append("")
    text = "\n".join(lines)
    print("\n" + text)
    with open(os.path.join(out, f"profile_{name}.md"), "w") as f:
        f.write(text + "\n")


# ---- report ----------------------------------------------------------------------------------------------

def write_reports(rows, meta, out):
    with open(os.path.join(out, "compile_block.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [f"{meta['device_name']}, torch {meta['torch']}, triton {meta['triton']}, {meta['date']}, {meta['dtype']}. "
             f"Median us ({meta['timer']}; with several rounds, the median over rounds); speedup = plain / "
             "modnorm_op (> 1: modnorm_op faster), with the range of the rounds' speedups (round r's plain over "
             f"round r's modnorm_op; {meta['rounds']} round(s), the variants' order rotated each round). "
             f"All torch.compile(fullgraph=True, dynamic=False, mode={meta['mode']!r}) per shape; block: heads of "
             "128, MLP 4x. modnorm_op: Inductor launches our kernels (the default); [call]: the op called as one "
             "custom op per norm (decompose_custom_triton_ops=False).", "",
             "| part | shape (B, T, D) | fwd modnorm_op | fwd [call] | fwd plain | fwd speedup | fwd+bwd modnorm_op | "
             "fwd+bwd [call] | fwd+bwd plain | fwd+bwd speedup | err y / grads (ours; plain) vs fp32 | "
             "compile s (ours; plain) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_case = {}
    for r in rows:
        by_case.setdefault((r["part"], r["shape"]), {})[r["variant"]] = r

    def speedup(o, p, key):
        per_round = [pr / orr for pr, orr in zip(p[key + "_rounds"], o[key + "_rounds"])]
        spread = f" ({min(per_round):.2f}-{max(per_round):.2f})" if len(per_round) > 1 else ""
        return f"{p[key] / o[key]:.2f}x{spread}"

    for (part, name), v in by_case.items():
        o, c, p = v["modnorm_op"], v["modnorm_op[call]"], v["plain"]
        lines.append(
            f"| {part} | {name} ({o['B']}, {o['T']}, {o['D']}) | {o['fwd_us']:.1f} | {c['fwd_us']:.1f} | "
            f"{p['fwd_us']:.1f} | {speedup(o, p, 'fwd_us')} | {o['fwd_bwd_us']:.1f} | {c['fwd_bwd_us']:.1f} | "
            f"{p['fwd_bwd_us']:.1f} | {speedup(o, p, 'fwd_bwd_us')} | {o['rel_err_y']:.1e} / "
            f"{o['rel_err_grads']:.1e}; {p['rel_err_y']:.1e} / {p['rel_err_grads']:.1e} | "
            f"{o['compile_s']:.0f}; {p['compile_s']:.0f} |")
    write_table(lines, os.path.join(out, "compile_block.md"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/results/compile_block")
    p.add_argument("--shapes", default=",".join(DEFAULT_SHAPES),
                   help=f"comma-separated names of {list(GPU_SHAPES)}, or 'all' (default: %(default)s)")
    p.add_argument("--parts", default="block,norm", help="comma-separated: block, norm (default: %(default)s)")
    p.add_argument("--mode", default=None, choices=[None, "reduce-overhead", "max-autotune-no-cudagraphs"],
                   help="torch.compile mode for both variants (default: Inductor's default)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds of every variant, order rotated each round (default 3 on a GPU, 1 on CPU)")
    p.add_argument("--profile", nargs="?", const="flux", default=None, metavar="SHAPE",
                   help="also print a per-kernel breakdown of the block for one shape (default flux)")
    args = p.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16
    import triton

    if device == "cuda":
        names = list(GPU_SHAPES) if args.shapes == "all" else args.shapes.split(",")
        unknown = [n for n in names if n not in GPU_SHAPES]
        if unknown:
            p.error(f"unknown shapes {unknown}; choose from {list(GPU_SHAPES)} or 'all'")
        shapes = {n: GPU_SHAPES[n] for n in names}
    else:
        shapes = CPU_SHAPE
        print(f"No GPU: running one tiny shape {CPU_SHAPE} through the CPU implementation as a smoke test "
              f"(requested: {args.shapes}). The payoff figures need a CUDA GPU: run this same command there.")
    if args.profile and args.profile not in GPU_SHAPES:
        p.error(f"--profile takes one of {list(GPU_SHAPES)}, got {args.profile}")
    parts = args.parts.split(",")
    rounds = args.rounds or (3 if device == "cuda" else 1)
    if rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    if any(part not in ("block", "norm") for part in parts):
        p.error(f"--parts takes block and/or norm, got {args.parts}")
    os.makedirs(args.out, exist_ok=True)
    meta = dict(device_name=torch.cuda.get_device_name() if device == "cuda" else "CPU", torch=torch.__version__,
                triton=triton.__version__, date=time.strftime("%Y-%m-%d"), dtype=str(dtype), head_dim=HEAD_DIM,
                python=sys.version.split()[0], mode=args.mode, rounds=rounds,
                timer="triton.testing.do_bench" if device == "cuda" else "time.perf_counter, 20 calls")
    print(f"{meta['device_name']}, torch {meta['torch']}, triton {meta['triton']}; shapes {list(shapes)}, "
          f"parts {parts}")
    start, rows = time.perf_counter(), []
    for name, shape in shapes.items():
        for part in parts:
            rows += run_case(part, name, shape, device, dtype, args.mode, rounds)
            if device == "cuda":
                torch.cuda.empty_cache()
        print(f"  ({time.perf_counter() - start:.0f} s elapsed)", flush=True)
    write_reports(rows, meta, args.out)
    if args.profile:
        if device != "cuda":
            print("--profile needs a GPU (CUDA kernel times): skipped")
        else:
            profile_shape(args.profile, GPU_SHAPES[args.profile], device, dtype, args.out)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
