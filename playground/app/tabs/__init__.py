"""The app's tabs, one module each: the tab's gradio handlers (each is what one UI event calls,
and tests/test_app.py calls them directly) and `build(...)`, which makes the tab's components and
wires its events inside the app's `gr.Blocks` and `gr.Tabs` (app.py's `build_demo`).

    common.py       what several tabs share: errors as status lines, input checks, Stop, examples, CSS
    world.py        World: sample, edit and render one scene
    datasets.py     Datasets: generate a dataset and download it
    generate.py     Generate: sample the shipped models
    train.py        Train: train a model in the session
    inference.py    Inference: read a scene out of a picture
    uncertainty.py  Uncertainty: discriminative vs generative, missing data, adversarial noise
    compare.py      Compare: the measured table of the families
    learn.py        Learn: the lecture's ideas, each with a live element

The work is done by the gradio-free modules of `playground.app` (views, scene_table, dataset_files,
plots, learn); modules that import torch are imported when a model tab is built or first used.
"""

import os

# gradio reads these when the app is built and served: set them on importing any tab
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# Gradio tabulates up to 10,000 past events after every event for a monitoring dashboard we do not use:
# 11.6% of the server's time under load (benchmarks/load.py); refresh it rarely
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
