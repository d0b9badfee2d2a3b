"""The construct body as data: members and values are references, so lifting renames them by assignment."""

from __future__ import annotations

from mindconverter.backend.inline import Body, Local, Member, _Line, _split


def _body(lines: list[tuple[str, str]], members: list[str], output: str) -> Body:
    refs = {m: Member(m) for m in members}
    known: dict[str, Local] = {}
    seq = []
    for target, expr in lines:
        line = _Line([], _split(expr, known, refs), [""], "")
        known[target] = Local(target, refs.get(target))
        line.targets.append(known[target])
        seq.append(line)
    seq.append(_Line([], _split(output, known, refs), [""], ""))
    return Body(seq, refs)


def test_renaming_members_swaps_and_leaves_strings_keywords_and_other_names_alone():
    body = _body([("y", 'self.a(self.b(x), b="self.a", mode=ops.a)')], ["a", "b"], "y")
    body.rename_members({"a": "b", "b": "a"})
    assert body.text() == ['y = self.b(self.a(x), b="self.a", mode=ops.a)', "return y"]


def test_bodies_that_differ_only_in_member_names_are_equal_anonymously():
    one = _body([("conv1", "self.conv1(x)"), ("y", "self.relu(conv1)")], ["conv1", "relu"], "y")
    two = _body([("conv2", "self.conv2(x)"), ("y", "self.relu(conv2)")], ["conv2", "relu"], "y")
    assert one.text() != two.text()
    assert one.anonymous(["conv1", "relu"]) == two.anonymous(["conv2", "relu"])
    assert one.anonymous(["conv1", "relu"])[0] == "@0 = self.@0(x)"  # the value named after it too
    assert one.anonymous(["relu", "conv1"]) != two.anonymous(["conv2", "relu"])  # positions matter


def test_a_value_named_like_a_member_follows_its_rename():
    body = _body([("conv1", "self.conv1(x)"), ("y", "ops.relu(conv1)")], ["conv1"], "y")
    body.rename_members({"conv1": "conv"})
    assert body.text() == ["conv = self.conv(x)", "y = ops.relu(conv)", "return y"]
