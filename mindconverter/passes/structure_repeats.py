"""Repeated structure in a function without source scopes: atomic segments, structural keys, tandem repeats.

This module only analyses; `structure-modules` outlines what `plan_repeats` finds. The steps:

1. **Segments.** The top-level ops are cut wherever exactly one non-constant value is live: the one
   tensor that flows between residual blocks, Inception/Fire modules or transformer layers. Inside
   a residual block two values are live (the shortcut and the main path), so a block is one segment.
2. **Keys.** A segment's key is its op names, operand arity and dataflow (which op result, or which
   external value, each operand reads; weights and constants count by kind only). Attribute values,
   weights and shapes are left out: the backend lifts differing ones into constructor arguments (or
   writes a second class where it cannot). A residual segment whose shortcut is a chain of ops (a
   projection: ResNet's `downsample`) is keyed with that chain bypassed, so blocks with and without
   it match; the chain becomes an optional sub-cell.
3. **Repeats.** A unit is a sequence of consecutive segments. Units are chosen greedily: the one
   whose non-overlapping occurrences (at least two) cover the most ops first, then the one that
   opens with a layer (an op with a weight: conv, dense, norm, as blocks do, rather than with an
   activation or a pooling), then the shorter, then the earlier; its occurrences are taken out of
   the search. Counting every occurrence, not only back-to-back ones, picks the module itself over a
   coarser period: SqueezeNet's Fire module (8 occurrences) rather than maxpool+Fire+Fire (3), and
   ResNet's `block, relu` rather than `relu, block`. Back-to-back occurrences (tandem repeats) form
   a run, which `structure-modules` groups into a stage, and it structures each instance again
   inside (a coarser unit that still wins holds its finer repeats as sub-cells).
4. **Thresholds.** A unit has at least `MIN_UNIT_OPS` ops and is not a stretch of a sequence with a
   shorter period (`conv, relu, conv` is conv+relu cut elsewhere). conv+relu is one layer and its
   activation: a class for it would add lines without adding meaning, so VGG's conv/relu chains
   stay flat (its stages, conv/relu pairs and a maxpool, do become blocks).
"""

from __future__ import annotations

from collections.abc import Hashable

import attrs

from mindconverter.ir.core import Block, Op, Value

#: The fewest ops of a repeated unit (see the module docstring: conv+relu pairs stay flat).
MIN_UNIT_OPS = 3
#: The most segments in a unit (bounds the search; a transformer layer is 4 to 8 segments).
MAX_UNIT_SEGMENTS = 64

_JOIN_ADD = ("onnx.Add", "onnx.Sum")


@attrs.define(eq=False)
class Segment:
    """Consecutive top-level ops between two cut points, with its structural key."""

    ops: list[Op]
    key: Hashable
    shortcut: list[Op]  # a residual segment's projection shortcut (empty: identity, or not residual)
    residual: bool
    concat: bool


@attrs.define(eq=False)
class Instance:
    """One occurrence of a repeated unit: its segments, in program order."""

    segments: list[Segment]

    @property
    def ops(self) -> list[Op]:
        return [op for s in self.segments for op in s.ops]

    @property
    def shortcut(self) -> list[Op]:
        return [op for s in self.segments for op in s.shortcut]


@attrs.define(eq=False)
class Run:
    """Consecutive instances of one unit (a single one for isolated occurrences); `cls` names its class."""

    instances: list[Instance]
    cls: str
    start: int  # index of its first segment


def _structural(op: Op) -> bool:
    return op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield")


def _is_weight(v: Value) -> bool:
    return v.op is not None and v.op.name in ("ir.param", "ir.const")


def atomic_segments(body: Block) -> list[list[Op]]:
    """The top-level ops of `body` cut where exactly one non-constant value is live."""
    ops = [op for op in body.ops if _structural(op)]
    n = len(ops)
    index = {op: i for i, op in enumerate(ops)}
    defined: dict[Value, int] = {a: -1 for a in body.args}
    for i, op in enumerate(ops):
        defined.update((r, i) for r in op.results)
    last_use: dict[Value, int] = {}
    term = body.terminator
    for op in [*ops, *([term] if term is not None else [])]:
        at = index.get(op, n)
        for inner in op.walk():
            for v in inner.operands:
                if v is not None and v in defined:
                    last_use[v] = max(last_use.get(v, -1), at)
    # live[c]: values defined before op c and used at or after it.
    delta = [0] * (n + 2)
    for v, use in last_use.items():
        d = defined[v]
        if use > d:
            delta[d + 1] += 1
            delta[use + 1] -= 1
    segments: list[list[Op]] = []
    live, start = 0, 0
    for c in range(n + 1):
        live += delta[c]
        if 0 < c < n and live == 1:
            segments.append(ops[start:c])
            start = c
    if start < n:
        segments.append(ops[start:])
    return segments


def _slice(v: Value, members: set[Op]) -> set[Op]:
    """The ops of `members` that `v` depends on."""
    seen: set[Op] = set()
    todo = [v]
    while todo:
        x = todo.pop()
        op = x.op if x is not None else None
        if op is None or op not in members or op in seen:
            continue
        seen.add(op)
        todo.extend(u for u in op.operands if u is not None)
    return seen


def defined_values(ops: list[Op]) -> set[Value]:
    """Every value the ops (and the ops of their regions) define."""
    inside: set[Value] = set()
    for op in ops:
        for inner in op.walk():
            inside.update(inner.results)
            for region in inner.regions:
                inside.update(region.args)
    return inside


def external_values(ops: list[Op], inside: set[Value] | None = None) -> list[Value]:
    """Non-constant values the ops read that none of them defines, in order of first use."""
    inside = defined_values(ops) if inside is None else inside
    out: dict[Value, None] = {}
    for op in ops:
        for inner in op.walk():
            for v in inner.operands:
                if v is not None and v not in inside and not _is_weight(v):
                    out.setdefault(v)
    return list(out)


def shortcut_of(ops: list[Op]) -> tuple[bool, list[Op]]:
    """(whether the segment ends by adding its input back, the ops of its shortcut branch if it is a projection)."""
    join = ops[-1]
    if join.name not in _JOIN_ADD or len(join.operands) != 2 or any(v is None or _is_weight(v) for v in join.operands):
        return False, []
    members = set(ops)
    a, b = (_slice(v, members) for v in join.operands)
    if a & b:
        return False, []
    short, long = sorted((a, b), key=len)
    if not long:
        return False, []
    if not short:
        return True, []
    chain = [op for op in ops if op in short]
    if len(chain) >= len(long) or len(external_values(chain)) != 1 or any(op.regions for op in chain):
        return True, []
    return True, chain


def structure_key(ops: list[Op], bypass: list[Op] = ()) -> Hashable:
    """Op names, arity and dataflow of `ops`; the `bypass` ops act as the identity on their input."""
    skip = set(bypass)
    ref: dict[Value, Hashable] = {}
    ext: dict[Value, int] = {}

    def of(v: Value | None) -> Hashable:
        if v is None:
            return None
        if v in ref:
            return ref[v]
        if _is_weight(v):
            return (v.op.name,)
        return ("ext", ext.setdefault(v, len(ext)))

    items = []
    k = 0
    for op in ops:
        if op in skip:
            source = next((v for v in op.operands if v is not None and not _is_weight(v)), None)
            for r in op.results:
                ref[r] = of(source)
            continue
        regions = tuple(len(r.ops) for r in op.regions)
        items.append((op.name, tuple(of(v) for v in op.operands), len(op.results), regions))
        for j, r in enumerate(op.results):
            ref[r] = ("op", k, j)
        k += 1
    return tuple(items)


def make_segment(ops: list[Op]) -> Segment:
    residual, shortcut = shortcut_of(ops)
    return Segment(ops, structure_key(ops, shortcut), shortcut, residual, ops[-1].name == "onnx.Concat")


def _size(seg: Segment) -> int:
    return len(seg.ops) - len(seg.shortcut)


def _aperiodic(unit: tuple) -> bool:
    """Whether `unit` is not a stretch of a sequence with a shorter period (`C R C` is one of `C R C R ...`).

    Such a stretch is the shorter unit, cut at another place; counting it would let conv+relu chains
    form 3-op units.
    """
    k = len(unit)
    return not any(all(unit[i] == unit[i + p] for i in range(k - p)) for p in range(1, k))


def _occurrences(keys: list[int], unit: tuple[int, ...], free: list[bool]) -> list[int]:
    """Starts of the non-overlapping occurrences of `unit` over free segments, left to right."""
    k, out, s = len(unit), [], 0
    while s + k <= len(keys):
        if tuple(keys[s:s + k]) == unit and all(free[s:s + k]):
            out.append(s)
            s += k
        else:
            s += 1
    return out


def _best_unit(keys: list[int], sizes: list[int], opens: list[bool], free: list[bool]) -> tuple[tuple[int, ...], list[int]] | None:
    """The unit whose occurrences (at least two) over free segments cover the most ops, and their starts.

    Ties (the same repeat cut at another place) go to a unit that opens with a layer (an op with a
    weight), as blocks do (conv, dense, norm), rather than with an activation or a pooling.
    """
    n = len(keys)
    best, best_score = None, None
    for k in range(1, min(n // 2, MAX_UNIT_SEGMENTS) + 1):
        seen: set[tuple[int, ...]] = set()
        for s in range(n - k + 1):
            unit = tuple(keys[s:s + k])
            if unit in seen or not all(free[s:s + k]):
                continue
            seen.add(unit)
            weight = sum(sizes[s:s + k])
            if weight < MIN_UNIT_OPS or not _aperiodic(unit):
                continue
            starts = _occurrences(keys, unit, free)
            if len(starts) < 2:
                continue
            score = (len(starts) * weight, opens[s], -k, -starts[0])
            if best_score is None or score > best_score:
                best, best_score = (unit, starts), score
    return best


def _class_name(segments: list[Segment]) -> str:
    if any(s.residual for s in segments):
        return "ResidualBlock"
    if any(s.concat for s in segments):
        return "ConcatBlock"
    return "Block"


def plan_repeats(body: Block, classes: dict[Hashable, str] | None = None) -> list[Run]:
    """The repeated units of `body`'s top level, as runs in program order (see the module docstring).

    `classes` maps the units named so far to their class names (new units get new names).
    """
    classes = {} if classes is None else classes
    segs = [make_segment(ops) for ops in atomic_segments(body)]
    n = len(segs)
    ids: dict[Hashable, int] = {}
    keys = [ids.setdefault(s.key, len(ids)) for s in segs]
    sizes = [_size(s) for s in segs]
    free = [True] * n
    units: list[tuple[int, ...]] = []
    runs: list[tuple[int, int, int, int]] = []  # (start, unit length, repetitions, unit index)
    opens = [any(v is not None and v.op is not None and v.op.name == "ir.param" for v in s.ops[0].operands) for s in segs]
    while (found := _best_unit(keys, sizes, opens, free)) is not None:
        unit, starts = found
        k = len(unit)
        units.append(unit)
        for s in starts:
            for i in range(s, s + k):
                free[i] = False
            if runs and runs[-1][3] == len(units) - 1 and runs[-1][0] + runs[-1][2] * k == s:
                runs[-1] = (runs[-1][0], k, runs[-1][2] + 1, len(units) - 1)  # back to back: one run
            else:
                runs.append((s, k, 1, len(units) - 1))
    # One class name per unit, unique: ResidualBlock, ResidualBlock2, ... (`classes` is shared by nested calls)
    names: list[str] = []
    for u in range(len(units)):
        s, k = next((r[0], r[1]) for r in runs if r[3] == u)
        key = tuple(seg.key for seg in segs[s:s + k])
        if key not in classes:
            base = _class_name(segs[s:s + k])
            taken = set(classes.values())
            n = 1
            while (name := base if n == 1 else f"{base}{n}") in taken:
                n += 1
            classes[key] = name
        names.append(classes[key])
    out = []
    for s, k, reps, u in sorted(runs):
        instances = [Instance(segs[s + r * k:s + (r + 1) * k]) for r in range(reps)]
        out.append(Run(instances, names[u], s))
    return out
