"""Vision architectures for pytorch2mindspore beyond tests/torch_models.py and tests/torch_families.py (random weights, tiny).

UNet (ConvTranspose2d, skip concats, bilinear/nearest interpolate), ConvNeXt (depthwise 7x7,
channels-last LayerNorm, layer-scale Parameter, GroupNorm stem), MLP-Mixer (token mixing by
transpose), ResNeXt (grouped convs, a one-block stage), DeepLab ASPP (dilated convs, image pooling
+ upsample), a YOLO-style neck (SiLU, chunk, split, nn.Upsample), FPN (ModuleList laterals),
ESPCN (PixelShuffle), a style-transfer net (InstanceNorm2d, ReflectionPad2d, reflect padding_mode)
an activation zoo (Hardtanh, ELU alpha != 1, Mish, ReLU6, LeakyReLU, adaptive pools to 7x7/2x2), CBAM (channel
and spatial attention), a non-local block (matmul attention over pixels), ShuffleNetV2 units (chunk, channel
shuffle, ceil-mode pooling), a 3-D conv net, pads and pools (zero/replicate/constant pads, ceil_mode,
count_include_pad=False, dilated max pool, LocalResponseNorm), a spatial transformer (affine_grid, grid_sample:
opset 20) and PixelUnshuffle + GLU + roll + Softmax2d + a bilinear nn.Upsample.
`MODELS[name]()` -> (eval module, input, conversion keywords); inputs are 1x3x32x32 so MindSpore CPU stays fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                   nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.block(x)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inc = DoubleConv(3, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(16, 16))
        self.up1 = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.conv1 = DoubleConv(32, 8)
        self.conv2 = DoubleConv(16, 8)
        self.outc = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        u = self.up1(x3)
        x = self.conv1(torch.cat([x2, u], dim=1))
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        x = self.conv2(torch.cat([x, x1], dim=1))
        y = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
        z = F.interpolate(x, scale_factor=0.5, mode="nearest")
        return self.outc(x), y, z


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim, drop_path=0.0):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-1 * torch.randn(dim))
        self.drop_path = nn.Identity()

    def forward(self, x):
        inp = x
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)
        x = self.norm(x)
        x = self.pwconv1(x)
        x = self.act(x)
        x = self.pwconv2(x)
        x = self.gamma * x
        x = x.permute(0, 3, 1, 2)
        return inp + self.drop_path(x)


class ConvNeXt(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), nn.GroupNorm(1, 16))
        self.stages = nn.Sequential(ConvNeXtBlock(16), ConvNeXtBlock(16))
        self.norm = nn.LayerNorm(16, eps=1e-6)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean([-2, -1])))


class MixerBlock(nn.Module):
    def __init__(self, tokens, dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Dropout(0.1), nn.Linear(2 * tokens, tokens))
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(0.1), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class MLPMixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 8, stride=8)
        self.blocks = nn.Sequential(MixerBlock(16, 16), MixerBlock(16, 16))
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.norm(self.blocks(x))
        return self.head(x.mean(dim=1))


class ResNeXtBlock(nn.Module):
    def __init__(self, cin, cout, groups, stride):
        super().__init__()
        mid = cout // 2
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class ResNeXt(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = nn.Sequential(ResNeXtBlock(16, 32, 4, 1), ResNeXtBlock(32, 32, 4, 1))
        self.layer2 = nn.Sequential(ResNeXtBlock(32, 64, 8, 2))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), start_dim=1))


class ASPP(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.b0 = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=4, dilation=4, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(4 * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        size = x.shape[-2:]
        p = F.interpolate(self.pool(x), size=size, mode="bilinear", align_corners=False)
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), p], dim=1))


class DeepLab(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU())
        self.aspp = ASPP(16, 8)
        self.classifier = nn.Conv2d(8, 3, 1)

    def forward(self, x):
        out = self.classifier(self.aspp(self.backbone(x)))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ConvBNSiLU(nn.Module):
    def __init__(self, cin, cout, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class C2f(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c = cout // 2
        self.cv1 = ConvBNSiLU(cin, 2 * self.c)
        self.m = ConvBNSiLU(self.c, self.c, 3)
        self.cv2 = ConvBNSiLU(3 * self.c, cout)

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class YoloNeck(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = ConvBNSiLU(3, 8, 3, 2)
        self.b2 = ConvBNSiLU(8, 16, 3, 2)
        self.b3 = ConvBNSiLU(16, 16, 3, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c2f = C2f(32, 16)
        self.head = nn.Conv2d(16, 12, 1)

    def forward(self, x):
        p3 = self.b2(self.b1(x))
        p4 = self.b3(p3)
        h = self.c2f(torch.cat([self.up(p4), p3], 1))
        out = self.head(h)
        box, cls = out.split([4, 8], dim=1)
        return box, cls.sigmoid()


class FPN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c2 = nn.Conv2d(3, 8, 3, 2, 1)
        self.c3 = nn.Conv2d(8, 16, 3, 2, 1)
        self.c4 = nn.Conv2d(16, 32, 3, 2, 1)
        self.lateral = nn.ModuleList([nn.Conv2d(c, 8, 1) for c in (8, 16, 32)])
        self.smooth = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1) for _ in range(3)])

    def forward(self, x):
        c2 = F.relu(self.c2(x))
        c3 = F.relu(self.c3(c2))
        c4 = F.relu(self.c4(c3))
        p4 = self.lateral[2](c4)
        p3 = self.lateral[1](c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        p2 = self.lateral[0](c2) + F.interpolate(p3, scale_factor=2.0, mode="nearest")
        return [s(p) for s, p in zip(self.smooth, (p2, p3, p4), strict=True)]


class ESPCN(nn.Module):
    def __init__(self, scale=2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 3 * scale * scale, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(scale)
        self.act = nn.Tanh()

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return torch.sigmoid(self.pixel_shuffle(self.conv3(x)))


class ResidualBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.pad1 = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(ch, ch, 3)
        self.in1 = nn.InstanceNorm2d(ch, affine=True)
        self.relu = nn.ReLU()
        self.pad2 = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(ch, ch, 3)
        self.in2 = nn.InstanceNorm2d(ch, affine=True)

    def forward(self, x):
        out = self.relu(self.in1(self.conv1(self.pad1(x))))
        return x + self.in2(self.conv2(self.pad2(out)))


class StyleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d(4)
        self.conv1 = nn.Conv2d(3, 8, 9)
        self.in1 = nn.InstanceNorm2d(8, affine=True)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.in2 = nn.InstanceNorm2d(16)
        self.res = nn.Sequential(ResidualBlock(16), ResidualBlock(16))
        self.up = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        self.out = nn.Conv2d(8, 3, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        x = F.relu(self.in1(self.conv1(self.pad(x))))
        x = F.relu(self.in2(self.conv2(x)))
        x = self.res(x)
        return self.out(F.relu(self.up(x)))


class Acts(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.hardtanh = nn.Hardtanh(-0.5, 0.5)
        self.elu = nn.ELU(alpha=0.7)
        self.mish = nn.Mish()
        self.relu6 = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d((7, 7))
        self.mpool = nn.AdaptiveMaxPool2d((2, 2))
        self.fc = nn.Linear(8 * 7 * 7, 10)
        self.leaky = nn.LeakyReLU(0.2)

    def forward(self, x):
        x = self.conv(x)
        a = self.hardtanh(x) + self.elu(x) + self.mish(x) + self.relu6(x) + self.leaky(x)
        p = self.pool(a)
        m = self.mpool(a)
        return self.fc(p.view(p.size(0), -1)), torch.flatten(m, start_dim=1)


class ChannelAttention(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Sequential(nn.Conv2d(c, c // r, 1, bias=False), nn.ReLU(), nn.Conv2d(c // r, c, 1, bias=False))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.fc(self.avg_pool(x)) + self.fc(self.max_pool(x)))


class SpatialAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        avg = torch.mean(x, dim=1, keepdim=True)
        mx, _ = torch.max(x, dim=1, keepdim=True)
        return self.sigmoid(self.conv(torch.cat([avg, mx], dim=1)))


class CBAM(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.ca = ChannelAttention(16)
        self.sa = SpatialAttention()
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.conv(x)
        x = x * self.ca(x)
        x = x * self.sa(x)
        return self.fc(x.mean((2, 3)))


class NonLocal(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.inter = c // 2
        self.g = nn.Conv2d(c, self.inter, 1)
        self.theta = nn.Conv2d(c, self.inter, 1)
        self.phi = nn.Conv2d(c, self.inter, 1)
        self.W = nn.Sequential(nn.Conv2d(self.inter, c, 1), nn.BatchNorm2d(c))

    def forward(self, x):
        b = x.size(0)
        g_x = self.g(x).view(b, self.inter, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(b, self.inter, -1).permute(0, 2, 1)
        phi_x = self.phi(x).view(b, self.inter, -1)
        f = F.softmax(torch.matmul(theta_x, phi_x), dim=-1)
        y = torch.matmul(f, g_x).permute(0, 2, 1).contiguous().view(b, self.inter, *x.size()[2:])
        return self.W(y) + x


class NonLocalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.nl = NonLocal(8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.head(self.nl(self.conv(x)))


def channel_shuffle(x, groups):
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(b, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, c):
        super().__init__()
        half = c // 2
        self.branch2 = nn.Sequential(nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
                                     nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False), nn.BatchNorm2d(half),
                                     nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((x1, self.branch2(x2)), dim=1), 2)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.stage2 = nn.Sequential(ShuffleUnit(16), ShuffleUnit(16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stage2(self.maxpool(self.conv1(x)))
        return self.fc(x.mean([2, 3]))


class Video3D(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 8, (3, 3, 3), padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(8)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
        self.conv2 = nn.Conv3d(8, 8, (1, 3, 3), padding=(0, 1, 1))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        x = self.relu(self.conv2(x))
        return self.fc(self.avgpool(x).flatten(1))


class PadsPools(nn.Module):
    def __init__(self):
        super().__init__()
        self.zpad = nn.ZeroPad2d((1, 2, 0, 1))
        self.rpad = nn.ReplicationPad2d(1)
        self.cpad = nn.ConstantPad2d(1, 0.5)
        self.conv = nn.Conv2d(3, 4, 3)
        self.mp = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.ap = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.ap2 = nn.AvgPool2d(2, ceil_mode=True)
        self.mpd = nn.MaxPool2d(2, stride=1, dilation=2)
        self.lrn = nn.LocalResponseNorm(3)

    def forward(self, x):
        a = self.conv(self.rpad(self.zpad(x)))
        b = self.mp(self.cpad(a))
        return b, self.ap(a), self.ap2(a), self.mpd(self.lrn(a))


class STN(nn.Module):
    def __init__(self):
        super().__init__()
        self.loc = nn.Sequential(nn.Conv2d(3, 4, 5, stride=4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 7 * 7, 6))

    def forward(self, x):
        theta = self.loc(x).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(x.size()), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False)


class Misc(nn.Module):
    def __init__(self):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(2)
        self.conv = nn.Conv2d(12, 8, 1)
        self.glu = nn.GLU(dim=1)
        self.softmax2d = nn.Softmax2d()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x):
        y = self.glu(self.conv(self.unshuffle(x)))
        y = torch.roll(y, shifts=(1, -2), dims=(2, 3))
        return self.up(self.softmax2d(y)), F.log_softmax(y, dim=1)


def _build(cls, shape=(1, 3, 32, 32)):
    def build():
        torch.manual_seed(0)
        model = cls()
        for mod in model.modules():  # non-trivial BatchNorm statistics, so folding mistakes show
            if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm3d)):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 1.5)
        return model.eval(), torch.randn(*shape, generator=torch.Generator().manual_seed(1)), {}

    return build


MODELS = {
    "unet": _build(UNet), "convnext": _build(ConvNeXt), "mlp_mixer": _build(MLPMixer), "resnext": _build(ResNeXt),
    "deeplab_aspp": _build(DeepLab), "yolo_neck": _build(YoloNeck), "fpn": _build(FPN), "espcn": _build(ESPCN),
    "style_transfer": _build(StyleNet), "activations": _build(Acts, (1, 3, 14, 14)),
    "cbam": _build(CBAM), "non_local": _build(NonLocalNet, (2, 3, 32, 32)), "shufflenet_v2": _build(ShuffleNet),
    "video_3d": _build(Video3D, (1, 3, 4, 16, 16)), "pads_and_pools": _build(PadsPools, (1, 3, 17, 17)),
    "spatial_transformer": _build(STN), "pixel_unshuffle_glu_roll": _build(Misc, (1, 3, 16, 16)),
}
