"""bench.tune with a register cap on chosen kernels: MAXNREG_FWD (forward), MAXNREG_RED (partial sums); 0 = none."""
import os, runpy, sys
sys.path[:1] = [os.getcwd()]
from modnorm_op.kernels import launch
caps = {"modnorm_forward_kernel": int(os.environ.get("MAXNREG_FWD", 0)),
        "sum_partials_kernel": int(os.environ.get("MAXNREG_RED", 0))}
print("register caps", caps, flush=True)
original = launch._launcher
class Capped:
    def __init__(self, k, cap): self.k, self.cap = k, cap
    def __getitem__(self, grid):
        f = self.k[grid]
        return lambda *a, **kw: f(*a, **kw, maxnreg=self.cap)
def launcher(kernel, x):
    k = original(kernel, x)
    cap = caps.get(kernel.fn.__name__, 0)
    return Capped(k, cap) if cap else k
launch._launcher = launcher
sys.argv = ["bench.tune"] + sys.argv[1:]
runpy.run_module("bench.tune", run_name="__main__", alter_sys=True)
