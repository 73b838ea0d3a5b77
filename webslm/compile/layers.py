"""Linear and embedding layers whose weights may be group-quantized.

The quantized layers never materialize a full-precision weight at run time: the
dequantization is written into the same tensor expression as the matmul (or the
gather), so TVM emits one kernel that reads packed codes and scales directly.
Layout (shared with webslm.quantize, see grids.py): ``q_weight`` uint32 [out, in/codes per
word], first element in the lowest bits; ``q_scale`` [out, in/32] in the activation dtype;
value = (code - center) * scale on symmetric grids, code * scale + min on asymmetric ones
(``q_min`` [out, in/32] beside the scale), NF4_CODE[code] * absmax' on NF4 (``q_scale``
[out, in/64] float32 in every scheme). The value is always formed in float32.
"""

from __future__ import annotations

import numpy as np
from tvm import te, tirx
from tvm.relax.frontend import nn

from webslm.compile.activations import Scalar
from webslm.compile import spec
from webslm.compile.lora import apply_lora, branch_te, has_lora, lora_params, module_at
from webslm.compile.spec import ROW_BLOCKS
from webslm.errors import WebslmError
from webslm.quantize.grids import Grid
from webslm.quantize.nf4 import NF4_CODE
from webslm.quantize.schemes import QuantScheme


def _lookup(code, table, lo: int = 0, hi: int | None = None):
    """table[code] for a uint32 code in [lo, hi), a power-of-two range: a tree of selects on
    the code's bits. Branch-free (the halves are bound to lets, so WGSL gets select()s, not
    nested ifs) and no table in memory. Each value is an exact float32 bit pattern, since
    WGSL's printed decimal constants keep only 7 digits (but 0.0, printed exactly: TVM's LLVM
    codegen cannot reinterpret a zero)."""
    hi = len(table) if hi is None else hi
    if hi - lo == 1:
        bits = int(np.float32(table[lo]).view(np.uint32))
        if bits == 0:
            return tirx.const(0.0, "float32")
        return tirx.reinterpret("float32", tirx.const(bits, "uint32"))
    mid = (lo + hi) // 2
    low, high = _lookup(code, table, lo, mid), _lookup(code, table, mid, hi)
    is_low = tirx.bitwise_and(code, tirx.const(mid - lo, "uint32")) == tirx.const(0, "uint32")
    if hi - lo == 2:
        return tirx.Select(is_low, low, high)
    low_var, high_var = tirx.Var("nf4_low", "float32"), tirx.Var("nf4_high", "float32")
    return tirx.Let(low_var, low, tirx.Let(high_var, high, tirx.Select(is_low, low_var, high_var)))


def _dequant(packed: list[te.Tensor], grid: Grid, row, col):
    """The float32 value of weight[row, col]; packed = [q_weight, q_scale(, q_min)]."""
    q_weight, q_scale, *q_min = packed
    word = q_weight[row, col // grid.codes_per_word]
    shift = ((col % grid.codes_per_word) * grid.bits).astype("uint32")
    mask = tirx.const((1 << grid.bits) - 1, "uint32")
    code = tirx.bitwise_and(tirx.shift_right(word, shift), mask)
    scale = q_scale[row, col // grid.group_size].astype("float32")
    if grid.nf4:
        return _lookup(code, NF4_CODE) * scale
    code = code.astype("float32")
    if q_min:
        return code * scale + q_min[0][row, col // grid.group_size].astype("float32")
    return (code - tirx.const(float(grid.center), "float32")) * scale


def _matmul_te(lead, in_features: int, x_at, w_at, out_features: int, out_dtype: str,
               branch=None, rows_by: int | None = None):
    """y[*lead, j] = sum_k x_at(lead index, k) * w_at(j, k), accumulated in float32, plus
    branch(index) when given (a kept adapter's B (A x), lora.branch_te) before the cast.
    rows_by: y as [*lead, out / rows_by, rows_by] (a head per row of it), so a kernel that
    reads it by head indexes it plainly (TVM's schedule can place such a reader)."""
    k = te.reduce_axis((0, in_features), name="k")
    if rows_by is None:
        acc = te.compute(
            (*lead, out_features),
            lambda *idx: te.sum(x_at(idx[:-1], k).astype("float32") * w_at(idx[-1], k), axis=k),
            name="matmul",
        )
    else:
        acc = te.compute(
            (*lead, out_features // rows_by, rows_by),
            lambda *idx: te.sum(x_at(idx[:-2], k).astype("float32")
                                * w_at(idx[-2] * rows_by + idx[-1], k), axis=k),
            name="matmul",
        )
    if branch is not None:
        return te.compute(acc.shape, lambda *idx: (acc[idx] + branch(idx)).astype(out_dtype),
                          name="lora_up")
    if out_dtype == "float32":
        return acc
    return te.compute(acc.shape, lambda *idx: acc[idx].astype(out_dtype), name="cast")


def quantized_matmul_te(x: te.Tensor, packed: list[te.Tensor], grid: Grid, out_dtype: str,
                        x_at=None, lora=None, rows_by: int | None = None) -> te.Tensor:
    """y[..., j] = sum_k x[..., k] * W[j, k], accumulated in float32; x_at(lead, k) reads the
    input another way (the gated product, see gated_linear); lora = (linear, A, B^T) runs a
    kept adapter's branch in the same kernel."""
    *lead, in_features = x.shape
    if x_at is None:
        x_at = lambda lead_idx, k: x[(*lead_idx, k)]  # noqa: E731
    else:
        in_features = packed[0].shape[1] * grid.codes_per_word
    weight = te.compute(
        (packed[0].shape[0], in_features),
        lambda j, k: _dequant(packed, grid, j, k),
        name="dequantize",
    )
    branch = lora and branch_te(lora[0], lead, in_features, x_at, *lora[1:])
    return _matmul_te(lead, in_features, x_at, lambda j, k: weight[j, k], packed[0].shape[0],
                      out_dtype, branch, rows_by)


def plain_matmul_te(x: te.Tensor, w: te.Tensor, out_dtype: str, x_at=None,
                    lora=None, rows_by: int | None = None) -> te.Tensor:
    """quantized_matmul_te for a weight stored as it is, W [out, in]."""
    lead, in_features = x.shape[:-1], w.shape[1]
    x_at = x_at or (lambda lead_idx, k: x[(*lead_idx, k)])
    branch = lora and branch_te(lora[0], lead, in_features, x_at, *lora[1:])
    return _matmul_te(lead, in_features, x_at, lambda j, k: w[j, k].astype("float32"),
                      w.shape[0], out_dtype, branch, rows_by)


def one_token(x: nn.Tensor) -> bool:
    """A static [1, 1, n] input: decode, where a kept adapter's branch joins the base kernel."""
    return all(isinstance(d, int) and d == 1 for d in x.shape[:-1])


class _Packed(nn.Module):
    """The stored arrays of one quantized weight [rows, cols]: codes, scales, minimums if any."""

    def __init__(self, rows: int, cols: int, grid: Grid, dtype: str):
        self.regrid(rows, cols, grid, dtype)

    def regrid(self, rows: int, cols: int, grid: Grid, dtype: str) -> None:
        """Declare the arrays of `grid` (again: assign_linear_grids moves a linear off its
        scheme's grid after the model is built)."""
        self.grid = grid
        self.q_weight = nn.Parameter((rows, cols // grid.codes_per_word), "uint32")
        self.q_scale = nn.Parameter((rows, cols // grid.group_size), grid.scale_dtype(dtype))
        self.q_min = None if grid.symmetric else nn.Parameter((rows, cols // grid.group_size), dtype)

    def packed(self) -> list[nn.Parameter]:
        return [self.q_weight, self.q_scale] + ([self.q_min] if self.q_min is not None else [])

    def matmul(self, x: nn.Tensor, out_dtype: str, name: str) -> nn.Tensor:
        return nn.tensor_expr_op(
            lambda x_, *packed: quantized_matmul_te(x_, list(packed), self.grid, out_dtype),
            name, [x, *self.packed()])


class QuantizedLinear(_Packed):
    """y = x W^T (+ b) with W stored as codes and per-group scales, on the scheme's linear
    grid unless `grid` says otherwise (an NF4 build's untied lm_head: QuantScheme.lm_head_grid)."""

    def __init__(self, in_features: int, out_features: int, scheme: QuantScheme,
                 bias: bool = False, out_dtype: str | None = None, grid: Grid | None = None):
        super().__init__(out_features, in_features, grid or scheme.weight_grid, scheme.act_dtype)
        self.in_features, self.out_features = in_features, out_features
        self.out_dtype = out_dtype or scheme.act_dtype
        self.bias = nn.Parameter((out_features,), scheme.act_dtype) if bias else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        if has_lora(self) and one_token(x):
            y = nn.tensor_expr_op(
                lambda x_, *args: quantized_matmul_te(x_, list(args[:-2]), self.grid,
                                                      self.out_dtype, lora=(self, *args[-2:])),
                "fused_dequantize_matmul_lora", [x, *self.packed(), *lora_params(self)])
        else:
            y = apply_lora(self, x, self.matmul(x, self.out_dtype, "fused_dequantize_matmul"))
        if self.bias is not None:
            y = y + self.bias.astype(self.out_dtype)
        return y


def plain_matmul(x: nn.Tensor, weight: nn.Tensor, out_dtype: str, name: str) -> nn.Tensor:
    """y = x W^T read straight from W [out, in]: matmul(x, permute_dims(W)) would run a
    transpose kernel over the whole weight on every call. Accumulates in float32."""
    return nn.tensor_expr_op(lambda x_, w: plain_matmul_te(x_, w, out_dtype), name, [x, weight])


class PlainLinear(nn.Module):
    """Unquantized linear layer (q0 builds); the output may be cast (logits are float32)."""

    def __init__(self, in_features: int, out_features: int, dtype: str, bias: bool = False,
                 out_dtype: str | None = None):
        self.out_dtype = out_dtype or dtype
        self.weight = nn.Parameter((out_features, in_features), dtype)
        self.bias = nn.Parameter((out_features,), dtype) if bias else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        if has_lora(self) and one_token(x):
            y = nn.tensor_expr_op(
                lambda x_, w, a, b: plain_matmul_te(x_, w, self.out_dtype, lora=(self, a, b)),
                "NT_matmul_lora", [x, self.weight, *lora_params(self)])
        else:
            y = apply_lora(self, x, plain_matmul(x, self.weight, self.out_dtype, "NT_matmul"))
        if self.bias is not None:
            y = y + self.bias.astype(self.out_dtype)
        return y


def _scaled(value, scale: float | None, dtype: str):
    """value (in dtype) * scale, in dtype: rounded as a multiply after the gather would be."""
    return value if scale is None else value * tirx.const(scale, dtype)


class QuantizedEmbedding(_Packed):
    """Row gather with the dequantization fused in; rows are the vocabulary."""

    def __init__(self, vocab_size: int, dim: int, scheme: QuantScheme):
        super().__init__(vocab_size, dim, scheme.embedding_grid, scheme.act_dtype)
        self.dim, self.dtype = dim, scheme.act_dtype

    def forward(self, ids: nn.Tensor, scale: float | None = None) -> nn.Tensor:
        """The rows of `ids`, times `scale` (in the activation dtype) when given: Gemma's
        sqrt(hidden) in the gather's kernel, not one of its own."""
        def gather(ids_, *packed):
            return te.compute(
                (*ids_.shape, self.dim),
                lambda *idx: _scaled(_dequant(list(packed), self.grid, ids_[idx[:-1]], idx[-1])
                                     .astype(self.dtype), scale, self.dtype),
                name="dequantize_take",
            )

        return nn.tensor_expr_op(gather, "fused_dequantize_take", [ids, *self.packed()])

    def lm_head(self, x: nn.Tensor) -> nn.Tensor:
        """Tied output projection: logits = x E^T, float32, reusing the packed table."""
        return self.matmul(x, "float32", "fused_dequantize_lm_head")


def table_row_blocks(rows: int, cols: int, grid: Grid, dtype: str) -> list[int]:
    """Rows per block so that no stored array of a [rows, cols] table passes the binding limit
    (spec.DEFAULT_BINDING_BYTES: a kernel binds each whole): [rows] when the table fits, as
    nearly every one does. Gemma 3's 262,144 x 640 embedding on the 8-bit grid is 160 MiB of
    codes: two blocks."""
    limit = spec.DEFAULT_BINDING_BYTES
    scale_bytes = np.dtype(grid.scale_dtype(dtype)).itemsize
    row_bytes = max(cols // grid.codes_per_word * 4, cols // grid.group_size * scale_bytes)
    blocks = -(-rows // max(1, limit // row_bytes))
    per_block = -(-rows // blocks)  # balanced, still at most limit // row_bytes rows
    return [min(per_block, rows - start) for start in range(0, rows, per_block)]


class BlockedEmbedding(nn.Module):
    """A quantized embedding stored in row blocks (table_row_blocks), each under the binding
    limit: the gather picks a row's block, the tied lm_head runs one matmul per block and
    concatenates the logits."""

    def __init__(self, blocks: list[int], dim: int, scheme: QuantScheme):
        self.grid, self.dim, self.dtype, self.blocks = scheme.embedding_grid, dim, scheme.act_dtype, blocks
        setattr(self, ROW_BLOCKS, nn.ModuleList(
            [_Packed(n, dim, self.grid, scheme.act_dtype) for n in blocks]))

    def _parts(self) -> list[_Packed]:
        return list(getattr(self, ROW_BLOCKS))

    def _row(self, flat: list[te.Tensor], row, col, pick):
        """weight[row, col] (float32) from the row's block, flat being every block's arrays in
        order: each block is read at a clamped row (no out-of-bounds index), and of those
        `pick(cond, a, b)` keeps the last block whose start the row reaches."""
        out, at, start = None, 0, 0
        for part, rows in zip(self._parts(), self.blocks):
            n = len(part.packed())
            local = tirx.max(tirx.min(row - start, rows - 1), 0)
            v = _dequant(list(flat[at:at + n]), self.grid, local, col)
            out = v if out is None else pick(row >= start, v, out)
            at, start = at + n, start + rows
        return out

    def _flat(self) -> list[nn.Parameter]:
        return [a for p in self._parts() for a in p.packed()]

    def forward(self, ids: nn.Tensor, scale: float | None = None) -> nn.Tensor:
        def gather(ids_, *flat):
            def value(*idx):
                v = self._row(flat, ids_[idx[:-1]], idx[-1], tirx.Select)
                return _scaled(v.astype(self.dtype), scale, self.dtype)

            return te.compute((*ids_.shape, self.dim), value, name="dequantize_take")

        return nn.tensor_expr_op(gather, "fused_dequantize_take", [ids, *self._flat()])

    def lm_head(self, x: nn.Tensor) -> nn.Tensor:
        """The tied lm_head over every block in one kernel (a kernel a block and a concat were
        two dispatches more a token): a row reads its own block, the others at a clamped row
        under a branch not taken. Blocks whose arrays pass WebGPU's storage bindings keep a
        kernel each."""
        flat = self._flat()
        if len(flat) + 2 > spec.WEBGPU_STORAGE_BUFFERS:
            logits = [p.matmul(x, "float32", "fused_dequantize_lm_head") for p in self._parts()]
            return nn.op.concat(logits, dim=-1)

        def op(x_, *flat_):
            rows = sum(self.blocks)
            weight = te.compute((rows, self.dim),
                                lambda j, k: self._row(flat_, j, k, tirx.if_then_else),
                                name=spec.ROW_BLOCKS_DEQUANTIZE)
            *lead, dim = x_.shape
            return _matmul_te(lead, dim, lambda i, k: x_[(*i, k)], lambda j, k: weight[j, k],
                              rows, "float32")

        return nn.tensor_expr_op(op, "fused_dequantize_lm_head", [x, *flat])


class PlainEmbedding(nn.Module):
    """Unquantized embedding table (q0 builds)."""

    def __init__(self, vocab_size: int, dim: int, dtype: str):
        self.weight = nn.Parameter((vocab_size, dim), dtype)

    def forward(self, ids: nn.Tensor, scale: float | None = None) -> nn.Tensor:
        if scale is None:
            return nn.op.take(self.weight, ids, axis=0)
        dtype, dim = self.weight.dtype, self.weight.shape[1]
        return nn.tensor_expr_op(
            lambda w, ids_: te.compute((*ids_.shape, dim), lambda *idx: _scaled(
                w[ids_[idx[:-1]], idx[-1]], scale, dtype), name="take_scaled"),
            "take_scaled", [self.weight, ids])

    def lm_head(self, x: nn.Tensor) -> nn.Tensor:
        return plain_matmul(x, self.weight, "float32", "NT_matmul_lm_head")


def gated_product(gate_up: nn.Tensor, act: Scalar) -> nn.Tensor:
    """act(gate) * up for gate_up = [gate | up] on the last axis, in gate_up's dtype."""
    inter = gate_up.shape[-1] // 2

    def te_gated(gu):
        return te.compute((*gu.shape[:-1], inter),
                          lambda *idx: act(gu[idx]) * gu[(*idx[:-1], idx[-1] + inter)],
                          name="gated")

    return nn.tensor_expr_op(te_gated, "gated_product", [gate_up])


def gated_linear(linear: nn.Module, gate_up: nn.Tensor, act: Scalar) -> nn.Tensor:
    """linear(act(gate) * up): the MLP's down projection. For one token (a static [1, 1, 2I]
    input, i.e. decode) the GEMV reads the gated product itself, one kernel where there were
    two (a kept adapter's branch reads it too, in the same kernel). The input goes in twice,
    as gate and as up: TVM's GEMV schedule takes one read per buffer per step. Prefill and
    batches compute the product first."""
    if not one_token(gate_up):
        return linear(gated_product(gate_up, act))
    inter = gate_up.shape[-1] // 2
    flat = nn.op.reshape(gate_up, (2 * inter,))  # another tensor (a view): a second argument
    lora = lora_params(linear) if has_lora(linear) else []

    def x_at(gate, up):
        return lambda lead_idx, k: act(gate[(*lead_idx, k)]) * up[k + inter]

    def lora_of(args):  # (linear, A, B^T) when the linear carries a kept adapter
        return (linear, *args) if args else None

    if isinstance(linear, QuantizedLinear):
        n = len(linear.packed())
        y = nn.tensor_expr_op(
            lambda gate, up, *args: quantized_matmul_te(
                gate, list(args[:n]), linear.grid, linear.out_dtype, x_at(gate, up),
                lora_of(args[n:])),
            "fused_gated_dequantize_matmul", [gate_up, flat, *linear.packed(), *lora])
    else:
        y = nn.tensor_expr_op(
            lambda gate, up, w, *args: plain_matmul_te(
                gate, w, linear.out_dtype, x_at(gate, up),
                lora_of(args)),
            "gated_NT_matmul", [gate_up, flat, linear.weight, *lora])
    if linear.bias is not None:
        y = y + linear.bias.astype(linear.out_dtype)
    return y


def make_linear(in_features: int, out_features: int, scheme: QuantScheme, bias: bool = False,
                out_dtype: str | None = None, grid: Grid | None = None) -> nn.Module:
    if scheme.quantized:
        return QuantizedLinear(in_features, out_features, scheme, bias, out_dtype, grid)
    return PlainLinear(in_features, out_features, scheme.act_dtype, bias, out_dtype)


def assign_linear_grids(model: nn.Module, scheme: QuantScheme) -> None:
    """Move each linear the scheme puts on another grid (QuantScheme.linear_grids, resolved
    from the source) onto it, by its parameter name: the model files never see the choice."""
    for param, grid in scheme.linear_grids:
        linear = module_at(model, param)
        if not isinstance(linear, QuantizedLinear):
            raise WebslmError(f"{param} is not a quantized linear of this model",
                              "resolve the scheme's grids against this model's source")
        linear.regrid(linear.out_features, linear.in_features, grid, scheme.act_dtype)


def make_embedding(vocab_size: int, dim: int, scheme: QuantScheme) -> nn.Module:
    if scheme.quantized:
        blocks = table_row_blocks(vocab_size, dim, scheme.embedding_grid, scheme.act_dtype)
        if len(blocks) > 1:
            return BlockedEmbedding(blocks, dim, scheme)
        return QuantizedEmbedding(vocab_size, dim, scheme)
    return PlainEmbedding(vocab_size, dim, scheme.act_dtype)
