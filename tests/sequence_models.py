"""Sequence, NLP and audio models for pytorch2mindspore, built with random weights: (module, inputs, keywords).

Plain torch (a wav2vec-style Conv1d front end, a causal dilated TCN, a bidirectional 2-layer LSTM, a
GRU given h0, nn.TransformerDecoder with a causal mask, a whole nn.Transformer, sinusoidal positions
with einsum attention and masked mean pooling) and transformers models from tiny configs (Llama,
Mistral, DistilBERT, RoBERTa, ALBERT, BART, Whisper's encoder, Wav2Vec2, CLIP's text model).
Widths and sequence lengths are tiny so that MindSpore CPU stays fast.
"""

from __future__ import annotations

import math

from torch_families import VOCAB, _tokens, _torch


def _seeded(build):
    _torch().manual_seed(0)
    return build().eval()


def audio_frontend():
    torch = _torch()
    from torch import nn

    class FeatureEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0 = nn.Conv1d(1, 8, 10, stride=5, bias=False)
            self.norm0 = nn.GroupNorm(8, 8)
            self.conv1 = nn.Conv1d(8, 8, 3, stride=2, bias=False)
            self.act = nn.GELU()
            self.proj = nn.Linear(8, 12)
            self.dropout = nn.Dropout(0.1)

        def forward(self, wave):
            x = self.act(self.norm0(self.conv0(wave.unsqueeze(1))))
            x = self.act(self.conv1(x))
            return self.dropout(self.proj(x.transpose(1, 2)))

    return _seeded(FeatureEncoder), (torch.randn(2, 160),), {}


def tcn():
    torch = _torch()
    from torch import nn

    class CausalConv(nn.Module):
        def __init__(self, channels, dilation):
            super().__init__()
            self.pad = 2 * dilation
            self.conv = nn.Conv1d(channels, channels, 3, padding=self.pad, dilation=dilation)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv(x)[:, :, :-self.pad]) + x

    class TCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*[CausalConv(8, d) for d in (1, 2, 4)])
            self.head = nn.Conv1d(8, 3, 1)

        def forward(self, x):
            return self.head(self.blocks(x))

    return _seeded(TCN), (torch.randn(2, 8, 20),), {}


def bilstm():
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 12)
            self.lstm = nn.LSTM(12, 10, num_layers=2, bidirectional=True, batch_first=True, dropout=0.2)
            self.classifier = nn.Linear(20, 5)

        def forward(self, ids):
            out, _ = self.lstm(self.embedding(ids))
            return self.classifier(out)

    return _seeded(Tagger), (_tokens(),), {}


def gru_h0():
    torch = _torch()
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(6, 10, batch_first=True)
            self.out = nn.Linear(10, 4)

        def forward(self, x, h0):
            y, h = self.gru(x, h0)
            return self.out(y), h

    gen = torch.Generator().manual_seed(1)
    return _seeded(Decoder), (torch.randn(2, 5, 6, generator=gen), torch.randn(1, 2, 10, generator=gen)), {}


def transformer_decoder():
    torch = _torch()
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerDecoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
            self.decoder = nn.TransformerDecoder(layer, 2)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(6))

        def forward(self, tgt, memory):
            return self.decoder(tgt, memory, tgt_mask=self.mask)

    gen = torch.Generator().manual_seed(1)
    return _seeded(Decoder), (torch.randn(2, 6, 16, generator=gen), torch.randn(2, 5, 16, generator=gen)), {}


def seq2seq_transformer():
    from torch import nn

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_embed = nn.Embedding(VOCAB, 16)
            self.tgt_embed = nn.Embedding(VOCAB, 16)
            self.transformer = nn.Transformer(16, 2, 1, 1, dim_feedforward=32, dropout=0.1, batch_first=True)
            self.generator = nn.Linear(16, VOCAB)

        def forward(self, src, tgt):
            mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
            hidden = self.transformer(self.src_embed(src), self.tgt_embed(tgt), tgt_mask=mask)
            return self.generator(hidden)

    return _seeded(Seq2Seq), (_tokens(2, 7), _tokens(2, 5)), {}


def positional_einsum_pooling():
    torch = _torch()
    from torch import nn

    class PositionalEncoding(nn.Module):
        def __init__(self, dim, length=32):
            super().__init__()
            position = torch.arange(length).unsqueeze(1)
            div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
            pe = torch.zeros(length, dim)
            pe[:, 0::2] = torch.sin(position * div)
            pe[:, 1::2] = torch.cos(position * div)
            self.register_buffer("pe", pe)
            self.dropout = nn.Dropout(0.1)

        def forward(self, x):
            return self.dropout(x + self.pe[: x.shape[1]])

    class EinsumAttention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, 3 * dim)
            self.out = nn.Linear(dim, dim)

        def forward(self, x, mask):
            b, s, d = x.shape
            q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, d // self.heads).unbind(2)
            scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d // self.heads)
            scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
            y = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(b, s, d)
            return self.out(y)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16)
            self.position = PositionalEncoding(16)
            self.attention = EinsumAttention(16, 2)
            self.norm = nn.LayerNorm(16)

        def forward(self, ids, mask):
            x = self.position(self.embedding(ids))
            x = self.norm(x + self.attention(x, mask))
            weights = mask.unsqueeze(-1).to(x.dtype)
            return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    return _seeded(Encoder), (_tokens(), mask), {}


def _hf(model_class, config, inputs):
    _torch().manual_seed(0)
    return model_class._from_config(config, attn_implementation="eager").eval(), inputs, {}


def _ids_and_mask(seq: int = 7):
    ids = _tokens(2, seq)
    return {"input_ids": ids, "attention_mask": _torch().ones_like(ids)}


def llama_causal_lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
                         use_cache=False)
    return _hf(LlamaForCausalLM, config, _ids_and_mask())


def mistral():
    from transformers import MistralConfig, MistralModel

    config = MistralConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
                           sliding_window=4, use_cache=False)
    return _hf(MistralModel, config, _ids_and_mask())


def distilbert():
    from transformers import DistilBertConfig, DistilBertModel

    config = DistilBertConfig(vocab_size=VOCAB, dim=16, hidden_dim=32, n_layers=2, n_heads=2,
                              max_position_embeddings=32)
    return _hf(DistilBertModel, config, _ids_and_mask())


def roberta():
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=40, pad_token_id=1)
    return _hf(RobertaModel, config, _ids_and_mask())


def albert():
    from transformers import AlbertConfig, AlbertModel

    config = AlbertConfig(vocab_size=VOCAB, embedding_size=8, hidden_size=16, num_hidden_layers=3,
                          num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    return _hf(AlbertModel, config, _ids_and_mask())


def bart():
    from transformers import BartConfig, BartModel

    config = BartConfig(vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, max_position_embeddings=32, use_cache=False,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
    inputs = _ids_and_mask()
    inputs["decoder_input_ids"] = _tokens(2, 5)
    return _hf(BartModel, config, inputs)


def whisper_encoder():
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(vocab_size=VOCAB, num_mel_bins=8, d_model=16, encoder_layers=1,
                           encoder_attention_heads=2, encoder_ffn_dim=32, max_source_positions=10)
    features = _torch().randn(1, 8, 20, generator=_torch().Generator().manual_seed(1))
    return _hf(WhisperEncoder, config, (features,))


def wav2vec2():
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3),
                            num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2,
                            do_stable_layer_norm=False, feat_extract_norm="group", mask_time_prob=0.0)
    wave = _torch().randn(1, 200, generator=_torch().Generator().manual_seed(1))
    return _hf(Wav2Vec2Model, config, (wave,))


def clip_text():
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=16, eos_token_id=2)
    return _hf(CLIPTextModel, config, _ids_and_mask())


MODELS = {f.__name__: f for f in (
    audio_frontend, tcn, bilstm, gru_h0, transformer_decoder, seq2seq_transformer, positional_einsum_pooling,
    llama_causal_lm, mistral, distilbert, roberta, albert, bart, whisper_encoder, wav2vec2, clip_text)}
