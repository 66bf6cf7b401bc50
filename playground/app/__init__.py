"""The app layer: the only part of the project that imports gradio (in `tabs/`), and the plain
functions the tabs call (no gradio here).

    views.py        Generate, Train, Inference, Uncertainty and Compare: grids, streams and notes
    scene_table.py  the World tab's scene table and JSON editor
    tasks.py        long work the user can stop
    plots.py        plotly figures
    learn.py        the Learn tab's live elements
"""
