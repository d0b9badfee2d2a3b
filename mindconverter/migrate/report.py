"""Migration reports in MindConverter's form (report_of_NAME.txt) and as JSON.

    [Start Convert]
    [Insert] 'from mindspore import nn' is inserted to the converted file.
    line 1:0: [Remove] 'import torch' is removed from the converted file.
    line 9:14: [Convert] 'torch.nn.Conv2d' is converted to 'nn.Conv2d'.
    line 157:23: [UnConvert] 'torch.nn.AdaptiveAvgPool2d' didn't convert. Maybe could convert to mindspore.ops.ReduceMean.
    [Convert Over]
    [Converted Rate] call sites: 45/50 (90.00%); lines: 40/42 (95.24%).

Columns are 0-based as in the guide (`Finding.col` is 1-based). A project (folder) report has one
such block per file, each after a `[File] path` line, and a total rate at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mindconverter.migrate.driver import MigrationResult


def _pct(done: int, total: int) -> str:
    return f"{done}/{total} ({100.0 * done / total:.2f}%)" if total else "0/0 (100.00%)"


def rate_line(rates: dict[str, int]) -> str:
    return (
        f"[Converted Rate] call sites: {_pct(rates['converted_call_sites'], rates['call_sites'])}; "
        f"lines: {_pct(rates['converted_lines'], rates['lines'])}."
    )


def _converted(message: str) -> str:
    """'is converted to 'nn.Dense'' for a target; 'is converted: why' for a description."""
    text = message.strip()
    if not text:
        return "is converted"
    if text.startswith("->"):
        text = text[2:].strip()
    if text.startswith("probably"):
        return f"is kept ({text})"
    if " " not in text or text.split(" ", 1)[0].endswith(")"):
        return f"is converted to '{text}'"
    return f"is converted: {text}"


def file_lines(result: MigrationResult) -> list[str]:
    out = ["[Start Convert]"]
    out += [f"[Insert] '{stmt}' is inserted to the converted file." for stmt in result.inserted]
    rows: list[tuple[int, int, str]] = []
    for line, col, stmt in result.removed:
        where = f"line {line}:{col}: " if line else ""
        rows.append((line, col, f"{where}[Remove] '{stmt}' is removed from the converted file."))
    for f in result.findings:
        col = max(f.col - 1, 0)
        if f.converted:
            text = f"line {f.line}:{col}: [Convert] '{f.api}' {_converted(f.message)}."
        else:
            text = f"line {f.line}:{col}: [UnConvert] '{f.api}' didn't convert."
            if f.suggestion:
                text += f" Maybe could convert to {f.suggestion}."
            if f.message:
                text += f" ({f.message})"
        rows.append((f.line, col, text))
    out += [text for _, _, text in sorted(rows, key=lambda r: (r[0], r[1]))]
    out += [f"[Warning] {e}" for e in result.rewrite_errors]
    out.append("[Convert Over]")
    out.append(rate_line(result.rates()))
    return out


def render_txt(results: list[MigrationResult]) -> str:
    if len(results) == 1:
        return "\n".join(file_lines(results[0])) + "\n"
    out: list[str] = []
    total: dict[str, int] = {}
    for r in results:
        out.append(f"[File] {r.path}")
        out += file_lines(r)
        out.append("")
        for k, v in r.rates().items():
            total[k] = total.get(k, 0) + v
    out.append("[Project] " + rate_line(total).replace("[Converted Rate] ", ""))
    return "\n".join(out) + "\n"


def result_json(result: MigrationResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "target": result.target,
        "rates": result.rates(),
        "inserted": result.inserted,
        "removed": [{"line": line, "col": col, "statement": s} for line, col, s in result.removed],
        "findings": [
            {"line": f.line, "col": f.col - 1, "api": f.api, "converted": f.converted, "message": f.message,
             "suggestion": f.suggestion}
            for f in result.findings
        ],
        "warnings": result.rewrite_errors,
    }


def render_json(results: list[MigrationResult]) -> dict[str, Any]:
    total: dict[str, int] = {}
    for r in results:
        for k, v in r.rates().items():
            total[k] = total.get(k, 0) + v
    return {"files": [result_json(r) for r in results], "rates": total}
