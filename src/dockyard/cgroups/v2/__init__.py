"""cgroup v2 controllers, one module each; :mod:`.manager` drives them."""
