"""Evaluate a trained TinyNet checkpoint on fresh synthetic images."""

import torch
from dataset import SyntheticImages
from model import TinyNet
from torch.utils.data import DataLoader


def evaluate(checkpoint="tinynet.pth"):
    """Accuracy of the checkpoint on 32 unseen images."""
    # rebuild the network and load the trained weights
    model = TinyNet()
    model.load_state_dict(torch.load(checkpoint))
    model.eval()  # BatchNorm uses its running statistics
    test_loader = DataLoader(SyntheticImages(size=32, seed=1), batch_size=8)

    correct, total = 0, 0
    # inference only: no gradients needed
    with torch.no_grad():
        for images, labels in test_loader:
            outputs = model(images)
            # the predicted class is the largest logit
            predicted = torch.argmax(outputs, dim=1)
            correct += (predicted == labels).sum().item()
            total += labels.shape[0]
    return correct / total


if __name__ == "__main__":
    print(f"accuracy: {evaluate():.3f}")
