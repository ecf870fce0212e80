"""The console script hides libraries' warnings about their own internals, and only those."""

from __future__ import annotations

import warnings

import pytest

from inkpost import console


def _shown(module: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("a word", UserWarning, "somewhere.py", 1, module=module)
    return [str(w.message) for w in caught]


def _after(argv: list[str]) -> dict[str, list[str]]:
    modules = ["pyhanko.sign.signers.pdf_cms", "cryptography.utils"]
    modules += [f"{own}.part" for own in console.OWN_MODULES[1:].split(")")[0].split("|")]
    with warnings.catch_warnings():
        warnings.resetwarnings()
        console.quiet_library_warnings(argv)
        return {module: _shown(module) for module in modules}


def test_a_library_warning_is_hidden_and_every_package_of_ours_still_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console.sys, "warnoptions", [])
    monkeypatch.delenv("INKPOST_DEBUG", raising=False)
    shown = _after(["documents", "list"])
    assert shown.pop("pyhanko.sign.signers.pdf_cms") == []
    assert shown.pop("cryptography.utils") == []
    assert set(shown) >= {"web_api.part", "texts.part", "workflows.part", "inkpost.part"}
    assert all(said == ["a word"] for said in shown.values()), shown


@pytest.mark.parametrize("how", ["--debug", "INKPOST_DEBUG", "-W"])
def test_asking_for_debug_or_warnings_hides_nothing(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console.sys, "warnoptions", ["default"] if how == "-W" else [])
    if how == "INKPOST_DEBUG":
        monkeypatch.setenv("INKPOST_DEBUG", "1")
    else:
        monkeypatch.delenv("INKPOST_DEBUG", raising=False)
    shown = _after(["--debug"] if how == "--debug" else [])
    assert shown["pyhanko.sign.signers.pdf_cms"] == ["a word"]


def test_pydantic_looks_for_no_plugins_unless_the_environment_names_some(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    console.no_pydantic_plugins()
    assert console.os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "logfire")
    console.no_pydantic_plugins()
    assert console.os.environ["PYDANTIC_DISABLE_PLUGINS"] == "logfire"
