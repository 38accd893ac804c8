"""`invgfx buildings` and `invgfx rules` end to end, in process."""

import numpy as np
import pytest

from invgfx.cli import main
from invgfx.procedural import RuleSet, load_grid, pair_violations


def test_learn_from_a_building_and_generate_a_bigger_one(tmp_path, capsys):
    house, rules = tmp_path / "house.vox", tmp_path / "rules.json"
    assert main(["--seed", "1", "buildings", "generate", "--out", str(house), "--out", str(tmp_path / "house.png")]) == 0
    assert main(["rules", "learn", str(house), "--out", str(rules), "--symmetries", "4"]) == 0
    out = tmp_path / "town.csv"
    assert main(["rules", "generate", str(rules), "--size", "24", "20", "8", "--pin", "6,5,1=door-y", "--out", str(out), "--out", str(tmp_path / "town.png")]) == 0
    grid, names = load_grid(out)
    r = RuleSet.load(rules)
    assert grid.shape == (24, 20, 8) and names[grid[6, 5, 1]] == "door-y"
    assert pair_violations(np.array([r.names.index(n) for n in names])[grid], r)[0] == 0
    assert (tmp_path / "town.png").stat().st_size > 1000
    assert main(["rules", "convert", str(out), str(tmp_path / "town.txt")]) == 0
    assert (load_grid(tmp_path / "town.txt")[0] == grid).all()


def test_user_errors_print_one_line(tmp_path, capsys):
    house, rules = tmp_path / "h.txt", tmp_path / "r.json"
    main(["buildings", "generate", "--out", str(house)])
    main(["rules", "learn", str(house), "--out", str(rules)])
    capsys.readouterr()
    assert main(["rules", "generate", str(rules), "--size", "12", "12", "6", "--pin", "3,3,4=door-y", "--out", str(tmp_path / "x.vox")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("invgfx: error:") and "3,3,4=door-y" in err and "Traceback" not in err
    assert main(["buildings", "generate", "--roof", "dome", "--out", str(house)]) == 1
    assert "roof" in capsys.readouterr().err
    assert main(["rules", "learn", str(tmp_path / "none.vox"), "--out", str(rules)]) == 1


def flowers_sample(path, alpha=255):
    """A 2D sample in the manner of WFC's Flowers: sky, a ground row at the bottom, stems with
    flowers standing on it."""
    from PIL import Image

    sky, ground, stem, flower = (128, 192, 255), (128, 96, 64), (40, 160, 40), (220, 40, 40)
    img = np.zeros((10, 12, 4), np.uint8)
    img[..., :3], img[..., 3] = sky, 255
    img[-1, :, :3] = ground  # image row -1 is the bottom (y = 0)
    for x in (3, 8):
        img[5:9, x, :3] = stem
        img[4, x, :3] = flower
    img[0, 0, 3] = alpha
    Image.fromarray(img).save(path)
    return "#%02x%02x%02x" % ground


def test_2d_ground_is_the_bottom_row_and_png_reads_back_as_the_grid(tmp_path):
    import imageio.v3 as iio

    from invgfx.procedural import load_grid

    sample, rules, out = tmp_path / "flowers.png", tmp_path / "rules.json", tmp_path / "out.png"
    ground = flowers_sample(sample)
    assert main(["rules", "learn", str(sample), "--model", "overlapping", "-n", "3", "--out", str(rules)]) == 0
    assert main(["--seed", "3", "rules", "generate", str(rules), "--size", "30", "16", "1", "--ground", ground,
                 "--out", str(out), "--out", str(tmp_path / "out.txt")]) == 0
    assert iio.imread(out).shape[:2] == (16, 30)  # one pixel per cell
    grid, names = load_grid(out)
    labels = np.array(names)[grid[:, :, 0]]
    assert (labels[:, 0] == ground).all() and not (labels[:, 1:] == ground).any()  # the bottom row, nowhere else
    same, same_names = load_grid(tmp_path / "out.txt")
    assert (np.array(same_names)[same] == np.array(names)[grid]).all()  # the PNG is the grid, exactly


def test_2d_alpha_is_said_to_be_ignored(tmp_path):
    sample = tmp_path / "a.png"
    flowers_sample(sample, alpha=128)
    with pytest.warns(UserWarning, match="alpha channel is ignored"):
        assert main(["rules", "learn", str(sample), "--out", str(tmp_path / "r.json")]) == 0
