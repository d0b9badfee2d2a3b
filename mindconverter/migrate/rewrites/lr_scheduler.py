"""Rewrite an optimizer + `torch.optim.lr_scheduler` pair into a learning-rate schedule given to the optimizer."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import (
    NN_IMPORT,
    BodyRewrite,
    DropStatements,
    arg,
    assign_of_stmt,
    assigned_names,
    call_of_stmt,
    code_of,
    method_call,
    position,
    qualified_names,
    stmt,
    unconvert_comment,
    with_marker,
)

SCHEDULERS = "torch.optim.lr_scheduler."
OPTIMIZERS = "torch.optim."
ITERATORS = ("create_tuple_iterator", "create_dict_iterator")


def _iterated(loop: cst.For) -> cst.BaseExpression:
    """What a loop iterates, through `enumerate(...)`, `tqdm(...)` and `.create_tuple_iterator()`."""
    source = loop.iter
    while isinstance(source, cst.Call):
        if isinstance(source.func, cst.Name) and source.func.value in ("enumerate", "tqdm", "iter") and source.args:
            source = source.args[0].value
        elif method_call(source, ITERATORS):
            source = source.func.value
        else:
            break
    return source


def _schedule(kind: str, call: cst.Call, lr: str, per_step: str) -> tuple[str, str] | str:
    """(MindSpore schedule expression, note) for one torch scheduler, or why it has no equivalent.

    `per_step` is the number of optimizer steps between two `scheduler.step()` calls ('1' or `len(loader)`)."""

    def given(index: int, keyword: str, default: str | None) -> str | None:
        a = arg(call, index, keyword)
        return code_of(a.value) if a is not None else default

    def times(a: str) -> str:
        return a if per_step == "1" else f"{a} * {per_step}" if a != "1" else per_step

    if kind == "StepLR":
        step_size, gamma = given(1, "step_size", None), given(2, "gamma", "0.1")
        if step_size is None:
            return "StepLR without step_size"
        return f"nn.ExponentialDecayLR({lr}, decay_rate={gamma}, decay_steps={times(step_size)}, is_stair=True)", ""
    if kind == "ExponentialLR":
        gamma = given(1, "gamma", None)
        if gamma is None:
            return "ExponentialLR without gamma"
        stair = "" if per_step == "1" else ", is_stair=True"
        return f"nn.ExponentialDecayLR({lr}, decay_rate={gamma}, decay_steps={times('1')}{stair})", ""
    if kind == "CosineAnnealingLR":
        t_max, eta_min = given(1, "T_max", None), given(2, "eta_min", "0.0")
        if t_max is None:
            return "CosineAnnealingLR without T_max"
        note = "" if per_step == "1" else "the cosine decays every step, torch's every epoch"
        return f"nn.CosineDecayLR(min_lr={eta_min}, max_lr={lr}, decay_steps={times(t_max)})", note
    return f"no MindSpore learning-rate schedule matches {kind}"


SUGGESTION = "a schedule passed as learning_rate (nn.ExponentialDecayLR, nn.CosineDecayLR, nn.piecewise_constant_lr)"


@register_rewrite("lr-scheduler", order=57)
class LrScheduler(BodyRewrite):
    """`opt = torch.optim.SGD(params, lr=LR); sched = StepLR(opt, step_size=S, gamma=G)` + `sched.step()` ->
    `sched = nn.ExponentialDecayLR(LR, decay_rate=G, decay_steps=S * len(loader), is_stair=True)` built
    before the optimizer, which gets `lr=sched`; the `sched.step()` calls go.

    1. MindSpore schedules count optimizer steps; torch schedulers count `scheduler.step()` calls. A
       `step()` in an epoch loop whose inner loop runs the training steps over `loader` counts
       `len(loader)` steps (the loader must be built before the optimizer, or come from outside the
       script); one in the training loop counts one. An epoch loop calling `train(model, loader, opt)`,
       a def whose one loop steps the optimizer over its `loader` parameter, counts `len(<loader passed>)`.
    2. StepLR and ExponentialLR -> `nn.ExponentialDecayLR` (exact: lr * gamma ** (step // decay_steps));
       CosineAnnealingLR -> `nn.CosineDecayLR` (per step); the guide writes ExponentialLR stepped
       per step as `nn.ExponentialDecayLR(LR, decay_rate=G, decay_steps=1)`.
    3. `--target mint` keeps the scheduler: the API table maps it and the optimizer to
       `mindspore.experimental.optim`, whose schedulers are stepped as torch's are.
    4. Other schedulers, a scheduler stepped in several places, or an optimizer without `lr=` stay as
       written, marked `# [UnConvert]`.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._steps: dict[str, list[tuple[cst.Call, list[cst.CSTNode]]]] = {}  # receiver -> (step call, loops)
        self._converted: set[str] = set()  # schedulers whose step() calls go
        self._params: list[set[str]] = []
        self._step_functions: dict[
            int, tuple[cst.FunctionDef, list[cst.CSTNode]]
        ] = {}  # step call -> (its def, loops in it)
        self._bound: set[str] = set()  # names the script binds (a loader it never binds comes from elsewhere)

    def visit_Module(self, node: cst.Module) -> None:
        rw = self
        loops: list[cst.CSTNode] = []
        functions: list[tuple[cst.FunctionDef, int]] = []  # enclosing defs, with the loop depth at their start

        class _Scan(cst.CSTVisitor):
            def visit_FunctionDef(self, f: cst.FunctionDef) -> None:
                functions.append((f, len(loops)))

            def leave_FunctionDef(self, f: cst.FunctionDef) -> None:
                functions.pop()

            def visit_For(self, f: cst.For) -> None:
                loops.append(f)

            def leave_For(self, f: cst.For) -> None:
                loops.pop()

            def visit_While(self, w: cst.While) -> None:
                loops.append(w)

            def leave_While(self, w: cst.While) -> None:
                loops.pop()

            def visit_Call(self, c: cst.Call) -> None:
                if method_call(c, "step") and not c.args:
                    rw._steps.setdefault(code_of(c.func.value), []).append((c, list(loops)))
                    if functions:
                        func, depth = functions[-1]
                        rw._step_functions[id(c)] = (func, loops[depth:])

        node.visit(_Scan())
        self._bound = assigned_names(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._params.append({p.name.value for p in node.params.params})

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self._params.pop()
        return updated_node

    def _per_step(self, sched: str, optimizer: str) -> str | None:
        """'1', `len(loader)`, or None when the scheduler's step() is not one clear place."""
        sites = self._steps.get(sched, [])
        if len(sites) != 1:
            return None
        _, loops = sites[0]
        opt_sites = self._steps.get(optimizer, [])
        if not loops or not opt_sites:
            return None
        opt_call, opt_loops = opt_sites[0]
        if opt_loops[: len(loops)] != loops:
            return self._through_call(loops[-1], opt_call)
        if len(opt_loops) == len(loops):
            return "1"  # stepped with every optimizer step
        inner = opt_loops[len(loops)]
        if len(opt_loops) != len(loops) + 1 or not isinstance(inner, cst.For):
            return None
        source = _iterated(inner)
        return f"len({code_of(source)})" if isinstance(source, cst.Name) else None

    def _through_call(self, epoch_loop: cst.CSTNode, opt_call: cst.Call) -> str | None:
        """`len(loader)` when the epoch loop calls `train(..., loader, ...)`, a def whose one loop steps the
        optimizer over its parameter `loader` (the pytorch/examples layout)."""
        if id(opt_call) not in self._step_functions:
            return None
        func, inner_loops = self._step_functions[id(opt_call)]
        if len(inner_loops) != 1 or not isinstance(inner_loops[0], cst.For):
            return None
        source = _iterated(inner_loops[0])
        params = [p.name.value for p in func.params.params]
        if not isinstance(source, cst.Name) or source.value not in params:
            return None
        index, name = params.index(source.value), func.name.value
        calls: list[cst.Call] = []

        class _Calls(cst.CSTVisitor):
            def visit_Call(self, c: cst.Call) -> None:
                if isinstance(c.func, cst.Name) and c.func.value == name:
                    calls.append(c)

        epoch_loop.visit(_Calls())
        given = [arg(c, index, source.value) for c in calls]
        if len(given) != 1 or given[0] is None or not isinstance(given[0].value, (cst.Name, cst.Attribute)):
            return None
        return f"len({code_of(given[0].value)})"

    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        out = list(body)
        if self.ctx.target == "mint":
            return (
                out,
                [],
            )  # the table maps schedulers to mindspore.experimental.optim.lr_scheduler, stepped as in torch
        for i in reversed(range(len(original))):
            assign = assign_of_stmt(original[i])
            if assign is None or not isinstance(assign.value, cst.Call) or len(assign.targets) != 1:
                continue
            names = [q for q in qualified_names(self, assign.value.func) if q.startswith(SCHEDULERS)]
            if not names:
                continue
            self._convert(original, out, i, assign, names[0].rsplit(".", 1)[1])
        return out, []

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        module = super().leave_Module(original_node, updated_node)
        if not self._converted:
            return module

        def is_step(statement: cst.BaseStatement) -> bool:
            call = call_of_stmt(statement)
            return (
                call is not None
                and bool(method_call(call, "step"))
                and not call.args
                and code_of(call.func.value) in self._converted
            )

        return module.visit(DropStatements(is_step))

    def _convert(self, original, out, i, assign: cst.Assign, kind: str) -> None:
        sched = code_of(assign.targets[0].target)
        call = assign.value
        line, col = position(self, call)
        optimizer = arg(call, 0, "optimizer")
        why = ""
        opt_index = None
        if optimizer is None or not isinstance(optimizer.value, cst.Name):
            why = "its optimizer is not a variable"
        else:
            for j in range(i - 1, -1, -1):
                a = assign_of_stmt(original[j])
                if a is not None and len(a.targets) == 1 and code_of(a.targets[0].target) == optimizer.value.value:
                    opt_index = j
                    break
            if opt_index is None:
                why = "its optimizer is not built in the same block"
        if not why:
            opt_call = assign_of_stmt(original[opt_index]).value
            if not isinstance(opt_call, cst.Call) or not any(
                q.startswith(OPTIMIZERS) for q in qualified_names(self, opt_call.func)
            ):
                why = "its optimizer is not a torch.optim optimizer"
            elif (lr := arg(opt_call, 1, "lr")) is None:
                why = "the optimizer has no explicit lr"
        if not why and isinstance(probe := _schedule(kind, call, "lr", "1"), str):
            why = probe
        per_step = None if why else self._per_step(sched, optimizer.value.value)
        if not why and per_step is None:
            why = "scheduler.step() is not called once per epoch or once per optimizer step"
        if not why and per_step.startswith("len("):
            loader = per_step[4:-1]
            known = any(
                loader in (code_of(a.targets[0].target),)
                for j in range(opt_index)
                if (a := assign_of_stmt(original[j])) and len(a.targets) == 1
            )
            if not known and not (self._params and loader in self._params[-1]) and loader in self._bound:
                why = f"{loader} is built after the optimizer"
        if not why:
            made = _schedule(kind, call, code_of(lr.value), per_step)
            if isinstance(made, str):
                why = made
        if why:
            self.ctx.report(line, col, f"{SCHEDULERS}{kind}", False, why, SUGGESTION)
            out[i] = with_marker(out[i], unconvert_comment(f"{SCHEDULERS}{kind}", why, SUGGESTION))
            return
        schedule, note = made
        self._converted.add(sched)
        self.ctx.imports_needed.add(NN_IMPORT)
        self.ctx.report(
            line,
            col,
            f"{SCHEDULERS}{kind}",
            True,
            f"-> {schedule.split('(')[0]} given to the optimizer" + (f" ({note})" if note else ""),
        )
        for step_call, _ in self._steps.get(sched, []):
            sl, sc = position(self, step_call)
            self.ctx.report(sl, sc, f"{SCHEDULERS}{kind}.step", True, "removed: the optimizer applies the schedule")
        new_sched = stmt(f"{sched} = {schedule}\n")
        opt_stmt = out[opt_index]
        small = opt_stmt.body[0]
        target = _same_arg(small.value, lr)
        new_args = [a.with_changes(value=cst.Name(sched)) if a is target else a for a in small.value.args]
        new_opt = opt_stmt.with_changes(body=[small.with_changes(value=small.value.with_changes(args=new_args))])
        moved = [ln for ln in original[i].leading_lines if ln.comment is not None]
        del out[i]  # the schedule, built before the optimizer, takes the scheduler's comments
        blank = [ln for ln in opt_stmt.leading_lines if ln.comment is None][:1]
        out[opt_index] = new_opt.with_changes(
            leading_lines=[ln for ln in opt_stmt.leading_lines if ln.comment is not None]
        )
        new_sched = new_sched.with_changes(
            leading_lines=[*blank, *moved], trailing_whitespace=original[i].trailing_whitespace
        )
        out.insert(opt_index, new_sched)


def _same_arg(call: cst.Call, lr: cst.Arg) -> cst.Arg | None:
    """The argument of the (updated) optimizer call at the position `lr` has in the original one."""
    for a in call.args:
        if (lr.keyword is not None and a.keyword is not None and a.keyword.value == lr.keyword.value) or (
            lr.keyword is None and a.keyword is None and a.value.deep_equals(lr.value)
        ):
            return a
    return None
