"""The HTML sample report: run folders of four modalities on one page, rendered in Chromium."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main
from cathodescope.errors import CathodescopeError, MissingMetadataError
from cathodescope.phantom import paper_scene
from cathodescope.report import RunFolder, key_numbers, load_run, particle_mean_ratios


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("src", "href") and value:
                self.refs.append((tag, value))


def _refs(page: Path) -> list[tuple[str, str]]:
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.refs


def _shared() -> Path:
    import os

    env = os.environ.get("CATHODESCOPE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data = _shared()
    if not data.is_dir():
        pytest.skip(f"shared measurement data not found at {data} (set CATHODESCOPE_SHARED_DATA)")
    root = tmp_path_factory.mktemp("runs")
    scene, _ = paper_scene((300, 420), n_particles=3, spacing=0.049, seed=3)
    files = []
    for name in ("Ni", "Mn", "Co"):
        np.save(root / f"{name}.npy", scene[name].values)
        files.append(str(root / f"{name}.npy"))
    commands = {
        "profile": [
            "profile",
            *files,
            "--channels",
            "Ni,Mn,Co",
            "--spacing",
            "0.049",
            "--marker-spacing-um",
            "2",
            "--no-progress",
        ],
        "xas": [
            "xas",
            "lcf",
            str(data / "xas/NCA_txm_xanes.csv"),
            "--standard",
            f"NiO={data / 'xas/ref_NiO_Kedge.txt'}",
            "--standard",
            f"LiNiO2={data / 'xas/ref_LiNiO2_Kedge.txt'}",
            "--fit-range",
            "8330",
            "8400",
            "--normalize",
            "--norm1",
            "30",
            "--valence",
            "NiO=2",
            "--valence",
            "LiNiO2=3",
        ],
        "echem": [
            "echem",
            "summary",
            str(data / "echem/biologic_gcpl_7cycles_v3.mpr"),
            "--active-mass-g",
            "0.005",
        ],
        "xrd": [
            "xrd",
            "lattice",
            str(data / "xrd/LiCoO2_CuKa.RAW"),
            "--a",
            "2.815",
            "--c",
            "14.05",
            "--doublet",
        ],
    }
    out = {}
    for name, argv in commands.items():
        folder = root / name
        assert main([*argv, "--out", str(folder), "-q"]) == 0, name
        out[name] = folder
    return out


def test_report_of_four_modalities(runs, tmp_path):
    out = tmp_path / "report"
    assert main(["report", *map(str, runs.values()), "--title", "NCA test", "--out", str(out)]) == 0
    page = out / "index.html"
    text = page.read_text(encoding="utf-8")
    # each run's command line, key numbers of each modality
    for name, command in (
        ("profile", "profile"),
        ("xas", "xas lcf"),
        ("echem", "echem summary"),
        ("xrd", "xrd lattice"),
    ):
        assert f"<code>{command}</code>" in text
        assert f"cathodescope {command}" in text or name == "profile"
    assert "cathodescope profile" in text
    for quantity in (
        "Ni ratio D(core-edge)",
        "LCF weight LiNiO2",
        "average valence",
        "retention at cycle",
        "lattice a",
        "lattice c",
    ):
        assert quantity in text, quantity
    # every reference is a file inside the report folder: nothing from the network
    refs = _refs(page)
    assert refs
    for _tag, ref in refs:
        assert not re.match(r"^[a-z]+://", ref), ref
        if not ref.startswith("#"):
            assert (out / ref).is_file(), ref
    assert sum(tag == "img" for tag, _ in refs) >= 4
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    # the summary numbers are the run's own numbers
    summary = pd.read_csv(out / "summary_NCA_test.csv")
    lattice = pd.read_csv(runs["xrd"] / "lattice.csv")
    row = summary[summary.quantity == "lattice a"].iloc[0]
    assert row.value == pytest.approx(lattice.a_A.iloc[0], rel=1e-12)
    weights = pd.read_csv(runs["xas"] / "weights.csv").set_index("standard")
    row = summary[summary.quantity == "LCF weight LiNiO2"].iloc[0]
    assert (row.value, row.ci_low, row.ci_high) == pytest.approx(
        tuple(weights.loc["LiNiO2", ["weight", "ci_low", "ci_high"]]), rel=1e-12
    )


def test_report_renders_in_headless_chromium(runs, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chrome or not driver_path:
        pytest.skip(
            "no Chromium / chromedriver installed (apt-get install chromium chromium-driver)"
        )
    out = tmp_path / "report"
    assert main(["report", *map(str, runs.values()), "--out", str(out), "-q"]) == 0
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(120)
        driver.get((out / "index.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete,"
            " i.naturalWidth]);"
        )
        assert len(images) >= 4
        broken = [src for src, complete, width in images if not complete or width == 0]
        assert not broken, broken
        plots = driver.execute_script(
            "return [document.querySelectorAll('div.plotly-graph-div').length,"
            " document.querySelectorAll('div.plotly-graph-div .main-svg').length,"
            " typeof Plotly];"
        )
        assert plots[0] >= 3 and plots[1] >= plots[0] and plots[2] == "object", plots
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def test_compare_overlays_samples(runs, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        main(
            [
                "report",
                str(runs["profile"]),
                str(runs["echem"]),
                "--sample-name",
                "A",
                "--out",
                str(a),
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "report",
                str(runs["profile"]),
                str(runs["echem"]),
                "--sample-name",
                "B",
                "--out",
                str(b),
                "-q",
            ]
        )
        == 0
    )
    out = tmp_path / "cmp"
    assert main(["report", "--compare", str(a), str(b), "--out", str(out), "-q"]) == 0
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["samples"] == ["A", "B"]
    assert "Ni ratio profiles" in doc["figures"] and "Capacity retention" in doc["figures"]


def test_particle_mean_ratios_interval():
    rng = np.random.default_rng(4)
    values = rng.normal(0.6, 0.02, size=5)
    table = pd.DataFrame(
        {
            "particle_id": range(1, 6),
            "element": "Ni",
            "depth_um": 0.5,
            "ratio": values,
            "ci_low": values - 0.01,
            "ci_high": values + 0.01,
        }
    )
    from scipy import stats

    out = particle_mean_ratios(table).iloc[0]
    half = stats.t.ppf(0.975, 4) * values.std(ddof=1) / np.sqrt(5)
    assert out.ratio == pytest.approx(values.mean())
    assert (out.ci_low, out.ci_high) == pytest.approx((values.mean() - half, values.mean() + half))
    single = particle_mean_ratios(table.iloc[:1]).iloc[0]
    assert (single.ci_low, single.ci_high) == pytest.approx((values[0] - 0.01, values[0] + 0.01))


def test_key_numbers_fall_back_to_manifest_results(tmp_path):
    with RunFolder(tmp_path / "r", command="custom") as run:
        run.results["n_particles"] = 7
    numbers = key_numbers(load_run(tmp_path / "r"))
    assert numbers.quantity.tolist() == ["n particles"] and numbers.value.tolist() == [7.0]


def test_bad_run_folders_are_specific_errors(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    with pytest.raises(MissingMetadataError, match="not a cathodescope run folder"):
        load_run(tmp_path / "plain")
    running = tmp_path / "running"
    running.mkdir()
    (running / "manifest.json").write_text(json.dumps({"status": "running", "pid": 1}))
    with pytest.raises(MissingMetadataError, match="not finished"):
        load_run(running)
    with pytest.raises(CathodescopeError, match="does not exist"):
        load_run(tmp_path / "nope")
    assert main(["report", str(tmp_path / "plain"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["report", "--compare", str(tmp_path / "plain"), "--out", str(tmp_path / "c")]) == 2


def test_sample_file_groups_runs(tmp_path):
    for name, value in (("r1", 0.5), ("r2", 0.7)):
        with RunFolder(tmp_path / name, command="xas lcf") as run:
            run.write_table(
                "weights",
                pd.DataFrame(
                    {
                        "standard": ["NiO", "LiNiO2"],
                        "weight": [value, 1 - value],
                        "ci_low": [value - 0.05, 0.25],
                        "ci_high": [value + 0.05, 0.55],
                    }
                ),
            )
    (tmp_path / "samples.toml").write_text(
        'title = "two probes"\n'
        '[[sample]]\nname = "pristine"\nruns = ["r1", "r2"]\n'
        '[sample.labels]\n"r1" = { probe = "TEY", cycle = 1 }\n"r2" = { probe = "TEY", cycle = 50 }\n'
    )
    out = tmp_path / "rep"
    assert main(["report", "--sample-file", str(tmp_path / "samples.toml"), "--out", str(out)]) == 0
    text = (out / "index.html").read_text()
    assert "two probes" in text and "probe = TEY" in text and "cycle = 50" in text
    cmp = tmp_path / "cmp"
    assert main(["report", "--compare", str(out), "--out", str(cmp), "-q"]) == 0
    figures = json.loads((cmp / "comparison.json").read_text())["figures"]
    assert "NiO fraction vs cycle" in figures


def test_layer_is_shown_beside_the_txm_profiles(runs, tmp_path):
    layer = tmp_path / "layer"
    with RunFolder(layer, command="xas layer") as run:
        run.write_table(
            "layer",
            pd.DataFrame(
                {
                    "parameter": ["thickness_nm", "surface_fraction", "bulk_fraction"],
                    "value": [20.0, 0.8, 0.2],
                    "ci_low": [15.0, 0.7, 0.18],
                    "ci_high": [26.0, 0.9, 0.22],
                }
            ),
        )
        run.write_table("probes", pd.DataFrame({"name": ["TEY"], "weight": [0.79]}))
    out = tmp_path / "report"
    assert (
        main(
            [
                "report",
                str(runs["profile"]),
                str(layer),
                "--sample-name",
                "CG NMC622",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    text = (out / "index.html").read_text()
    assert "<h2>Surface to bulk</h2>" in text and 'id="surface-CG_NMC622"' in text
    summary = pd.read_csv(out / "summary_CG_NMC622.csv")
    row = summary[summary.quantity == "thickness_nm"].iloc[0]
    assert (row.value, row.ci_low, row.ci_high) == (20.0, 15.0, 26.0)


def test_spm_statistics_are_summarised_over_particles(tmp_path):
    from scipy import stats

    means = np.array([7.1, 8.3, 7.9, 8.8])
    with RunFolder(tmp_path / "spm", command="spm particles") as run:
        run.write_table(
            "particle_statistics",
            pd.DataFrame(
                {
                    "particle_id": [1, 2, 3, 4],
                    "channel": "esm_amplitude",
                    "units": "pm/V",
                    "mean": means,
                }
            ),
        )
        run.write_table(
            "boundary_core",
            pd.DataFrame(
                {
                    "particle_id": [1, 2, 3, 4],
                    "channel": "esm_amplitude",
                    "units": "pm/V",
                    "difference": [0.5, np.nan, 0.7, 0.3],
                }
            ),
        )
        run.write_table(
            "metrics",
            pd.DataFrame({"particle_id": [1], "element": ["height"], "edge_ratio": [0.2]}),
        )
    table = key_numbers(load_run(tmp_path / "spm")).set_index("quantity")
    half = stats.t.ppf(0.975, 3) * means.std(ddof=1) / 2
    row = table.loc["esm_amplitude particle mean"]
    assert (row.value, row.ci_low, row.ci_high) == pytest.approx(
        (means.mean(), means.mean() - half, means.mean() + half)
    )
    assert table.loc["esm_amplitude boundary - core"].value == pytest.approx(0.5)
    assert not any("ratio" in q for q in table.index)  # SPM channels are not elements
