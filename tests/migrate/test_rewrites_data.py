"""Dataset subclass -> GeneratorDataset source; DataLoader -> GeneratorDataset(...).batch(...)."""

from __future__ import annotations

from tests.migrate.rewrite_helpers import assert_comments_kept, rewrite

DATASET = '''\
import torch
from torch.utils.data import DataLoader, Dataset


class Pairs(Dataset):
    """Synthetic (features, label) pairs."""

    def __init__(self, n):
        super().__init__()
        self.features = torch.randn(n, 4)
        self.labels = torch.randint(0, 3, (n,))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        # one sample
        x = self.features[idx]
        return x, torch.tensor(self.labels[idx], dtype=torch.long)


class Named(torch.utils.data.Dataset):
    def __getitem__(self, i):
        def helper():
            return 1, 2, 3
        return {"image": self.images[i], "target": self.targets[i]}
'''


def test_dataset_subclass_becomes_a_numpy_source():
    code, ctx = rewrite(DATASET, "dataset-source")
    assert "class Pairs:\n" in code
    assert "return x, np.asarray(self.labels[idx], dtype=np.int32)" in code
    assert "class Named:\n" in code
    assert "return 1, 2, 3" in code  # a nested function's return is not the item
    assert "return self.images[i], self.targets[i]" in code
    assert ctx.options["dataset_columns"] == {"Pairs": ["x", "label"], "Named": ["image", "target"]}
    assert "import numpy as np" in ctx.imports_needed
    assert_comments_kept(DATASET, code)


LOADER = (
    DATASET
    + """

train_set = Pairs(64)
# batches of 8, reshuffled every epoch
train_loader = DataLoader(train_set, batch_size=8, shuffle=True, num_workers=2, drop_last=True, pin_memory=True)
test_loader = DataLoader(Pairs(16), 4)
for epoch in range(2):
    for step, (x, y) in enumerate(train_loader):
        print(step, x.shape)
for x, y in test_loader:
    pass
print(len(test_loader.dataset), len(train_loader))
named = DataLoader(Named(), batch_size=2)
for batch in named:
    print(batch["image"])
odd = DataLoader(train_set, batch_size=8, collate_fn=my_collate)
unknown = DataLoader(make_set(), batch_size=8)
"""
)


def test_data_loader_becomes_generator_dataset_batch():
    code, ctx = rewrite(LOADER, "dataset-source", "data-loader")
    tail = code[code.index("train_set = Pairs(64)") :]
    assert (
        tail
        == """\
train_set = Pairs(64)
# batches of 8, reshuffled every epoch
train_loader = ds.GeneratorDataset(train_set, column_names=['x', 'label'], shuffle=True, num_parallel_workers=2).batch(8, drop_remainder=True)
test_loader = ds.GeneratorDataset(Pairs(16), column_names=['x', 'label'], shuffle=False).batch(4)
for epoch in range(2):
    for step, (x, y) in enumerate(train_loader.create_tuple_iterator()):
        print(step, x.shape)
for x, y in test_loader.create_tuple_iterator():
    pass
print(len(Pairs(16)), len(train_loader))
named = ds.GeneratorDataset(Named(), column_names=['image', 'target'], shuffle=False).batch(2)
for batch in named.create_dict_iterator():
    print(batch["image"])
# [UnConvert] 'torch.utils.data.DataLoader' didn't convert (collate_fn= has no GeneratorDataset keyword). Maybe could convert to .batch(batch_size, per_batch_map=...).
odd = DataLoader(train_set, batch_size=8, collate_fn=my_collate)
# [UnConvert] 'torch.utils.data.DataLoader' didn't convert (the source's columns are unknown). Maybe could convert to ds.GeneratorDataset(source, column_names=[...]).batch(batch_size).
unknown = DataLoader(make_set(), batch_size=8)
"""
    )
    assert "import mindspore.dataset as ds" in ctx.imports_needed
    assert_comments_kept(LOADER, code)
    loader = [(f.line, f.col, f.converted) for f in ctx.findings if f.api == "torch.utils.data.DataLoader"]
    assert loader == [(31, 16, True), (32, 15, True), (39, 9, True), (42, 7, False), (43, 11, False)]


def test_dataset_imported_from_a_sibling_script(tmp_path):
    (tmp_path / "data.py").write_text(DATASET)
    source = "from torch.utils.data import DataLoader\nfrom data import Pairs\n\nloader = DataLoader(Pairs(8), batch_size=4)\n"
    code, _ = rewrite(source, "data-loader", path=str(tmp_path / "train.py"))
    assert "loader = ds.GeneratorDataset(Pairs(8), column_names=['x', 'label'], shuffle=False).batch(4)" in code
