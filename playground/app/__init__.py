"""The app layer: the only part of the project that imports gradio (in `tabs/`, one module per tab),
and the plain functions the tabs call (no gradio here).

    tabs/             the app's tabs: each one's gradio handlers and build(); common.py what they share
    views.py          Generate, Train, Inference, Uncertainty and Compare: grids, streams and notes
    scene_table.py    the World tab's scene table, JSON editor, scene view and example scenes
    dataset_files.py  the Datasets tab's files: a work directory per request, the zip, the preview
    tasks.py          long work the user can stop
    plots.py          plotly figures
    learn.py          the Learn tab's live elements
"""
