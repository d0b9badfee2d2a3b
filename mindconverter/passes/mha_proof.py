"""The layout proof of fuse-multihead-attention: the moves around the attention are exactly torch's.

Given the q, k and v projections (each x @ W^T + b with the layout-op chains from its source to x and
from its result to the heads), the chain moving the attention output to the out_proj input,
and the chains after out_proj, `prove` runs every chain on element codes (passes/layout_trace.py) and
checks, for each set of symbol sizes, that:

- each projection input row is one row of its source (rank 3: (batch, seq) or (seq, batch), then features);
- each head of q, k and v reads head_dim consecutive projection columns (head h of the block at an
  offset: q, k, v stacked in one projection, or each in its own), over the rows of one batch entry in
  sequence order, with the same batch entry and head for q, k and v, covering batch x heads once;
- the out_proj input rows are (batch, target) rows with the heads in order, and the output after
  out_proj is laid out as the query is.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from mindconverter.ir.core import Value
from mindconverter.passes import layout_trace as lt
from mindconverter.passes.pattern import Rewriter


@attrs.define
class Proof:
    """What the proof found: sources and input chains of q, k, v, their column offsets, heads, layout, output chain."""

    sources: dict[str, Value]
    inputs: dict[str, list[Value]]
    offsets: dict[str, int]
    num_heads: int
    head_dim: int
    batch_first: bool
    output: list[Value]
    #: Whether the output is laid out as the query with batch and sequence swapped.
    transposed: bool = False


def prove(parts: dict[str, Any], moved: list[Value], after: list[Value], out: Any, rw: Rewriter) -> Proof | str:
    """Prove the block's data movement (see the module docstring); returns what it found, or why it fails."""
    candidates = _inputs(parts, rw)
    if isinstance(candidates, str):
        return candidates
    values = [v for cs in candidates.values() for c in cs for v in c] + [v for p in parts.values() for v in p.heads]
    envs = lt.envs(values + moved + after)
    if not envs:
        return "too many symbolic dims to trace"
    found = None
    for env in envs:
        got = _prove_env(parts, candidates, moved, after, out, env, rw)
        if isinstance(got, str):
            return got
        if found is not None and got != found:
            return "the heads are laid out differently for other sizes of the symbolic dims"
        found = got
    batch_first, heads, head_dim, offsets, (end, transposed), chosen = found
    inputs = {name: candidates[name][i] for name, i in chosen.items()}
    sources = {name: chain[0] for name, chain in inputs.items()}
    return Proof(sources, inputs, offsets, heads, head_dim, batch_first, after[:end + 1], transposed)


def _inputs(parts: dict[str, Any], rw: Rewriter) -> dict[str, list[list[Value]]] | str:
    """Each projection's input chains from a source of rank 3, furthest first.

    A move shared with another block (torch transposes nn.TransformerDecoder's memory once for every layer's
    cross-attention) may be passed over: the block reads the source before it, the move stays for its other users.
    """
    inputs = {}
    for name, p in parts.items():
        inputs[name] = [p.inputs[i:] for i in range(len(p.inputs)) if p.inputs[i].type.rank == 3]
        if not inputs[name]:
            return f"{name}: the projection input is {p.inputs[-1].type}, not (batch, seq, features) moved"
        if not inputs[name]:
            return f"{name}: the projection input is {p.inputs[-1].type}, not (batch, seq, features) moved"
    return inputs


def _heads_of(p: Any, chain: list[Value], key: bool, env: dict[str, int], rw: Rewriter) -> np.ndarray | None:
    """The codes (groups, seq, head_dim) of the source elements each head of `p` reads, through `chain`."""
    rows = _source_rows(chain, env, rw)
    codes = None if rows is None else lt.run(p.heads, rows[..., None] * p.width + np.arange(p.width), env, rw)
    if codes is None or codes.ndim < 3:
        return None
    if key:  # k is multiplied transposed: (..., head_dim, source)
        codes = np.swapaxes(codes, -1, -2)
    return codes.reshape(-1, *codes.shape[-2:])


def _prove_env(parts: dict[str, Any], candidates: dict[str, list[list[Value]]], moved: list[Value], after: list[Value],
               out: Any, env: dict[str, int], rw: Rewriter) -> tuple | str:
    """For one layout (batch first or not), the furthest source of q, k and v laid out so; then the rest of the proof."""
    for batch_first in (True, False):
        heads, layout, shapes, chosen = {}, {}, {}, {}
        for name, p in parts.items():
            for i, chain in enumerate(candidates[name]):
                codes, shape = _heads_of(p, chain, name == "k", env, rw), lt.shape(chain[0], env)
                found = None if codes is None else _layout(codes, p.width, shape, batch_first)
                if found is not None:
                    heads[name], layout[name], shapes[name], chosen[name] = codes, found, shape, i
                    break
        if len(chosen) == len(parts):
            got = _check_heads(parts, heads, layout, shapes, batch_first, moved, after, out, env, rw)
            return got if isinstance(got, str) else (*got, chosen)
    return "the heads do not each read head_dim consecutive columns of one batch entry's rows in sequence order"


def _check_heads(parts: dict[str, Any], heads: dict, layout: dict, shapes: dict, batch_first: bool, moved: list[Value],
                 after: list[Value], out: Any, env: dict[str, int], rw: Rewriter) -> tuple | str:
    batch, cols = layout["q"]
    head_dim, embed = heads["q"].shape[-1], shapes["q"][2]
    if any(not np.array_equal(layout[n][0], batch) for n in "kv") or {h.shape[-1] for h in heads.values()} != {head_dim}:
        return "q, k and v heads disagree on batch entries or head size"
    if embed % head_dim:
        return f"the query's {embed} features are not whole heads of {head_dim}"
    num_heads = embed // head_dim
    offsets = {n: int(layout[n][1].min()) for n in "qkv"}
    rel = {n: layout[n][1] - offsets[n] for n in "qkv"}
    if any(not np.array_equal(rel[n], rel["q"]) for n in "kv") or (rel["q"] % head_dim).any():
        return "q, k and v heads read different columns"
    head = rel["q"] // head_dim
    n_batch = shapes["q"][0 if batch_first else 1]
    if head.max() >= num_heads or sorted(batch * num_heads + head) != list(range(n_batch * num_heads)):
        return "the heads do not cover batch x heads once"
    if any(offsets[n] + embed > parts[n].width for n in "qkv"):
        return "a head reads past its projection"
    end = _output(heads["q"].shape, batch, head, shapes["q"], batch_first, moved, after, out, env, rw)
    if isinstance(end, str):
        return end
    return batch_first, num_heads, head_dim, offsets, end


def _output(q_shape: tuple, batch: np.ndarray, head: np.ndarray, source: tuple, batch_first: bool, moved: list[Value],
            after: list[Value], out: Any, env: dict[str, int], rw: Rewriter) -> tuple[int, bool] | str:
    """The index in `after` of the value laid out as the query (moved back from out_proj), and whether it is with
    batch and sequence swapped (the next op's transpose merged into the block's), or why there is none."""
    groups, target, head_dim = q_shape
    embed = source[2]
    o_shape = lt.shape(moved[0], env)
    if o_shape is None or int(np.prod(o_shape[:-2])) != groups or o_shape[-2:] != (target, head_dim):
        return "the attention output is not (batch x heads, target, head_dim)"
    pos = np.arange(target)[None, :, None]
    row = (batch[:, None, None] * source[1] + pos) if batch_first else (pos * source[1] + batch[:, None, None])
    codes = row * embed + head[:, None, None] * head_dim + np.arange(head_dim)
    rows = _rows(lt.run(moved, codes.reshape(o_shape), env, rw), embed)
    if rows is None:
        return "the attention output is not moved into (batch, target) rows of the heads in order for out_proj"
    width = out.width
    if width != embed:
        return f"out_proj gives {width} features, not embed_dim {embed}"
    codes = rows[..., None] * width + np.arange(width)
    want = np.arange(int(np.prod(source))).reshape(source)
    for end in range(len(after) - 1, -1, -1):
        got = lt.run(after[:end + 1], codes, env, rw)
        for transposed in (False, True):  # the query's layout, or with batch and sequence swapped
            if got is not None and np.array_equal(got, want.transpose(1, 0, 2) if transposed else want):
                return end, transposed
    return "the out_proj result is not moved back into the query's layout"


def _rows(a: np.ndarray | None, width: int) -> np.ndarray | None:
    """For codes `a` of row * width + column: the row of each row of `a` when its columns are whole and in order."""
    if a is None or a.ndim < 1 or a.shape[-1] != width:
        return None
    flat = a.reshape(-1, width)
    if not (flat == flat[:, :1] + np.arange(width)).all() or (flat[:, 0] % width).any():
        return None
    return (flat[:, 0] // width).reshape(a.shape[:-1])


def _source_rows(chain: list[Value], env: dict[str, int], rw: Rewriter) -> np.ndarray | None:
    """For each row of the projection input, the flat (first two dims) index of the source row it is."""
    shape = lt.shape(chain[0], env)
    if shape is None or len(shape) != 3:
        return None
    return _rows(lt.run(chain, np.arange(int(np.prod(shape))).reshape(shape), env, rw), shape[2])


def _layout(heads: np.ndarray, width: int, source: tuple | None, batch_first: bool) -> tuple | None:
    """(batch entry, first column) of each head of `heads` (codes (groups, seq, head_dim)) when it reads whole rows in order."""
    if source is None:
        return None
    row, col = np.divmod(heads, width)
    _, seq, head_dim = heads.shape
    first = col[:, :1, :1]
    if not (col == first + np.arange(head_dim)).all():
        return None
    i0, i1 = np.divmod(row, source[1])
    batch, pos = (i0, i1) if batch_first else (i1, i0)
    if seq != source[1 if batch_first else 0] or not (pos == np.arange(seq)[None, :, None]).all():
        return None
    if not (batch == batch[:, :1, :1]).all():
        return None
    return batch[:, 0, 0], first[:, 0, 0]
