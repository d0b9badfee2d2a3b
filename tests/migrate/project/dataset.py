"""A synthetic image dataset: the class decides which colour channel is brightest."""

import numpy as np
import torch
from torch.utils.data import Dataset


class SyntheticImages(Dataset):
    """`size` random 3x8x8 images; label k has channel k brightened."""

    def __init__(self, size=64, num_classes=3, seed=0):
        rng = np.random.default_rng(seed)
        # images and labels are made once, with numpy, so every run sees the same data
        self.images = rng.standard_normal((size, 3, 8, 8)).astype(np.float32)
        self.labels = rng.integers(0, num_classes, size)
        for i, label in enumerate(self.labels):
            self.images[i, label] += 1.5  # the signal to learn

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        image = self.images[idx]
        # torch wants int64 class indices
        return torch.from_numpy(image), torch.tensor(self.labels[idx], dtype=torch.long)
