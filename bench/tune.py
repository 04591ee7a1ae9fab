"""Kernel tuning and host overhead, for choosing the heuristics (a development tool, not the benchmark).

    python -m bench.tune [--what fwd,bwd,host] [--shapes flux,mochi]

fwd/bwd: for each shape (bf16, per-batch modulation; the backward also --modulation) and each candidate
configuration (only the heuristic's unless --fwd-sweep, --fwd-configs, --bwd-sweep or --bwd-configs), the
kernels alone (CUDA-graph replay, so no host time; rotating input copies, as bench.run does, where one set
fits in L2) against the bandwidth floor, with registers and spills of the compiled kernel. Each
configuration's result is checked against float64 before it is timed.
host: host time per eager call on a tiny input (GPU time negligible): the public call through the op and
with the eager fast path, our launch function, a bare launch of the same Triton kernel, the plain
PyTorch formula and Liger's fused op; forward and forward+backward; then a cProfile of the public calls.
Without CUDA, on CPU tensors: the public call both ways and the formula (the op runs reference.py there).
"""
import argparse
import cProfile
import dataclasses
import io
import pstats
import time

import torch
import triton

import modnorm_op
from bench.run import (GPU_SHAPES, copy_bandwidth, eager_fast_path, eager_formula, floor_bytes, make_inputs,
                       rotation_count, time_fn)
from modnorm_op import heuristics
from modnorm_op.kernels import backward as bwd_kernels
from modnorm_op.kernels import forward as fwd_kernels
from modnorm_op.kernels import launch

# (rows per program, warps, columns per chunk, or None for the whole row in one padded block); chunks of at
# least 4 elements per thread, as heuristics.forward_tile keeps them; each with every LOAD_AHEAD
FWD_CONFIGS = ([(r, w, None) for r in (1, 2) for w in (4, 8)]
               + [(r, w, c) for r in (1, 2) for c in (256, 512, 1024, 2048) for w in (1, 2, 4, 8)
                  if c >= 32 * w * heuristics.MIN_CHUNK_ELEMS_PER_THREAD])
LOAD_AHEAD = (0, 1, heuristics.MAX_FORWARD_CHUNKS)  # forward chunks loaded ahead of the stores (the last: all)
REP_MS = 100  # do_bench_cudagraph's measuring time per configuration (--rep)
COMPILE_ONLY = False  # --compile-only: compile and check each configuration, time none (fills Triton's cache)
MIN_COPIES = 1  # --min-copies: the fewest input copies a timing rotates through

# (programs/SM, columns per chunk, warps, pipeline stages; 1: the next row prefetched in registers); one row
BWD_CONFIGS = [(p, c, w, st) for p in (2, 4) for c, w in ((128, 1), (128, 2), (256, 1), (256, 2), (256, 4), (512, 2),
                                                          (512, 4), (1024, 4), (1024, 8)) for st in (1, 3)]


def _copies(inputs, dy):
    """Input copies for one rotation: bench.run.rotation_count's, at least MIN_COPIES."""
    return max(rotation_count(inputs, dy, "cuda"), MIN_COPIES)


def compiled(jit_fn):
    """The compiled binaries of a Triton kernel in this process, oldest first, across Triton versions."""
    caches = getattr(jit_fn, "device_caches", None)
    kernels = []
    if caches:
        for cache in caches.values():
            kernels += list(cache[0].values())
    else:
        for cache in getattr(jit_fn, "cache", {}).values():
            kernels += list(cache.values())
    return kernels


def regs(jit_fn, known):
    """Registers and spills of the binary compiled since `known` binaries were: a configuration that only
    reused an earlier one's binary (the same specialization) says so instead of naming another's."""
    kernels = compiled(jit_fn)
    if len(kernels) == known:
        return "reused"
    k = kernels[-1]
    return f"{getattr(k, 'n_regs', '?')}r/{getattr(k, 'n_spills', '?')}s"


def rel_err(got, want):
    return float((got.double() - want).norm() / want.norm())


def reference64(x, w, s, sh, dy, eps=1e-6):
    leaves = [t.detach().double().requires_grad_(True) for t in (x, w, s, sh)]
    xd, wd, sd, shd = leaves
    y = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps) * wd * (1 + sd) + shd
    y.backward(dy.double())
    return y.detach(), [t.grad for t in leaves]


def _sweep(name, what, tiles, set_tile, run, error, floor, kernel, copies, reads):
    """Time run(i), i over `copies` input copies in turn (bench.run.rotation_count: none left in L2 from
    the last call), under each (label, tile), after checking run(0) (relative error < 1e-2 against float64):
    the common loop of the forward and backward sweeps. Each timing starts with the L2 lines of `reads` at
    normal priority (bench/l2.py). The heuristics are as before once it returns. Returns (seconds per call,
    label) of the fastest."""
    best = None
    saved = (heuristics.forward_tile, heuristics.backward_tile, heuristics.REDUCE_TILE)
    try:
        for label, tile in tiles:
            set_tile(tile)
            launch.clear_plans()
            known = len(compiled(kernel))
            try:
                err = error(run(0))
            except triton.runtime.errors.OutOfResources as e:
                print(f"  {name} {what} {label}: does not fit ({e})")
                continue
            if not err < 1e-2:
                print(f"  {name} {what} {label}: WRONG (rel err {err:.1e})")
                continue
            if COMPILE_ONLY:
                continue
            rotation = lambda: [run(i) for i in range(copies)]
            t = time_fn(rotation, "cuda", graph=True, reads=reads, rep_ms=REP_MS) / copies
            print(f"  {name:8s} {what} {label}: {t * 1e6:7.1f} us  {floor / t:5.0%}  {regs(kernel, known)}  "
                  f"err {err:.1e}", flush=True)
            best = min(best or (t, label), (t, label))
    finally:  # no tile set here, nor a launch plan made with one, outlives the sweep
        heuristics.forward_tile, heuristics.backward_tile, heuristics.REDUCE_TILE = saved
        launch.clear_plans()
    return best


def tune_forward(name, shape, bandwidth, sweep, configs=()):
    """configs: (rows, chunk columns, warps, chunks loaded ahead) tiles to time after the heuristic's, as
    bench/inspect_kernels.py's --fwd-tile spells one."""
    x, w, s, sh = (t.detach() for t in make_inputs(shape, "per_batch", torch.bfloat16, "cuda"))
    want, _ = reference64(x, w, s, sh, torch.randn_like(x))
    d = shape[2]
    load_orders = lambda num_chunks: sorted({min(a, num_chunks) for a in LOAD_AHEAD})  # distinct for this tile
    original = heuristics.forward_tile
    chosen = original(d)  # the load-order variants' base
    tiles = [("heuristic", None)]  # None: heuristics.forward_tile itself, called as the op calls it
    for ahead in load_orders(chosen.num_chunks) if sweep else ():
        if ahead != chosen.load_ahead:
            tiles.append((f"heuristic, load ahead {ahead}", dataclasses.replace(chosen, load_ahead=ahead)))

    def labelled_tile(block_r, warps, chunk, ahead):
        """(label, Tile) of `chunk` columns a chunk (None: the whole row, padded to a power of two)."""
        block_d = chunk or triton.next_power_of_2(d)
        return (f"rows {block_r} warps {warps} chunk {chunk} load ahead {ahead}",
                heuristics.Tile(block_r, block_d, triton.cdiv(d, block_d), warps, load_ahead=ahead))

    for block_r, warps, chunk in FWD_CONFIGS if sweep else ():
        if chunk is not None and chunk >= d:
            continue
        num_chunks = triton.cdiv(d, chunk) if chunk else 1
        tiles += [labelled_tile(block_r, warps, chunk, ahead) for ahead in load_orders(num_chunks)]
    tiles += [labelled_tile(block_r, warps, chunk, ahead) for block_r, chunk, warps, ahead in configs]

    def set_tile(tile):
        heuristics.forward_tile = original if tile is None else lambda *args: tile

    floor = floor_bytes(x, w, s)["fwd"] / bandwidth
    xs = [x] + [x.clone() for _ in range(_copies((x, w, s, sh), x) - 1)]  # x and y's bytes
    best = _sweep(name, "fwd", tiles, set_tile,
                  lambda i: launch.forward(xs[i], w, s, sh, 1e-6, 0.0, "llama", (shape[0], 1)),
                  lambda got: rel_err(got, want), floor, fwd_kernels.modnorm_forward_kernel, len(xs), xs)
    return best, floor


ALIGNED = {"per_batch": lambda b, t: (b, 1), "per_token": lambda b, t: (b, t), "global": lambda b, t: (1, 1)}


def tune_backward(name, shape, bandwidth, configs, modulation, reduce_tiles=()):
    x, w, s, sh = (t.detach() for t in make_inputs(shape, modulation, torch.bfloat16, "cuda"))
    dy = torch.randn_like(x)
    _, want = reference64(x, w, s, sh, dy)
    d = shape[2]
    per_row = modulation == "per_token"
    column_bytes = x.element_size() + dy.element_size() + (s.element_size() if per_row else 0)  # as launch.py's
    smem = heuristics.smem_per_program(x.device)
    tiles = [("default", heuristics.backward_tile(d, None, column_bytes, smem, per_row))]
    for per_sm, chunk, warps, stages, *order in configs or []:
        strided = bool(order and order[0])  # an optional fifth field, 1: an item's rows strided by the splits
        num_chunks = triton.cdiv(d, chunk)
        if num_chunks <= heuristics.MAX_FORWARD_CHUNKS and chunk <= triton.next_power_of_2(d) and \
                heuristics.pipeline_smem_bytes(stages, num_chunks * chunk, column_bytes) <= smem:
            tiles.append((f"{per_sm}/SM chunk {chunk:4d} x {num_chunks:2d} warps {warps} stages {stages}"
                          + (" strided" if strided else ""),
                          heuristics.Tile(1, chunk, num_chunks, warps, per_sm, stages, strided_rows=strided)))
    aligned = ALIGNED[modulation](*shape[:2])

    if reduce_tiles:  # the backward tile stays the heuristic's; the partial-sum kernel's tile varies
        tiles = [(f"reduce {t}", t) for t in [heuristics.REDUCE_TILE] + reduce_tiles]

        def set_tile(tile):
            heuristics.REDUCE_TILE = tile
    else:
        def set_tile(tile):
            heuristics.backward_tile = lambda n_cols, *sizes: tile

    floor = floor_bytes(x, w, s)["bwd"] / bandwidth
    pairs = [(x, dy)] + [(x.clone(), dy.clone()) for _ in range(_copies((x, w, s, sh), dy) - 1)]
    best = _sweep(name, "bwd", tiles, set_tile,
                  lambda i: launch.backward(pairs[i][1], pairs[i][0], w, s, sh.dtype, 1e-6, 0.0, "llama", aligned,
                                            [True] * 4),
                  lambda got: max(rel_err(g, r) for g, r in zip(got, want)), floor,
                  bwd_kernels.modnorm_backward_kernel, len(pairs), [t for pair in pairs for t in pair])
    return best, floor


def recorded_launches(call):
    """call() with every kernel launch of launch.py recorded instead of run: [(kernel, grid, args, flags)]."""
    seen = []

    class Recorder:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            return lambda *args, **flags: seen.append((self.kernel, grid, args, flags))

    launcher = launch._launcher
    launch._launcher = lambda kernel, x: Recorder(kernel)
    try:
        call()
    finally:
        launch._launcher = launcher
    return seen


def capture_launch(call):
    """A function that repeats the forward kernel launch `call` makes, with its arguments computed once."""
    (kernel, grid, args, flags), = recorded_launches(call)
    launch_it = kernel[grid]
    return lambda: launch_it(*args, **flags)


HOST_ROUNDS = 9  # rounds of every variant in turn: this host's timings drift by up to 2x between runs
FAST = "modnorm_op.modulated_rms_norm, set_eager_fast_path(True)"


def host_times(device, forward_calls=1000, step_calls=300):
    """Host microseconds per call, GPU time negligible (tiny input): the median of HOST_ROUNDS rounds, each
    timing every variant in turn over many calls, so that a drifting host moves all of them alike."""
    shape = (1, 8, 1152)
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    x, w, s, sh = make_inputs(shape, "per_batch", torch.bfloat16, device)
    dy = torch.randn_like(x)
    xd, wd, sd, shd = (t.detach() for t in (x, w, s, sh))
    args = (1e-6, 0.0, "llama")
    peers = {}
    try:
        from liger_kernel.ops.modulated_rms_norm import LigerModulatedRMSNormFunction
        if cuda:  # Liger's kernels need a GPU
            peers["Liger fused (autograd.Function)"] = lambda *t: LigerModulatedRMSNormFunction.apply(
                *t, 1e-6, 0.0, "llama", False)
    except ImportError:
        pass
    public = lambda: modnorm_op.modulated_rms_norm(xd, wd, sd, shd)
    launches = {
        "launch.forward: our Python and the launch": lambda: launch.forward(xd, wd, sd, shd, *args, (1, 1)),
        "bare Triton launch, arguments precomputed": capture_launch(
            lambda: launch.forward(xd, wd, sd, shd, *args, (1, 1))),
    } if cuda else {}
    forward = {
        "modnorm_op.modulated_rms_norm (through the op)": public,
        FAST: public,
        **launches,
        "plain PyTorch formula (eager)": lambda: eager_formula(xd, wd, sd, shd, 1e-6),
        **{name: (lambda f=f: f(xd, wd, sd, shd)) for name, f in peers.items()},
    }
    step = lambda f: (lambda: f().backward(dy))
    public_step = step(lambda: modnorm_op.modulated_rms_norm(x, w, s, sh))
    fwd_bwd = {
        "modnorm_op.modulated_rms_norm (through the op)": public_step,
        FAST: public_step,
        "plain PyTorch formula (eager)": step(lambda: eager_formula(x, w, s, sh, 1e-6)),
        **{name: step(lambda f=f: f(x, w, s, sh)) for name, f in peers.items()},
    }

    def per_call(fn, n, fast_path):
        with eager_fast_path(fast_path):
            sync()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            sync()
            return (time.perf_counter() - start) / n * 1e6

    for label, variants, n, grad in (("forward", forward, forward_calls, False), ("fwd+bwd", fwd_bwd, step_calls, True)):
        with torch.set_grad_enabled(grad):
            for name, fn in variants.items():
                per_call(fn, 20, name == FAST)  # warm-up: compile, plan caches
            rounds = {name: [] for name in variants}
            for _ in range(HOST_ROUNDS):
                for name, fn in variants.items():
                    rounds[name].append(per_call(fn, n, name == FAST))
        for name, times in rounds.items():
            times.sort()
            print(f"  {label}: {name:46s} {times[len(times) // 2]:7.1f} us  (range {times[0]:.1f}-{times[-1]:.1f})")
    for label, fn in (("forward", forward[FAST]), ("fwd+bwd", fwd_bwd[FAST])):
        prof = cProfile.Profile()
        with torch.set_grad_enabled(label != "forward"), eager_fast_path():
            prof.enable()
            for _ in range(step_calls):
                fn()
            prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
        print(f"cProfile, {step_calls} {label} calls, eager fast path:\n" + "\n".join(out.getvalue().splitlines()[6:26]))


def main(argv=None):
    global REP_MS, COMPILE_ONLY, MIN_COPIES
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", default="fwd,bwd,host")
    p.add_argument("--shapes", default=",".join(GPU_SHAPES))
    p.add_argument("--fwd-sweep", action="store_true", help="sweep forward configurations (default: the heuristic's)")
    p.add_argument("--bwd-sweep", action="store_true", help="sweep backward configurations (default: the heuristic's)")
    p.add_argument("--fwd-configs", default="", help="forward tiles to time after the heuristic's, "
                   "comma-separated rows:chunk:warps:chunks loaded ahead, e.g. 1:512:4:2")
    p.add_argument("--bwd-configs", default="", help="backward configurations to time instead of the sweep's, "
                   "comma-separated programs/SM:chunk:warps:stages[:strided rows 0/1], e.g. 4:512:2:1,2:1024:4:3:1")
    p.add_argument("--reduce-tiles", default="", help="partial-sum tiles to time (the whole backward) against "
                   "the default, comma-separated partials:columns:warps, e.g. 128:16:4")
    p.add_argument("--modulation", default="per_batch", choices=sorted(ALIGNED), help="backward sweep")
    p.add_argument("--rep", type=int, default=REP_MS, help="milliseconds of replay per configuration")
    p.add_argument("--min-copies", type=int, default=1, help="rotate through at least this many input copies "
                   "(default: bench.run.rotation_count's), e.g. to outnumber lines a kernel leaves protected in L2")
    p.add_argument("--compile-only", action="store_true", help="compile and check every configuration, time "
                   "none: parallel processes of this fill Triton's disk cache before one timed sweep")
    args = p.parse_args(argv)
    REP_MS, COMPILE_ONLY, MIN_COPIES = args.rep, args.compile_only, args.min_copies
    what = args.what.split(",")
    if what == ["host"] and not torch.cuda.is_available():
        print(f"CPU, torch {torch.__version__}", flush=True)
        host_times("cpu")
        return
    bandwidth = copy_bandwidth("cuda")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}, "
          f"copy bandwidth {bandwidth / 1e9:.0f} GB/s", flush=True)
    summary = []
    reduce_tiles = [heuristics.ReduceTile(*map(int, t.split(":"))) for t in args.reduce_tiles.split(",") if t]
    for name in args.shapes.split(","):
        shape = GPU_SHAPES[name]
        if "fwd" in what:
            configs = [tuple(map(int, c.split(":"))) for c in args.fwd_configs.split(",") if c]
            best, floor = tune_forward(name, shape, bandwidth, args.fwd_sweep, configs)
            summary.append(("fwd", name, best, floor))
        if "bwd" in what:
            configs = [tuple(map(int, c.split(":"))) for c in args.bwd_configs.split(",") if c]
            best, floor = tune_backward(name, shape, bandwidth, configs or (BWD_CONFIGS if args.bwd_sweep else None),
                                        args.modulation, reduce_tiles)
            summary.append(("bwd", name, best, floor))
    if "host" in what:
        host_times("cuda")
    for kernel, name, best, floor in summary:
        if best is not None:  # None: --compile-only, or no configuration fit
            t, label = best
            print(f"{name:8s} {kernel} best {t * 1e6:7.1f} us ({floor / t:4.0%}): {label}")


if __name__ == "__main__":
    main()
