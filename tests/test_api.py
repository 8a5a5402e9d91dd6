"""The public namespace: every advertised name resolves to the library object, not a submodule."""
import importlib
import types

import gridplan


def test_every_public_name_resolves():
    for name in gridplan.__all__:
        obj = getattr(gridplan, name)
        assert not isinstance(obj, types.ModuleType), name


def test_no_module_shares_a_name_with_a_public_function():
    """``import gridplan.X as m`` must give the module, and ``gridplan.f`` the function, for every
    module X and public name f: no module may be named like a function of the namespace."""
    import pathlib
    import pkgutil
    root = pathlib.Path(gridplan.__file__).parent
    modules = {m.name for m in pkgutil.iter_modules([str(root)])}
    assert not modules & set(gridplan.__all__), modules & set(gridplan.__all__)
    for name in sorted(modules):
        mod = importlib.import_module(f"gridplan.{name}")
        assert isinstance(mod, types.ModuleType) and mod.__name__ == f"gridplan.{name}"
    for name in ("partition", "coverage", "validate"):
        fn = getattr(gridplan, name)
        assert callable(fn) and not isinstance(fn, types.ModuleType), name


def test_library_does_not_import_streamlit():
    import pathlib
    root = pathlib.Path(gridplan.__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text(encoding="utf-8")
        assert "import streamlit" not in text and "from streamlit" not in text, f.name


def test_every_reason_code_has_both_languages():
    from gridplan.i18n import reason
    from gridplan.metrics import REASONS
    for code in REASONS:
        if code:
            zh, en = reason(code, "zh"), reason(code, "en")
            assert zh != code and en != code and zh != en, code


def test_the_suite_never_skips_for_a_missing_part():
    """CI must fail, not pass, when Chromium, poppler, a CJK font, PostGIS or an asset is missing:
    tests call ``conftest.require`` (which fails) instead of skipping."""
    import pathlib
    import re
    here = pathlib.Path(__file__).parent
    pattern = re.compile(r"pytest\.skip\(|mark\.skipif|importorskip|pytest\.mark\.skip\b|xfail")
    offenders = [f"{f.name}:{i}" for f in sorted(here.glob("*.py")) if f.name != "test_api.py"
                 for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
    # doctests run with the suite (--doctest-modules): an example is runnable or a literal block, never +SKIP
    lib = here.parent / "gridplan"
    skipped = [f"{f.relative_to(lib)}:{i}" for f in sorted(lib.rglob("*.py"))
               for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if "doctest: +SKIP" in line]
    assert not skipped, skipped
