"""Gated PixelCNN: an autoregressive model with an exact discrete likelihood.

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks" (masked
convolutions, masks A and B over the colour channels); van den Oord, Kalchbrenner, Vinyals,
Espeholt, Graves & Kavukcuoglu 2016, "Conditional Image Generation with PixelCNN Decoders"
(gated activations, vertical and horizontal stacks without the blind spot, conditioning).

Factorisation. The D = 3 H W subpixels are ordered in raster order, R before G before B inside
each pixel, and the chain rule gives the exact likelihood
    p(x | c) = prod_{i,j} p(R_ij | x_<ij, c) p(G_ij | R_ij, x_<ij, c) p(B_ij | R_ij, G_ij, x_<ij, c),
each factor a 256-way categorical, so log p(x | c) is a plain sum of log probabilities at the true
bytes: an exact likelihood in nats, trained by cross-entropy. The categorical comes in two forms:
  * `output="softmax"`: 256 free logits per subpixel (the first paper's);
  * `output="logistic"`: a mixture of K discretized logistics per subpixel (Salimans et al. 2017,
    PixelCNN++), 3K numbers instead of 256. Level x sits in the bin [y - 1/255, y + 1/255] around
    y = x / 127.5 - 1, the end bins stretch to -inf and +inf, and each component gives the bin its
    logistic's mass there:
        P(x) = sum_k pi_k [sigmoid((y + 1/255 - mu_k) / s_k) - sigmoid((y - 1/255 - mu_k) / s_k)].
    The levels are ordered, so a component that is unsure puts its doubt on the levels *next to* its
    mean, where a softmax spreads it over all 256. The head is 256 / 3K times smaller (the softmax's
    is most of a training step's work: 2.1x faster steps at K = 5). On this world it is still the
    worse choice for a 10-minute budget (docs/models-pixelcnn.md): the ground's exact grey is a spike the
    mixture only reaches by shrinking a scale to e^-7, and a draw still picks another component's
    colour now and then.

  * `output="nibbles"`: the byte split into its high and low halves, v = 16 h + l, and the chain
    rule once more, inside the subpixel:  P(v) = P(h) P(l | h),  each a 16-way softmax. It is as
    exact and as free as the 256-way one (any distribution over bytes factorises so), but the head
    emits 16 logits for h and 16 features for l, 32 numbers instead of 256. P(l | h) reads h through
    a small ReLU layer, logits(l) = W relu(f + E[h]) + b, so the low half can depend on the high one
    in any way; training feeds it the true h, sampling the drawn one.

Causality. Two stacks of convolutions see exactly the allowed past:
  * the vertical stack at row i sees only rows < i: its first kernel covers rows i-k/2..i-1,
    later (k/2 + 1) x k kernels rows i-k/2..i of features that themselves never saw row i;
  * the horizontal stack at (i, j) sees pixels (i, <= j) through 1 x (k/2 + 1) kernels plus the
    vertical stack at (i, j). At the current pixel its features are split into R, G, B groups and a
    channel mask lets group g see only input groups < g (mask A, first layer, on the image) or
    <= g (mask B, every later layer, on features); the 1 x 1 convolutions carry mask B too.
Together they cover every earlier pixel in the receptive field (no blind spot). The first block
also adds a learned map over positions (a location-dependent bias, as in sec. 2.3 of the second
paper): zero padding looks like the grey ground, so without it the net could not tell where it is.

Gated block (eq. 4 of the second paper): with W * x a stack's convolution and V c the condition,
    y = tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c);
the horizontal stack also adds a 1 x 1 map of the vertical pre-activations, and is residual.

Global context (`context`). The stacks see only a window (first_kernel/2 + layers - 1 rows up and
as many columns either side), but a scene is a global thing: having drawn one object at the top
left, the net must not start a second at the bottom right, and having drawn none it must start one
in time. So the head can also read two causal summaries, a PixelSNAIL-like shortcut at the cost of a
max: the running maximum over the rows r <= i of a projection of the vertical stack's last features
(which at row r saw rows < r only), maxed over the columns; and the running maximum over the pixels
(i, < j) to the left of a projection of the horizontal stack's last features. A max of ReLUs is 0
until something was seen, only grows, and is cheap to carry along while sampling.

Seen pixels (`seen`, k channels). A cheaper and exact global view: a learned 1 x 1 map of the
*image* itself, s(x_ij) = relu(W x_ij + b) in R^k, max-pooled over every pixel before (i, j) in raster
order, summary_ij = max_{(r, t) < (i, j)} s(x_rt) (0 at the first pixel), projected and added to the
head's input. Each channel can learn "a pixel of this kind was drawn somewhere before", which is what
a one-object scene needs: no object yet, and this is the last place one can start, so start it; one
already drawn, so draw no other. It is causal by construction (only completed pixels enter the max), and
the sampler carries it as one running max per image.

Sampling takes D sequential steps. Running the net on the whole image per step is wasteful:
the vertical stack of row i depends only on rows < i, so it runs once per row, one row per layer
from cached padded feature maps; inside the row only the current pixel of each horizontal layer
is recomputed, from cached features of the pixels to its left. Same weights and the same function
as the full forward pass (the tests compare both samplers byte for byte), about H W times less work.
The same pass, with each subpixel's value left to a function, encodes and decodes images losslessly
(playground.evaluation.coding): the true bytes, or the bytes read back from the code, instead of a draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Model, averaged, init_average, to_unit
from .text import ConditionEncoder

LEVELS = 256  # values of a subpixel
MAX_SAMPLES = 1024  # images per sample call
OUTPUTS = ("softmax", "logistic", "nibbles")
NIBBLE = 16  # values of a nibble (half a byte): a byte v is 16 high + low
NIBBLE_FEATURES = 16  # per subpixel, the features the low nibble's distribution is computed from
MIN_LOG_SCALE = -7.0  # a logistic's scale s >= e^-7 (0.12 of a level): its own bin then holds 97%


def logistic_log_probs(params: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """log P(level) under a mixture of K discretized logistics (see the module docstring).

    params (..., 3K): K mixture logits, K means mu (in [-1, 1] units), K log-scales log s; levels
    (...) integer bytes, broadcast against params' leading dims -> (...) log-probabilities.
    Numerically exact in every bin: with a = (y + 1/255 - mu)/s > b = (y - 1/255 - mu)/s,
        sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - e^-(a - b)),
    so log P = logsigmoid(a) + logsigmoid(-b) + log(1 - e^-(a - b)), with no difference of two
    nearly equal numbers; the end bins are logsigmoid(a) (x = 0) and logsigmoid(-b) (x = 255)."""
    logit_pi, mu, log_s = params.unflatten(-1, (3, -1)).unbind(-2)  # each (..., K)
    log_s = log_s.clamp(min=MIN_LOG_SCALE)
    y = (levels.to(params.dtype) / 127.5 - 1.0)[..., None]  # (..., 1) bin centres
    inv_s = torch.exp(-log_s)
    a = (y + 1.0 / 255 - mu) * inv_s  # upper edge, standardised
    b = (y - 1.0 / 255 - mu) * inv_s  # lower edge
    width = (2.0 / 255) * inv_s  # a - b > 0
    middle = F.logsigmoid(a) + F.logsigmoid(-b) + torch.log(-torch.expm1(-width))
    levels = levels[..., None]
    log_p = torch.where(levels == 0, F.logsigmoid(a), torch.where(levels == LEVELS - 1, F.logsigmoid(-b), middle))
    return torch.logsumexp(log_p + logit_pi.log_softmax(-1), dim=-1)


def channel_groups(n: int, groups: int, repeats: int = 1) -> torch.Tensor:
    """Colour group (0 = R, 1 = G, 2 = B) of each of n channels, laid out as `repeats` blocks of
    `groups` equal groups (the gate's f and g halves are two such blocks)."""
    block = n // repeats
    return torch.arange(n) % block // (block // groups)


def valid_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """F.conv2d without padding. When the input is exactly one kernel wide and high (the sampler's
    one-pixel steps) it is one matrix product, which on a CPU is many times faster than conv2d."""
    if x.shape[-2:] == weight.shape[-2:]:
        return F.linear(x.flatten(1), weight.flatten(1), bias)[:, :, None, None]  # (B, c_out, 1, 1)
    return F.conv2d(x, weight, bias)


class CausalConv(nn.Conv2d):
    """A 1 x width convolution over pixels (i, j-width+1..j) whose current-pixel column is masked
    by colour group: output group g sees input groups < g (mask "A") or <= g (mask "B")."""

    def __init__(self, c_in: int, c_out: int, width: int, mask: str, groups: int, out_repeats: int = 1):
        super().__init__(c_in, c_out, (1, width))
        g_out, g_in = channel_groups(c_out, groups, out_repeats), channel_groups(c_in, groups)
        allowed = g_in[None, :] < g_out[:, None] if mask == "A" else g_in[None, :] <= g_out[:, None]
        kernel_mask = torch.ones(c_out, c_in, 1, width)
        kernel_mask[:, :, 0, -1] = allowed.float()  # only the current pixel is masked
        self.register_buffer("mask", kernel_mask, persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x):
        return valid_conv(x, self.masked_weight(), self.bias)


def gate(pre: torch.Tensor) -> torch.Tensor:
    """tanh(f) * sigmoid(g) on the two halves of the channels; group g of f meets group g of g."""
    f, g = pre.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedBlock(nn.Module):
    """One layer of both stacks. Its convolutions are 'valid' (unpadded): callers pass inputs
    padded by `pad` (k/2) on the left/top, so the same code runs on whole images and on caches."""

    def __init__(self, c_in: int, hidden: int, kernel: int, first: bool, groups: int):
        super().__init__()
        self.pad, self.first = kernel // 2, first
        self.rows = kernel // 2 if first else kernel // 2 + 1  # the first layer skips row i itself
        self.vertical = nn.Conv2d(c_in, 2 * hidden, (self.rows, kernel))
        self.horizontal = CausalConv(c_in, 2 * hidden, kernel // 2 + 1, "A" if first else "B", groups, 2)
        self.link = nn.Conv2d(2 * hidden, 2 * hidden, 1)  # vertical -> horizontal (sees rows < i only)
        self.out = CausalConv(hidden, hidden, 1, "B", groups)

    def vertical_step(self, v_padded, bias):
        """Rows of the vertical stack from the padded input above them: its output and its message
        to the horizontal stack, both (B, ., R, W)."""
        v_pre = self.vertical(v_padded)  # (B, 2h, R, W)
        return gate(v_pre + bias), self.link(v_pre) + bias

    def horizontal_step(self, h_padded, h_in, from_vertical):
        """Pixels of the horizontal stack from the left-padded input; residual after the first layer."""
        h = self.out(gate(self.horizontal(h_padded) + from_vertical))  # (B, h, 1 or H, W')
        return h if self.first else h + h_in


@dataclass
class PixelCNNConfig:
    image_size: int = 32  # square images of this side
    channels: int = 3  # colour channels, generated one after the other in each pixel
    condition: str = "none"  # "none", "class" (shape, colour) or "caption"
    hidden: int = 48  # feature channels per stack, a multiple of `channels`
    layers: int = 8  # gated blocks; the view upwards is first_kernel/2 + layers - 1 rows
    kernel: int = 3  # odd kernel size of the later blocks
    first_kernel: int = 7  # odd kernel size of the first block (mask A)
    condition_dim: int = 64  # size of the condition vector (even, for the caption GRU)
    context: bool = False  # the head also reads the causal global summaries (above)
    seen: int = 0  # k: channels of the seen-pixels summary (above); 0 = none
    output: str = "softmax"  # per-subpixel distribution: "softmax" (256 logits) or "logistic"
    mixtures: int = 5  # K: logistic components per subpixel (output="logistic")
    ema_decay: float = 0.0  # d of the weight average that scores, samples and codes; 0 = last weights


class PixelCNN(Model):
    Config = PixelCNNConfig
    family = "pixelcnn"
    likelihood = "exact"

    def __init__(self, config: PixelCNNConfig):
        super().__init__(config)
        c, size, hidden = config.channels, config.image_size, config.hidden
        if not 1 <= size <= 256 or not 1 <= c <= 4:
            raise ValueError(f"image_size must be in 1..256 and channels in 1..4, got {size} and {c}")
        if hidden < c or hidden % c:
            raise ValueError(f"hidden must be a positive multiple of channels={c} (a group per colour), got {hidden}")
        for name in ("kernel", "first_kernel"):
            if getattr(config, name) < 3 or getattr(config, name) % 2 == 0:
                raise ValueError(f"{name} must be odd and >= 3, got {getattr(config, name)}")
        if config.layers < 1:
            raise ValueError(f"layers must be >= 1, got {config.layers}")
        if config.condition_dim < 2 or config.condition_dim % 2:
            raise ValueError(f"condition_dim must be even and >= 2, got {config.condition_dim}")
        if config.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {config.output!r}")
        if not 0 <= config.seen <= 64:
            raise ValueError(f"seen must be in 0..64, got {config.seen}")
        if not 1 <= config.mixtures <= 32:
            raise ValueError(f"mixtures must be in 1..32, got {config.mixtures}")
        if not 0.0 <= config.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
        self.blocks = nn.ModuleList(
            GatedBlock(c if k == 0 else hidden, hidden, config.first_kernel if k == 0 else config.kernel, k == 0, c)
            for k in range(config.layers)
        )
        self.position = nn.Parameter(torch.zeros(2 * hidden, size, size))  # location-dependent bias
        self.encoder = ConditionEncoder(config.condition, config.condition_dim)
        self.to_bias = (
            nn.Linear(config.condition_dim, 2 * config.layers * hidden) if config.condition != "none" else None
        )  # V c for every block at once
        if config.context:  # projections of the last features into the summaries, and of both back
            self.summarise_rows = nn.Conv2d(hidden, hidden, 1)
            self.summarise_left = nn.Conv2d(hidden, hidden, 1)
            self.from_context = nn.Conv2d(2 * hidden, hidden, 1)
        if config.seen:  # s(x) = relu(W x + b) per pixel, and its running max back to the head
            self.seen_in = nn.Conv2d(c, config.seen, 1)
            self.seen_out = nn.Conv2d(config.seen, hidden, 1)
        # per subpixel: 256 logits, or 3K mixture parameters; grouped by colour, so mask B applies
        self.per_subpixel = {"softmax": LEVELS, "logistic": 3 * config.mixtures, "nibbles": NIBBLE + NIBBLE_FEATURES}[
            config.output
        ]
        if config.output == "nibbles":  # per colour: E (16 high values x features), W (features x 16), b
            bound = NIBBLE_FEATURES**-0.5
            self.nibble_embed = nn.Parameter(torch.empty(c, NIBBLE, NIBBLE_FEATURES).uniform_(-1, 1))
            self.nibble_out = nn.Parameter(torch.empty(c, NIBBLE_FEATURES, NIBBLE).uniform_(-bound, bound))
            self.nibble_bias = nn.Parameter(torch.zeros(c, NIBBLE))
        self.head = nn.Sequential(
            nn.ReLU(),
            CausalConv(hidden, hidden, 1, "B", c),
            nn.ReLU(),
            CausalConv(hidden, c * self.per_subpixel, 1, "B", c),
        )
        if config.ema_decay:  # Model.train_step moves it after every step
            init_average(self)

    def _seen_map(self, x: torch.Tensor) -> torch.Tensor:
        """s(x) = relu(W x + b) (B, k, H, W) of uint8 pixels (B, C, H, W), the seen summary's input;
        one matrix product for the sampler's single pixels (valid_conv)."""
        return F.relu(valid_conv(to_unit(x), self.seen_in.weight, self.seen_in.bias))

    def _biases(self, condition, n: int) -> list:
        """Per block, what is added to its pre-activations: V c (n, 2h, 1, 1), or 0 when unconditional."""
        condition = self._check_condition(condition, n)
        if condition is None:
            return [0.0] * self.config.layers
        return list(self.to_bias(self.encoder(condition))[:, :, None, None].chunk(self.config.layers, dim=1))

    # --- the likelihood

    def outputs(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H, W, C, P): the head's P numbers for every subpixel (256 logits, 3K mixture
        parameters, or the nibbles' 16 + 16), all in one pass."""
        return self._head_last(self.head_input(x, condition))

    def head_input(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B, h, H, W): the features the head reads at every pixel (both stacks, the summaries)."""
        size = self.config.image_size
        if x.ndim != 4 or x.dtype != torch.uint8 or x.shape[1:] != (self.config.channels, size, size):
            raise ValueError(
                f"expected uint8 images (B, {self.config.channels}, {size}, {size}), got {tuple(x.shape)} {x.dtype}"
            )
        biases = self._biases(condition, x.shape[0])
        v = h = to_unit(x)  # (B, C, H, W) in [-1, 1]
        for k, block in enumerate(self.blocks):
            p = block.pad
            bias = biases[k] + (self.position if k == 0 else 0.0)
            # pad k/2 above (and trim the last row for the first block, whose kernel stops at row i - 1)
            v, from_vertical = block.vertical_step(F.pad(v, (p, p, p, block.rows - 1 - p)), bias)  # (B, h, H, W)
            h = block.horizontal_step(F.pad(h, (p, 0, 0, 0)), h, from_vertical)  # (B, h, H, W)
        if self.config.context:
            # above: rows r <= i of v (which saw rows < r), maxed over columns, then a running max down
            above = F.relu(self.summarise_rows(v)).amax(3, keepdim=True).cummax(2).values  # (B, h, H, 1)
            # left: pixels (i, j' < j) of h, a running max along the row shifted one to the right
            left = F.pad(F.relu(self.summarise_left(h)).cummax(3).values, (1, 0))[..., :-1]  # (B, h, H, W)
            h = h + self.from_context(torch.cat([above.expand_as(left), left], dim=1))
        if self.config.seen:
            s = self._seen_map(x).flatten(2)  # (B, k, H W) in raster order
            before = F.pad(s.cummax(2).values, (1, 0))[..., :-1]  # max over the pixels before each
            h = h + self.seen_out(before.view(*before.shape[:2], size, size))
        return h

    def _head_last(self, h: torch.Tensor) -> torch.Tensor:
        """The head on every pixel of features (B, h, H, W), channels last: (B, H, W, C, P). Its two
        1 x 1 convolutions are matrix products over the pixels, and each subpixel's P numbers come out
        contiguous, so the softmax over them reads memory in order (conv2d's layout put the 256 logits
        H W apart, and a whole training step took 1.35 times as long: benchmarks/train_speed.py)."""
        first, last = self.head[1], self.head[3]
        h = F.relu(F.linear(F.relu(h.permute(0, 2, 3, 1)), first.masked_weight().flatten(1), first.bias))
        out = F.linear(h, last.masked_weight().flatten(1), last.bias)
        return out.unflatten(-1, (self.config.channels, self.per_subpixel))

    def subpixel_logits(self, out: torch.Tensor, channel: int | None = None) -> torch.Tensor:
        """Head outputs (..., C, P), or (..., P) of colour `channel`, -> logits (..., [C,] 256) of the
        subpixels' categoricals. For the logistic mixture and the nibbles these are already normalised
        log-probabilities (a softmax leaves them as they are)."""
        if self.config.output == "softmax":
            return out
        if self.config.output == "logistic":
            return logistic_log_probs(out[..., None, :], torch.arange(LEVELS, device=out.device))
        high, features = out.split([NIBBLE, NIBBLE_FEATURES], dim=-1)
        embed, weight, bias = self.nibble_embed, self.nibble_out, self.nibble_bias  # (C, 16, F), (C, F, 16), (C, 16)
        if channel is not None:  # one colour's tables
            embed, weight, bias = embed[channel], weight[channel], bias[channel]
        hidden = F.relu(features[..., None, :] + embed)  # (..., [C,] 16 h, F)
        low = torch.einsum("...hf,...fl->...hl", hidden, weight) + bias[..., None, :]  # (..., [C,] 16 h, 16 l)
        log_p = high.log_softmax(-1)[..., None] + low.log_softmax(-1)  # log P(h) + log P(l | h)
        return log_p.flatten(-2)  # byte 16 h + l

    def _nibble_log_probs(self, out: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """log P(v) = log P(h) + log P(l | h) of the true bytes levels (..., C), from out (..., C, P):
        only the true h's row of the low table is computed."""
        high, features = out.split([NIBBLE, NIBBLE_FEATURES], dim=-1)
        h, low_true = levels // NIBBLE, levels % NIBBLE  # (..., C)
        colour = torch.arange(levels.shape[-1], device=levels.device)
        hidden = F.relu(features + self.nibble_embed[colour, h])  # (..., C, F)
        low = torch.einsum("...cf,cfl->...cl", hidden, self.nibble_out) + self.nibble_bias  # (..., C, 16)
        return high.log_softmax(-1).gather(-1, h[..., None]).squeeze(-1) + low.log_softmax(-1).gather(
            -1, low_true[..., None]
        ).squeeze(-1)

    def logits(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 256, C, H, W): logits of p(x_d | x_<d, c) for every subpixel d, all in one pass (with the
        averaged weights, as every use but training)."""
        with averaged(self):
            out = self.outputs(x, condition)  # (B, H, W, C, P)
            return self.subpixel_logits(out).permute(0, 4, 3, 1, 2)

    def subpixel_log_probs(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W): log p(x_d | x_<d, c) of every true byte, in nats (the mixture evaluates only
        the true bin, not all 256)."""
        out = self.outputs(x, condition)  # (B, H, W, C, P)
        true = x.long().permute(0, 2, 3, 1)  # (B, H, W, C)
        if self.config.output == "softmax":
            log_p = out.log_softmax(dim=-1).gather(-1, true[..., None]).squeeze(-1)
        elif self.config.output == "nibbles":
            log_p = self._nibble_log_probs(out, true)
        else:
            log_p = logistic_log_probs(out, true)
        return log_p.permute(0, 3, 1, 2)  # (B, C, H, W)

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Mean negative log-likelihood per subpixel, in nats: the categorical's cross-entropy."""
        if self.config.output == "softmax":  # the fused kernel on (B H W C, 256) logits
            return F.cross_entropy(self.outputs(x, condition).flatten(0, 3), x.permute(0, 2, 3, 1).flatten().long())
        return -self.subpixel_log_probs(x, condition).mean()

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) exact log p(x | c) in nats: the sum over subpixels of log p at the true byte (averaged weights)."""
        with averaged(self):
            return self.subpixel_log_probs(x, condition).flatten(1).sum(1)

    # --- sampling

    @staticmethod
    def pick(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draw from softmax(logits) (n, 256) with uniforms u (n,): the first value whose
        cumulative probability exceeds u. Shared by every sampler, so equal logits give equal bytes."""
        cdf = logits.softmax(dim=1).cumsum(dim=1)  # (n, 256)
        return (cdf < u[:, None]).sum(dim=1).clamp(max=LEVELS - 1)

    @torch.no_grad()
    def sample_steps(
        self, n: int, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None, every: int = 1
    ):
        """Yield the uint8 (n, C, H, W) canvas after every `every` rows (unsampled rows are 0); the last
        yield is the finished sample. One uniform per subpixel is drawn up front from `generator`."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        c, size = self.config.channels, self.config.image_size
        uniforms = torch.rand(n, c, size, size, generator=generator).to(self.position.device)  # (n, C, H, W)

        def draw(logits, channel, i, j):
            return self.pick(logits, uniforms[:, channel, i, j])

        yield from self._autoregress(n, condition, draw, every)

    @torch.no_grad()
    def _autoregress(self, n: int, condition: torch.Tensor | None, choose, every: int):
        """The one pass through the subpixels in generation order that sampling and lossless coding
        (playground.evaluation.coding) share, so all of them see bit-for-bit the same logits. At each subpixel
        `choose(logits (n, 256), channel, i, j)` returns its values (n,) int64: a draw when sampling,
        the true bytes when encoding, the bytes read back from the code when decoding. Yields the
        uint8 (n, C, H, W) canvas after every `every` rows, and after the last. Averaged weights."""
        with averaged(self):
            yield from self._autoregress_now(n, condition, choose, every)

    @torch.no_grad()
    def _autoregress_now(self, n: int, condition: torch.Tensor | None, choose, every: int):
        """`_autoregress` with the weights as they are."""
        c, size, hidden = self.config.channels, self.config.image_size, self.config.hidden
        device = self.position.device
        biases = self._biases(None if condition is None else condition.to(device), n)
        image = torch.zeros(n, c, size, size, dtype=torch.uint8, device=device)
        # caches of every block's input, zero padded: for the vertical stack the whole image with k/2
        # rows above and k/2 columns either side (n, c_in, H + k/2, W + k - 1); for the horizontal
        # stack the current row with k/2 columns on the left (n, c_in, 1, W + k/2)
        widths = [c] + [hidden] * (self.config.layers - 1)
        v_cache = [
            torch.zeros(n, w, size + b.pad, size + 2 * b.pad, device=device) for w, b in zip(widths, self.blocks)
        ]
        above = torch.zeros(n, hidden, 1, 1, device=device)  # the running summaries (see `logits`)
        seen = torch.zeros(n, self.config.seen, 1, 1, device=device)  # the running max of s(pixel)
        from_seen = (
            valid_conv(seen, self.seen_out.weight, self.seen_out.bias)  # its projection (n, h, 1, 1),
            if self.config.seen
            else 0.0
        )  # updated once per pixel
        width = self.per_subpixel  # head outputs per subpixel
        for i in range(size):
            from_vertical = []  # per block: (n, 2h, 1, W) for row i
            for k, block in enumerate(self.blocks):
                bias = biases[k] + (self.position[:, i : i + 1] if k == 0 else 0.0)
                v, message = block.vertical_step(v_cache[k][:, :, i : i + block.rows], bias)  # (n, h, 1, W)
                from_vertical.append(message)
                if k + 1 < len(self.blocks):
                    q = self.blocks[k + 1].pad
                    v_cache[k + 1][:, :, i + q, q : q + size] = v[:, :, 0]
            if self.config.context:
                above = torch.maximum(above, F.relu(self.summarise_rows(v)).amax(3, keepdim=True))
                left = torch.zeros(n, hidden, 1, 1, device=device)
            h_cache = [torch.zeros(n, w, 1, size + b.pad, device=device) for w, b in zip(widths, self.blocks)]
            for j in range(size):
                for channel in range(c):
                    for k, block in enumerate(self.blocks):  # recompute pixel (i, j) only, layer by layer
                        p = block.pad
                        h = block.horizontal_step(
                            h_cache[k][..., j : j + p + 1],
                            h_cache[k][..., j + p : j + p + 1],
                            from_vertical[k][..., j : j + 1],
                        )  # (n, h, 1, 1)
                        if k + 1 < len(self.blocks):
                            h_cache[k + 1][..., j + self.blocks[k + 1].pad] = h[..., 0]
                    features = h + self.from_context(torch.cat([above, left], dim=1)) if self.config.context else h
                    features = features + from_seen
                    out = self.head(features)[:, channel * width : (channel + 1) * width, 0, 0]  # (n, P)
                    logits = self.subpixel_logits(out, channel)  # (n, 256)
                    value = choose(logits, channel, i, j)  # (n,) int64
                    image[:, channel, i, j] = value.to(torch.uint8)
                    h_cache[0][:, channel, 0, j + self.blocks[0].pad] = to_unit(value)
                if self.config.context:  # pixel (i, j) is complete: the last channel's h is its full feature
                    left = torch.maximum(left, F.relu(self.summarise_left(h)))
                if self.config.seen:
                    seen = torch.maximum(seen, self._seen_map(image[:, :, i : i + 1, j : j + 1]))
                    from_seen = valid_conv(seen, self.seen_out.weight, self.seen_out.bias)  # (n, h, 1, 1)
            p = self.blocks[0].pad
            v_cache[0][:, :, i + p, p : p + size] = to_unit(image[:, :, i])
            if i == size - 1 or (i + 1) % every == 0:
                yield image.clone()

    def sample(
        self, n: int, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """uint8 (n, C, H, W), drawn subpixel by subpixel from p(x | c)."""
        *_, images = self.sample_steps(n, condition, generator=generator, every=self.config.image_size)
        return images
