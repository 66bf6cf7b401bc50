"""Lossless compression with the PixelCNN: rANS over its predicted distributions.

Duda 2013, "Asymmetric numeral systems: entropy coding combining speed of Huffman coding with
compression rate of arithmetic coding" (arXiv:1311.2540), the range variant rANS.

Why a likelihood is a file size. Shannon: a message x can be written in about -log2 p(x) bits, and
no code does better on average. The PixelCNN gives p(x) as a product of D = 3 H W categorical
factors, one per subpixel, so coding each subpixel with its predicted distribution spends
-log2 p(x_d | x_<d) bits on it and -log2 p(x) in total: its negative log-likelihood in bits is the
size of the compressed image. An entropy coder turns that number into actual bytes.

Quantization. The coder works with integers: each distribution becomes frequencies f_s >= 1 that sum
to M = 2^24, and symbol s owns the slots [c_s, c_s + f_s) of 0..M-1, with c_s = f_0 + ... + f_(s-1).
At 2^24 the floors that give every byte a slot cost under 0.07 bits per 32 x 32 image; a smaller M
would trim the start-up cost (about log2 M, below) but charge sharper models more for the floors.

rANS. The whole state is one integer x. Pushing symbol s and popping it back are
    push:  x <- (x // f_s) M + c_s + (x mod f_s)
    pop:   slot = x mod M,  s = the symbol with c_s <= slot < c_s + f_s,  x <- f_s (x // M) + slot - c_s.
Read x in a mixed radix: the quotient x // f_s moves up one digit of base M, and the remainder
x mod f_s picks which of the f_s slots of s the new lowest digit is, so x grows by the factor
M / f_s = 1 / p_s (p_s = f_s / M): log2 x grows by -log2 p_s bits, the ideal cost. The pop undoes the push exactly, and it is
last-in first-out, a stack: the encoder pushes the symbols in reverse so that the decoder pops them
in order, which is what an autoregressive model needs (the distribution of subpixel d depends on
the subpixels before it, so the decoder must have those first).

Big integers. Production rANS keeps x in a machine word, inside an interval [L, bL) with L >= M,
and shifts low bits out to the file whenever a push would overflow it (renormalisation). Python's
integers have no size limit, so here x simply grows: the final state IS the code, written as
big-endian bytes; there is no renormalisation and no flush. Each push or pop costs O(bits of x),
negligible at a few hundred bits per image.

The start state is 1, and the decoder must end there too: a code that does not is corrupt (or was
decoded with a different model or condition). From push, x' + M <= (x + M) M / f_s, so a message of
n symbols ends with log2 x < log2(M + 1) + sum_k -log2(f_k / M): at most log2 M + 1 bits over
the ideal. That is the price of a state that starts small: until x has grown past M the
slots are too coarse for x to grow by exactly 1 / p_s (the counterpart of the 32-bit final
state a streaming coder flushes). In practice it is about log2 M minus what the first symbols
pushed (the last subpixels) carry; in our images those are near-certain ground, so the shipped
model's codes are 18 to 23 bits longer than -log2 p(x) (benchmarks/coding.py). It is paid once
per code: encode_stream codes many images into one state, so they share it (32 images of the
shipped model: 17 bits over -log2 p(x) in all, 0.5 bits per image).

The PixelCNN side. Encoder and decoder must quantize bit-for-bit the same floats, or the
frequencies differ and the decoder drifts off. Both therefore run the network through the sampler's
one autoregressive pass (PixelCNN._autoregress), never the one-pass `logits` (whose float sums
round differently). The floats also depend on the batch: a batched kernel's rounding can change
with the batch size (about 3/4 of the shipped model's logits differ in their last bits between
batch 1 and batch 4) and, for some feature sizes, with an image's place in the batch. So a list of
codes is decoded as it was encoded: the same codes in the same order (coded BATCH at a time), with
the same model, condition, device and number of threads. A code decoded otherwise almost surely
misses the start state at the end, so the mistake raises instead of returning a wrong image.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from playground.models.pixelcnn import PixelCNN

PRECISION_BITS = 24
M = 1 << PRECISION_BITS  # every quantized distribution sums to M (K / M of probability goes to floors)
START = 1  # rANS state before the first push and after the last pop
BATCH = 64  # images per pass through the network (a list decodes as it was encoded)


# --- quantized distributions


def quantize(probabilities: np.ndarray) -> np.ndarray:
    """(N, K) probabilities -> (N, K) int64 frequencies, each >= 1, each row summing to exactly M.

    f_s = 1 + floor(p_s (M - K)), and the rounding remainder (0..K-1) goes to the likeliest symbol.
    Plain float64 operations, so the same floats give the same integers. Cost: f_s > p_s (M - K), so
    a symbol costs at most -log2(1 - K / M) ~ K / (M ln 2) bits more than under p (2e-5 bits for
    K = 256), the price of giving every symbol a slot; rows are normalised first."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or not 1 <= p.shape[1] <= M:
        raise ValueError(f"probabilities must be (N, K) with 1 <= K <= M = 2^{PRECISION_BITS}, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and >= 0")
    total = p.sum(axis=1, keepdims=True)  # (N, 1)
    if (total <= 0).any():
        raise ValueError("every row of probabilities needs a positive total")
    p = p / total
    k = p.shape[1]
    frequencies = np.floor(p * (M - k)).astype(np.int64) + 1  # (N, K), the floors sum to <= M - K
    frequencies[np.arange(len(p)), p.argmax(axis=1)] += M - frequencies.sum(axis=1)
    return frequencies


def _check_frequencies(frequencies) -> np.ndarray:
    f = np.asarray(frequencies)
    if f.ndim != 2 or f.dtype.kind not in "iu":
        raise ValueError(f"frequencies must be an integer array (n, K), got {f.dtype} {f.shape}")
    if (f < 0).any() or (f.sum(axis=1) != M).any():
        raise ValueError(f"every row of frequencies must be >= 0 and sum to M = 2^{PRECISION_BITS} (see quantize)")
    return f.astype(np.int64)


def _intervals(symbols, frequencies) -> tuple[np.ndarray, np.ndarray]:
    """(n,) symbols and their (n, K) frequencies -> each symbol's slots: start c_s and width f_s, (n,) each."""
    f = _check_frequencies(frequencies)
    s = np.asarray(symbols)
    if s.ndim != 1 or s.dtype.kind not in "iu" or len(s) != len(f):
        raise ValueError(f"symbols must be {len(f)} integers (one per row of frequencies), got {s.dtype} {s.shape}")
    if ((s < 0) | (s >= f.shape[1])).any():
        raise ValueError(f"symbols must be in 0..{f.shape[1] - 1}")
    rows = np.arange(len(f))
    width = f[rows, s]
    if (width == 0).any():
        raise ValueError("a symbol has frequency 0, so it cannot be coded")
    return np.cumsum(f, axis=1)[rows, s] - width, width


def ideal_bits(symbols, frequencies) -> float:
    """sum_k -log2(f_k / M): the length of the symbols under the quantized model, what rANS approaches."""
    _, width = _intervals(symbols, frequencies)
    return float(np.sum(PRECISION_BITS - np.log2(width)))


# --- rANS on one big integer


def _push(state: int, start: int, width: int) -> int:
    """x <- (x // f) M + c + (x mod f): up one digit of base M, the new digit one of the symbol's slots."""
    return (state // width) * M + start + state % width


def _pop(states: list[int], frequencies: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Pop one symbol from each of n states, symbol b under distribution frequencies[b] (n, K)."""
    slots = np.array([x & (M - 1) for x in states], dtype=np.int64)  # x mod M
    ends = np.cumsum(frequencies, axis=1)  # (n, K): c_s + f_s
    symbols = (ends <= slots[:, None]).sum(axis=1)  # the s with c_s <= slot < c_s + f_s
    rows = np.arange(len(states))
    width = frequencies[rows, symbols]
    start = ends[rows, symbols] - width
    states = [int(f) * (x >> PRECISION_BITS) + int(slot - c) for x, f, slot, c in zip(states, width, slots, start)]
    return symbols, states


def _encode_intervals(starts: np.ndarray, widths: np.ndarray) -> bytes:
    """Push the symbols given by their slots, last first; the final state as big-endian bytes."""
    state = START
    for start, width in zip(starts[::-1].tolist(), widths[::-1].tolist()):
        state = _push(state, start, width)
    return state.to_bytes((state.bit_length() + 7) // 8, "big")


def _read_state(data: bytes, n: int) -> int:
    """The state a code holds; refuses what no encoder writes (a leading zero byte, too many bytes)."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"a code must be bytes, got {type(data).__name__}")
    if not data or data[0] == 0:
        raise ValueError("corrupt code: empty, or a leading zero byte")
    if 8 * (len(data) - 1) >= PRECISION_BITS * (n + 1) + 1:  # bit length <= 24 (n + 1) + 1 (docstring)
        raise ValueError(f"corrupt code: {len(data)} bytes is too long for {n} symbols")
    return int.from_bytes(data, "big")


def _check_end(state: int) -> None:
    if state != START:
        raise ValueError(
            "corrupt code: decoding did not end at the start state (a damaged code, or codes decoded "
            "in another list, order, model, condition, device or thread count than encoded)"
        )


def encode(symbols, frequencies) -> bytes:
    """(n,) integer symbols, symbol k drawn from frequencies[k] (n, K) (rows summing to M) -> the code."""
    return _encode_intervals(*_intervals(symbols, frequencies))


def decode(data: bytes, frequencies, n: int) -> np.ndarray:
    """The n symbols (n,) int64 of `data`. `frequencies` is the (n, K) array the encoder used, or a function
    of the symbols decoded so far ((k,) int64) returning the (K,) frequencies of symbol k (adaptive models)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    state = _read_state(data, n)
    if not callable(frequencies):
        table = _check_frequencies(frequencies)
        if len(table) != n:
            raise ValueError(f"frequencies has {len(table)} rows for n = {n} symbols")
    symbols = np.zeros(n, dtype=np.int64)
    for k in range(n):
        if callable(frequencies):
            f = _check_frequencies(np.asarray(frequencies(symbols[:k].copy()))[None])  # (1, K)
        else:
            f = table[k : k + 1]
        (symbols[k],), (state,) = _pop([state], f)
    _check_end(state)
    return symbols


# --- PixelCNN images


def subpixel_frequencies(logits: torch.Tensor) -> np.ndarray:
    """(n, 256) float32 logits -> (n, 256) int64 frequencies: softmax in float64, then quantize."""
    return quantize(logits.double().softmax(dim=1).cpu().numpy())


def _check_model(model) -> None:
    if not isinstance(model, PixelCNN):
        raise ValueError(f"lossless coding needs an autoregressive PixelCNN, got {type(model).__name__}")


def _batches(b: int, condition: torch.Tensor | None):
    """(first, stop, their condition) for each batch of BATCH images (the last may be smaller)."""
    if condition is not None and condition.shape[0] not in (1, b):
        raise ValueError(f"condition has {condition.shape[0]} rows for {b} images")
    for first in range(0, b, BATCH):
        stop = min(first + BATCH, b)
        yield first, stop, condition if condition is None or condition.shape[0] == 1 else condition[first:stop]


def _check_images(model, images) -> None:
    c, size = model.config.channels, model.config.image_size
    if (
        not isinstance(images, torch.Tensor)
        or images.dtype != torch.uint8
        or images.ndim != 4
        or images.shape[1:] != (c, size, size)
        or len(images) == 0
    ):
        raise ValueError(
            f"expected uint8 images (B >= 1, {c}, {size}, {size}), got "
            f"{tuple(getattr(images, 'shape', ()))} {getattr(images, 'dtype', type(images).__name__)}"
        )


def _batch_intervals(model, images: torch.Tensor, condition: torch.Tensor | None):
    """For each batch of BATCH images in order: the slots of its true subpixels, starts and widths
    (D, n) each, row d the d-th subpixel in coding order, column b the batch's b-th image."""
    _check_model(model)
    _check_images(model, images)
    size = model.config.image_size
    for first, stop, batch_condition in _batches(len(images), condition):
        batch = images[first:stop].to(model.position.device)
        truth = batch.long().cpu().numpy()  # (n, C, H, W)
        starts, widths = [], []  # per subpixel, in coding order: (n,) each

        def read_truth(logits, channel, i, j):
            """Note where the true subpixel lies in its quantized distribution, and feed it back."""
            start, width = _intervals(truth[:, channel, i, j], subpixel_frequencies(logits))
            starts.append(start)
            widths.append(width)
            return batch[:, channel, i, j].long()

        for _ in model._autoregress(stop - first, batch_condition, read_truth, every=size):
            pass
        yield np.stack(starts), np.stack(widths)  # (D, n) each


def encode_images(model, images: torch.Tensor, condition: torch.Tensor | None = None) -> list[bytes]:
    """One code per uint8 image (B, C, H, W), of about -log2 p(x | c) bits: the PixelCNN's predicted
    distribution of every subpixel, quantized, drives rANS. Decode the list whole, in this order."""
    codes = []
    for starts, widths in _batch_intervals(model, images, condition):
        codes += [_encode_intervals(start, width) for start, width in zip(starts.T, widths.T)]  # (D,) per image
    return codes


def decode_images(model, codes: list[bytes], condition: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (B, C, H, W): the images of `codes`, the whole list from encode_images in its order, with the
    same model and condition. Raises ValueError on a code that cannot be one (or was decoded otherwise);
    a damaged code that still ends at the start state decodes to some other image."""
    _check_model(model)
    if isinstance(codes, (bytes, bytearray)) or not isinstance(codes, (list, tuple)) or not codes:
        raise ValueError("codes must be a non-empty list of bytes (one per image)")
    c, size = model.config.channels, model.config.image_size
    states = [_read_state(code, c * size * size) for code in codes]
    images = []
    for first, stop, batch_condition in _batches(len(codes), condition):
        batch = states[first:stop]

        def pop_subpixel(logits, channel, i, j):
            """Pop each image's next subpixel under its predicted distribution, and feed it back."""
            symbols, popped = _pop(batch, subpixel_frequencies(logits))
            batch[:] = popped
            return torch.from_numpy(symbols).to(logits.device)

        *_, decoded = model._autoregress(stop - first, batch_condition, pop_subpixel, every=size)
        for state in batch:
            _check_end(state)
        images.append(decoded)
    return torch.cat(images)


# --- one stream for many images


def _pop_in_turn(state: int, frequencies: np.ndarray) -> tuple[np.ndarray, int]:
    """Pop n symbols (n,) one after another from a single state, symbol b under frequencies[b] (n, K)."""
    ends = np.cumsum(frequencies, axis=1)  # (n, K): c_s + f_s
    symbols = np.zeros(len(frequencies), dtype=np.int64)
    for b, row in enumerate(ends):
        slot = state & (M - 1)  # x mod M
        s = int(np.searchsorted(row, slot, side="right"))  # the s with c_s <= slot < c_s + f_s
        width = int(frequencies[b, s])
        state = width * (state >> PRECISION_BITS) + slot - (int(row[s]) - width)  # as in _pop
        symbols[b] = s
    return symbols, state


def encode_stream(model, images: torch.Tensor, condition: torch.Tensor | None = None) -> bytes:
    """All uint8 images (B, C, H, W) in ONE code: the start-up cost (~log2 M bits, module docstring) is
    paid once for the stream instead of once per image. Decode with decode_stream(model, data, B).

    The order. The decoder runs the network as encode_images does, BATCH images at a time, batch after
    batch; within a batch, subpixel by subpixel for all its images in parallel, and at each subpixel it
    pops the batch's images one after another, first to last. So it pops (batch, subpixel, image) in
    lexicographic order, and the encoder, which knows every frequency before it pushes anything, pushes
    exactly that sequence in reverse: the last batch's last subpixel of its last image first."""
    starts, widths = [], []  # per batch, (D n,) each in the decoder's pop order
    for batch_starts, batch_widths in _batch_intervals(model, images, condition):
        starts.append(batch_starts.ravel())  # (D, n) row by row: subpixel-major, image-minor
        widths.append(batch_widths.ravel())
    return _encode_intervals(np.concatenate(starts), np.concatenate(widths))  # pushes the last one first


def decode_stream(model, data: bytes, n_images: int, condition: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (n_images, C, H, W): the images of one encode_stream code, with the same model and condition.
    Raises ValueError on data that cannot be such a stream (or was decoded otherwise)."""
    _check_model(model)
    if not isinstance(n_images, int) or n_images < 1:
        raise ValueError(f"n_images must be an integer >= 1, got {n_images!r}")
    c, size = model.config.channels, model.config.image_size
    state = _read_state(data, n_images * c * size * size)
    images = []
    for first, stop, batch_condition in _batches(n_images, condition):

        def pop_subpixel(logits, channel, i, j):
            """Pop this subpixel of each image of the batch in turn, and feed them back."""
            nonlocal state
            symbols, state = _pop_in_turn(state, subpixel_frequencies(logits))
            return torch.from_numpy(symbols).to(logits.device)

        *_, decoded = model._autoregress(stop - first, batch_condition, pop_subpixel, every=size)
        images.append(decoded)
    _check_end(state)
    return torch.cat(images)


def stream_bits_per_image(data: bytes, n_images: int) -> float:
    """Exact bit length of a stream's integer, shared out over its n_images images."""
    return int.from_bytes(data, "big").bit_length() / n_images


def code_lengths_bits(codes: list[bytes]) -> np.ndarray:
    """(B,) exact length in bits of each code's integer (its bytes round it up to a multiple of 8)."""
    return np.array([int.from_bytes(code, "big").bit_length() for code in codes], dtype=np.int64)


def ideal_lengths_bits(model, images: torch.Tensor, condition: torch.Tensor | None = None) -> np.ndarray:
    """(B,) -log2 p(x | c) from the model's one-pass likelihood: the length no code can beat on average."""
    return (-model.log_prob(images, condition).double() / math.log(2.0)).cpu().numpy()
