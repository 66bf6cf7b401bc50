"""`python -m worlds`: list, generate, show and render, and one clear line for every error.

Most commands run in this process through `worlds.__main__.main`, the function `python -m worlds`
exits with: a fresh interpreter costs ~1-3 s (torch's import, for generate) per call. The entry
point itself is run as a process by the tests of `list`, of an error, and of `show --json | render -`."""

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worlds import WORLDS, Scene, caption, get_world, render, sample_scene, sample_scenes
from worlds.__main__ import main as worlds_main
from worlds.datasets import load_export

ROOT = Path(__file__).resolve().parents[1]


def process(*args, stdin=None):
    """`python -m worlds ARGS` in a fresh interpreter: the real entry point, its exit status and streams."""
    return subprocess.run(
        [sys.executable, "-m", "worlds", *map(str, args)],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli(*args, stdin=None):
    """The same command in this process: main's return value is the status `python -m worlds` exits with."""
    out, err, saved = io.StringIO(), io.StringIO(), sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = worlds_main([str(a) for a in args])
    finally:
        sys.stdin = saved
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_clear_error(result, words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and words in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_list_shows_every_preset():
    result = process("list")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:5] == ["world", "view", "size", "objects", "description"]
    assert [row.split()[0] for row in rows] == list(WORLDS)
    assert "2d    32    1 " in rows[0]


def test_generate_writes_and_resumes(tmp_path):
    out = tmp_path / "data"
    common = ["generate", "--world", "shapes2d", "--n", 20, "--format", "parquet"]
    args = [*common, "--seed", 3, "--out", out, "--size", 32]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "20/20" in result.stderr and f"{out}: 20 scenes" in result.stdout
    world = get_world("shapes2d").replace(image_size=32)
    ds = load_export(out)
    assert [ds.scene(i) for i in range(20)] == sample_scenes(world, 3, 20)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["created_by"].startswith("python -m worlds generate --world shapes2d --n 20 --seed 3")

    assert cli(*args).returncode == 0  # the same command again: nothing to do
    assert_clear_error(cli(*common, "--seed", 4, "--out", out), "different export")
    assert cli(*common, "--seed", 4, "--out", out, "--overwrite").returncode == 0
    assert load_export(out).scene(0) == sample_scene("shapes2d", 4, 0)  # at the world's own 64 px

    shard = cli(*args[:-4], "--out", tmp_path / "shards", "--size", 32, "--shard", 1, "--num-shards", 2)
    assert shard.returncode == 0, shard.stderr
    assert load_export(tmp_path / "shards" / "shard-00001-of-00002").scene(0) == sample_scene(world, 3, 10)


def test_show_prints_the_scene_and_its_caption():
    scene = sample_scene("clevr3d", 0, 42)
    result = cli("show", "--world", "clevr3d", "--seed", 0, "--index", 42)
    assert result.returncode == 0, result.stderr
    first, rest = result.stdout.split("\n", 1)
    assert first == f"caption: {caption(scene)}" and Scene.from_json(rest) == scene

    record = json.loads(cli("show", "--world", "clevr3d", "--seed", 0, "--index", 42, "--json").stdout)
    assert (record["world"], record["seed"], record["index"]) == ("clevr3d", 0, 42)
    assert Scene.from_dict(record["scene"]) == scene and record["caption"] == caption(scene)

    small = json.loads(cli("show", "--world", "shapes2d", "--seed", 1, "--index", 5, "--size", 32, "--json").stdout)
    assert Scene.from_dict(small["scene"]) == sample_scene(get_world("shapes2d").replace(image_size=32), 1, 5)


def test_render_a_scene_file_and_a_show_record(tmp_path):
    scene = sample_scene("shapes2d", 2, 7)
    (tmp_path / "scene.json").write_text(scene.to_json(indent=2))
    result = cli("render", tmp_path / "scene.json", "--out", tmp_path / "a.png")
    assert result.returncode == 0, result.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), render([scene])[0])

    record = process("show", "--world", "shapes2d", "--seed", 2, "--index", 7, "--json").stdout  # as piped:
    assert process("render", "-", "--out", tmp_path / "b.png", stdin=record).returncode == 0  # show | render -
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize(
    "args, words",
    [
        (["show", "--world", "nope", "--seed", 0, "--index", 0], "unknown world 'nope'"),
        (["show", "--world", "shapes2d", "--seed", 0, "--index", -1], "non-negative"),
        (["show", "--world", "shapes2d", "--seed", "x", "--index", 0], "invalid int value"),
        (["show", "--world", "shapes2d", "--seed", 0, "--index", 0, "--size", 4], "image_size"),
        (["generate", "--world", "shapes2d", "--n", -5, "--seed", 0, "--out", "OUT", "--format", "npz"], "n must be"),
        (
            ["generate", "--world", "shapes2d", "--n", 5, "--seed", 0, "--out", "OUT", "--format", "tfrecord"],
            "invalid choice",
        ),
        (
            [
                "generate",
                "--world",
                "shapes2d",
                "--n",
                5,
                "--seed",
                0,
                "--out",
                "OUT",
                "--format",
                "npz",
                "--split",
                "test",
            ],
            "held_out",
        ),
        (["generate", "--world", "shapes2d", "--n", 5, "--seed", 0], "required"),
        (["render", "MISSING.json", "--out", "x.png"], "No such file"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, args, words):
    args = [str(tmp_path / "out") if a == "OUT" else str(tmp_path / a) if a == "MISSING.json" else a for a in args]
    assert_clear_error(cli(*args), words)


def test_the_process_exits_with_status_2_and_one_line():
    assert_clear_error(process("frobnicate"), "invalid choice")
    assert_clear_error(process("show", "--world", "nope", "--seed", 0, "--index", 0), "unknown world 'nope'")


def test_refused_directory_and_bad_scene_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("generate", "--world", "shapes2d", "--n", 5, "--seed", 0, "--out", tmp_path, "--format", "npz")
    assert_clear_error(result, "holds no toy-world export")
    assert (tmp_path / "notes.txt").read_text() == "mine"

    for text, words in [
        ('{"objects": [', "malformed JSON at line 1"),
        ('{"objects": [{"shape": "cube", "size": -1}]}', "objects[0].size: must be > 0"),
        ('{"objects": [{"shape": "pyramid"}]}', "unknown value 'pyramid'"),
    ]:
        (tmp_path / "bad.json").write_text(text)
        assert_clear_error(cli("render", tmp_path / "bad.json", "--out", tmp_path / "x.png"), words)


def test_sample_a_trained_run_and_a_shipped_model(tmp_path, capsys):
    """python -m playground.models.train writes a run; python -m playground.models.sample draws a grid from it."""
    import numpy as np
    from PIL import Image

    from playground.models import sample, train
    from worlds.images import image_grid

    run = tmp_path / "run"
    assert train.main(["--model", "gan", "--steps", "2", "--n", "64", "--out", str(run), "--set", "width=8"]) == 0
    assert "python -m playground.models.sample" in capsys.readouterr().out  # the run says how to sample it
    out = tmp_path / "grid.png"
    assert sample.main([str(run), "--n", "6", "--columns", "3", "--scale", "2", "--out", str(out)]) == 0
    expected = image_grid(np.zeros((6, 32, 32, 3), np.uint8), 3, scale=2).shape  # 3 columns, 2 rows, 2x
    assert Image.open(out).size == (expected[1], expected[0])
    assert (
        sample.main(
            [
                "diffusion-class",
                "--shape",
                "cylinder",
                "--color",
                "red",
                "--n",
                "2",
                "--steps",
                "4",
                "--out",
                str(tmp_path / "red.png"),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["gan", "--shape", "cube", "--color", "red"], "this model is unconditional"),
        (["diffusion-class"], "give --shape and --color"),
        (["diffusion-caption", "--caption", "a red " + "x" * 500], "at most 200"),
        (
            ["diffusion-caption", "--caption", "a red " + "blorp" * 30],
            "unknown word 'blorpblorpblorpblorp…' in the caption",
        ),
        (["gan", "--n", "0"], "--n must be in 1..64"),
        (["gan", "--mode"], "--mode is for the VAE and the RBM"),
        (["nope"], "neither a checkpoint file nor a shipped model"),
    ],
)
def test_sample_errors_are_one_clear_line(tmp_path, capsys, args, words):
    from playground.models import sample

    assert sample.main([*args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and not (tmp_path / "x.png").exists()
