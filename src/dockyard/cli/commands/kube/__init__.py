"""kubectl-style commands against the daemon's object API (``api/objects.py``), one module
per verb family; ``dockyard.cli.main`` imports only the module of the command it runs.

* :mod:`.resources`: kinds, aliases and REST paths (``deploy`` → ``deployments`` →
  ``/apis/apps/v1/namespaces/NS/deployments``), the client, reading ``-f`` files;
* :mod:`.printers`: kubectl's tables and ``-o`` formats (json, yaml, name, jsonpath —
  the evaluator is :mod:`dockyard.cli.jsonpath`);
* :mod:`.apply` (``apply``, also ``--kubeconfig``), :mod:`.get` (``get``, ``-w``),
  :mod:`.describe`, :mod:`.delete`, :mod:`.scale` (``scale``, ``autoscale``),
  :mod:`.set_image` (``set image``), :mod:`.rollout`, :mod:`.top`,
  :mod:`.export` (``export kubernetes``);
* :mod:`.pods`: ``pod/NAME``/``deploy/NAME`` → a container id, for ``logs`` and ``exec``.

``compose`` is its own package, :mod:`dockyard.cli.commands.compose`.
"""
