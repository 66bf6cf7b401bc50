"""Lossless coding: quantization invariants, rANS round trips and lengths, PixelCNN images coded bit-exactly
(tiny models, conditional ones, the shipped model), many images in one stream, damaged codes, clear errors."""

import math

import numpy as np
import pytest
import torch

from playground.evaluation import coding
from playground.evaluation.coding import BATCH, M
from playground.evaluation.scores import exact_world, world_tensor
from playground.models import pretrained
from playground.models.data import load_world
from playground.models.pixelcnn import PixelCNN, PixelCNNConfig

pytestmark = pytest.mark.usefixtures("one_thread")

# a message of n symbols ends in a state below (M + 1) 2^ideal: at most log2(M + 1) + 1 bits over the ideal
START_UP_BITS = math.log2(M + 1) + 1


def distributions(kind: str, n: int, k: int, rng) -> np.ndarray:
    """(n, k) probabilities: flat-ish, peaked, or near-deterministic (one symbol at 1 - 1e-9)."""
    if kind == "near-deterministic":
        p = np.full((n, k), 1e-9 / max(k - 1, 1))
        p[np.arange(n), rng.integers(0, k, n)] = 1 - 1e-9
        return p
    return rng.dirichlet(np.full(k, 1.0 if kind == "flat" else 0.02), size=n)


def draw(frequencies: np.ndarray, rng) -> np.ndarray:
    """One symbol per row, from the quantized distribution itself."""
    u = rng.integers(0, M, len(frequencies))
    return (np.cumsum(frequencies, axis=1) <= u[:, None]).sum(axis=1)


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    config = dict(image_size=8, hidden=6, layers=2, kernel=3, first_kernel=5, condition_dim=8)
    model = PixelCNN(PixelCNNConfig(**{**config, **overrides})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 8, 0, image_size=8)


# --- quantization


@pytest.mark.parametrize("kind", ["flat", "peaked", "near-deterministic"])
@pytest.mark.parametrize("k", [1, 2, 256])
def test_quantize_gives_every_symbol_a_slot_and_sums_to_m(kind, k):
    p = distributions(kind, 64, k, np.random.default_rng(k))
    f = coding.quantize(p)
    assert f.dtype == np.int64 and f.shape == p.shape
    assert (f >= 1).all() and (f.sum(axis=1) == M).all()
    assert np.array_equal(f, coding.quantize(p.copy()))  # deterministic
    # never below p (M - K): each symbol costs at most -log2(1 - K / M) bits more than under p
    assert (f > p / p.sum(1, keepdims=True) * (M - k)).all()


def test_quantize_normalises_and_handles_zeros():
    f = coding.quantize(np.array([[0.0, 2.0, 2.0], [5.0, 0.0, 0.0]]))
    assert f.tolist() == [[1, (M - 1) // 2 + (M - 1) % 2, (M - 1) // 2], [M - 2, 1, 1]]


@pytest.mark.parametrize(
    "bad", [np.ones(4), np.array([[0.5, -0.1]]), np.array([[np.nan, 1.0]]), np.zeros((2, 3)), np.ones((2, 3, 4))]
)
def test_quantize_refuses_what_is_not_a_distribution(bad):
    with pytest.raises(ValueError):
        coding.quantize(bad)


# --- rANS


@pytest.mark.parametrize("kind", ["flat", "peaked", "near-deterministic"])
@pytest.mark.parametrize("k", [2, 256])
def test_rans_round_trips_exactly_close_to_the_ideal_length(kind, k):
    rng = np.random.default_rng(0)
    excess = []
    for n in (1, 10, 300):
        f = coding.quantize(distributions(kind, n, k, rng))
        symbols = draw(f, rng)
        code = coding.encode(symbols, f)
        assert np.array_equal(coding.decode(code, f, n), symbols)
        assert np.array_equal(coding.decode(code, lambda before: f[len(before)], n), symbols)  # adaptive form
        bits, ideal = int.from_bytes(code, "big").bit_length(), coding.ideal_bits(symbols, f)
        assert bits < ideal + START_UP_BITS
        excess.append(bits - ideal)
    assert np.mean(excess) > 0  # one short message can be shorter than its ideal length, not all of them


def test_rans_empty_message_and_long_message():
    f = coding.quantize(np.full((0, 4), 0.25))
    assert coding.decode(coding.encode(np.zeros(0, np.int64), f), f, 0).shape == (0,)
    rng = np.random.default_rng(1)
    f = coding.quantize(distributions("flat", 3000, 256, rng))
    symbols = draw(f, rng)
    code = coding.encode(symbols, f)
    ideal = coding.ideal_bits(symbols, f)
    assert np.array_equal(coding.decode(code, f, 3000), symbols)
    assert ideal - 8 < 8 * len(code) < ideal + START_UP_BITS + 8  # within 0.2% of ~20000 bits


def test_rans_damaged_codes_raise_or_decode_to_other_symbols():
    rng = np.random.default_rng(2)
    f = coding.quantize(distributions("peaked", 200, 256, rng))
    symbols = draw(f, rng)
    code = coding.encode(symbols, f)
    damaged = [code[:-1], code[1:], code + b"\x07", bytes([code[0] ^ 1]) + code[1:]]
    damaged += [code[:k] + bytes([code[k] ^ (1 << int(rng.integers(8)))]) + code[k + 1 :] for k in range(len(code))]
    raised = 0
    for bad in damaged:
        try:
            assert not np.array_equal(coding.decode(bad, f, 200), symbols)
        except ValueError:
            raised += 1
    assert raised >= len(damaged) // 2  # most damage is detected
    for bad in (b"", b"\x00" + code, b"\x01" * (3 * 200 + 10)):
        with pytest.raises(ValueError, match="corrupt"):
            coding.decode(bad, f, 200)


def test_rans_refuses_bad_frequencies_and_symbols():
    f = coding.quantize(np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="sum to M"):
        coding.encode(np.array([0, 1, 2]), f + 1)
    with pytest.raises(ValueError, match="symbols must be in"):
        coding.encode(np.array([0, 1, 4]), f)
    with pytest.raises(ValueError, match="3 integers"):
        coding.encode(np.array([0.0, 1.0, 2.0]), f)
    zero = f.copy()
    zero[:, 0], zero[:, 1] = 0, f[:, 0] + f[:, 1]
    with pytest.raises(ValueError, match="frequency 0"):
        coding.encode(np.array([0, 1, 2]), zero)


# --- PixelCNN images


def test_pixelcnn_codes_round_trip_bit_exactly(data):
    model = tiny()
    noise = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    images = torch.cat([data.images[:3], noise, torch.full((1, 3, 8, 8), 255, dtype=torch.uint8)])
    codes = coding.encode_images(model, images)
    assert len(codes) == len(images) and all(isinstance(c, bytes) for c in codes)
    assert torch.equal(coding.decode_images(model, codes), images)
    bits, ideal = coding.code_lengths_bits(codes), coding.ideal_lengths_bits(model, images)
    # within the start-up bound of -log2 p(x): the cached pass and log_prob's full pass differ only in
    # the last float bits (measured ~1e-5 relative), the quantization by < 3 * 64 * 256 / (M ln 2) bits
    assert (bits < ideal * (1 + 1e-4) + START_UP_BITS + 0.01).all()
    assert (bits - ideal).mean() > 0
    # a list decodes as it was encoded: in another batch the floats round differently, and that is caught
    try:
        assert torch.equal(coding.decode_images(model, codes[1:3]), images[1:3])
    except ValueError as error:
        assert "corrupt" in str(error)


def test_more_images_than_a_batch_and_the_sampler_is_unchanged():
    model = tiny(image_size=4)
    images = model.sample(BATCH + 2, generator=torch.Generator().manual_seed(3))
    codes = coding.encode_images(model, images)
    assert torch.equal(coding.decode_images(model, codes), images)
    assert torch.equal(model.sample(BATCH + 2, generator=torch.Generator().manual_seed(3)), images)


def test_class_conditional_codes_need_the_same_condition(data):
    model = tiny(condition="class")
    images, labels = data.images[:3], data.condition("class")[:3]
    codes = coding.encode_images(model, images, labels)
    assert torch.equal(coding.decode_images(model, codes, labels), images)
    same = coding.encode_images(model, images[:2], labels[:1])  # one row: every image's condition
    assert torch.equal(coding.decode_images(model, same, labels[:1]), images[:2])
    other = labels.roll(1, 0)
    try:
        assert not torch.equal(coding.decode_images(model, codes, other), images)
    except ValueError as error:
        assert "corrupt" in str(error)
    with pytest.raises(ValueError, match="pass a condition"):
        coding.decode_images(model, codes)


def test_damaged_image_codes_raise_or_decode_to_other_images():
    model = tiny(image_size=4)
    images = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    code = coding.encode_images(model, images)[0]
    for bad in (code[:-1], code[1:], code + b"\x01", code[:3] + bytes([code[3] ^ 16]) + code[4:]):
        try:
            assert not torch.equal(coding.decode_images(model, [bad]), images)
        except ValueError as error:
            assert "corrupt" in str(error)


def test_image_coding_refuses_bad_input():
    model = tiny()
    good = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    for bad in (good.float(), good[:, :2], torch.zeros(1, 3, 6, 6, dtype=torch.uint8), good[0], good[:0], good.numpy()):
        with pytest.raises(ValueError, match="expected uint8 images"):
            coding.encode_images(model, bad)
    with pytest.raises(ValueError, match="PixelCNN"):
        coding.encode_images(torch.nn.Linear(2, 2), good)
    with pytest.raises(ValueError, match="list of bytes"):
        coding.decode_images(model, b"\x01\x02")
    with pytest.raises(ValueError, match="must be bytes"):
        coding.decode_images(model, ["abc"])
    with pytest.raises(ValueError, match="unconditional"):
        coding.encode_images(model, good, torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="rows for 2 images"):
        coding.encode_images(tiny(condition="class"), good.expand(2, -1, -1, -1), torch.zeros(3, 2, dtype=torch.long))


# --- one stream for many images


def test_a_stream_round_trips_bit_exactly_across_batches(data, monkeypatch):
    monkeypatch.setattr(coding, "BATCH", 2)  # 3 and 5 images span 2 and 3 batches
    model = tiny()
    noise = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    images = torch.cat([data.images[:3], noise])
    for b in (1, 3, 5):
        stream = coding.encode_stream(model, images[:b])
        assert isinstance(stream, bytes)
        assert torch.equal(coding.decode_stream(model, stream, b), images[:b])
        ideal = coding.ideal_lengths_bits(model, images[:b]).sum()
        assert int.from_bytes(stream, "big").bit_length() < ideal * (1 + 1e-4) + START_UP_BITS + 0.01
    labelled = tiny(condition="class")
    labels = data.condition("class")[:3]
    stream = coding.encode_stream(labelled, images[:3], labels)
    assert torch.equal(coding.decode_stream(labelled, stream, 3, labels), images[:3])


def test_a_stream_pays_the_start_up_cost_once(data):
    """8 images: the per-image codes each carry ~log2 M bits of start-up, the stream carries it once."""
    model = tiny()
    images = data.images
    ideal = coding.ideal_lengths_bits(model, images)
    stream = coding.encode_stream(model, images)
    per_image = coding.stream_bits_per_image(stream, len(images))
    assert per_image - ideal.mean() < (START_UP_BITS + 0.01) / len(images) + 1e-4 * ideal.mean()  # ~3 bits
    codes_overhead = (coding.code_lengths_bits(coding.encode_images(model, images)) - ideal).mean()
    assert per_image - ideal.mean() < codes_overhead / 2


def test_a_damaged_stream_raises():
    model = tiny(image_size=4)
    images = torch.randint(0, 256, (3, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    stream = coding.encode_stream(model, images)
    flipped = [stream[:k] + bytes([stream[k] ^ 4]) + stream[k + 1 :] for k in (0, len(stream) // 2, len(stream) - 1)]
    for bad in [stream[:-1], stream[1:], stream + b"\x01", *flipped]:
        with pytest.raises(ValueError, match="corrupt"):
            coding.decode_stream(model, bad, 3)
    with pytest.raises(ValueError, match="corrupt"):
        coding.decode_stream(model, stream, 2)  # a stream decodes only as the images it holds


def test_stream_coding_refuses_bad_input():
    model = tiny(image_size=4)
    with pytest.raises(ValueError, match="expected uint8 images"):
        coding.encode_stream(model, torch.zeros(0, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="PixelCNN"):
        coding.encode_stream(torch.nn.Linear(2, 2), torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="n_images"):
        coding.decode_stream(model, b"\x01", 0)
    with pytest.raises(ValueError, match="must be bytes"):
        coding.decode_stream(model, [b"\x01"], 1)
    with pytest.raises(ValueError, match="pass a condition"):
        coding.decode_stream(tiny(image_size=4, condition="class"), b"\x01", 1)


@pytest.mark.skipif(not pretrained.path("pixelcnn").is_file(), reason="pixelcnn weights not trained")
def test_the_shipped_pixelcnn_codes_near_its_likelihood():
    """Encoding only (~4 s); benchmarks/coding.py also decodes, 32 images of the shipped model."""
    model = pretrained.load("pixelcnn")
    images = world_tensor(exact_world())[[0, 500]]
    bits, ideal = (
        coding.code_lengths_bits(coding.encode_images(model, images)),
        coding.ideal_lengths_bits(model, images),
    )
    assert (ideal - 2 < bits).all() and (bits < ideal * (1 + 1e-4) + START_UP_BITS + 0.1).all()
