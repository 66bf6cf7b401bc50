"""The Generate tab: sample the shipped models of every family (`playground.app.views` turns them
into pictures and notes), and walk the latent space of those that have one."""

from __future__ import annotations

import gradio as gr

from worlds.scene import COLOR_NAMES, SHAPES

from . import common
from .common import friendly

GENERATE_DEFAULT = "diffusion"


def model_settings(name: str) -> tuple:
    """Model picked: its card, and which condition and sampler controls apply
    (shape, colour, caption, diffusion steps, guidance, mode)."""
    views = common.views()
    try:
        note = views.likelihood_note(name)
    except ValueError as err:
        return (common.warning(str(err)), *[gr.update(visible=False)] * 6)
    return (note, *[gr.update(visible=shown) for shown in views.model_controls(name)])


@friendly(2)
@common.stop_with_button("generate", 2, " · the picture is the unfinished draw")
def generate_samples(name, n, seed, shape, color, text, steps, guidance, mode=False):
    """Stream (grid, status) while the model (a shipped name, or a session's model) samples;
    errors become a status line and leave the last grid in place."""
    views = common.views()
    n = common.integer(n, "number of samples", 1, views.MAX_SAMPLES)
    seed = common.seed(seed)
    steps = None if steps is None else common.integer(steps, "diffusion steps", 1, 1000)
    guidance = 1.0 if guidance is None else common.number(guidance, "guidance")
    for grid, label in views.sample_stream(name, n, seed, shape, color, text, steps, guidance, bool(mode)):
        yield grid, common.busy(label)
    which = f"`{name}`" if isinstance(name, str) else "your model"
    yield grid, common.done(f"{n} samples of {which} (seed {seed}) · {label}")  # the final output holds the grid too


@friendly(2)
def interpolate_latents(name: str, seed, frames) -> tuple:
    views = common.views()
    picture, label = views.interpolation(
        name, common.seed(seed), common.integer(frames, "frames", 2, views.MAX_INTERPOLATION)
    )
    return picture, common.done(label)


def _example(model, n=16, seed=0, shape="cube", color="red", text="", steps=100, guidance=1.0, mode=False) -> list:
    """An example's values, in the order of the tab's inputs."""
    return [model, n, seed, shape, color, text, steps, guidance, mode]


def _valid(name: str, key: str = "validity") -> str:
    """An example's label suffix: the measured share of world images (from the model's card), or ''."""
    card = common.views().pretrained.cards().get(name, {})
    if card.get(key) is None:
        return ""
    # short: Gradio cuts an example's label after about 60 characters
    return f" ({card[key]:.2f} valid{', fails' if card[key] < common.views().FAILS_BELOW else ''})"


def build() -> None:
    views = common.views()  # torch is imported from here on
    choices = views.model_choices()
    default = (
        GENERATE_DEFAULT if any(n == GENERATE_DEFAULT for _, n in choices) else (choices[0][1] if choices else None)
    )
    if default:
        first_note, *first_shown = model_settings(default)
        first_shown = [u.get("visible", False) for u in first_shown]
    else:
        first_note, first_shown = "No shipped weights found: run `python -m playground.models.pretrained`.", [False] * 6
    with gr.Tab("Generate"):
        gr.Markdown(
            "Sample from the shipped models of every family, trained on the `exact` world "
            "(one object, 768 equally likely scenes at 32 px) by `python -m playground.models.pretrained`. "
            "Conditional models learned `exact-holdout`, which never shows a red cylinder."
        )
        with gr.Row():
            model = gr.Dropdown(choices, value=default, label="Model", scale=3)
            n = gr.Slider(1, 64, value=16, step=1, label="Samples", scale=1, elem_id="gen-n")
            seed = common.seed_field(scale=1, elem_id="gen-seed")
        note = gr.Markdown(first_note)
        with gr.Row():
            shape = gr.Dropdown(list(SHAPES), value="cylinder", label="Shape", visible=first_shown[0])
            color = gr.Dropdown(list(COLOR_NAMES), value="red", label="Colour", visible=first_shown[1])
            text = gr.Textbox(
                "a large red cylinder",
                label="Caption",
                visible=first_shown[2],
                info="words of the world's captions: small/large, colours, shapes",
            )
            steps = gr.Slider(
                10,
                1000,
                value=100,
                step=10,
                label="Diffusion steps",
                visible=first_shown[3],
                info="fewer steps sample faster (respaced DDPM)",
            )
            guidance = gr.Slider(
                0,
                6,
                value=2.0,
                step=0.5,
                label="Guidance",
                visible=first_shown[4],
                info="classifier-free guidance; 1 = plain conditional model",
            )
            mode = gr.Checkbox(
                False,
                label="Mode image (not a draw)",
                visible=first_shown[5],
                info="the most likely image for each latent draw: cleaner, but not a sample of the model",
            )
        with gr.Row():
            generate_btn = gr.Button("Generate", variant="primary", elem_id="gen-generate")
            stop_btn = gr.Button("Stop", elem_id="gen-stop")
        inputs = [model, n, seed, shape, color, text, steps, guidance, mode]
        common.examples(  # each family at its best, its measured share of world images beside it
            {
                f"diffusion{_valid('diffusion')}": _example("diffusion"),
                "a caption it never saw: 'a large red cylinder'": _example(
                    "diffusion-caption", shape="cylinder", text="a large red cylinder", guidance=3.0
                ),
                "a class it never saw: red cylinder (diffusion)": _example(
                    "diffusion-class", seed=1, shape="cylinder", guidance=2.0
                ),
                f"64 VAE draws{_valid('vae')}": _example("vae", n=64, seed=2),
                f"the RBM's mode images, not draws{_valid('rbm', 'validity_mode')}": _example("rbm", mode=True),
                f"PixelCNN, pixel by pixel{_valid('pixelcnn')}": _example("pixelcnn"),
            },
            inputs,
        )
        status = gr.Markdown(elem_id="gen-status")
        grid = common.picture(
            "Samples (each 32 px image shown 4x)", elem_id="gen-grid", buttons=["download", "fullscreen"]
        )
        with gr.Accordion(
            "Latent interpolation (VAE and flow)", open=False, visible=views.interpolates(default)
        ) as interp_box:
            with gr.Row():
                interp_seed = common.seed_field("World seed (scenes 0 and 1 are the ends)")
                interp_frames = gr.Slider(2, 16, value=8, step=1, label="Frames")
                interp_btn = gr.Button("Interpolate")
            interp_status = gr.Markdown()
            interp_image = common.picture("A → B through the latent space")

    model.change(model_settings, model, [note, shape, color, text, steps, guidance, mode], api_visibility="private")
    model.change(
        lambda name: gr.Accordion(visible=common.views().interpolates(name)),
        model,
        interp_box,
        api_visibility="private",
        queue=False,
    )
    generate_btn.click(
        generate_samples, inputs, [grid, status], api_name="generate", concurrency_limit=2, concurrency_id="models"
    )
    common.stop_button(stop_btn, "generate")
    interp_btn.click(
        interpolate_latents,
        [model, interp_seed, interp_frames],
        [interp_image, interp_status],
        api_name="interpolate",
        concurrency_limit=2,
        concurrency_id="models",
    )
