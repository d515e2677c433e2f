"""Install the repository's top-level folders under one namespace, ``twinwatch``.

``twin/`` installs as ``twinwatch.twin``, ``stream/`` as ``twinwatch.stream``
and so on; ``twinwatch`` itself is an implicit namespace package. Everything
else (metadata, dependencies, package data) is in pyproject.toml.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ("stream", "twin", "detectors", "telemetry_adapters")

setup(
    packages=[f"twinwatch.{name}" for name in find_packages(include=[f"{top}*" for top in TOP_LEVEL])],
    package_dir={f"twinwatch.{top}": top for top in TOP_LEVEL},
)
