"""The shared pieces of playground: data, text conditions, the training loop, checkpoints."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from playground.models import registry
from playground.models.checkpoint import load, read_metadata, save
from playground.models.data import class_condition, load_world
from playground.models.protocol import Model, NoLikelihood, from_unit, to_unit
from playground.models.text import MAX_TOKENS, PAD, ConditionEncoder, encode_captions, tokenize, unknown_words
from playground.models.train import WARMUP, fit, learning_rate_factor


@dataclass
class TinyConfig:
    image_size: int = 8
    channels: int = 3
    condition: str = "none"


class Tiny(Model):
    """A per-subpixel Gaussian: just enough model to drive the loop and the checkpoint code."""

    Config = TinyConfig
    family = "tiny"

    def __init__(self, config):
        super().__init__(config)
        self.mean = nn.Parameter(torch.zeros(3, config.image_size, config.image_size))

    def loss(self, x, condition=None):
        return ((to_unit(x) - self.mean) ** 2).mean()

    def sample(self, n, condition=None, *, generator=None):
        noise = torch.randn(n, *self.mean.shape, generator=generator) * 0.1
        return from_unit(self.mean.detach() + noise)


class Blowup(Tiny):
    """Tiny whose loss turns infinite from its second call on (a run that diverges at step 2)."""

    def __init__(self, config):
        super().__init__(config)
        self.calls = 0

    def loss(self, x, condition=None):
        self.calls += 1
        return super().loss(x) * (float("inf") if self.calls >= 2 else 1.0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny_family(monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "tiny", f"{__name__}:Tiny")
    return Tiny


def test_world_data_is_deterministic_and_labelled():
    a, b = load_world("exact", 40, 3), load_world("exact", 40, 3)
    assert a.images.dtype == torch.uint8 and a.images.shape == (40, 3, 32, 32)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.condition("none") is None and a.condition("class").shape == (40, 2)
    assert a.captions.shape == (40, MAX_TOKENS)
    with pytest.raises(ValueError, match="n must be in 1.."):
        load_world("exact", 0, 0)


def test_class_condition_names_bad_values():
    assert class_condition("cylinder", "red").tolist() == [[1, 1]]
    with pytest.raises(ValueError, match="unknown shape 'cone'"):
        class_condition("cone", "red")
    with pytest.raises(ValueError, match="unknown colour 'mauve'"):
        class_condition("cube", "mauve")


def test_tokenizer_and_encoders():
    ids = tokenize("a large red cube to the left of a small blue cylinder")
    assert len(ids) == MAX_TOKENS and ids[11] != PAD and ids[12] == PAD
    assert unknown_words("a red elephant") == ["elephant"]
    with pytest.raises(ValueError, match="at most"):
        tokenize("a " * 60)
    tokens = encode_captions(["a red cube", "a blue cube to the left of a red cube"])
    assert ConditionEncoder("caption", 16)(tokens).shape == (2, 16)
    assert ConditionEncoder("class", 16)(torch.tensor([[0, 1], [2, 3]])).shape == (2, 16)
    assert ConditionEncoder("none")(None) is None
    with pytest.raises(ValueError, match="unknown condition kind"):
        ConditionEncoder("music")


def test_fit_is_seeded_and_learns(tiny_family):
    data = load_world("exact", 64, 0, image_size=8)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Tiny(TinyConfig())
        with torch.no_grad():
            model.mean.fill_(1.0)  # start white, far from the grey world
        before = float(model.loss(data.images).detach())
        history = fit(model, data, steps=30, batch_size=8, lr=0.05, seed=1)
        runs.append((history, model.mean.detach().clone()))
    assert [r["loss"] for r in runs[0][0]] == [r["loss"] for r in runs[1][0]]
    assert torch.equal(runs[0][1], runs[1][1])
    assert float(model.loss(data.images).detach()) < before  # the loss over all the data went down
    seen = []
    fit(Tiny(TinyConfig()), data, steps=5, batch_size=4, callback=lambda s, t, r: seen.append((s, t)))
    assert seen == [(k, 5) for k in range(1, 6)]


def test_the_cosine_schedule_warms_up_peaks_and_ends_at_zero():
    assert learning_rate_factor(0.0) < 0.01
    assert learning_rate_factor(WARMUP / 2) == pytest.approx(0.5)
    assert learning_rate_factor(WARMUP) == pytest.approx(1.0)
    assert learning_rate_factor(WARMUP + (1 - WARMUP) / 2) == pytest.approx(0.5)
    assert learning_rate_factor(1.0) == pytest.approx(0.0, abs=1e-12)
    factors = [learning_rate_factor(k / 100) for k in range(101)]
    peak = factors.index(max(factors))
    assert all(a <= b for a, b in zip(factors[:peak], factors[1 : peak + 1]))  # rises, then
    assert all(a >= b for a, b in zip(factors[peak:], factors[peak + 1 :]))  # only falls
    assert {learning_rate_factor(p, "constant") for p in (0.0, 0.5, 1.0)} == {1.0}


class TwoOptimizers(Tiny):
    """Like the GAN: configure_optimizer returns a tuple, and the step records both learning rates."""

    def configure_optimizer(self, lr):
        return (torch.optim.Adam([self.mean], lr=lr), torch.optim.SGD([self.mean], lr=lr / 10))

    def train_step(self, x, condition, optimizer):
        first, second = optimizer
        first.zero_grad()
        loss = self.loss(x)
        loss.backward()
        first.step()
        return {
            "loss": float(loss.detach()),
            "first": first.param_groups[0]["lr"],
            "second": second.param_groups[0]["lr"],
        }


def test_fit_follows_the_schedule_in_every_optimizer(tiny_family):
    data = load_world("exact", 16, 0, image_size=8)
    history = fit(TwoOptimizers(TinyConfig()), data, steps=50, batch_size=4, lr=0.1, seed=0, schedule="cosine")
    rates = [r["lr"] for r in history]
    assert rates[0] < rates[1] and max(rates) == pytest.approx(0.1, rel=0.01) and rates[-1] < 1e-3
    assert [r["first"] for r in history] == pytest.approx(rates)
    assert [r["second"] for r in history] == pytest.approx([r / 10 for r in rates])
    flat = fit(TwoOptimizers(TinyConfig()), data, steps=5, batch_size=4, lr=0.1)  # the default: constant
    assert {r["first"] for r in flat} == {0.1} and [r["second"] for r in flat] == pytest.approx([0.01] * 5)
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine"):
        fit(Tiny(TinyConfig()), data, steps=5, schedule="linear")


class Linear(Tiny):
    """Its loss goes through a matrix product, and each step records the dtype that product ran in."""

    def __init__(self, config):
        super().__init__(config)
        self.map = nn.Linear(3 * config.image_size**2, 3 * config.image_size**2)

    def loss(self, x, condition=None):
        out = self.map(to_unit(x).flatten(1))
        self.product_dtype = out.dtype
        return ((out.float() - self.mean.flatten()) ** 2).mean()

    def train_step(self, x, condition, optimizer):
        return {**super().train_step(x, condition, optimizer), "bf16": self.product_dtype == torch.bfloat16}


def test_bfloat16_steps_run_their_products_in_bfloat16_and_keep_float32_weights(tiny_family):
    data = load_world("exact", 32, 0, image_size=8)
    runs = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(0)
        model = Linear(TinyConfig())
        history = fit(model, data, steps=40, batch_size=8, lr=0.01, seed=0, precision=precision)
        runs[precision] = [r["loss"] for r in history]
        assert {r["bf16"] for r in history} == {precision == "bfloat16"}
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        assert model.loss(data.images).dtype == torch.float32  # after training: float32 again
    assert runs["bfloat16"] != runs["float32"]  # coarser arithmetic, another run
    late = {k: sum(v[-5:]) for k, v in runs.items()}
    assert late["bfloat16"] < 0.8 * sum(runs["bfloat16"][:5])  # that still learns,
    assert late["bfloat16"] == pytest.approx(late["float32"], rel=0.1)  # as far as float32 did
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        fit(Tiny(TinyConfig()), data, steps=1, precision="float16")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), "give a budget"),
        (dict(steps=0), "steps must be"),
        (dict(minutes=-1), "minutes must be"),
        (dict(steps=1, batch_size=0), "batch_size must be"),
        (dict(steps=1, lr=0.0), "lr must be"),
        (dict(steps=1, lr=float("nan")), "lr must be"),
    ],
)
def test_fit_rejects_bad_budgets(tiny_family, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(Tiny(TinyConfig()), load_world("exact", 4, 0, image_size=8), **kwargs)


def test_a_diverged_run_stops_with_a_clear_error_and_saves_nothing(tiny_family, tmp_path, capsys):
    """A loss that stops being finite ends fit at that step (TrainingDiverged, a ValueError); the CLI
    says so and leaves a model saved earlier in --out as it was."""
    from playground.models import train

    data = load_world("exact", 8, 0, image_size=8)
    with pytest.raises(train.TrainingDiverged, match="diverged at step 2: the loss is (inf|nan)"):
        fit(Blowup(TinyConfig()), data, steps=5, lr=0.1)
    registry.FAMILIES["tiny"] = f"{__name__}:Blowup"  # the CLI builds the diverging family
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"an earlier model")
    argv = [
        "--model",
        "tiny",
        "--world",
        "exact",
        "--size",
        "8",
        "--n",
        "8",
        "--steps",
        "5",
        "--lr",
        "0.1",
        "--out",
        str(out),
    ]
    assert train.main(argv) == 2
    assert "error: training diverged at step 2" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == b"an earlier model"


def test_a_recipe_with_a_step_budget_stops_there_on_any_machine(tmp_path):
    """A recipe's `steps` reaches the training CLI: the run ends after that many steps (its schedule
    decays over them), however fast the machine is; a recipe without one trains by the clock."""
    from playground.models import train
    from playground.models.pretrained import Recipe

    recipe = Recipe(
        "rbm", "exact", 5, steps=3, n=32, batch_size=8, schedule="cosine", config={"hidden": 8}, precision="bfloat16"
    )
    assert train.main(recipe.argv("tiny-rbm", tmp_path) + ["--size", "8"]) == 0
    extra = load(tmp_path / "tiny-rbm" / "model.safetensors").checkpoint_extra
    assert extra["steps"] == 3 and extra["schedule"] == "cosine" and extra["precision"] == "bfloat16"
    assert "--steps" not in Recipe("rbm", "exact", 5).argv("clock", tmp_path)


def test_every_recipe_passes_its_config_to_the_training_cli_unchanged(tmp_path):
    """Recipes reach `python -m playground.models.train` as --set key=value; what the CLI reads back must be
    the recipe's own values (a bool as JSON true, a string as itself, a float as a float)."""
    from playground.models.pretrained import ALL_RECIPES
    from playground.models.train import parse_overrides

    for name, recipe in ALL_RECIPES.items():
        argv = recipe.argv(name, tmp_path)
        pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        assert parse_overrides(pairs) == recipe.config, name


def test_a_family_trains_with_its_shipped_recipe_unless_told_otherwise():
    """The CLI and the app's Train tab share `train_run`: `--model pixelcnn` gets the shipped PixelCNN's config
    and optimisation settings (batch 16, lr 2e-3), and what the caller gives overrides them."""
    from playground.models.pretrained import RECIPES
    from playground.models.train import train_run

    run = train_run("pixelcnn", steps=1, n=16, size=8)
    assert run.options == RECIPES["pixelcnn"].fit_options and run.options["batch_size"] == 16
    assert {k: getattr(run.model.config, k) for k in RECIPES["pixelcnn"].config} == RECIPES["pixelcnn"].config
    run = train_run("pixelcnn", steps=1, n=16, size=8, batch_size=4, overrides={"layers": 2})
    assert run.options["batch_size"] == 4 and run.model.config.layers == 2 and run.model.config.hidden == 24


def test_a_time_budget_covers_the_whole_run_and_keeps_time_for_the_finishing_step(monkeypatch):
    """`minutes` counts from the start of `train_run` (rendering included), and the steps stop early by the
    finishing step's measured time, so the run ends about when its budget does."""
    import time

    from playground.models import train

    monkeypatch.setattr(train, "finish_reserve", lambda kind: 1e9)  # a finishing step longer than any budget
    begun = time.monotonic()
    run = train.train_run("gan", minutes=0.05, n=64, size=8, overrides={"width": 8})
    took = time.monotonic() - begun
    last = run.history[-1]["seconds"]
    assert 1.4 <= last <= 2.0  # the steps keep at most half the 3-s budget for the finishing step
    assert took < 3.0 + 1.0


def test_denormals_are_flushed_inside_training_only():
    from playground.models.train import flushed_denormals

    def tiny_product():
        return float(torch.tensor([1e-30]) * torch.tensor([1e-10]))  # 1e-40: a denormal

    assert tiny_product() > 0
    with flushed_denormals():
        assert tiny_product() == 0.0
    assert tiny_product() > 0  # the thread's flag is set back


def test_checkpoint_round_trip_and_refusals(tiny_family, tmp_path):
    model = Tiny(TinyConfig(image_size=8))
    with torch.no_grad():
        model.mean.normal_()
    path = save(model, tmp_path / "m.safetensors", extra={"world": "exact"})
    meta = read_metadata(path)
    assert meta["family"] == "tiny" and meta["config"]["image_size"] == 8 and meta["extra"] == {"world": "exact"}
    again = load(path)
    assert torch.equal(again.mean, model.mean)
    g = lambda: torch.Generator().manual_seed(0)
    assert torch.equal(again.sample(4, generator=g()), model.sample(4, generator=g()))
    with pytest.raises(NoLikelihood, match="tiny has no likelihood"):
        again.log_prob(again.sample(1))
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04 not a checkpoint")
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        load(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.safetensors")


def test_registry_names_unknown_families_and_settings():
    with pytest.raises(ValueError, match="unknown model family 'gpt'"):
        registry.build("gpt")
    with pytest.raises(ValueError, match="gan has no setting 'depth'; its settings are .*width"):
        registry.build("gan", depth=3)


@pytest.mark.parametrize(
    "family, settings, message",
    [
        ("gan", {"width": "x"}, "'width' must be an integer .* got 'x'"),
        ("vae", {"latent_dim": 1.5}, "'latent_dim' must be an integer"),
        ("pixelcnn", {"context": 1}, "'context' must be true or false"),
        ("pixelcnn", {"hidden": True}, "'hidden' must be an integer"),
        ("diffusion", {"widths": [8, "a"]}, "'widths' must be a list of integers"),
        ("gan", {"condition": 3}, "'condition' must be a string"),
    ],
)
def test_registry_refuses_settings_of_the_wrong_type(family, settings, message):
    """`--set KEY=VALUE` parses JSON, so a typo could reach the model as the wrong type."""
    with pytest.raises(ValueError, match=message):
        registry.build(family, **settings)


def test_registry_takes_integers_for_floats_and_lists_for_tuples():
    assert registry.build("gan", beta1=0).config.beta1 == 0
    assert list(registry.build("diffusion", widths=[8, 16]).config.widths) == [8, 16]
