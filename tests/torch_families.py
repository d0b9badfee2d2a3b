"""Model families for pytorch2mindspore, built with random weights: (module, dummy inputs, conversion keywords).

Recurrent text classifiers (LSTM, GRU), nn.TransformerEncoder, transformers BERT / GPT-2 LM head /
ViT / T5 encoder (tiny configs, eager attention), and MobileNetV3- and EfficientNet-style blocks
(torchvision is not needed: the blocks are written here with the same layers).
"""

from __future__ import annotations

VOCAB = 50


def _torch():
    import torch

    return torch


def _tokens(batch: int = 2, seq: int = 7):
    torch = _torch()
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(0))


def recurrent_classifier(cell: str = "LSTM"):
    torch = _torch()
    from torch import nn

    class TextClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16)
            self.rnn = getattr(nn, cell)(16, 24, batch_first=True)
            self.drop = nn.Dropout(0.2)
            self.fc = nn.Linear(24, 3)

        def forward(self, ids):
            out, _ = self.rnn(self.embedding(ids))
            return self.fc(self.drop(out[:, -1]))

    torch.manual_seed(0)
    return TextClassifier().eval(), (_tokens(),), {}


def transformer_encoder():
    torch = _torch()
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16)
            layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.fc = nn.Linear(16, 3)

        def forward(self, ids):
            return self.fc(self.encoder(self.embedding(ids)))

    torch.manual_seed(0)
    return Encoder().eval(), (_tokens(),), {}


def bert():
    from transformers import BertConfig, BertModel

    torch = _torch()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # dropouts: 0.1, the defaults
    model = BertModel._from_config(config, attn_implementation="eager").eval()
    ids = _tokens()
    return model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, {}


def gpt2_lm_head():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch = _torch()
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=32, use_cache=False,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel._from_config(config, attn_implementation="eager").eval()
    ids = _tokens()
    return model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, {}


def vit():
    from transformers import ViTConfig, ViTModel

    torch = _torch()
    torch.manual_seed(0)
    config = ViTConfig(image_size=16, patch_size=8, num_channels=3, hidden_size=16, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=32, hidden_dropout_prob=0.1,
                       attention_probs_dropout_prob=0.1)  # the defaults are 0.0
    model = ViTModel._from_config(config, attn_implementation="eager").eval()
    return model, (torch.randn(1, 3, 16, 16),), {}


def t5_encoder():
    from transformers import T5Config, T5EncoderModel

    torch = _torch()
    torch.manual_seed(0)
    config = T5Config(vocab_size=VOCAB, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16)
    model = T5EncoderModel._from_config(config, attn_implementation="eager").eval()
    return model, (_tokens(),), {}


def mobilenet_v3_block():
    from torch import nn

    class SqueezeExcitation(nn.Module):
        def __init__(self, channels, squeeze, gate):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(channels, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, channels, 1)
            self.activation = nn.ReLU() if gate is nn.Hardsigmoid else nn.SiLU()
            self.scale_activation = gate()

        def forward(self, x):
            s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return x * s

    class InvertedResidual(nn.Module):
        def __init__(self, channels, expanded, act, gate):
            super().__init__()
            self.block = nn.Sequential(
                nn.Conv2d(channels, expanded, 1, bias=False), nn.BatchNorm2d(expanded), act(),
                nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded, bias=False), nn.BatchNorm2d(expanded), act(),
                SqueezeExcitation(expanded, 4, gate),
                nn.Conv2d(expanded, channels, 1, bias=False), nn.BatchNorm2d(channels),
            )

        def forward(self, x):
            return x + self.block(x)

    return InvertedResidual, SqueezeExcitation


def _vision_net(act_name: str, gate_name: str):
    torch = _torch()
    from torch import nn

    inverted, _ = mobilenet_v3_block()
    act, gate = getattr(nn, act_name), getattr(nn, gate_name)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), act())
            self.blocks = nn.Sequential(inverted(8, 16, act, gate), inverted(8, 16, act, gate))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(8, 16), act(), nn.Dropout(0.2), nn.Linear(16, 4))

        def forward(self, x):
            return self.classifier(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))

    torch.manual_seed(0)
    net = Net()
    for m in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval(), (torch.randn(1, 3, 16, 16),), {}


def mobilenet_v3_style():
    return _vision_net("Hardswish", "Hardsigmoid")


def efficientnet_style():
    return _vision_net("SiLU", "Sigmoid")


FAMILIES = {
    "lstm": lambda: recurrent_classifier("LSTM"),
    "gru": lambda: recurrent_classifier("GRU"),
    "transformer_encoder": transformer_encoder,
    "bert": bert,
    "gpt2_lm_head": gpt2_lm_head,
    "vit": vit,
    "t5_encoder": t5_encoder,
    "mobilenet_v3": mobilenet_v3_style,
    "efficientnet": efficientnet_style,
}
