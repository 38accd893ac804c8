"""Building generator, file formats and rule learning of invgfx.procedural."""

import json

from pathlib import Path

import numpy as np
import pytest
import trimesh

from invgfx.procedural import (
    NAMES, BuildingParams, ProceduralError, RuleSet, generate_building, learn_adjacency, learn_overlapping,
    load_grid, pair_violations, save_grid,
)
from invgfx.procedural.formats import read_csv, write_csv
from invgfx.procedural.modules import LABEL, label_permutation, occupancy, transform_grid
from invgfx.procedural.render import render_voxels

L = {n: i for i, n in enumerate(NAMES)}


@pytest.fixture(scope="module")
def house():
    return generate_building(BuildingParams(width=7, depth=5, storeys=3, wing_width=3, wing_depth=2, wing_storeys=2, balcony_prob=0.5), seed=4)


# ---------------------------------------------------------------- generator
def test_building_structure(house):
    p = BuildingParams(width=7, depth=5, storeys=3, roof="flat", wing_width=0, wing_depth=0)
    g = generate_building(p, seed=0)
    m = p.margin
    assert g.shape == (7 + 2 * m, 5 + 2 * m, 1 + 3 + 1 + 1)
    assert (g[:, :, 0] == L["ground"]).all() and (g[:, :, -1] == L["empty"]).all()
    for z in (1, 2, 3):  # a rectangle has its 4 outer corners on every storey
        assert sorted(NAMES[v] for v in g[:, :, z].ravel() if NAMES[v].startswith("corner")) == ["corner+x+y", "corner+x-y", "corner-x+y", "corner-x-y"]
    doors = np.argwhere(np.isin(g, [L[f"door{f}"] for f in ("+x", "-x", "+y", "-y")]))
    assert len(doors) == 1 and doors[0][2] == 1 and g[tuple(doors[0])] == L["door-y"]
    assert (g[m : m + 7, m : m + 5, 4] == L["roof"]).all()
    # the massing is everything built: 7 x 5 x 3 storeys + the roof layer + balconies
    assert occupancy(g).sum() == 7 * 5 * 4 + np.isin(g, [L[f"balcony{f}"] for f in ("+x", "-x", "+y", "-y")]).sum()


def test_building_is_deterministic_and_seed_draws_balconies(house):
    p = BuildingParams(width=7, depth=5, storeys=3, wing_width=3, wing_depth=2, wing_storeys=2, balcony_prob=0.5)
    assert (generate_building(p, seed=4) == house).all()
    other = generate_building(p, seed=5)
    assert (other != house).any()
    assert ((other != house) <= np.isin(np.stack([other, house]), [L[n] for n in NAMES if n.startswith("balcony")] + [L["empty"]]).all(0)).all()


def test_gable_roof_and_inner_corner(house):
    g = generate_building(BuildingParams(width=7, depth=5, storeys=2, roof="gable"), seed=0)
    assert (g == L["ridge"]).sum() == 7
    assert (g == L["slope+y"]).sum() == (g == L["slope-y"]).sum() == 2 * 7
    assert sum((house == L[f"inner{a}{b}"]).sum() for a in ("+x", "-x") for b in ("+y", "-y")) == 2  # wing junction, 2 storeys


@pytest.mark.parametrize("key,value,fragment", [("width", 2, "width"), ("roof", "dome", "flat"), ("door_side", "up", "door_side"), ("wing_width", 1, "wing_width")])
def test_bad_parameters_name_the_key(key, value, fragment):
    p = BuildingParams(**{key: value, **({"wing_depth": 2} if key == "wing_width" else {})})
    with pytest.raises(ProceduralError, match=fragment):
        generate_building(p)


def test_rotation_turns_oriented_modules():
    perm = label_permutation(NAMES, 1, False)
    assert NAMES[perm[L["wall+x"]]] == "wall+y" and NAMES[perm[L["corner+x-y"]]] == "corner+x+y"
    assert NAMES[label_permutation(NAMES, 0, True)[L["inner+x+y"]]] == "inner-x+y"
    g = np.zeros((3, 2, 1), np.int64)
    g[2, 0, 0] = L["wall+x"]  # on the +x border
    r = transform_grid(g, NAMES, 1, False)
    assert r.shape == (2, 3, 1) and r[1, 2, 0] == L["wall+y"]  # now on the +y border


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize("ext", ["csv", "txt", "vox"])
def test_round_trip_exact(house, tmp_path, ext):
    save_grid(tmp_path / f"h.{ext}", house, NAMES)
    grid, names = load_grid(tmp_path / f"h.{ext}")
    assert grid.shape == house.shape and (grid == house).all()
    assert list(names) == list(NAMES[: len(names)]) and len(names) > house.max()
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporaries


def test_csv_layout_by_hand(tmp_path):
    g = np.array([[[0]], [[1]]])  # two voxels along x: empty, ground
    write_csv(tmp_path / "t.csv", g, ["empty", "ground"])
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "x,y,z,module,+x:empty,+x:ground,-x:empty,-x:ground,+y:empty,+y:ground,-y:empty,-y:ground,+z:empty,+z:ground,-z:empty,-z:ground"
    assert lines[1] == "0,0,0,empty,0,1" + ",0" * 10  # its +x neighbour is ground
    assert lines[2] == "1,0,0,ground,0,0,1,0" + ",0" * 8  # its -x neighbour is empty
    bad = lines[:2] + ["1,0,0,ground,0,0,0,1" + ",0" * 8]
    (tmp_path / "bad.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(ProceduralError, match="line 3"):
        read_csv(tmp_path / "bad.csv")


def test_reads_merrell_sample_layout(tmp_path):
    # Merrell's layout: blocks per z, one line per x, y along the line; objects name labels
    text = ("Example Model.  Do not insert or delete lines from this file.\n\nx, y, and z extents\n2 3 2\n\n"
            " 1 1 1 \n 1 1 1 \n\n 0 2 0 \n 0 0 3 \n\n<Objects>\nC:\\scene.max\n1\n$Ground\n#\n2\n$Box01\n$Box02\n#\n")
    (tmp_path / "m.txt").write_text(text)
    grid, names = load_grid(tmp_path / "m.txt")
    assert grid.shape == (2, 3, 2)
    assert (grid[:, :, 0] == 1).all() and grid[0, 1, 1] == 2 and grid[1, 2, 1] == 3 and grid[1, 1, 1] == 0
    assert names == ["empty", "Ground", "Box01", "label3"]
    (tmp_path / "short.txt").write_text(text.replace(" 0 0 3 \n", ""))
    with pytest.raises(ProceduralError, match="need 12 labels"):
        load_grid(tmp_path / "short.txt")


def test_vox_chunks_and_limits(house, tmp_path):
    save_grid(tmp_path / "h.vox", house, NAMES)
    data = (tmp_path / "h.vox").read_bytes()
    assert data[:4] == b"VOX " and data[8:12] == b"MAIN" and b"SIZE" in data and b"XYZI" in data and b"RGBA" in data
    n = int.from_bytes(data[data.index(b"XYZI") + 12 : data.index(b"XYZI") + 16], "little")
    assert n == int((house > 0).sum())
    with pytest.raises(ProceduralError, match="256"):
        save_grid(tmp_path / "big.vox", np.zeros((300, 1, 1), np.int64), NAMES)
    (tmp_path / "junk.vox").write_bytes(b"nope")
    with pytest.raises(ProceduralError, match="MagicaVoxel"):
        load_grid(tmp_path / "junk.vox")


def test_mesh_and_png(house, tmp_path):
    save_grid(tmp_path / "h.glb", house, NAMES)
    mesh = trimesh.load(tmp_path / "h.glb", force="mesh")
    assert len(mesh.faces) == 12 * int((house > 0).sum())
    img = render_voxels(house, NAMES, scale=6)
    assert img.ndim == 3 and (img != img[0, 0]).any(axis=2).mean() > 0.2
    # 2D grids with colour names round-trip through PNG exactly
    flat = np.random.default_rng(0).integers(0, 3, (9, 7, 1))
    names = ["#ff0000", "#00ff00", "#0000ff"]
    flat[0, 0, 0], flat[1, 0, 0], flat[2, 0, 0] = 0, 1, 2
    save_grid(tmp_path / "f.png", flat, names)  # 1 pixel per cell by default
    back, bnames = load_grid(tmp_path / "f.png")
    assert back.shape == flat.shape and (np.array(bnames)[back] == np.array(names)[flat]).all()
    save_grid(tmp_path / "f4.png", flat, names, scale=4)
    assert load_grid(tmp_path / "f4.png")[0].shape == (36, 28, 1)
    with pytest.raises(ProceduralError, match="cannot write"):
        save_grid(tmp_path / "h.xyz", house, NAMES)


# ---------------------------------------------------------------- rules
def test_adjacency_counts_by_hand():
    g = np.array([0, 1, 1]).reshape(3, 1, 1)
    r = learn_adjacency([g], ["a", "b"])
    assert r.weights.tolist() == [1, 2]
    assert r.counts[0].tolist() == [[0, 1], [0, 1]]  # +x: a->b once, b->b once
    assert r.counts[1].tolist() == [[0, 0], [1, 1]]  # -x is the transpose
    assert r.counts[2:].sum() == 0  # no neighbours along y and z
    assert r.boundary[0].tolist() == [False, True] and r.boundary[1].tolist() == [True, False]
    assert r.boundary[2].all() and r.boundary[5].all()
    assert pair_violations(np.array([1, 0]).reshape(2, 1, 1), r) == (1, 1)  # b then a along +x never seen


def test_symmetries_turn_rules(house):
    r4 = learn_adjacency([house], list(NAMES), symmetries=4)
    perm = label_permutation(NAMES, 1, False)
    # a quarter turn maps +x to +y: the +y rules are the +x rules with labels turned
    assert (r4.counts[2][np.ix_(perm, perm)] == r4.counts[0]).all()
    assert r4.weights.sum() == 4 * house.size


def test_ruleset_json_round_trip(house, tmp_path):
    for rules in (learn_adjacency([house], list(NAMES)), learn_overlapping([house], list(NAMES), n=2)):
        rules.save(tmp_path / "r.json")
        back = RuleSet.load(tmp_path / "r.json")
        assert back.model == rules.model and back.names == rules.names
        assert (back.counts == rules.counts).all() and (back.boundary == rules.boundary).all() and (back.weights == rules.weights).all()
        assert (back.patterns is None) == (rules.patterns is None)
    data = json.loads((tmp_path / "r.json").read_text())
    del data["adjacency"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ProceduralError, match="adjacency"):
        RuleSet.load(tmp_path / "bad.json")
    assert "wall+x" in learn_adjacency([house], list(NAMES)).describe()


def test_overlapping_patterns_by_hand():
    g = np.array([[0, 1], [1, 0]]).reshape(2, 2, 1)  # a checkerboard
    r = learn_overlapping([g], ["a", "b"], n=2, periodic_input=True)
    assert r.n_tiles == 2 and r.pattern_size == (2, 2, 1) and (r.weights == 2).all()
    # along x a pattern may only be followed by the other one (they agree on the overlap)
    assert r.counts[0].tolist() == [[0, 1], [1, 0]] and r.counts[2].tolist() == [[0, 1], [1, 0]]
    r8 = learn_overlapping([np.arange(9).reshape(3, 3, 1) % 2], ["a", "b"], n=2, symmetries=8)
    assert r8.n_tiles == 2  # symmetric variants of a checkerboard add no new pattern


def merrell_text(grid_numbers, objects):
    """Merrell's example text of a (X, Y, Z) array of label numbers and {number: [object lines]};
    group headers are placeholders, as in his castle.txt."""
    X, Y, Z = grid_numbers.shape
    out = ["Example Model.  Do not insert or delete lines from this file.\n\nx, y, and z extents\n", f"{X} {Y} {Z}\n\n"]
    for z in range(Z):
        for x in range(X):
            out.append(" " + " ".join(str(v) for v in grid_numbers[x, :, z]) + " \n")
        out.append("\n")
    out.append("<Objects>\nD:\\models\\walls.max\n")
    for k in range(1, max(objects) + 1):  # group k holds label k's objects, as in his files
        out.append("somethin'\n" + "".join(line + "\n" for line in objects.get(k, [])) + "#\n")
    return "".join(out)


def merrell_pairs(path):
    """{(direction, number a, number b)} of adjacent labels in a Merrell file, read by number as
    Merrell's own tools read it."""
    lines = Path(path).read_text().partition("<Objects>")[0].splitlines()
    values = [int(t) for t in " ".join(lines[3:]).split()]
    X, Y, Z = values[:3]
    g = np.array(values[3:]).reshape(Z, X, Y).transpose(1, 2, 0)
    pairs = set()
    for axis in range(3):
        a, b = np.moveaxis(g, axis, 0)[:-1], np.moveaxis(g, axis, 0)[1:]
        pairs |= {(axis, int(p), int(q)) for p, q in zip(a.ravel(), b.ravel())}
    return pairs, g


def test_merrell_labels_are_their_numbers_even_when_they_share_an_object(tmp_path):
    from invgfx.cli import main

    # two wall labels (3 and 7) share the object $wall: 3 only stands on 1, 7 only on 2 (a stripe
    # pattern); label 100000 is a roof, sparse and huge (an array of that size would not fit)
    g = np.zeros((6, 6, 3), np.int64)
    g[:, :3, 0], g[:, 3:, 0] = 1, 2
    g[1:5, 1:3, 1], g[1:5, 3:5, 1] = 3, 7
    g[1:5, 1:5, 2] = 100000
    objects = {1: ["$ground_a"], 2: ["$ground_b"], 3: ["$wall", "$wall_trim"], 7: ["$wall"], 100000: ["$roof"]}
    example = tmp_path / "walls.txt"
    example.write_text(merrell_text(g, objects))
    grid, names = load_grid(example)
    assert names == ["empty", "ground_a", "ground_b", "wall#3", "wall#7", "roof"] and grid.max() == 5
    rules_path, out = tmp_path / "rules.json", tmp_path / "out.txt"
    assert main(["rules", "learn", str(example), "--out", str(rules_path)]) == 0
    assert main(["--seed", "2", "rules", "generate", str(rules_path), "--size", "12", "12", "3", "--out", str(out)]) == 0
    allowed, _ = merrell_pairs(example)
    found, numbers = merrell_pairs(out)
    assert found <= allowed  # 0 violations when read by number
    assert {3, 7} <= set(np.unique(numbers).tolist())  # both walls, kept apart
    text = out.read_text()
    assert "D:\\models\\walls.max\n" in text and "3\n$wall\n$wall_trim\n#\n" in text and "100000\n$roof\n#\n" in text
    assert load_grid(out)[1] == names  # read back: the example's labels, by number and by name
    again = tmp_path / "again.txt"
    assert main(["rules", "convert", str(example), str(again)]) == 0
    assert merrell_pairs(again)[1].tolist() == g.tolist()  # a round trip keeps every number


def test_merrell_objects_are_read_by_their_place_as_his_loader_does(tmp_path):
    """Group k is label k's, whatever its header says; a header number that disagrees is warned about."""
    text = ("Example Model.  Do not insert or delete lines from this file.\n\nx, y, and z extents\n1 2 1\n\n 1 2 \n\n"
            "<Objects>\nscene.max\n2\n$first\n#\n1\n$second\n#\n")
    (tmp_path / "m.txt").write_text(text)
    with pytest.warns(UserWarning, match="group 1 is headed 2"):
        grid, names = load_grid(tmp_path / "m.txt")
    assert names == ["first", "second"] and grid[0, :, 0].tolist() == [0, 1]
