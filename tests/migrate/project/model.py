"""A small convolutional classifier for 8x8 RGB images."""

from torch import nn


class TinyNet(nn.Module):
    """Conv -> BatchNorm -> ReLU -> MaxPool, twice, then a linear classifier."""

    def __init__(self, num_classes=3):
        super().__init__()
        # feature extractor
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16, momentum=0.2)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        # classifier head
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 2 * 2, num_classes)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))  # 8x8 -> 4x4
        x = self.pool(self.relu(self.bn2(self.conv2(x))))  # 4x4 -> 2x2
        return self.fc(self.flatten(x))


def count_parameters(model):
    # trainable weights only
    return sum(p.numel() for p in model.parameters())
