"""The layout a newcomer reads: the package says what each module is."""

from scpo.paths import ROOT


def test_the_package_docstring_names_every_module():
    import scpo

    modules = {path.stem for path in (ROOT / "scpo").glob("*.py")} - {"__init__"}
    missing = {m for m in modules if f"`{m}`" not in scpo.__doc__}
    assert not missing, f"scpo/__init__.py does not say what these are: {sorted(missing)}"


def test_the_readme_fits_on_two_screens_and_links_only_files_that_exist():
    import re

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), f"README.md links {link}, which is not there"


def test_every_accuracy_and_ratio_the_readme_quotes_is_in_a_file_the_pipeline_or_benchmark_wrote():
    import re

    readme = (ROOT / "README.md").read_text()
    written = "".join((ROOT / path).read_text() for path in ("reports/README.md", "reports/tables/05_results.md",
                                                              "reports/bench/bench.json", "reports/bench/scaling.json"))
    quoted = set(re.findall(r"(?<![\d.])0\.\d{3}(?!\d)", readme)) | set(re.findall(r"(\d+\.\d+)×", readme))
    assert quoted, "the check would be empty"
    missing = {number for number in quoted if number not in written}
    assert not missing, f"README.md quotes {sorted(missing)}, which no report or benchmark file holds"


def test_the_readme_s_cost_table_is_the_one_the_scaling_command_wrote():
    import json

    from scpo import scaling

    written = json.loads((ROOT / "reports/bench/scaling.json").read_text())
    assert scaling.table(written["rows"], written["growth_exponents"]) in (ROOT / "README.md").read_text()
