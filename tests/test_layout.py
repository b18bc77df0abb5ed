"""The layout a newcomer reads: the package says what each module is."""

from scpo.paths import ROOT


def test_the_package_docstring_names_every_module():
    import scpo

    modules = {path.stem for path in (ROOT / "scpo").glob("*.py")} - {"__init__"}
    missing = {m for m in modules if f"`{m}`" not in scpo.__doc__}
    assert not missing, f"scpo/__init__.py does not say what these are: {sorted(missing)}"
