"""`squall plugin new NAME`: a plugin package with one working deployment type and its tests.

The files come from the templates in `squall/testing/scaffold/`, filled with `string.Template`
(`${name}` and friends; a literal dollar sign is written `$$` there).
"""

from __future__ import annotations

import keyword
import re
import string
from importlib import resources
from pathlib import Path

from squall.core.errors import ValidationError

BUILT_IN_TYPES = frozenset({"noop", "config_change", "cache_rebuild", "single_instance", "group"})

# Where each file of the package comes from: destination (itself a template) -> template.
FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "${package}/__init__.py": "plugin.py.tmpl",
    "tests/conftest.py": "conftest.py.tmpl",
    "tests/test_${name}.py": "test_type.py.tmpl",
}

_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def scaffold(name: str, directory: Path | None = None) -> Path:
    """Create the plugin package for deployment type `name`; the folder it created.

    `directory` defaults to `./squall-<name>` (underscores become dashes). It may exist if
    it is empty. Raises ValidationError for a bad name or a folder that is not empty.
    """
    check_name(name)
    target = directory if directory is not None else Path.cwd() / project_name(name)
    if target.exists() and not target.is_dir():
        raise ValidationError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise ValidationError(f"{target} is not empty: choose a new folder with --directory")
    values = placeholders(name)
    templates = resources.files("squall.testing").joinpath("scaffold")
    for destination, source in FILES.items():
        path = target / string.Template(destination).substitute(values)
        text = string.Template(templates.joinpath(source).read_text("utf-8")).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def check_name(name: str) -> None:
    if not _SNAKE_CASE.fullmatch(name) or keyword.iskeyword(name):
        raise ValidationError(
            f"invalid deployment type name {name!r}: use snake_case, a Python identifier of "
            "lower-case letters, digits and single underscores, such as nginx_reload"
        )
    if name in BUILT_IN_TYPES:
        raise ValidationError(
            f"{name!r} is a deployment type built into Squall: choose another name"
        )


def project_name(name: str) -> str:
    return "squall-" + name.replace("_", "-")


def placeholders(name: str) -> dict[str, str]:
    """The values templates may use: `nginx_reload` gives package `squall_nginx_reload`,
    project `squall-nginx-reload`, title `Nginx reload` and model `NginxReloadParams`."""
    words = name.split("_")
    return {
        "name": name,
        "package": f"squall_{name}",
        "project": project_name(name),
        "title": " ".join(words).capitalize(),
        "model": "".join(word.capitalize() for word in words) + "Params",
    }
