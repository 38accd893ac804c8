"""Bad inputs give one clear line (issue 38): the CLI on a table of cases, each expected to exit
1 or 2 with a single-line message on stderr, no traceback, naming the argument, key or file.
The table is the specification: a command that gains an input adds its rows here."""

import pytest

from invgfx.cli import main


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "empty.ply").write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
                                        "property float z\nend_header\n")
    (tmp_path / "adir").mkdir()
    assert main(["scenes", "make", "ball", "--set", "n_gaussians=50", "--out", "b.ply"]) == 0
    assert main(["buildings", "generate", "--out", "h.vox"]) == 0
    (tmp_path / "half.vox").write_bytes((tmp_path / "h.vox").read_bytes()[:200])  # a download cut short
    (tmp_path / "eight.yaml").write_text("width: eight\n")
    return tmp_path


def _few_clips(path):
    """12 clips as `video-prior data` writes them: fewer than the classifier holds out."""
    import numpy as np

    from invgfx.dreamphysics.learned.scenarios import CLASSES, FRAMES

    path.mkdir()
    n, lo = 12, np.array([CLASSES[name].E_range[0] for name in CLASSES])
    label = np.arange(n) % len(CLASSES)
    np.savez(path / "shard_00000.npz", video=np.zeros((n, FRAMES, 3, 8, 8), np.uint8), label=label,
             caption=np.array(["a clip"] * n), E=np.where(np.arange(n) % 2, lo[label] / 100, lo[label] * 2))


CASES = [  # (argv, words the one line must contain)
    (["scenes", "make", "ball", "--set", "n_gaussians=-5", "--out", "x.ply"], ["n_gaussians=-5", "positive"]),
    (["scenes", "make", "ball", "--set", "n_gaussians=ten", "--out", "x.ply"], ["n_gaussians='ten'", "integer"]),
    (["scenes", "make", "ball", "--set", "radius=0", "--out", "x.ply"], ["radius=0", "positive"]),
    (["scenes", "make", "box", "--set", "size=[0.5,0.5]", "--out", "x.ply"], ["size=[0.5, 0.5]", "shaped like"]),
    (["scenes", "make", "chair", "--set", "arms=yes please", "--out", "x.ply"], ["arms", "true or false"]),
    (["scenes", "make", "ball", "--out", "afile/b.ply"], ["afile", "is a file"]),
    (["scenes", "make", "ball", "--set", "n_gaussians=50", "--out", "adir"], ["adir", "is a folder"]),
    (["render", "b.ply", "--out", "afile/x.png", "--width", "16", "--height", "16"], ["afile", "is a file"]),
    (["buildings", "generate", "--out", "afile/h.vox"], ["afile", "is a file"]),
    (["rules", "learn", "b.ply", "--out", "r.json"], ["b.ply"]),
    (["rules", "show", "b.ply"], ["b.ply", "not a rules file"]),
    (["rules", "generate", "adir", "--size", "8", "8", "4", "--out", "o.txt"], ["adir", "is a folder"]),
    (["render", "b.ply", "--out", "r.png", "--fov", "0"], ["--fov 0.0", "between 0 and 180"]),
    (["render", "b.ply", "--out", "r.png", "--up", "0,0,0"], ["--up 0,0,0", "no direction"]),
    (["render", "b.ply", "--out", "r.jpg"], ["--out r.jpg", ".png, .mp4 or .gif"]),
    (["render", "empty.ply", "--out", "r.png"], ["empty.ply", "no points"]),
    (["simulate", "configs/none.json", "--scene", "ball", "--frames", "-2", "--out", "s.mp4"], ["--frames -2"]),
    (["ign", "train", "--steps", "-5", "--out", "t"], ["--steps", "at least 1"]),
    (["video-prior", "data", "--out", "clips", "--per-class", "0"], ["--per-class 0", "at least 1"]),
    (["learn-physics", "ball", "--scenario", "--prior", "text:a dragon flying", "--out", "lp"], ["a dragon flying", "names none"]),
    (["learn-physics", "ball", "--scenario", "--prior", "text:a plant swaying", "--out", "lp"], ["names a plant", "the ball"]),
    (["rules", "compare", "--model", "m", "--count", "0"], ["--count 0", "at least 1"]),
    (["rules", "train-neural", "--out", "tn", "--steps", "0"], ["--steps 0", "at least 1"]),
    (["rules", "train-neural", "--out", "tn", "--batch", "0"], ["--batch 0", "at least 1"]),
    (["rules", "learn", "half.vox", "--out", "r.json"], ["half.vox", "truncated or damaged"]),
    (["rules", "convert", "half.vox", "x.csv"], ["half.vox", "truncated or damaged"]),
    (["buildings", "generate", "--params", "eight.yaml", "--out", "x.vox"], ["eight.yaml", "width", "integer"]),
    (["simulate", "configs/none.json", "--scene", "ball", "--out", "afile/s.mp4"], ["afile", "is a file"]),
    (["demo", "--quick", "--out", "afile/demo"], ["afile", "is a file"]),
    (["video-prior", "classifier", "--clips", "clips", "--out", "clf"], ["clips: 12 clips", "more than 75"]),
    (["ign", "rerender", "b.ply", "--checkpoint", "fasces", "--azimuth", "9", "--out", "r.png"],
     ["--checkpoint fasces", "not the name of shipped weights (faces"]),
    (["ign", "evaluate", "--checkpoint", "faces", "--baseline", "classifier"], ["--baseline classifier", "(faces"]),
    (["video-prior", "sample", "--weights", "nope", "--out", "s.png"], ["--weights nope", "denoiser, classifier"]),
]


@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(c[0][:2] + c[0][-2:]) for c in CASES])
def test_bad_input_gives_one_clear_line(files, capsys, argv, words):
    if argv[:2] == ["video-prior", "classifier"]:
        _few_clips(files / "clips")
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2), code
    lines = [line for line in err if not line.startswith(("\r", "invgfx: warning"))]
    assert len(lines) == 1 and "Traceback" not in lines[0], err
    assert all(w in lines[0] for w in words), lines[0]


def test_a_grid_too_large_for_memory_is_refused_with_the_figure(files, capsys):
    from invgfx.procedural import NAMES, generate_building, learn_adjacency, random_params

    import numpy as np

    rules = learn_adjacency([generate_building(random_params(np.random.default_rng(0)), 0)], list(NAMES))
    rules.save(files / "r.json")
    assert main(["rules", "generate", "r.json", "--size", "3000", "3000", "3000", "--out", "x.txt"]) == 1
    err = capsys.readouterr().err.strip()
    assert "3000x3000x3000" in err and "GiB" in err and "this machine has" in err and "\n" not in err


def test_a_rerender_angle_outside_the_training_range_is_warned_about():
    import math

    from invgfx.ign.evaluate import outside_training

    cal = {"latent": 0, "slope": 1.0, "intercept": 0.0, "lo": -math.radians(80), "hi": math.radians(80)}
    assert outside_training("azimuth", cal, math.radians(45)) is None
    assert "--azimuth 720: outside the -80 to 80 degrees" in outside_training("azimuth", cal, math.radians(720))
    assert outside_training("azimuth", {"latent": 0, "slope": 1.0, "intercept": 0.0}, 99.0) is None  # an older checkpoint


def _photo(path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)


def _huge_gaussian(path):
    from invgfx.splat.io_ply import read_ply, write_ply

    cloud = read_ply(path.parent / "b.ply")
    cloud.log_scales[3] = 200.0  # not a log standard deviation
    write_ply(cloud, path)


WARNINGS = [  # (setup, the file it makes, argv, words of the warning); the command still succeeds
    (_photo, "photo.png", ["rules", "learn", "photo.png", "--out", "p.json"], ["photo.png", "576 labels over 576 cells"]),
    (_huge_gaussian, "huge.ply", ["render", "huge.ply", "--out", "h.png", "--width", "16", "--height", "16"],
     ["huge.ply", "over 100x the scene's", "vertex 3"]),
]


@pytest.mark.parametrize("setup,made,argv,words", WARNINGS, ids=[" ".join(w[2][:2]) for w in WARNINGS])
def test_a_questionable_input_is_warned_about_in_one_line(files, capsys, setup, made, argv, words):
    setup(files / made)
    with pytest.warns(UserWarning) as record:
        assert main(argv) == 0
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and "\n" not in messages[0] and all(w in messages[0] for w in words), messages


def test_cameras_json_is_found_beside_a_symlinked_ply(tmp_path):
    """A capture linked into another folder: cameras.json beside the link is the user's; beside
    the target it is found too."""
    from invgfx.splat.framing import find_cameras_json

    (tmp_path / "store").mkdir()
    (tmp_path / "capture" / "point_cloud").mkdir(parents=True)
    (tmp_path / "store" / "model.ply").write_text("ply")
    link = tmp_path / "capture" / "point_cloud" / "model.ply"
    link.symlink_to(tmp_path / "store" / "model.ply")
    assert find_cameras_json(link) is None
    (tmp_path / "store" / "cameras.json").write_text("[]")
    assert find_cameras_json(link) == tmp_path / "store" / "cameras.json"
    (tmp_path / "capture" / "cameras.json").write_text("[]")
    assert find_cameras_json(link) == tmp_path / "capture" / "cameras.json"  # the link's side first
