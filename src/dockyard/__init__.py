"""dockyard: a container platform in Python.

Layers (lower never imports higher), see ``docs/architecture.md``::

    oci -> linux -> cgroups, store -> runtime, network -> build, distribution
        -> engine -> orchestrator -> api, cli
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
