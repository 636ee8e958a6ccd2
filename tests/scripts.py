"""The repository's standalone scripts (benchmarks/, data/labelled/*/build.py) loaded as modules, for
their tests: they are no package, so they are imported from their path."""

import importlib.util


def load_script(path, name):
    """The script at `path`, run as a module called `name` (its `if __name__ == "__main__"` part stays out)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
