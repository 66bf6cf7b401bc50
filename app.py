"""Toy World Playground: a Gradio app to edit, render and caption toy scenes, and to generate datasets.

    python app.py            # then open http://127.0.0.1:7860

`build_demo()` puts the tabs together; each tab (its handlers and its components) is a module of
`playground.app.tabs`, and the work is done by the gradio-free modules of `playground.app` and the
`worlds` and `playground` libraries.
"""

from __future__ import annotations

import gradio as gr

from playground.app.scene_table import EXAMPLES  # noqa: F401 (the World tab's example scenes: benchmarks/load.py)
from playground.app.tabs import common, compare, datasets, generate, inference, learn, train, uncertainty, world

HEADER = """\
## 🧊 Toy World Playground · deep generative models on a world whose true distribution is known
"""


def build_demo() -> gr.Blocks:
    """The Blocks app (queued; serve it with launch())."""
    with gr.Blocks(title="Toy World Playground", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs() as tabs:
            world_tab = world.build()
            datasets.build()
            generate.build()  # torch is imported from here on
            train.build()
            inference.build(tabs, world_tab)
            uncertainty.build(demo)
            compare.build()
            learn.build()
    demo.queue(default_concurrency_limit=2)
    return demo


def launch(app: gr.Blocks, **kwargs):
    """Serve the app with its look (the tests and benchmarks launch it through here too)."""
    # uploads beyond the Inference tab's cap are refused before they reach the disk
    return app.launch(css=common.CSS, theme=common.theme(), max_file_size=common.views().MAX_UPLOAD_BYTES, **kwargs)


demo = build_demo()

if __name__ == "__main__":
    launch(demo)
