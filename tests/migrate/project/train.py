"""Train TinyNet on the synthetic images with SGD and a step learning-rate schedule."""

import torch
from dataset import SyntheticImages
from model import TinyNet
from torch import nn
from torch.utils.data import DataLoader

BATCH_SIZE = 8
EPOCHS = 3
LEARNING_RATE = 0.05
CHECKPOINT = "tinynet.pth"


def main(epochs=EPOCHS, resume=None, shuffle=True, checkpoint=CHECKPOINT):
    """Train, save the weights, and return the loss of every step."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(2)  # a tiny model: two threads are plenty
    # data
    train_set = SyntheticImages(size=64)
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=shuffle, drop_last=True)

    # model, optionally warm-started
    model = TinyNet().to(device)
    if resume is not None:
        model.load_state_dict(torch.load(resume))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.9)
    # halve the learning rate every 2 epochs
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    losses = []
    for epoch in range(epochs):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            # forward and loss
            outputs = model(images)
            loss = criterion(outputs, labels)
            # backward and update
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        print(f"epoch {epoch}: last loss {losses[-1]:.4f}")

    # keep the trained weights
    torch.save(model.state_dict(), checkpoint)
    return losses


if __name__ == "__main__":
    main()
