"""Datasets: every format gives back the exact pixels and scenes; shards are slices of one
run; interrupted runs resume; foreign or different directories are refused; Hugging Face
`datasets` and torch's DataLoader read what we write."""

import hashlib
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

import worlds.datasets as wd
from worlds import Scene, caption, get_world, render, sample_scenes
from worlds.datasets import FORMATS, DatasetError, RenderedDataset, generate, load_export

N, SEED, SIZE, PART = 30, 5, 32, 8
WORLD = get_world("shapes2d").replace(image_size=SIZE)


@pytest.fixture(scope="module")
def truth():
    scenes = sample_scenes(WORLD, SEED, N)
    return scenes, render(scenes)


def make(out, fmt, **options):
    options = {"workers": 1, "part_size": PART, **options}
    return generate("shapes2d", options.pop("n", N), options.pop("seed", SEED), out, fmt, image_size=SIZE, **options)


def read(path):
    """(images NHWC, scene JSON strings, indices) of an export, checked against its SHA-256s."""
    ds = load_export(path, verify="sha256")
    items = [ds[i] for i in range(len(ds))]
    return (
        np.stack([item["image"].permute(1, 2, 0).numpy() for item in items]),
        [item["scene"] for item in items],
        [item["index"] for item in items],
    )


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_exact_pixels_and_scenes(tmp_path, fmt, truth):
    scenes, images = truth
    out = make(tmp_path / fmt, fmt)
    assert out == tmp_path / fmt
    pixels, texts, indices = read(out)
    assert np.array_equal(pixels, images)
    assert [Scene.from_json(t) for t in texts] == scenes
    assert indices == list(range(N))

    ds = load_export(out)
    item = ds[3]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, SIZE, SIZE)
    assert torch.equal(item["vector"], torch.from_numpy(scenes[3].to_vector()))
    assert item["caption"] == caption(scenes[3])
    assert ds.scene(-1) == scenes[-1]
    batch = next(iter(DataLoader(ds, batch_size=10)))  # torch's default collate batches items
    assert batch["image"].shape == (10, 3, SIZE, SIZE) and len(batch["scene"]) == 10

    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["n"], manifest["seed"], manifest["count"], manifest["format"]) == (N, SEED, N, fmt)
    assert manifest["config_hash"] == WORLD.config_hash and manifest["world_config"] == WORLD.to_dict()
    assert manifest["image_size"] == [SIZE, SIZE] and "--size 32" in manifest["created_by"]
    for entry in manifest["files"]:
        assert sha256(out / entry["path"]) == entry["sha256"]
        assert (out / entry["path"]).stat().st_size == entry["bytes"]
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".parts"]
    assert not leftovers


def test_file_layouts(tmp_path, truth):
    scenes, images = truth
    folder = make(tmp_path / "imagefolder", "imagefolder")
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert rows[7]["file_name"] == "images/00000007.png" and (folder / "images" / "00000007.png").is_file()
    assert rows[7]["captions"][0] == rows[7]["caption"] == caption(scenes[7])
    assert rows[7]["shapes"] == [o.shape for o in scenes[7].objects]
    assert rows[7]["num_objects"] == len(rows[7]["colors"]) == len(scenes[7].objects)

    parquet = make(tmp_path / "parquet", "parquet")
    table = pq.read_table(parquet / "data" / "train-00000-of-00001-part-00001.parquet")  # plain pyarrow
    assert table["index"].to_pylist() == list(range(PART, 2 * PART))
    assert table["image"][0]["path"].as_py() == f"{PART:08d}.png"
    assert b'"Image"' in table.schema.metadata[b"huggingface"]

    npz = make(tmp_path / "npz", "npz")
    with np.load(npz / "data" / "train-00000-of-00001-part-00000.npz") as z:
        assert np.array_equal(z["images"], images[:PART])
        assert np.array_equal(z["vectors"], np.stack([s.to_vector() for s in scenes[:PART]]))
        assert z["indices"].tolist() == list(range(PART))
        assert Scene.from_json(str(z["scenes"][2])) == scenes[2] and str(z["captions"][2]) == caption(scenes[2])


@pytest.mark.parametrize("fmt", ["imagefolder", "parquet"])
def test_hugging_face_datasets_loads_runs_and_shards(tmp_path, fmt, truth, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    _, images = truth
    make(tmp_path / "one", fmt)
    for shard in range(2):
        make(tmp_path / "two", fmt, shard=shard, num_shards=2)
    for out in (tmp_path / "one", tmp_path / "two"):
        ds = datasets.load_dataset(fmt, data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf"))
        assert len(ds) == N and isinstance(ds.features["image"], datasets.Image)
        columns = {"index", "scene", "caption", "captions", "relations", "num_objects", "shapes", "colors"}
        assert columns <= set(ds.features)
        by_index = {row["index"]: row for row in ds}
        assert np.array_equal(np.stack([np.asarray(by_index[i]["image"]) for i in range(N)]), images)


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_shards_are_the_single_run(tmp_path, fmt, truth):
    single = read(make(tmp_path / "one", fmt))
    dirs = [make(tmp_path / "two", fmt, shard=shard, num_shards=2) for shard in range(2)]
    assert (
        [d.name for d in dirs]
        == sorted(os.listdir(tmp_path / "two"))
        == ["shard-00000-of-00002", "shard-00001-of-00002"]
    )
    sharded = read(tmp_path / "two")
    assert np.array_equal(single[0], sharded[0]) and single[1:] == sharded[1:]
    assert read(dirs[1])[2] == list(range(N // 2, N))  # a shard alone is its slice
    for path in dirs[1].rglob("*"):
        if path.is_file():
            path.unlink()
    with pytest.raises(DatasetError, match="shard-00001-of-00002 is not finished"):
        load_export(tmp_path / "two")


def test_worker_processes_write_the_same_bytes(tmp_path):
    serial = make(tmp_path / "serial", "parquet")
    parallel = make(tmp_path / "parallel", "parquet", workers=2)
    files = [json.loads((d / "manifest.json").read_text())["files"] for d in (serial, parallel)]
    assert files[0] == files[1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_interrupted_run_resumes(tmp_path, fmt, truth):
    out = tmp_path / fmt

    class Killed(Exception):
        pass

    def killed_after_two_parts(done, total):
        if done >= 2 * PART:
            raise Killed

    with pytest.raises(Killed):
        make(out, fmt, progress=killed_after_two_parts)
    assert not (out / "manifest.json").exists()
    with pytest.raises(DatasetError, match="no finished export"):
        load_export(out)
    # the debris of a kill: a half-written temporary beside the finished parts
    debris = (
        out / ".parts" / ".part-00002.jsonl.1234.tmp"
        if fmt == "imagefolder"
        else out / "data" / f".train-00000-of-00001-part-00002.{fmt}.1234.tmp"
    )
    debris.write_bytes(b"half a part")
    calls = []
    make(out, fmt, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (2 * PART, N) and calls[-1] == (N, N)  # the finished parts were skipped
    assert not debris.exists()
    pixels, texts, _ = read(out)
    assert np.array_equal(pixels, truth[1]) and [Scene.from_json(t) for t in texts] == truth[0]


@pytest.mark.parametrize("fmt", ["parquet", "npz"])
def test_a_lost_manifest_and_part_are_made_again(tmp_path, fmt, truth):
    out = make(tmp_path / fmt, fmt)
    before = json.loads((out / "manifest.json").read_text())["files"]
    (out / "manifest.json").unlink()
    (out / "data" / f"train-00000-of-00001-part-00001.{fmt}").unlink()
    calls = []
    make(out, fmt, progress=lambda done, total: calls.append(done))
    assert calls[0] == N - PART
    assert json.loads((out / "manifest.json").read_text())["files"] == before


def test_a_damaged_file_is_reported_and_repaired(tmp_path, truth):
    out = make(tmp_path / "p", "parquet")
    part = out / "data" / "train-00000-of-00001-part-00000.parquet"
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="part-00000.parquet has .* bytes.*--overwrite"):
        load_export(out)
    make(out, "parquet")  # the same command repairs it
    assert np.array_equal(read(out)[0], truth[1])


def test_foreign_and_different_directories_are_refused_unless_overwritten(tmp_path, truth):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="holds no toy-world export"):
        make(foreign, "npz")
    assert (foreign / "notes.txt").read_text() == "mine"
    make(foreign, "npz", overwrite=True)
    assert not (foreign / "notes.txt").exists() and len(load_export(foreign)) == N

    out = make(tmp_path / "run", "npz")
    for change, words in [({"seed": SEED + 1}, "seed"), ({"n": N + 1}, "n 30"), ({"part_size": 5}, "part_size")]:
        with pytest.raises(DatasetError, match=f"different export.*{words}"):
            make(out, "npz", **change)
    with pytest.raises(DatasetError, match="format"):
        make(out, "parquet")
    with pytest.raises(DatasetError, match="config_hash"):
        generate("shapes2d", N, SEED, out, "npz", image_size=48)
    assert np.array_equal(read(out)[0], truth[1])  # nothing was lost

    make(out, "npz", seed=SEED + 1, overwrite=True)
    assert read(out)[1] == [s.to_json() for s in sample_scenes(WORLD, SEED + 1, N)]

    make(tmp_path / "shards", "npz", shard=0, num_shards=2)
    with pytest.raises(DatasetError, match="different run.*seed"):
        make(tmp_path / "shards", "npz", shard=1, num_shards=2, seed=SEED + 1)
    with pytest.raises(DatasetError, match="not a shard of this run"):
        make(tmp_path / "shards", "npz", shard=0, num_shards=3)


def test_overwrite_never_clears_the_working_or_home_directory(tmp_path, monkeypatch):
    (tmp_path / "precious.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="refusing to delete"):
        make(".", "npz", overwrite=True)
    assert (tmp_path / "precious.txt").exists()


@pytest.mark.parametrize(
    "options, words",
    [
        ({"format": "tfrecord"}, "unknown format"),
        ({"n": -1}, "n must be"),
        ({"n": 0}, "n must be"),
        ({"n": wd.MAX_SCENES + 1}, "n must be"),
        ({"seed": -2}, "seed must be"),
        ({"shard": 2, "num_shards": 2}, "shard"),
        ({"shard": -1, "num_shards": 2}, "shard"),
        ({"num_shards": 0}, "num_shards"),
        ({"image_size": 4}, "image_size"),
        ({"world": "nope"}, "unknown world"),
        ({"split": "test"}, "held_out"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_arguments_are_refused_clearly(tmp_path, options, words):
    args = {"world": "shapes2d", "n": 10, "seed": 0, "out": tmp_path / "x", "format": "npz", **options}
    with pytest.raises(ValueError, match=words):
        generate(args.pop("world"), args.pop("n"), args.pop("seed"), args.pop("out"), args.pop("format"), **args)
    assert not (tmp_path / "x").exists()


def test_rendered_dataset_is_the_world(truth, monkeypatch):
    scenes, images = truth
    ds = RenderedDataset("shapes2d", SEED, N, image_size=SIZE)
    serial = [ds[i] for i in range(N)]
    assert np.array_equal(np.stack([item["image"].permute(1, 2, 0).numpy() for item in serial]), images)
    assert [item["scene"] for item in serial] == [s.to_json() for s in scenes]
    with pytest.raises(IndexError):
        ds[N]

    calls = []
    monkeypatch.setattr(wd, "render", lambda batch: calls.append(len(batch)) or render(batch))
    batches = list(DataLoader(ds, batch_size=8))
    assert calls == [8, 8, 8, 6]  # one render call per batch
    assert torch.equal(torch.cat([b["image"] for b in batches]), torch.stack([i["image"] for i in serial]))


def test_rendered_dataset_in_worker_processes_equals_serial():
    ds = RenderedDataset("shapes2d", SEED, N, image_size=SIZE)
    serial = next(iter(DataLoader(ds, batch_size=N)))
    # forkserver, not fork: this process has rendered, and numba's OpenMP aborts forked children.
    loader = DataLoader(
        ds,
        batch_size=4,
        shuffle=True,
        num_workers=2,
        multiprocessing_context="forkserver",
        generator=torch.Generator().manual_seed(1),
    )
    seen = {}
    for batch in loader:
        for k, index in enumerate(batch["index"].tolist()):
            seen[index] = (batch["image"][k], batch["scene"][k], batch["vector"][k])
    assert sorted(seen) == list(range(N))
    for i in range(N):
        assert torch.equal(seen[i][0], serial["image"][i]) and seen[i][1] == serial["scene"][i]
        assert torch.equal(seen[i][2], serial["vector"][i])
