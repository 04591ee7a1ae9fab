"""Launch plans with symbolic sizes (issue 4 point 2 on CUDA). When Inductor compiles a graph with dynamic
shapes, it traces the op's body (ops.py) with B and T as SymInts. The plans must stay symbolic: each
launch's grid and integer arguments are expressions of B and T that equal the plan computed for concrete
sizes, and the guards the trace leaves hold across ordinary sizes (a guard pinning B or T would recompile
per shape; the one expected guard is on the direct dscale/dshift path). Runs on CPU: the launches are
recorded under FakeTensorMode, not run; the device split is an H100's (132 SMs).
"""
import functools

import pytest
import torch
from torch._dynamo.source import ConstantSource
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

from modnorm_op import heuristics
from modnorm_op.broadcast import aligned_modulation_shape
from modnorm_op.kernels import launch

H100_SMS = 132
# (B, T) at which the symbolic plans are checked: from tiny to a long video sequence, and a batch large
# enough that per-batch modulation alone fills the grid (one item per group, another code path)
SIZES = [(2, 2), (2, 5), (3, 300), (7, 1000), (2, 44520), (600, 3)]
LAYOUTS = {  # scale for x of shape (B, T, D), made from x's own (possibly symbolic) sizes
    "per_batch": lambda x, d: torch.empty(x.shape[0], 6 * d)[:, d:2 * d],  # a .chunk(6) view, as in DiT
    "per_token": lambda x, d: torch.empty(x.shape),
    "global": lambda x, d: torch.empty(d),
}


@pytest.fixture
def recorded(monkeypatch):
    """Launches recorded instead of run: (kernel name, grid, args, kwargs)."""
    launches = []

    class Recorder:
        def __init__(self, kernel):
            self.name = kernel.fn.__name__ if hasattr(kernel, "fn") else kernel.__name__

        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.append((self.name, tuple(grid), args, kwargs))

    monkeypatch.setattr(launch, "wrap_triton", Recorder)
    monkeypatch.setattr(heuristics, "target_programs", lambda device, per_sm: H100_SMS * per_sm)
    launch.clear_plans()
    yield launches
    launch.clear_plans()


def _trace(layout, d, b, t, shape_env=None):
    """Forward and backward launches of one call with fake tensors of shape (B, T, D); with a shape_env, B
    and T are its symbols (example values b, t)."""
    mode = FakeTensorMode(shape_env=shape_env)
    if shape_env is None:
        x = mode.from_tensor(torch.empty(b, t, d))
    else:
        context = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DYNAMIC] * 2 + [DimDynamic.STATIC])
        x = mode.from_tensor(torch.empty(b, t, d), symbolic_context=context, source=ConstantSource("x"))
    with mode:
        scale = LAYOUTS[layout](x, d)
        weight = torch.empty(d)
        aligned = aligned_modulation_shape(x.shape, scale.shape)
        launch.forward(x, weight, scale, scale, 1e-6, 0.0, "llama", aligned)
        launch.backward(torch.empty_like(x), x, weight, scale, torch.float32, 1e-6, 0.0, "llama", aligned,
                        (True, True, True, True))
    return x.shape[0], x.shape[1]


def _value(v, subs):
    return int(v.node.expr.xreplace(subs)) if isinstance(v, torch.SymInt) else v


# bf16: one block (64); both chunked in registers (1152, 3072); the backward in two passes (10000)
@pytest.mark.parametrize("d", [64, 1152, 3072, 10000])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_symbolic_plans_match_concrete_and_guards_hold(recorded, layout, d):
    shape_env = ShapeEnv()
    sym_b, sym_t = _trace(layout, d, 4, 9, shape_env)
    symbolic = list(recorded)
    assert any(isinstance(v, torch.SymInt) for _, grid, _, _ in symbolic for v in grid), "grids specialized"
    for b, t in SIZES:
        subs = {sym_b.node.expr: b, sym_t.node.expr: t}
        failed = [g.expr for g in shape_env.guards if not bool(g.expr.xreplace(subs))]
        # the one size-dependent branch: per-batch modulation with B at least the grid (132-528 programs)
        # gives each program whole groups, whose dscale/dshift rows it writes directly: another graph
        assert not failed or (layout == "per_batch" and b >= H100_SMS), f"B={b}, T={t}: guards {failed} fail"
        if failed:
            continue
        recorded.clear()
        _trace(layout, d, b, t)
        assert len(recorded) == len(symbolic)
        for (name, grid, args, kwargs), (c_name, c_grid, c_args, c_kwargs) in zip(symbolic, recorded):
            assert name == c_name and kwargs == c_kwargs
            assert tuple(_value(g, subs) for g in grid) == c_grid, (name, b, t)
            ints = lambda a: [v for v in a if isinstance(v, (int, torch.SymInt)) and not isinstance(v, bool)]
            assert [_value(v, subs) for v in ints(args)] == ints(c_args), (name, b, t)


def test_launches_are_direct_for_real_tensors_and_traced_otherwise(monkeypatch):
    """Real tensors launch the kernel itself (no wrap_triton call: host time); a traced body's tensors (fake
    or functional) go through wrap_triton, so the launch becomes a graph node."""
    monkeypatch.setattr(launch, "wrap_triton", lambda kernel: ("wrapped", kernel))
    kernel = launch.modnorm_forward_kernel
    assert launch._launcher(kernel, torch.empty(2, 8)) is kernel
    assert launch._launcher(kernel, torch.nn.Parameter(torch.empty(2, 8))) is kernel
    with FakeTensorMode() as mode:
        assert launch._launcher(kernel, mode.from_tensor(torch.empty(2, 8))) == ("wrapped", kernel)


def test_plan_cache_takes_concrete_keys_and_skips_symbolic_ones():
    """_cached: a concrete key is looked up in the plan's cache; a key holding a SymInt (unhashable) is
    planned afresh, not cached."""
    calls = []

    @functools.lru_cache(maxsize=None)
    def plan(n):
        calls.append(n)
        return n

    assert launch._cached(plan, 3) == 3 and launch._cached(plan, 3) == 3 and calls == [3]
    shape_env = ShapeEnv()
    symbol = shape_env.create_unbacked_symint()
    assert launch._cached(plan, (symbol, 4)) == (symbol, 4)
    assert plan.cache_info().currsize == 1 and len(calls) == 2
