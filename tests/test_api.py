"""The public namespace: every advertised name resolves to the library object, not a submodule."""
import importlib
import types

import gridplan


def test_every_public_name_resolves():
    for name in gridplan.__all__:
        obj = getattr(gridplan, name)
        assert not isinstance(obj, types.ModuleType), name


def test_functions_are_not_shadowed_by_their_modules():
    importlib.import_module("gridplan.partition")
    importlib.import_module("gridplan.coverage")
    importlib.import_module("gridplan.validate")
    assert callable(gridplan.validate) and gridplan.validate.__module__ == "gridplan.io"
    assert callable(gridplan.partition) and gridplan.partition.__module__ == "gridplan.partition"
    assert callable(gridplan.coverage) and gridplan.coverage.__module__ == "gridplan.coverage"


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
