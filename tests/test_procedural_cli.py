"""`invgfx buildings` and `invgfx rules` end to end, in process."""

import numpy as np

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
