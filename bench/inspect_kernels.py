"""The kernels one forward/backward call launches, compiled for an H100/H200 (sm_90) on this machine, no GPU.

    python -m bench.inspect_kernels B T D [--modulation per_batch] [--what fwd,bwd] [--tile P:C:W:S]
                                          [--fwd-tile R:C:W:AHEAD] [--dump DIR]

A development tool (no device time): it runs launch.forward/backward on CPU tensors with the CUDA launch
plan (132 SMs), and instead of launching it compiles each kernel with the arguments' own specialization
(integers equal to 1 become constants, 16-divisible integers and pointers get the divisibility hint, as
Triton's launcher does), then prints registers, stack bytes (spills) and the SASS instruction mix of the
whole kernel and of its innermost loops. --tile P:C:W:S replaces the backward tile (programs/SM, chunk
columns, warps, stages), as bench/tune.py --bwd-configs does; --fwd-tile R:C:W:AHEAD the forward's (rows,
chunk columns, warps, chunks loaded ahead of the stores). --dump DIR writes each kernel's SASS, PTX and
TTGIR. Uses Triton internals (the JIT binder and _pack_args, checked with triton 3.9, the CPU stack) and the
cuobjdump Triton ships; the GPU's triton 3.6 can allocate registers differently: confirm on the device.
"""
import argparse
import collections
import contextlib
import os
import re
import subprocess
import sys
import tempfile

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import create_function_from_signature

from bench.run import make_inputs
from bench.tune import ALIGNED
from modnorm_op import heuristics
from modnorm_op.kernels import launch

SM_COUNT = 132  # H100 SXM and H200
TARGET = GPUTarget("cuda", 90, 32)
CUOBJDUMP = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
# instruction families worth counting: memory, barriers, shuffles, special functions, float64
NOTED = ("LDG", "STG", "LDL", "STL", "LDS", "STS", "LDGSTS", "BAR", "SHFL", "MUFU", "DFMA", "DMUL", "DADD")
SASS_LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")


def _sass_instructions(sass):
    """[(address, opcode, operands)] of a cuobjdump -sass listing."""
    return [(int(a, 16), op, rest) for a, op, rest in SASS_LINE.findall(sass)]


def _loops(instructions):
    """(start, end, opcode counts) of each backward branch's body: the compiled loops."""
    loops = []
    for address, op, rest in instructions:
        target = re.search(r"0x([0-9a-f]+)", rest) if op == "BRA" else None
        if target and int(target.group(1), 16) < address:
            start = int(target.group(1), 16)
            loops.append((start, address, collections.Counter(o for a, o, _ in instructions if start <= a <= address)))
    return loops


class CompileInsteadOfLaunch:
    """Stands in for launch._launcher: kernel[grid](*args, **flags) compiles and reports."""

    def __init__(self, report):
        self.report = report

    def __call__(self, kernel, x):
        return _Kernel(kernel, self.report)


class _Kernel:
    def __init__(self, kernel, report):
        self.kernel, self.report = kernel, report

    def __getitem__(self, grid):
        def compile_(*args, **flags):
            backend = make_backend(TARGET)
            binder = create_function_from_signature(self.kernel.signature, self.kernel.params, backend)
            bound, specialization, options = binder(*args, **flags)
            options, signature, constexprs, attrs = self.kernel._pack_args(backend, flags, bound, specialization,
                                                                           options)
            compiled = triton.compile(ASTSource(self.kernel, signature, constexprs, attrs), target=TARGET,
                                      options=options.__dict__)
            self.report(self.kernel.fn.__name__, grid, options.num_warps, compiled)
        return compile_


def describe(name, grid, num_warps, compiled, dump=None):
    with tempfile.TemporaryDirectory() as tmp:
        cubin = os.path.join(tmp, "kernel.cubin")
        with open(cubin, "wb") as f:
            f.write(compiled.asm["cubin"])
        usage = subprocess.run([CUOBJDUMP, "--dump-resource-usage", cubin], capture_output=True, text=True).stdout
        sass = subprocess.run([CUOBJDUMP, "-sass", cubin], capture_output=True, text=True).stdout
    if dump:
        os.makedirs(dump, exist_ok=True)
        for ext, text in (("sass", sass), ("ptx", compiled.asm["ptx"]), ("ttgir", compiled.asm["ttgir"])):
            with open(os.path.join(dump, f"{name}.{ext}"), "w") as f:
                f.write(text)
    regs, stack = re.search(r"REG:(\d+) STACK:(\d+)", usage).groups()
    instructions = _sass_instructions(sass)
    counts = collections.Counter(op for _, op, _ in instructions)
    per_sm = min(65536 // (max(int(regs), 1) * 32 * num_warps), 32)
    print(f"{name}: grid {grid}, {num_warps} warps, {regs} registers (at most {per_sm} programs/SM), "
          f"{stack} B stack; {len(instructions)} SASS instructions")
    print("  " + ", ".join(f"{op} {n}" for op, n in sorted(counts.items()) if op.startswith(NOTED)))
    loops = _loops(instructions)
    innermost = [(start, end, body) for start, end, body in loops
                 if not any((s, e) != (start, end) and start <= s and e <= end for s, e, _ in loops)]
    for start, end, body in innermost:
        print(f"  loop {start:#x}-{end:#x}: {sum(body.values())} instructions per iteration; "
              + ", ".join(f"{op} {n}" for op, n in body.most_common(12)))


@contextlib.contextmanager
def cuda_plans(tile=None, fwd_tile=None, dump=None):
    """launch.py planning for a CUDA device of SM_COUNT SMs (the tensors stay on the CPU), its launches
    compiled and described instead of run; tile (programs/SM, chunk, warps, stages) replaces the backward's,
    fwd_tile (rows, chunk, warps, load ahead) the forward's. Everything patched is restored on exit."""
    saved = (heuristics.target_programs, heuristics.smem_per_program, heuristics.backward_tile,
             heuristics.forward_tile, launch._launcher, launch._cached)
    heuristics.target_programs = lambda device, per_sm: SM_COUNT * per_sm
    heuristics.smem_per_program = lambda device: heuristics.HOPPER_SMEM_PER_PROGRAM
    if tile:
        per_sm, chunk, warps, stages = tile
        heuristics.backward_tile = lambda n_cols, *sizes: heuristics.Tile(
            1, chunk, triton.cdiv(n_cols, chunk), warps, per_sm, stages)
    if fwd_tile:
        rows, fwd_chunk, fwd_warps, ahead = fwd_tile  # names of their own: the lambdas bind late
        heuristics.forward_tile = lambda n_cols, *sizes: heuristics.Tile(
            rows, fwd_chunk, triton.cdiv(n_cols, fwd_chunk), fwd_warps, load_ahead=ahead)
    launch._launcher = CompileInsteadOfLaunch(lambda *a: describe(*a, dump=dump))
    # the backward plan is keyed by the device: plan for CUDA, uncached, so no CPU plan is replaced
    launch._cached = lambda fn, *key: fn.__wrapped__(
        *(torch.device("cuda") if isinstance(k, torch.device) else k for k in key))
    try:
        yield
    finally:
        (heuristics.target_programs, heuristics.smem_per_program, heuristics.backward_tile,
         heuristics.forward_tile, launch._launcher, launch._cached) = saved


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shape", type=int, nargs=3, metavar="B_T_D", help="the shape (B, T, D), three integers")
    p.add_argument("--modulation", default="per_batch", choices=sorted(ALIGNED))
    p.add_argument("--what", default="fwd,bwd")
    p.add_argument("--tile", default=None, help="backward tile programs/SM:chunk:warps:stages")
    p.add_argument("--fwd-tile", default=None, help="forward tile rows:chunk:warps:chunks loaded ahead")
    p.add_argument("--dump", default=None, help="directory for each kernel's SASS, PTX and TTGIR")
    args = p.parse_args(argv)
    x, w, s, sh = (t.detach() for t in make_inputs(tuple(args.shape), args.modulation, torch.bfloat16, "cpu"))
    aligned = ALIGNED[args.modulation](*args.shape[:2])
    tile, fwd_tile = (t and tuple(map(int, t.split(":"))) for t in (args.tile, args.fwd_tile))
    with cuda_plans(tile, fwd_tile, args.dump):
        if "fwd" in args.what:
            launch.forward(x, w, s, sh, 1e-6, 0.0, "llama", aligned)
        if "bwd" in args.what:
            launch.backward(torch.randn_like(x), x, w, s, sh.dtype, 1e-6, 0.0, "llama", aligned, [True] * 4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
