"""`invgfx demo`: the page, its files and numbers, failing parts, and each part's result."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from invgfx.cli import main
from invgfx.ign.export import shipped_checkpoint
from invgfx.ign.train import load_checkpoint
from invgfx.splat import read_image, read_ply, read_video


class Links(HTMLParser):
    """Every src= and href= of a page, and its text."""

    def __init__(self):
        super().__init__()
        self.links, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data):
        self.text.append(data)


def read_page(folder: Path) -> tuple[Links, dict]:
    page = Links()
    page.feed((folder / "index.html").read_text())
    return page, json.loads((folder / "summary.json").read_text())


def check_links(folder: Path, page: Links) -> list[str]:
    """The page's files: every relative link names an existing non-empty file inside the folder."""
    files = [link for link in page.links if not link.startswith("#")]
    for link in files:
        assert not link.startswith(("/", "http")), link
        path = folder / link
        assert path.is_file() and path.stat().st_size > 0, f"{link} is linked but missing"
    return files


def test_quick_demo_writes_a_page_whose_links_and_numbers_hold(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--quick", "--only", "ign,rules,scenes"]) == 0
    page, summary = read_page(tmp_path)
    files = check_links(tmp_path, page)
    assert len([f for f in files if f.endswith(".png")]) >= 8  # sweeps + truths, 3 building pictures, sheet
    sections = summary["sections"]
    assert [sections[k]["status"] for k in ("physics", "ign", "rules", "scenes")] == ["skipped", "ok", "ok", "ok"]
    assert summary["running"] is False and summary["total_seconds"] > 0
    for key in ("ign", "rules", "scenes"):
        assert sections[key]["seconds"] > 0
        assert f"{sections[key]['seconds']:.0f} s" in "".join(page.text)
    text = " ".join(page.text)
    assert "not run (not in --only)" in text

    ign = sections["ign"]["numbers"]
    r2 = float(ign["R^2 azimuth latent z1 vs true azimuth (measured here on these faces)"])
    assert 0.5 < r2 <= 1 and ign["R^2 azimuth latent z1 vs true azimuth (measured here on these faces)"] in text
    novel, copy = map(float, ign["novel-view MSE / pixel, azimuth; copying the input (measured here on these faces)"]
                      .split(";"))
    assert 0 < novel < copy  # the re-render beats copying the frontal view
    # the page shows the benchmark figures stored in the shipped checkpoint, not numbers of its own
    _, meta = load_checkpoint(shipped_checkpoint("faces"))
    stored = meta["benchmark"]["metrics"]["r2_azimuth"]
    assert float(ign["R^2 azimuth latent vs truth [benchmark]"]) == pytest.approx(stored, abs=5e-4)
    sweep = read_image(tmp_path / "ign" / "azimuth_sweep.png")
    assert tuple(sweep.shape[1:]) == (2 * (2 * 66 + 2), 2 * (6 * 66 + 2))  # 2 faces x (input + 5 azimuths), 2x

    rules = sections["rules"]["numbers"]
    for name in ("larger building", "town"):
        bad, total = rules[f"{name}: rule violations / adjacent pairs"].split(" / ")
        assert bad == "0" and int(total.replace(",", "")) > 1000
        assert float(rules[f"{name}: solve time (s)"]) >= 0
    assert rules["town: size"] == "28x28x10" and rules["example building (voxels, z up)"] == "14x14x10"
    assert int(rules["allowed neighbour pairs learned (direction, a, b)"].replace(",", "")) > 100

    from invgfx.scenes import SCENES

    for name in SCENES:
        assert len(read_ply(tmp_path / "scenes" / f"{name}.ply")) > 1000
        assert read_video(tmp_path / "scenes" / f"{name}_turntable.gif").shape[0] == 2
    sheet = read_image(tmp_path / "scenes" / "scenes.png")
    assert sheet.shape[1] == 64 + 4 and sheet.shape[2] == len(SCENES) * 66 + 2


def test_quick_physics_learns_towards_the_target_and_says_which_prior(tmp_path, monkeypatch):
    from invgfx.demo import physics

    # whatever is installed, this run uses the reference-video fallback, and the page must say so
    monkeypatch.setattr(physics, "learned_prior", lambda: (None, None, "ImportError: no learned prior in this test"))
    assert main(["demo", "--out", str(tmp_path), "--quick", "--only", "physics"]) == 0
    page, summary = read_page(tmp_path)
    files = check_links(tmp_path, page)
    assert {"physics/before_after.gif", "physics/before_after.mp4", "physics/plot.png", "physics/filmstrip.png"} <= set(files)
    section = summary["sections"]["physics"]
    assert section["status"] == "ok"
    assert any("not available in this installation" in n and "reference-video prior" in n for n in section["notes"])
    assert "no learned prior in this test" in " ".join(page.text)
    params = json.loads((tmp_path / "physics" / "params.json").read_text())
    assert params["initial_E"] == pytest.approx(1e3) and params["target_E"] == pytest.approx(2e4)
    assert params["initial_E"] < params["learned_E"] < params["target_E"] * 2  # moved up, towards the target
    numbers = section["numbers"]
    assert numbers["initial E (Pa)"] == "1,000"
    assert float(numbers["learned E (Pa)"].replace(",", "")) == pytest.approx(params["learned_E"], rel=0.01)
    both = read_video(tmp_path / "physics" / "before_after.gif")
    assert both.shape[0] == 16 and both.shape[3] > both.shape[2]  # 16 frames, before | after side by side
    log = (tmp_path / "physics" / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,group,loss") and len(log) == 3


def test_physics_uses_the_learned_prior_when_it_loads(tmp_path, monkeypatch):
    from invgfx.demo import physics
    from invgfx.dreamphysics.prior import VideoPrior

    class Brightness(VideoPrior):  # stands in for the learned prior: any differentiable judgement
        seen = []

        def loss(self, video, condition, generator=None):
            self.seen.append((tuple(video.shape), condition.text, condition.image))
            return video.mean()

    monkeypatch.setattr(physics, "learned_prior", lambda: (Brightness(), physics.reference_scene(), None))
    monkeypatch.setattr(physics, "plausible_range", lambda name="ball": (3e4, 3e5))
    result = physics.run(tmp_path / "physics", physics.DemoOptions(tmp_path, quick=True, epochs=1))
    # one group of 8 frames at 32 px; no image: an image-conditioned prior takes the group's own first frame
    assert Brightness.seen == [((8, 3, 32, 32), physics.PROMPT, None)]
    assert result.fallback is None and result.target_E is None and "truth_gif" not in result.files
    assert result.initial_E == pytest.approx(physics.TRUE_E / 20) and result.learned_E != result.initial_E
    numbers = dict(result.section(tmp_path).numbers)
    assert numbers["video prior"] == "Brightness" and "target E of the reference video (Pa)" not in numbers
    assert numbers["E range of the balls the prior was trained on (Pa)"] == "30,000 - 300,000"
    assert result.section(tmp_path).notes == [physics.LEARNED_NOTE]  # what the prior is, in words


def test_a_failing_part_is_shown_on_the_page_and_the_command_fails(tmp_path, monkeypatch, capsys):
    from invgfx.demo import rules

    def broken(folder, opts):
        (folder).mkdir(parents=True, exist_ok=True)
        (folder / "partial.txt").write_text("half done")
        raise RuntimeError("the solver exploded")

    monkeypatch.setattr(rules, "run", broken)
    assert main(["demo", "--out", str(tmp_path), "--quick", "--only", "rules"]) == 1
    assert "rules failed" in capsys.readouterr().err
    page, summary = read_page(tmp_path)
    check_links(tmp_path, page)
    assert summary["sections"]["rules"]["status"] == "failed"
    assert summary["sections"]["rules"]["error"] == "RuntimeError: the solver exploded"
    text = " ".join(page.text)
    assert "FAILED" in text and "This part failed:" in text and "the solver exploded" in text
    assert "rules/partial.txt" in page.links  # what it wrote before failing is listed
    assert "Traceback" in text  # in a <details> block


def test_a_user_error_in_one_part_does_not_stop_the_others(tmp_path):
    missing = tmp_path / "missing.safetensors"
    assert main(["demo", "--out", str(tmp_path / "d"), "--quick", "--only", "ign,rules",
                 "--ign-checkpoint", str(missing)]) == 1
    _, summary = read_page(tmp_path / "d")
    assert summary["sections"]["ign"]["status"] == "failed"
    assert "missing.safetensors: no such file" in summary["sections"]["ign"]["error"]
    assert summary["sections"]["rules"]["status"] == "ok"


def test_only_rejects_unknown_parts(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--only", "physics,teapot"]) == 1
    err = capsys.readouterr().err
    assert "teapot is not a part" in err and "physics,ign,rules,scenes" in err and "Traceback" not in err
    assert not (tmp_path / "index.html").exists()


def test_page_escapes_text_and_formats_numbers(tmp_path):
    from invgfx.demo.common import Figure, Section, fmt
    from invgfx.demo.page import render_html

    s = Section("rules", "<b>title</b>", "a & b", status="ok", seconds=1.5,
                figures=[Figure("rules/a b.png", "x<y"), Figure("rules/v.mp4", "clip", "video")],
                numbers=[("n", fmt(52311.2))], notes=["careful <here>"])
    html = render_html([s], {"command": "invgfx demo", "started": "now", "machine": "m", "total_seconds": 2.0})
    assert "&lt;b&gt;title&lt;/b&gt;" in html and "a &amp; b" in html and "careful &lt;here&gt;" in html
    assert '<video src="rules/v.mp4"' in html and "52,300" in html
    assert re.search(r"ok</span>, 2 s", html)
    assert [fmt(v) for v in (2000.0, 1.2e7, 0.00612, 0.0123, 3.6, 0.0, 7)] == \
        ["2,000", "1.20e+07", "6.12e-03", "0.0123", "3.6", "0", "7"]
