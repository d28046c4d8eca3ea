"""The offline jobs sit below the service: they share its helpers only through lower modules."""

import ast
import pathlib

import recommender.offline

OFFLINE = pathlib.Path(recommender.offline.__file__).parent


def imported_modules(source):
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_offline_modules_import_nothing_from_the_service():
    borrowed = {f"{path.name}: {module}" for path in OFFLINE.glob("*.py")
                for module in imported_modules(path.read_text()) if module.startswith("recommender.service")}
    assert borrowed == set()
