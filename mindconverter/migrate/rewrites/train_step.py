"""Rewrite the torch training step (`zero_grad / forward / loss / backward / step`) into MindSpore's."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import (
    MS_IMPORT,
    NN_IMPORT,
    BodyRewrite,
    DropStatements,
    assign_of_stmt,
    assigned_names,
    call_of_stmt,
    code_of,
    comments_of,
    is_any,
    method_call,
    names_in,
    position,
    qualified_names,
    splice,
    stmt,
    unconvert_comment,
    unique_name,
    with_marker,
)
from mindconverter.migrate.rewrites._statements import (
    bound_names,
    has_call,
    ordered,
    ordered_targets,
    reads,
    reads_outside,
    spaced,
)

CLIP_NORM = ("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_norm_")
SUGGESTION = (
    "grad_fn = ms.value_and_grad(forward_fn, None, optimizer.parameters); loss, grads = grad_fn(...); optimizer(grads)"
)


@register_rewrite("train-step", order=60)
class TrainStep(BodyRewrite):
    """`opt.zero_grad(); out = net(x); loss = crit(out, y); loss.backward(); opt.step()` -> MindSpore's step.

    1. The plain loop (one network call on one input, the loss of its output and one label, nothing else
       reading the output) becomes the guide's `nn.WithLossCell(net, crit)` + `nn.TrainOneStepCell(...,
       opt)`, built once before the outermost training loop; the step is `loss = train_network(x, y)`.
    2. Any other forward (several inputs, extra loss terms, the output used for metrics) becomes
       `def forward_fn(<per-iteration names>)` holding the statements the loss depends on, returning the
       loss and (`has_aux=True`) every value of them read elsewhere in the loop; `grad_fn =
       ms.value_and_grad(forward_fn, None, opt.parameters, has_aux=...)` before the loop; the step is
       `(loss, out), grads = grad_fn(x, y); opt(grads)`. Statements in between that the loss does not
       depend on stay in order (after the step when they read its results).
    3. `clip_grad_norm_(params, max_norm)` between backward and step -> `grads = ops.clip_by_global_norm(grads,
       max_norm)`. `zero_grad()` goes: MindSpore gradients are not accumulated into parameters.
    4. Mixed precision: `scaler.scale(loss).backward(); scaler.unscale_(opt); scaler.step(opt); scaler.update()`
       is the same step without loss scaling (the `GradScaler` goes too); `autocast` blocks are removed
       by the no-grad rewrite.
    5. What cannot be expressed that way stays as written, marked `# [UnConvert]` and reported: a
       `backward()` whose `step()` is elsewhere (gradient accumulation), `backward` of an expression
       or with arguments, a forward that assigns attributes or accumulates.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._loops: list[cst.CSTNode] = []  # enclosing for/while loops (original nodes) in this function
        self._saved: list[list[cst.CSTNode]] = []
        self._hoist: dict[int, list[cst.BaseStatement]] = {}  # id(original loop) -> statements to put before it
        self._hoisted: dict[int, list[cst.BaseStatement]] = {}  # id(updated loop) -> same
        self._taken: set[str] = set()
        self._names: dict[int, list[str]] = {}  # backward() index -> (forward_fn, grad_fn, grads) names
        self._neighbours: tuple[int, int] = (-1, 0)  # the backward() before and after the one being converted
        self._scalers: set[str] = set()  # AMP GradScalers whose uses were converted

    def visit_Module(self, node: cst.Module) -> None:
        self._taken = names_in(node)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        module = super().leave_Module(original_node, updated_node)
        if not self._scalers:
            return module

        def is_scaler(statement: cst.BaseStatement) -> bool:
            assign = assign_of_stmt(statement)
            return (
                assign is not None and len(assign.targets) == 1 and code_of(assign.targets[0].target) in self._scalers
                and isinstance(assign.value, cst.Call) and code_of(assign.value.func).endswith("GradScaler")
            )  # fmt: skip

        return module.visit(DropStatements(is_scaler))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._saved.append(self._loops)
        self._loops = []

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self._loops = self._saved.pop()
        return updated_node

    def visit_For(self, node: cst.For) -> None:
        self._loops.append(node)

    def visit_While(self, node: cst.While) -> None:
        self._loops.append(node)

    def _left_loop(self, original_node, updated_node):
        self._loops.pop()
        if id(original_node) in self._hoist:
            self._hoisted[id(updated_node)] = self._hoist.pop(id(original_node))
        return updated_node

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        return self._left_loop(original_node, updated_node)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.While:
        return self._left_loop(original_node, updated_node)

    # -- one body ---------------------------------------------------------------------------------
    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        out = list(body)
        for i in reversed(range(len(out))):  # loops that get a step built before them
            if id(out[i]) in self._hoisted:
                built = spaced(self._hoisted.pop(id(out[i])), out[i].leading_lines, first=i == 0)
                out = [*out[:i], *built, out[i].with_changes(leading_lines=[]), *out[i + 1 :]]
        backwards = [i for i, s in enumerate(original) if self._backward(s) is not None]
        if not backwards:
            return out, []
        if len(out) != len(original):
            return out, []  # a loop here got its step hoisted: this body was an outer one, handled already
        # names in source order, though the steps are built last first (earlier indices stay valid)
        self._names = {b: [unique_name(n, self._taken) for n in ("forward_fn", "grad_fn", "grads")] for b in backwards}
        for b in reversed(backwards):
            self._neighbours = (
                max((x for x in backwards if x < b), default=-1),
                min((x for x in backwards if x > b), default=len(original)),
            )
            why = self._convert(original, out, b)
            if why is not None:
                self._unconvertible(original, out, b, why)
        return out, []

    def _backward(self, statement: cst.BaseStatement) -> cst.Call | None:
        """The `loss.backward()` (or AMP's `scaler.scale(loss).backward()`) call of a statement."""
        call = call_of_stmt(statement)
        return method_call(call, "backward") if call is not None else None

    @staticmethod
    def _scaled(backward: cst.Call) -> tuple[str, cst.BaseExpression] | None:
        """(scaler, loss) of `scaler.scale(loss).backward()`."""
        inner = method_call(backward.func.value, "scale")
        if inner is not None and len(inner.args) == 1 and isinstance(inner.func.value, (cst.Name, cst.Attribute)):
            return code_of(inner.func.value), inner.args[0].value
        return None

    def _unconvertible(self, original, out, b, why) -> None:
        call = self._backward(original[b])
        line, col = position(self, call)
        self.ctx.report(line, col, "torch.Tensor.backward", False, why, SUGGESTION)
        out[b] = with_marker(out[b], unconvert_comment(f"{code_of(call.func)}", why, SUGGESTION))

    def _convert(self, original: Sequence[cst.BaseStatement], out: list[cst.BaseStatement], b: int) -> str | None:
        backward = self._backward(original[b])
        if backward.args:
            return "backward() with arguments"
        scaled = self._scaled(backward)
        scaler, loss_node = scaled if scaled is not None else (None, backward.func.value)
        if not isinstance(loss_node, cst.Name):
            return "backward() of an expression, not of a loss variable"
        loss = loss_node.value
        found = self._find_step(original, b, scaler)
        if isinstance(found, str):
            return found
        s, optimizer, zero, start = found
        found = self._find_chain(original, b, s, start, loss, scaler)
        if isinstance(found, str):
            return found
        chain, others, between, clip, unscale = found
        host, params, aux = self._form(original, chain, start, optimizer, loss)
        line, col = position(self, backward)
        self.ctx.imports_needed.add(MS_IMPORT)
        built, step, plain = self._replacement(original, out, b, chain, loss, aux, clip, params, optimizer, line, col)
        sl, sc = position(self, call_of_stmt(original[s]))
        self.ctx.report(sl, sc, "torch.optim.Optimizer.step", True, f"-> {code_of(optimizer)}(grads)")
        for z in zero:
            zl, zc = position(self, call_of_stmt(original[z]))
            if method_call(call_of_stmt(original[z]), "update"):
                self.ctx.report(zl, zc, "torch.amp.GradScaler.update", True, "removed: no loss scaling")
            else:
                self.ctx.report(
                    zl, zc, "torch.optim.Optimizer.zero_grad", True, "removed: MindSpore gradients are not accumulated"
                )
        if scaler is not None:
            self._scalers.add(scaler)
            self.ctx.report(
                line,
                col,
                "torch.amp.GradScaler",
                True,
                "removed: no loss scaling (MindSpore: ms.amp.DynamicLossScaler)",
            )
        at = self._assemble(
            out, chain, others, zero, start, b, s, between, clip + unscale, step, keep_chain=plain is None
        )
        if host is not None:
            self._hoist[id(host)] = [*built, *self._hoist.get(id(host), [])]  # steps are built last first
        else:  # built right before the step, in the same block
            lead, out[at] = out[at].leading_lines, out[at].with_changes(leading_lines=[])
            out[at:at] = spaced(built, lead, first=at == 0)
        return None

    def _find_step(self, original, b, scaler) -> str | tuple:
        """(step index, optimizer, zero_grad indices, start of the step's statements) of the backward() at b."""

        def is_step(c: cst.Call | None) -> bool:
            if c is None or not method_call(c, "step"):
                return False
            if scaler is not None and code_of(c.func.value) == scaler:
                return len(c.args) == 1  # scaler.step(optimizer)
            return not c.args

        steps = [i for i in range(b + 1, len(original)) if is_step(call_of_stmt(original[i]))]
        if not steps or any(self._backward(original[i]) for i in range(b + 1, steps[0])):
            return "its optimizer.step() is not in the same block (gradient accumulation?)"
        s = steps[0]
        step_call = call_of_stmt(original[s])
        optimizer = step_call.args[0].value if scaler is not None else step_call.func.value
        # zero_grad()s of this step: after the previous backward(), and after step() only when no other
        # backward() follows (two optimizers in one loop, as a GAN has, each zero their own before it)
        prev_b, next_b = self._neighbours
        zero = [
            i
            for i, st in enumerate(original)
            if (c := call_of_stmt(st)) is not None
            and (
                (method_call(c, "zero_grad") and not c.args)
                or (scaler and method_call(c, "update") and code_of(c.func.value) == scaler)
            )
            and prev_b < i
            and (i < b or (i > s and next_b == len(original)))
        ]
        start = max([z + 1 for z in zero if z < b], default=prev_b + 1)
        return s, optimizer, zero, start

    def _find_chain(self, original, b, s, start, loss, scaler) -> str | tuple:
        """(forward chain, other statements, statements between backward and step, clips, unscales)."""
        # the statements the loss depends on, found backwards from backward()
        needed, chain = {loss}, []
        for i in range(b - 1, start - 1, -1):
            bound = bound_names(original[i])
            if bound is None or not bound & needed:
                continue
            value = original[i].body[0].value
            if (
                not names_in(value) - {"self"}
                or not isinstance(value, (cst.Call, cst.BinaryOperation, cst.Tuple))
                and not has_call(value)
            ):
                break  # `x, y = batch`: unpacking, not forward computation
            chain.insert(0, i)
            needed |= reads(original[i].body[0].value)
        if (
            not chain
            or loss not in (bound_names(original[chain[-1]]) or set())
            and not any(loss in bound_names(original[i]) for i in chain)
        ):
            return "the loss is not computed in the same block"
        chain_bound = set().union(*(bound_names(original[i]) for i in chain))
        others = [i for i in range(start, b) if i not in chain]
        for i in others:
            if assigned_names(original[i]) & (needed | chain_bound) and i > chain[0]:
                return f"line {position(self, original[i])[0]} changes a value the forward uses"
        between = list(range(b + 1, s))
        clip, unscale = [], []
        for i in between:
            call = call_of_stmt(original[i])
            if call is not None and is_any(self, call.func, CLIP_NORM):
                clip.append(i)
            elif (
                scaler is not None
                and call is not None
                and method_call(call, "unscale_")
                and code_of(call.func.value) == scaler
            ):
                unscale.append(i)  # MindSpore's gradients are never scaled here
            elif reads(original[i]) & {"grad"} or "grad" in code_of(original[i]):
                return "gradients are read or changed between backward() and step()"
        return chain, others, between, clip, unscale

    def _form(self, original, chain, start, optimizer, loss) -> tuple:
        """(host loop the step is built before or None, forward_fn params, auxiliary outputs)."""
        # where the step is built: before the outermost loop that binds none of the captured names
        reads_free = set()
        bound_so_far: set[str] = set()
        for i in chain:
            reads_free |= reads(original[i].body[0].value) - bound_so_far
            bound_so_far |= bound_names(original[i])
        host = next((loop for loop in self._loops if not names_in(optimizer) & assigned_names(loop)), None)
        scope = host if host is not None else cst.Module(body=list(original))
        varying = (
            assigned_names(scope)
            if host is not None
            else set().union(*(bound_names(original[i]) or set() for i in range(start)))
        )
        params = [n for n in ordered(original, chain, reads_free) if n in varying]
        used_elsewhere = set()
        for node in [original[i] for i in range(len(original)) if i not in chain] + (
            [host] if host is not None else []
        ):
            if node is host:
                used_elsewhere |= reads_outside(host, [original[i] for i in chain])
            else:
                used_elsewhere |= reads(node)
        aux = [n for n in ordered_targets(original, chain) if n != loss and n in used_elsewhere]
        return host, params, aux

    def _replacement(self, original, out, b, chain, loss, aux, clip, params, optimizer, line, col) -> tuple:
        """(statements built before the step, the new step statements, the plain-Cell form or None)."""
        plain = self._plain(original, chain, loss, aux, clip)
        if plain is not None:
            net, crit, args = plain
            with_loss = unique_name("net_with_loss", self._taken)
            train_net = unique_name("train_network", self._taken)
            self.ctx.imports_needed.add(NN_IMPORT)
            built = [
                stmt(f"{with_loss} = nn.WithLossCell({net}, {crit})\n"),
                stmt(f"{train_net} = nn.TrainOneStepCell({with_loss}, {code_of(optimizer)})\n"),
                stmt(f"{train_net}.set_train()\n"),
            ]
            step = [stmt(f"{loss} = {train_net}({', '.join(args)})\n")]
            self.ctx.report(
                line,
                col,
                "torch.Tensor.backward",
                True,
                "-> nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), optimizer)",
            )
        else:
            fn, grad, grads = self._names[b]
            body = [out[i] for i in chain]
            body[0] = body[0].with_changes(leading_lines=[ln for ln in body[0].leading_lines if ln.comment is not None])
            ret = ", ".join([loss, *aux])
            definition = cst.FunctionDef(
                name=cst.Name(fn),
                params=cst.Parameters(params=[cst.Param(cst.Name(p)) for p in params]),
                body=cst.IndentedBlock(body=[*body, stmt(f"return {ret}\n")]),
            )
            has_aux = ", has_aux=True" if aux else ""
            built = [
                definition,
                stmt(f"{grad} = ms.value_and_grad({fn}, None, {code_of(optimizer)}.parameters{has_aux})\n"),
            ]
            built[1] = built[1].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
            result = f"({ret})" if aux else loss
            step = [stmt(f"{result}, {grads} = {grad}({', '.join(params)})\n")]
            for i in clip:
                max_norm = call_of_stmt(original[i]).args[1].value
                self.ctx.imports_needed.add("from mindspore import ops")
                step.append(stmt(f"{grads} = ops.clip_by_global_norm({grads}, {code_of(max_norm)})\n"))
                cl, cc = position(self, call_of_stmt(original[i]))
                self.ctx.report(
                    cl, cc, "torch.nn.utils.clip_grad_norm_", True, "-> ops.clip_by_global_norm(grads, max_norm)"
                )
            step.append(stmt(f"{code_of(optimizer)}({grads})\n"))
            self.ctx.report(
                line,
                col,
                "torch.Tensor.backward",
                True,
                f"-> ms.value_and_grad({fn}, None, {code_of(optimizer)}.parameters)",
            )
        return built, step, plain

    def _assemble(self, out, chain, others, zero, start, b, s, between, clip, step, keep_chain) -> int:
        """Replace the statements from the forward to `step()` by the new step, in place, keeping comments.

        Statements that vanish (zero_grad, backward, step, clipping, and the forward when it moved into a
        Cell) hand their comments to the new step; the forward's statements keep theirs in `forward_fn`;
        other statements keep theirs and their order (after the step when they read its results)."""
        chain_bound = set().union(*(bound_names(out[i]) or set() for i in chain))
        zero_run = [z for z in zero if start - 1 <= z < b]
        removed = sorted({*zero_run, b, s, *clip, *([] if keep_chain else chain)})
        run = sorted({*chain, *others, *zero_run, b, s, *between})
        moved = [ln for i in removed for ln in comments_of(out[i]) if ln.comment is not None]
        step = [step[0].with_changes(leading_lines=moved), *step[1:]]
        reads_result = [i for i in others if reads(out[i]) & chain_bound]
        block = [*(out[i] for i in others if i not in reads_result), *step, *(out[i] for i in reads_result)]
        block += [out[i] for i in between if i not in clip]
        if run[0] in removed or run[0] in chain:
            blank = [ln for ln in out[run[0]].leading_lines if ln.comment is None][:1]
            block[0] = block[0].with_changes(leading_lines=[*blank, *block[0].leading_lines])
        after_step = sorted(z for z in zero if z > s)
        rest = [st for i, st in enumerate(out) if i > run[-1]]
        for z in reversed(after_step):
            rest = splice(rest, z - run[-1] - 1, [])
        out[:] = [*out[: run[0]], *block, *rest]
        return run[0]

    def _plain(self, original, chain, loss, aux, clip) -> tuple[str, str, list[str]] | None:
        """(net, loss_fn, [input, label]) when the forward is `out = net(x); loss = crit(out, y)` or
        `loss = crit(net(x), y)` and nothing else reads `out`."""
        if aux or clip or len(chain) > 2:
            return None
        values = [original[i].body[0] for i in chain]
        last = values[-1]
        if not isinstance(last, cst.Assign) or not isinstance(last.value, cst.Call) or len(last.value.args) != 2:
            return None
        crit_call = last.value
        if any(a.keyword or a.star for a in crit_call.args):
            return None
        first, label = crit_call.args[0].value, crit_call.args[1].value
        if len(chain) == 2:
            head = values[0]
            if (
                not isinstance(head, cst.Assign)
                or not isinstance(first, cst.Name)
                or bound_names(original[chain[0]]) != {first.value}
            ):
                return None
            net_call = head.value
        else:
            net_call = first
        if (
            not isinstance(net_call, cst.Call)
            or len(net_call.args) != 1
            or net_call.args[0].keyword
            or net_call.args[0].star
        ):
            return None
        data = net_call.args[0].value
        if not all(isinstance(n, (cst.Name, cst.Attribute)) for n in (net_call.func, crit_call.func, data, label)):
            return None
        if qualified_names(self, crit_call.func) & {
            q for q in qualified_names(self, crit_call.func) if q.startswith("torch")
        }:
            return None  # `F.cross_entropy`: a function the API table maps where it is called, not a loss Cell
        return code_of(net_call.func), code_of(crit_call.func), [code_of(data), code_of(label)]
