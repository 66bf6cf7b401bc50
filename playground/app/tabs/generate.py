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


def scene_settings(name: str, from_pixels: bool = False):
    """Scene model picked: whether the prompt box applies."""
    return gr.update(interactive=common.scene_views().takes_prompts(name))


def scene_choices(from_pixels: bool):
    """The toggle "learnt from pixels" flips the list between ground-truth and from-pixels models."""
    choices = common.scene_views().scene_model_choices(bool(from_pixels))
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


@friendly(2)
def generate_scenes(name, n, seed, prompt, view):
    """(gallery of (picture, ✓/✗ caption), status) for n draws of a scene model."""
    scenes = common.scene_views()
    if not name:
        raise common.AppError("no scene model is shipped here: train one with python -m playground.scenes.shipped")
    n = common.integer(n, "number of scenes", 1, scenes.MAX_SCENE_SAMPLES)
    items, status = scenes.scene_samples(name, n, common.seed(seed), prompt, view)
    return items, common.done(status)


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
    with gr.Tab("Generate"), gr.Tabs():
        _pixel_level()
        _scene_level()


def _scene_level() -> None:
    scenes = common.scene_views()
    choices = scenes.scene_model_choices()
    default = next((n for _, n in choices if scenes.takes_prompts(n)), choices[0][1] if choices else None)
    with gr.Tab("Scene level"):
        gr.Markdown(
            "Models of **scene descriptions** (sets of objects), of every family, drawn by the world's renderer: "
            "a scene plus the renderer is an image. Prompt models learnt the world's held-out twin "
            "(`shapes2d-holdout`: no red cylinders; `clevr3d-cogent`: CoGenT's condition A), so asking for a "
            "red cylinder tests composition. Each picture is **read back** by the inverse-graphics encoder and "
            "every asked fact is checked on that reading: ✓ or ✗."
        )
        with gr.Row():
            model = gr.Dropdown(choices, value=default, label="Scene model", scale=3, elem_id="scene-model")
            from_pixels = gr.Checkbox(
                False, label="Learnt from pixels", info="models that only saw pictures, read back"
            )
            n = gr.Slider(1, scenes.MAX_SCENE_SAMPLES, value=16, step=1, label="Scenes", scale=1, elem_id="scene-n")
            seed = common.seed_field(scale=1, elem_id="scene-seed")
        with gr.Row():
            prompt = gr.Textbox(
                "a red cube to the left of a blue cylinder and a yellow sphere behind the cube",
                label="Prompt",
                scale=3,
                interactive=bool(default and scenes.takes_prompts(default)),
                info="up to 3 facts: 'a small metal cylinder', 'three spheres', 'a red cube to the left of a blue sphere'",
                elem_id="scene-prompt",
            )
            view = gr.Radio(list(scenes.VIEWS), value=scenes.VIEWS[0], label="Render in", scale=1)
        button = gr.Button("Generate scenes", variant="primary", elem_id="scene-generate")
        inputs = [model, n, seed, prompt, view]
        if default:
            common.examples(
                {
                    "the lecture's kind of prompt": [
                        default,
                        16,
                        0,
                        "a red cube to the left of a blue cylinder",
                        scenes.VIEWS[0],
                    ],
                    "a combination it never saw": [default, 16, 0, "a red cylinder", scenes.VIEWS[0]],
                    "counting": [default, 16, 0, "three spheres", scenes.VIEWS[0]],
                },
                inputs,
            )
        status = gr.Markdown(elem_id="scene-status")
        gallery = gr.Gallery(
            label="Draws, rendered at 128 px; the caption checks each asked fact on the picture's reading",
            elem_id="scene-gallery",
            columns=4,
            height=620,
            format="png",
            object_fit="contain",
        )
    model.change(scene_settings, model, prompt, api_visibility="private", queue=False)
    from_pixels.change(scene_choices, from_pixels, model, api_visibility="private", queue=False)
    button.click(
        generate_scenes,
        inputs,
        [gallery, status],
        api_name="generate_scenes",
        concurrency_limit=2,
        concurrency_id="models",
    )


def _pixel_level() -> None:
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
    with gr.Tab("Pixel level"):
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
