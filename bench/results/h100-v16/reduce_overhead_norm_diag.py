"""Per-call host time of one compiled norm under reduce-overhead, ours vs plain; cudagraph counters."""
import sys, time, statistics
import torch
from torch._dynamo.utils import counters
sys.path.insert(0, ".")
from bench.compile_block import make_models, make_inputs
dev, dt = "cuda", torch.bfloat16
shape = (32, 256, 1152)
x, cond, dy = make_inputs("norm", shape, dev, dt)
models = make_models("norm", shape[2], dev, dt)
for rnd in range(2):
    for name in ("modnorm_op", "plain"):
        torch._dynamo.reset(); counters.clear()
        c = torch.compile(models[name], fullgraph=True, dynamic=False, mode="reduce-overhead")
        def fwd():
            torch.compiler.cudagraph_mark_step_begin()
            with torch.no_grad():
                return c(x, cond)
        for _ in range(5): fwd()
        torch.cuda.synchronize()
        ts = []
        for i in range(400):
            t0 = time.perf_counter(); fwd(); torch.cuda.synchronize(); ts.append((time.perf_counter() - t0) * 1e6)
        # pipelined: no sync per call
        torch.cuda.synchronize(); t0 = time.perf_counter()
        for i in range(400): fwd()
        torch.cuda.synchronize(); pipe = (time.perf_counter() - t0) / 400 * 1e6
        q = statistics.quantiles(ts, n=20)
        print(f"round {rnd} {name:11s} synced per call: p5 {q[0]:.1f} median {statistics.median(ts):.1f} p95 {q[-1]:.1f} max {max(ts):.1f}; pipelined {pipe:.1f} us")
        print("   inductor counters:", {k: v for k, v in counters["inductor"].items() if "cudagraph" in k or "graph" in k})
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]) as prof:
            for i in range(20): fwd()
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8, max_name_column_width=60))
