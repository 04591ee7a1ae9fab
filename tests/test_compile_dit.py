"""The op inside a compiled model (SPEC "Composition", issue 4 points 1-4): a DiT-style block under
torch.compile (fullgraph, forward and backward), dynamic shapes, what recompiles, torch.export, and on CUDA
mode="reduce-overhead" (CUDA graph trees) and manual torch.cuda.graph capture.

Every test here carries the "compile" keyword (the file name gives it to all of them), so conftest skips the
file under TRITON_INTERPRET=1: the interpreter run exercises the kernels, not the compiler.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.backends.common import aot_autograd
from torch._dynamo.eval_frame import _debug_get_cache_entry_list
from torch._dynamo.testing import CompileCounter, CompileCounterWithBackend
from torch._dynamo.utils import counters
from torch._higher_order_ops.triton_kernel_wrap import kernel_side_table, triton_kernel_wrapper_functional
from functorch.compile import make_boxed_func

import modnorm_op
from helpers import randn

pytestmark = pytest.mark.compile

OP = torch.ops.modnorm.modulated_rms_norm
BACKWARD_OP = torch.ops.modnorm.modulated_rms_norm_backward
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

D, HEADS, COND = 32, 2, 24  # hidden size, attention heads (of 16 dims), conditioning size; tiny for CPU CI
LAYOUTS = ("per_batch_2d", "per_batch_3d")  # modulation (B, D) (rule 2, diffusers/Liger) or (B, 1, D)


# ---- the block -------------------------------------------------------------------------------------------

class PlainModulatedRMSNorm(torch.nn.RMSNorm):
    """The same operation written with PyTorch ops, as DiT code does (bench/run.py's eager_formula): the
    normalized x rounded to x's dtype ("llama" mode), times the weight, then the modulation. Same parameter
    name and init as ModulatedRMSNorm, so one state dict serves both blocks."""

    def forward(self, x, scale, shift):
        if scale.dim() == 2 and x.dim() >= 3:  # SPEC rule 2: (B, D) is per batch
            scale, shift = scale[:, None], shift[:, None]
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # float32 math; float64 stays float64
        n = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)
        return (n * self.weight) * (1 + scale) + shift


class DiTBlock(torch.nn.Module):
    """adaLN-Zero DiT block: modulated norm -> attention -> gated residual -> modulated norm -> MLP (4x) ->
    gated residual. The six modulation vectors are one Linear on the conditioning vector, .chunk(6)-ed, so
    scale and shift reach the norm as strided views."""

    def __init__(self, norm_cls, dim=D, heads=HEADS, cond=COND, layout="per_batch_2d", eps=1e-6, device=None,
                 dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.heads, self.layout = heads, layout
        self.norm1 = norm_cls(dim, eps=eps, **kw)
        self.norm2 = norm_cls(dim, eps=eps, **kw)
        self.qkv = torch.nn.Linear(dim, 3 * dim, **kw)
        self.proj = torch.nn.Linear(dim, dim, **kw)
        self.fc1 = torch.nn.Linear(dim, 4 * dim, **kw)
        self.fc2 = torch.nn.Linear(4 * dim, dim, **kw)
        self.ada = torch.nn.Linear(cond, 6 * dim, **kw)

    def forward(self, x, c):
        b, t, d = x.shape
        mod = self.ada(F.silu(c))  # (B, 6D)
        if self.layout == "per_batch_3d":
            mod = mod[:, None]  # (B, 1, 6D): chunks are (B, 1, D), rule 1
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)
        if self.layout == "per_batch_2d":  # chunks are (B, D), rule 2; the gates need the token dim
            gate1, gate2 = gate1[:, None], gate2[:, None]
        h = self.norm1(x, scale1, shift1)
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + gate1 * self.proj(a)
        h = self.norm2(x, scale2, shift2)
        return x + gate2 * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


def make_block(device, dtype=torch.float32, norm_cls=modnorm_op.ModulatedRMSNorm, layout="per_batch_2d", seed=0):
    """Random parameters (norm weights near 1, not exactly 1, so a dropped weight would be noticed)."""
    torch.manual_seed(seed)
    block = DiTBlock(norm_cls, layout=layout)
    with torch.no_grad():
        for norm in (block.norm1, block.norm2):
            norm.weight.copy_(1 + 0.1 * torch.randn_like(norm.weight))
    return block.to(device=device, dtype=dtype)


def make_inputs(device, b, t, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(shape, generator=g).to(device=device, dtype=dtype)
    return r(b, t, D), r(b, COND), r(b, t, D)  # x, c, dy


def fwd_bwd(fn, block, x, c, dy):
    """y and every gradient (x, c and all parameters of `block`), from fresh leaves."""
    x, c = x.detach().clone().requires_grad_(True), c.detach().clone().requires_grad_(True)
    for p in block.parameters():
        p.grad = None
    y = fn(x, c)
    y.backward(dy)
    out = {"y": y.detach().clone(), "dx": x.grad, "dc": c.grad}
    out.update({f"d{name}": p.grad.clone() for name, p in block.named_parameters()})
    return out


def float64_reference(block, x, c, dy):
    """The same block evaluated in float64 (eager; the op runs its float64 path)."""
    block64 = copy.deepcopy(block).double()
    return fwd_bwd(block64, block64, x.double(), c.double(), dy.double())


def rel_err(got, want):
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


# Tolerances. Errors are relative L2 norms against the float64 evaluation, in units of the dtype's unit
# roundoff u (2^-24 float32, 2^-8 bfloat16). The block chains ~20 roundings and reductions of length <= 4D;
# measured on CPU over 3 seeds (torch 2.13) the worst eager and compiled errors are 6.4u (float32, dc) and
# 2.2u (bfloat16, dnorm1.weight). ABS_BOUND = 16u leaves >= 2.5x room for other BLAS/attention kernels (CUDA),
# and any real defect (a wrong broadcast, a missing or doubled gradient term, a stale eps) is an O(1) error,
# 10^6 u in float32. Inductor may reorder sums and drop intermediate roundings, which changes the error but
# not its size: compiled must be within 2x eager's error plus 2u (measured ratio <= 1.2).
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8}
ABS_BOUND = 16
RATIO_BOUND, RATIO_SLACK = 2.0, 2


def assert_compiled_matches(compiled, eager, ref, dtype):
    u = UNIT_ROUNDOFF[dtype]
    assert compiled.keys() == eager.keys() == ref.keys()
    for name in ref:
        assert compiled[name].dtype == eager[name].dtype and compiled[name].shape == eager[name].shape, name
        e_eager, e_comp = rel_err(eager[name], ref[name]), rel_err(compiled[name], ref[name])
        assert e_eager <= ABS_BOUND * u, f"eager {name}: error {e_eager / u:.1f}u > {ABS_BOUND}u"
        assert e_comp <= ABS_BOUND * u, f"compiled {name}: error {e_comp / u:.1f}u > {ABS_BOUND}u"
        assert e_comp <= RATIO_BOUND * e_eager + RATIO_SLACK * u, (
            f"compiled {name}: error {e_comp / u:.1f}u vs eager {e_eager / u:.1f}u")


def cache_entries(block):
    """Dynamo's compiled entries for the block (a recompile adds one). torch.compile(module) attaches them
    to module.forward in current torch; counting _call_impl too keeps this right if a version uses it."""
    return sum(len(_debug_get_cache_entry_list(f)) for f in (type(block).forward, torch.nn.Module._call_impl))


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


# ---- 1. fullgraph: no graph breaks, the op opaque, matches eager ------------------------------------------

class _AotRecorder:
    """aot_eager that keeps Dynamo's graph and the forward and backward graphs AOTAutograd produced."""

    def __init__(self):
        self.dynamo, self.forward, self.backward = [], [], []
        aot = aot_autograd(fw_compiler=self._keep(self.forward), bw_compiler=self._keep(self.backward))
        self.backend = lambda gm, example_inputs: self.dynamo.append(gm) or aot(gm, example_inputs)

    @staticmethod
    def _keep(into):
        def compiler(gm, example_inputs):
            into.append(gm)
            return make_boxed_func(gm.forward)

        return compiler


def _targets(gm):
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def _kernels(gm):
    """Names of the Triton kernels an AOT graph launches (wrap_triton calls traced into it)."""
    return [kernel_side_table.get_kernel(n.kwargs["kernel_idx"]).fn.__name__ for n in gm.graph.nodes
            if n.target is triton_kernel_wrapper_functional]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "decompose_off"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_compile_fullgraph_block_keeps_op_whole(device, layout, inline):
    """One graph, no graph breaks, the op one call per norm in Dynamo's graph. In AOTAutograd's graphs the
    op is still one call per norm (forward) and its backward op one per norm (backward), except on CUDA
    with triton_op decomposition on (the default), where each call is replaced by our own kernel launches:
    forward kernel, backward kernel and partial sums. Never a trace of the norm's math (rsqrt): the
    plain-formula block, traced the same way, does show it, so the check would see a decomposed op."""
    x, c, dy = make_inputs(device, 2, 5)
    launches = inline and device == "cuda"
    for norm_cls, n_norms in ((modnorm_op.ModulatedRMSNorm, 2), (PlainModulatedRMSNorm, 0)):
        torch._dynamo.reset()
        block = make_block(device, layout=layout, norm_cls=norm_cls)
        rec = _AotRecorder()
        counter = CompileCounterWithBackend(rec.backend)
        with torch._functorch.config.patch(decompose_custom_triton_ops=inline):
            fwd_bwd(torch.compile(block, backend=counter, fullgraph=True), block, x, c, dy)
        assert counter.frame_count == 1 and not counters["graph_break"]
        assert len(rec.dynamo) == 1 and sum(t in (OP, OP.default) for t in _targets(rec.dynamo[0])) == n_norms
        assert len(rec.forward) == 1 and len(rec.backward) == 1
        fw, bw = _targets(rec.forward[0]), _targets(rec.backward[0])
        assert OP.default not in bw and BACKWARD_OP.default not in fw
        assert fw.count(OP.default) == (0 if launches else n_norms)
        assert bw.count(BACKWARD_OP.default) == (0 if launches else n_norms)
        fw_kernels, bw_kernels = _kernels(rec.forward[0]), _kernels(rec.backward[0])
        assert fw_kernels == ["modnorm_forward_kernel"] * (n_norms * launches)
        assert sorted(bw_kernels) == sorted(["modnorm_backward_kernel", "sum_partials_kernel"] * (n_norms * launches))
        has_rsqrt = any(t in (torch.ops.aten.rsqrt.default,) for t in fw + bw)
        assert has_rsqrt == (n_norms == 0), norm_cls.__name__


@pytest.mark.parametrize("dtype,layout", [(torch.float32, "per_batch_2d"), (torch.bfloat16, "per_batch_3d")],
                         ids=["float32-per_batch_2d", "bfloat16-per_batch_3d"])
def test_compile_block_matches_eager_and_float64(device, dtype, layout):
    """Inductor-compiled block (fullgraph) vs the same block eager vs float64: output and the gradients of
    x, c and every parameter (both norm weights, through the op's backward; the adaLN Linear, through the
    scale/shift/gate views). Bounds: see ABS_BOUND above."""
    block = make_block(device, dtype, layout=layout)
    x, c, dy = make_inputs(device, 2, 7, dtype)
    counter = CompileCounterWithBackend("inductor")
    compiled = fwd_bwd(torch.compile(block, backend=counter, fullgraph=True), block, x, c, dy)
    eager = fwd_bwd(block, block, x, c, dy)
    assert counter.frame_count == 1 and not counters["graph_break"]
    assert_compiled_matches(compiled, eager, float64_reference(block, x, c, dy), dtype)


def test_compile_float64_modnorm_block_is_the_plain_formula(device):
    """The float64 reference means what it should: in float64 the op's block and the plain-formula block
    are the same math (the llama rounding is to float64), so they agree to float64 precision (1e-12
    relative, ~4500 ulp of float64 for a few hundred operations - far below any float32 effect)."""
    x, c, dy = make_inputs(device, 2, 7)
    ours = make_block(device)
    plain = make_block(device, norm_cls=PlainModulatedRMSNorm)
    plain.load_state_dict(ours.state_dict())
    a, b = float64_reference(ours, x, c, dy), float64_reference(plain, x, c, dy)
    for name in a:
        assert rel_err(a[name], b[name]) <= 1e-12, name


# ---- 2. dynamic shapes ------------------------------------------------------------------------------------

# 2 batch sizes x 4 sequence lengths. The first two shapes differ in both B and T, so automatic dynamic
# marks both dynamic at its one recompile. No size is 0 or 1 (Dynamo specializes those), and at the traced
# shapes the input dims B, T, D and COND all differ, so duck sizing ties no two of them together.
DYNAMIC_SHAPES = [(2, 5), (3, 7), (2, 9), (3, 11), (3, 5), (2, 7), (3, 9), (2, 11)]


def _run_shapes(block, compiled, device):
    for i, (b, t) in enumerate(DYNAMIC_SHAPES):
        x, c, dy = make_inputs(device, b, t, seed=10 + i)
        got = fwd_bwd(compiled, block, x, c, dy)
        assert_compiled_matches(got, fwd_bwd(block, block, x, c, dy), float64_reference(block, x, c, dy),
                                torch.float32)


def test_compile_dynamic_true_one_graph(device):
    """dynamic=True: all 8 shapes run one graph, correct forward and backward at each.

    Expected counts: unique_graphs == 1 and one cache entry. Dynamo's backend-call count is 1 or 2: with
    dynamic=True Dynamo traces the modules' float attributes (eps, offset) as symbolic floats; a custom op's
    float argument must be concrete, so AOTAutograd's tensorify pass specializes them and restarts the
    first trace once (torch behaviour; the same with any custom op taking a float). That restart is not a
    recompile: it happens before the first call returns, and it leaves one graph.
    """
    block = make_block(device)
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(block, backend=counter, fullgraph=True, dynamic=True)
    _run_shapes(block, compiled, device)
    assert counters["stats"]["unique_graphs"] == 1
    assert cache_entries(block) == 1
    assert counter.frame_count in (1, 2)
    assert not counters["graph_break"]


def test_compile_automatic_dynamic_one_recompile(device):
    """The default (dynamic=None): the first shape compiles a static graph, the second (new B and T)
    recompiles once with B and T dynamic, and the other 6 shapes reuse that graph. Expected counts, exactly:
    2 backend calls, 2 unique graphs, 2 cache entries (no float is symbolic here: eps never changes)."""
    block = make_block(device)
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(block, backend=counter, fullgraph=True)
    _run_shapes(block, compiled, device)
    assert counter.frame_count == 2
    assert counters["stats"]["unique_graphs"] == 2
    assert cache_entries(block) == 2
    assert not counters["graph_break"]


def test_compile_what_recompiles(device):
    """What does and does not recompile (README "torch.compile / CUDA graphs"). The op's eps, offset,
    casting_mode and in_place are Python constants in the graph: each new value is a recompile (a returning
    value hits its old cache entry); so is the grad mode (training and no_grad inference are two graphs).
    New parameter values, new input values and switching the eager fast path are not. The result follows
    each change (no stale constant): eps 0.25 instead of 1e-6 changes y by O(0.1), far above float32 noise.
    The Dynamo-only CompileCounter backend is enough: recompiles are decided by Dynamo's guards, before any
    backend runs."""
    block = make_block(device)
    counter = CompileCounter()
    compiled = torch.compile(block, backend=counter, fullgraph=True)
    x, c, _ = make_inputs(device, 2, 5)

    def expect(frames, what):
        with torch.no_grad():
            torch.testing.assert_close(compiled(x, c), block(x, c), msg=what)
        assert counter.frame_count == frames, f"{what}: {counter.frame_count} compiles, expected {frames}"

    expect(1, "first call")
    x, c, _ = make_inputs(device, 2, 5, seed=2)
    expect(1, "new input values")
    with torch.no_grad():
        block.norm1.weight.mul_(1.5)
        block.ada.weight.neg_()
    expect(1, "new parameter values")
    with torch.no_grad():
        before = compiled(x, c)
    block.norm1.eps = 0.25
    expect(2, "new eps")
    with torch.no_grad():
        assert (compiled(x, c) - before).abs().max() > 1e-2  # the new eps is used
    block.norm1.eps = 1e-6
    expect(2, "previous eps again (cache hit)")
    block.norm2.casting_mode = "gemma"
    expect(3, "new casting_mode")
    block.norm2.offset = 0.5
    expect(4, "new offset")
    block.norm2.in_place = False
    expect(5, "new in_place")
    previous = modnorm_op.set_eager_fast_path(True)  # compiled code never takes the fast path: not guarded
    try:
        expect(5, "eager fast path switched on")
    finally:
        modnorm_op.set_eager_fast_path(previous)
    compiled(x, c).sum().backward()  # the same call with grad enabled: grad mode is guarded too
    assert counter.frame_count == 6
    assert not counters["graph_break"]


# ---- 4. torch.export --------------------------------------------------------------------------------------

def test_compile_export_roundtrip(device, tmp_path):
    """torch.export of the block: the op is preserved by name (also after run_decompositions(), what
    AOTInductor lowers), the program runs at shapes other than the traced one (B and T exported dynamic) and
    matches eager, and it survives torch.export.save / load. Same ops in the same order as eager, so the
    float32 default tolerance of assert_close (rtol 1.3e-6, atol 1e-5) is ample."""
    block = make_block(device).eval()
    x, c, _ = make_inputs(device, 2, 5)
    batch, seq = torch.export.Dim("batch", min=2, max=64), torch.export.Dim("seq", min=2, max=4096)
    ep = torch.export.export(block, (x, c), dynamic_shapes={"x": {0: batch, 1: seq}, "c": {0: batch}})
    assert _targets(ep.graph_module).count(OP.default) == 2
    assert "torch.ops.modnorm.modulated_rms_norm.default" in ep.graph_module.code
    assert _targets(ep.run_decompositions().graph_module).count(OP.default) == 2

    path = tmp_path / "dit_block.pt2"
    torch.export.save(ep, path)
    loaded = torch.export.load(path)
    assert _targets(loaded.graph_module).count(OP.default) == 2
    for program in (ep, loaded):
        for b, t in ((2, 5), (3, 9), (4, 16)):
            x, c, _ = make_inputs(device, b, t, seed=b * t)
            with torch.no_grad():
                torch.testing.assert_close(program.module()(x, c), block(x, c))


# ---- 3. CUDA graphs (CUDA only) ---------------------------------------------------------------------------

def _snapshot(*tensors):
    return [t.detach().clone() for t in tensors]


def _assert_unchanged(before, after, what):
    for i, (b, a) in enumerate(zip(before, after)):
        assert torch.equal(b, a.detach()), f"{what}: input {i} was mutated"


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype,dynamic,graphs", [(torch.float32, True, 1), (torch.bfloat16, None, 2)],
                         ids=["float32-dynamic", "bfloat16-automatic_dynamic"])
def test_compile_reduce_overhead_block_replays(dtype, dynamic, graphs):
    """mode="reduce-overhead" (CUDA graph trees), forward and backward, over repeated replays with new input
    values, both copied into the same static tensors and passed as fresh tensors, and a sequence length
    first seen after warmup (its kernels first run from inside the compiled region; the CUDA graph trees
    record it anew). Graphs: dynamic=True, 1; the default automatic dynamic, 2 (the static first graph, then
    one recompile with T dynamic at the new length). Per step: no input (x, c, dy, parameters) mutated,
    results within the bounds of assert_compiled_matches against eager and float64; no cudagraph skips."""
    block = make_block("cuda", dtype)
    compiled = torch.compile(block, mode="reduce-overhead", fullgraph=True, dynamic=dynamic)
    static_x, static_c, static_dy = make_inputs("cuda", 2, 8, dtype)
    plan = [(2, 8, "static")] * 4 + [(2, 8, "fresh")] * 3 + [(2, 12, "fresh")] * 4 + [(2, 8, "static")] * 2
    for step, (b, t, how) in enumerate(plan):
        x, c, dy = make_inputs("cuda", b, t, dtype, seed=100 + step)
        if how == "static":  # same tensors as every static step, new values
            with torch.no_grad():
                static_x.copy_(x), static_c.copy_(c), static_dy.copy_(dy)
            x, c, dy = static_x, static_c, static_dy
        x, c = x.requires_grad_(True), c.requires_grad_(True)
        before = _snapshot(x, c, dy, *block.parameters())
        torch.compiler.cudagraph_mark_step_begin()
        for p in block.parameters():
            p.grad = None
        y = compiled(x, c)
        y.backward(dy)
        got = {"y": y.detach().clone(), "dx": x.grad.clone(), "dc": c.grad.clone()}
        got.update({f"d{name}": p.grad.clone() for name, p in block.named_parameters()})
        x.grad = c.grad = None
        _assert_unchanged(before, [x, c, dy, *block.parameters()], f"step {step}")
        eager = fwd_bwd(block, block, x, c, dy)  # after the compiled step: its shapes were new to it
        assert_compiled_matches(got, eager, float64_reference(block, x, c, dy), dtype)
    assert counters["inductor"]["cudagraph_skips"] == 0
    assert counters["stats"]["unique_graphs"] == graphs
    assert not counters["graph_break"]


@requires_cuda
@pytest.mark.gpu
def test_compile_reduce_overhead_raw_op_replays():
    """The op alone under reduce-overhead, with strided (B, D) chunk views of a conditioning embedding and
    a float32 weight on bfloat16 x (Mochi/Wan mix): replays with new values and a new sequence length give
    bitwise the eager op's results (the same kernels with the same launch parameters; the backward is
    deterministic by SPEC), inputs are not mutated, no cudagraph skips."""
    weight = (1 + 0.1 * randn(D, torch.float32, "cuda")).requires_grad_(True)

    def fn(x, emb):
        scale, shift = emb.chunk(2, dim=-1)
        return modnorm_op.modulated_rms_norm(x, weight, scale, shift)

    compiled = torch.compile(fn, mode="reduce-overhead", fullgraph=True, dynamic=True)
    for step, t in enumerate([8] * 4 + [13] * 3 + [8] * 2):
        g = torch.Generator().manual_seed(step)
        x = torch.randn(3, t, D, generator=g).to("cuda", torch.bfloat16).requires_grad_(True)
        emb = (0.5 * torch.randn(3, 2 * D, generator=g)).to("cuda", torch.bfloat16).requires_grad_(True)
        dy = torch.randn(3, t, D, generator=g).to("cuda", torch.bfloat16)
        before = _snapshot(x, emb, dy, weight)
        torch.compiler.cudagraph_mark_step_begin()
        weight.grad = None
        y = compiled(x, emb)
        y.backward(dy)
        got = [y.detach().clone(), x.grad.clone(), emb.grad.clone(), weight.grad.clone()]
        _assert_unchanged(before, [x, emb, dy, weight], f"step {step}")
        x.grad = emb.grad = weight.grad = None
        y = fn(x, emb)
        y.backward(dy)
        for name, a, b in zip(("y", "dx", "demb", "dweight"), got, [y, x.grad, emb.grad, weight.grad]):
            assert torch.equal(a, b.detach()), f"step {step} (T={t}): {name} differs from eager"
    assert counters["inductor"]["cudagraph_skips"] == 0
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"]


@requires_cuda
@pytest.mark.gpu
def test_compile_manual_cuda_graph_capture_forward_and_backward():
    """The raw op captured by hand in torch.cuda.graph, forward and backward (torch.autograd.grad), after
    the documented side-stream warmup; then replays with new values copied into the static inputs. Each
    replay gives bitwise the eager op's results on the same values (same kernels, deterministic backward),
    and leaves its inputs (dy included: in_place=True must not write into it) unchanged."""
    b, t = 2, 16
    x = randn((b, t, D), torch.bfloat16, "cuda").requires_grad_(True)
    weight = (1 + 0.1 * randn(D, torch.float32, "cuda")).requires_grad_(True)
    emb = (0.5 * randn((b, 2 * D), torch.bfloat16, "cuda")).requires_grad_(True)
    dy = randn((b, t, D), torch.bfloat16, "cuda")

    def step(x, weight, emb, dy):
        scale, shift = emb.chunk(2, dim=-1)
        y = modnorm_op.modulated_rms_norm(x, weight, scale, shift, in_place=True)
        return (y, *torch.autograd.grad(y, (x, weight, emb), dy))

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step(x, weight, emb, dy)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = step(x, weight, emb, dy)

    for trial in range(4):
        g = torch.Generator().manual_seed(trial)
        with torch.no_grad():
            for t_ in (x, weight, emb, dy):
                t_.copy_((1 + trial) * torch.randn(t_.shape, generator=g).to(t_.device, t_.dtype))
        before = _snapshot(x, weight, emb, dy)
        graph.replay()
        torch.cuda.synchronize()
        _assert_unchanged(before, [x, weight, emb, dy], f"replay {trial}")
        want = step(*[t_.detach().clone().requires_grad_(t_.requires_grad) for t_ in (x, weight, emb)], dy.clone())
        for name, got, exp in zip(("y", "dx", "dweight", "demb"), static_out, want):
            assert torch.equal(got, exp), f"replay {trial}: {name} differs from eager"
